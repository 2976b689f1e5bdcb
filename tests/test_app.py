"""The Gradio app served in-process and called the way API users call it (gradio_client)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from local_app import launch_local

from contradiction.inference import Predictor
from contradiction.labels import LABELS
from contradiction.monitoring import Monitor
from contradiction.predict import PROB_COLUMNS
from contradiction.ui import EXAMPLES, Limits, build_demo

ROOT = Path(__file__).resolve().parents[1]
# gradio 6.31's queue still passes pandas options that pandas 3 deprecates; not ours to fix


@pytest.fixture(scope="module")
def predictor(tiny_model_dir: Path) -> Predictor:
    return Predictor.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def client(predictor: Predictor, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    limits, monitor = Limits(), Monitor()
    demo = build_demo(predictor, limits, monitor, output_dir=tmp_path_factory.mktemp("app-outputs"))
    url = launch_local(demo, limits, monitor)
    try:
        yield Client(
            url, verbose=False, analytics_enabled=False, download_files=str(tmp_path_factory.mktemp("downloads"))
        )
    finally:
        demo.close()


def confidences(label_value: dict) -> dict[str, float]:
    return {c["label"]: c["confidence"] for c in label_value["confidences"]}


def test_predict_endpoint_returns_the_three_labels(client: Client, predictor: Predictor) -> None:
    result = client.predict("A woman is reading on the train.", "A woman is on a train.", api_name="/predict")
    scores = confidences(result)
    assert set(scores) == set(LABELS)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert result["label"] == max(scores, key=scores.get)
    assert scores == pytest.approx(predictor.predict("A woman is reading on the train.", "A woman is on a train."))


def test_concurrent_requests_share_a_forward_pass(client, predictor, monkeypatch) -> None:
    sizes: list[int] = []
    first_call = threading.Event()
    original = predictor.predict_proba

    def recording(premises, hypotheses, *args, **kwargs):
        sizes.append(len(premises))
        if not first_call.is_set():
            first_call.set()
            time.sleep(2)  # hold the model so the other requests wait in the queue together
        return original(premises, hypotheses, *args, **kwargs)

    monkeypatch.setattr(predictor, "predict_proba", recording)
    pairs = [(premise, hypothesis) for _, _, premise, hypothesis in EXAMPLES[:6]]
    jobs = [client.submit(p, h, api_name="/predict") for p, h in pairs]
    results = [job.result(timeout=120) for job in jobs]

    assert max(sizes) > 1 and sum(sizes) == len(pairs)
    monkeypatch.undo()
    for (premise, hypothesis), result in zip(pairs, results, strict=True):  # each user gets their own answer
        assert confidences(result) == pytest.approx(predictor.predict(premise, hypothesis), abs=1e-5)


def test_empty_text_is_refused_with_one_sentence(client: Client) -> None:
    with pytest.raises(AppError, match=r"^The premise is empty; send a sentence\.$"):
        client.predict("   ", "A woman is on a train.", api_name="/predict")
    assert client.predict("A woman is reading.", "A woman is on a train.", api_name="/predict")["label"] in LABELS


def test_predict_batch_endpoint(client: Client, predictor: Predictor) -> None:
    premises = ["Il pleut depuis ce matin.", "Der Laden ist sonntags geschlossen."]
    hypotheses = ["Le soleil brille toute la journée.", "Der Laden hat am Sonntag zu."]
    results = client.predict(premises, hypotheses, api_name="/predict_batch")
    assert [list(r) for r in results] == [list(LABELS)] * 2
    np.testing.assert_allclose(
        [list(r.values()) for r in results], predictor.predict_proba(premises, hypotheses), atol=1e-5
    )
    with pytest.raises(AppError, match="Got 2 premises and 1 hypotheses; send one of each per pair."):
        client.predict(premises, hypotheses[:1], api_name="/predict_batch")


def test_csv_tab_gives_a_preview_and_two_files(client: Client, sample_dir: Path) -> None:
    preview, predictions_file, submission_file = client.predict(
        handle_file(sample_dir / "test.csv"), api_name="/predict_file"
    )
    test = pd.read_csv(sample_dir / "test.csv", dtype=str)
    assert preview["headers"][:3] == ["id", "language", "predicted_label"]
    assert len(preview["data"]) == min(20, len(test))

    predictions = pd.read_csv(predictions_file, dtype={"id": str})
    assert predictions["id"].tolist() == test["id"].tolist()
    assert set(predictions["predicted_label"]) <= set(LABELS)
    assert (predictions[list(PROB_COLUMNS)].sum(axis=1) - 1).abs().max() < 1e-4

    submission = pd.read_csv(submission_file, dtype={"id": str})
    assert list(submission.columns) == ["id", "prediction"]
    assert submission["id"].tolist() == test["id"].tolist()
    assert set(submission["prediction"]) <= {0, 1, 2}


def test_csv_with_wrong_columns_gets_one_sentence(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "my_test.csv"
    bad.write_text("id,sentence1,sentence2\n1,a,b\n", encoding="utf-8")
    with pytest.raises(AppError) as err:
        client.predict(handle_file(bad), api_name="/predict_file")
    assert str(err.value) == (
        "my_test.csv: missing column(s) premise, hypothesis, lang_abv, language; "
        "the header must include id, premise, hypothesis, lang_abv, language."
    )


def test_app_without_a_loadable_model_exits_with_one_sentence(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run(
        [sys.executable, "app.py", "--model", "/no/such/dir"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: model folder /no/such/dir does not exist; "
        "pass a local model folder or a Hub model id with --model PATH_OR_ID or MODEL_ID."
    ]
