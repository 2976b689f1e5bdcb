"""The Gradio app served in-process and called the way API users call it (gradio_client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from local_app import call_event

from contradiction.inference.predictor import Predictor
from contradiction.inference.tables import PROB_COLUMNS
from contradiction.labels import LABELS
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.page import GRADIO_SUMMARY_ENV, build_demo
from contradiction.serving.pairs import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
# gradio 6.31's queue still passes pandas options that pandas 3 deprecates; not ours to fix


@pytest.fixture(scope="module")
def predictor(make_predictor, smoke_run: Path) -> Predictor:
    """A model trained by train.py: its folder has eval_results.json (per-language record, calibration)."""
    return make_predictor(smoke_run)


@pytest.fixture(scope="module")
def client(serve_app, predictor: Predictor) -> Client:
    return serve_app(predictor).client


PROBS = {"neutral": 0.34, "entailment": 0.33, "contradiction": 0.33}  # an answer the model is unsure of


def confidences(label_value: dict) -> dict[str, float]:
    return {c["label"]: c["confidence"] for c in label_value["confidences"]}


@pytest.mark.slow
def test_predict_endpoint_returns_the_three_labels(client: Client, predictor: Predictor) -> None:
    result = client.predict("A woman is reading on the train.", "A woman is on a train.", api_name="/predict")
    scores = confidences(result)
    assert set(scores) == set(LABELS)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert result["label"] == max(scores, key=scores.get)
    assert scores == pytest.approx(predictor.predict("A woman is reading on the train.", "A woman is on a train."))


@pytest.mark.slow
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


@pytest.mark.parametrize("blank", ["   ", "\u200b\u200b", "\ufeff\u2060 \u200d"])
def test_empty_text_is_refused_with_one_sentence(client: Client, blank: str) -> None:
    with pytest.raises(AppError, match=r"^The premise is empty; send a sentence\.$"):
        client.predict(blank, "A woman is on a train.", api_name="/predict")
    with pytest.raises(AppError, match=r"^The hypothesis is empty; send a sentence\.$"):
        client.predict("A woman is reading.", blank, api_name="/analyze")
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


def test_analyze_returns_the_languages_and_the_models_record_in_them(
    client: Client, predictor: Predictor, smoke_run: Path
) -> None:
    results = json.loads((smoke_run / "eval_results.json").read_text())
    premise, hypothesis = "Le musée ferme ses portes à dix-huit heures.", "Le musée reste ouvert toute la nuit."
    answer = client.predict(premise, hypothesis, api_name="/analyze")

    probabilities = answer["probabilities"]
    assert list(probabilities) == list(LABELS) and sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert probabilities == pytest.approx(predictor.predict(premise, hypothesis), abs=1e-5)  # as /predict says
    assert answer["label"] == max(probabilities, key=probabilities.get)
    assert answer["premise_language"] == answer["hypothesis_language"] == {"code": "fr", "name": "French"}
    french = results["per_language"]["fr"]
    assert answer["language_record"] == {
        "language": "fr",
        "name": "French",
        "validation_accuracy": pytest.approx(french["accuracy"]),
        "validation_pairs": french["rows"],
    }
    assert answer["calibrated"] is True
    assert answer["temperature"] == pytest.approx(results["calibration"]["temperature"])
    assert set(answer["trained_languages"]) == set(results["per_language"])
    low = max(probabilities.values()) < 0.5  # the app's default --low_confidence
    assert any("the model is unsure" in note for note in answer["notes"]) == low


def test_the_page_s_notes_warn_of_a_low_confidence_answer(client: Client) -> None:
    """`describe` is given the answer as Gradio hands a `gr.Label` input to a function ({label: confidence})."""
    shown = {"label": "neutral", "confidences": [{"label": name, "confidence": c} for name, c in PROBS.items()]}
    pair = ["Le musée ferme ses portes à dix-huit heures.", "Le musée reste ouvert toute la nuit."]
    (notes,) = call_event(client.src, "describe", [*pair, shown])["complete"]
    assert "The top probability is only 34%: the model is unsure; treat this answer as a guess." in notes
    sure = {"label": "neutral", "confidences": [{"label": "neutral", "confidence": 0.9}]}
    (notes,) = call_event(client.src, "describe", [*pair, sure])["complete"]
    assert notes.startswith("**Language:** French") and "unsure" not in notes


def test_the_app_serves_at_the_length_the_model_was_trained_with(client: Client, predictor: Predictor) -> None:
    answer = client.predict("A man is sleeping.", "Nobody is asleep.", api_name="/analyze")
    assert answer["max_length"] == predictor.max_length == 64  # configs/smoke.yaml's max_seq_length


def test_analyze_says_when_a_pair_was_cut(client: Client, predictor: Predictor) -> None:
    short = client.predict("A woman is reading on the train.", "A woman is on a train.", api_name="/analyze")
    assert short["truncated"] is False and short["tokens"]["read"] == short["tokens"]["total"]
    assert not any("was cut" in note for note in short["notes"])

    long = " ".join(["The harbour was quiet that morning, and the fishing boats stayed tied to the pier."] * 20)
    answer = client.predict(long, "The boats went out to sea.", api_name="/analyze")
    assert answer["truncated"] is True
    assert answer["tokens"]["read"] == answer["max_length"] == predictor.max_length < answer["tokens"]["total"]
    total, read = answer["tokens"]["total"], answer["tokens"]["read"]
    said = f"The pair has {total:,} tokens and the model reads {read:,}: the end of the longer text was cut"
    assert any(note.startswith(said) for note in answer["notes"])


def test_analyze_says_when_a_language_is_untrained_or_the_pair_is_mixed(client: Client) -> None:
    italian = client.predict(
        "La biblioteca comunale resta chiusa tutto il mese di agosto per lavori.",
        "Ad agosto la biblioteca comunale è aperta tutti i giorni.",
        api_name="/analyze",
    )
    assert italian["premise_language"] == {"code": "it", "name": "Italian"}
    assert italian["language_record"] is None
    assert any("Italian is not one of the 10 languages the model was trained" in n for n in italian["notes"])

    mixed = client.predict(
        "The bakery opens every morning at seven o'clock.", "La boulangerie n'ouvre que le soir.", api_name="/analyze"
    )
    assert (mixed["premise_language"]["code"], mixed["hypothesis_language"]["code"]) == ("en", "fr")
    assert mixed["language_record"]["language"] == "en"
    assert any("The premise is in English and the hypothesis in French" in n for n in mixed["notes"])


def big_csv(sample_dir: Path, path: Path, rows: int) -> Path:
    """The sample test file repeated (ids made unique) up to `rows` rows."""
    test = pd.read_csv(sample_dir / "test.csv", dtype=str, keep_default_na=False)
    copies = -(-rows // len(test))
    big = pd.concat([test.assign(id=test["id"] + f"-{i}") for i in range(copies)]).head(rows)
    big.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_single_pair_is_answered_while_a_csv_file_runs(client, predictor, sample_dir, tmp_path, slow_model) -> None:
    sizes = slow_model(predictor, 0.05)
    csv = big_csv(sample_dir, tmp_path / "big.csv", 1000)  # 32 passes of 0.05 s
    job = client.submit(handle_file(csv), api_name="/predict_file")
    while len(sizes) < 3:  # the file is in the model
        time.sleep(0.01)
    answer = client.predict("A woman is reading.", "A woman is on a train.", api_name="/predict")
    assert answer["label"] in LABELS
    assert not job.done()  # the pair did not wait for the file
    assert 1 in sizes  # it ran alone, between two chunks of the file
    preview, predictions_file, _ = job.result(timeout=120)
    assert len(pd.read_csv(predictions_file)) == 1000


@pytest.mark.slow
def test_a_cancelled_csv_job_stops_using_the_model(
    client, predictor, sample_dir, tmp_path, monkeypatch, slow_model
) -> None:
    sizes = slow_model(predictor, 0.05)
    csv = big_csv(sample_dir, tmp_path / "big.csv", 3200)  # 100 passes of 0.05 s
    job = client.submit(handle_file(csv), api_name="/predict_file")
    while len(sizes) < 3:
        time.sleep(0.01)
    job.cancel()
    time.sleep(1.0)  # a pass that had started ends; no other should follow
    passes = len(sizes)
    time.sleep(1.0)
    assert len(sizes) == passes < 50
    monkeypatch.undo()
    # the app serves the next request as before
    assert client.predict("A woman is reading.", "A woman is on a train.", api_name="/predict")["label"] in LABELS


def test_csv_with_wrong_columns_gets_one_sentence(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "my_test.csv"
    bad.write_text("id,sentence1,sentence2\n1,a,b\n", encoding="utf-8")
    with pytest.raises(AppError) as err:
        client.predict(handle_file(bad), api_name="/predict_file")
    assert str(err.value) == (
        "my_test.csv: missing column(s) premise, hypothesis, lang_abv, language; "
        "the header must include id, premise, hypothesis, lang_abv, language."
    )


@pytest.mark.slow
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


def test_a_model_without_eval_results_shows_only_the_languages(tiny_model_dir: Path) -> None:
    """A Hub model, or any folder without train.py's eval_results.json: languages, no record, no claims."""
    from contradiction.inference.model_folder import ModelRecord
    from contradiction.serving.notes import language_markdown, language_notes

    record = ModelRecord.read(tiny_model_dir)
    assert not record.known and not record.calibrated
    known, notes = language_notes("it", "it", record, top=0.9, low=0.5)
    assert known is None and notes == []  # nothing is known about its training languages, so no warning either
    text = language_markdown("it", "it", known, notes, calibrated=None)
    assert text == "**Language:** Italian"


@pytest.mark.parametrize("setting", [None, "7"])
@pytest.mark.slow
def test_gradio_s_dashboard_summary_is_not_recomputed_after_every_event(predictor, tmp_path, monkeypatch, setting):
    """Gradio's queue recomputes its dashboard's summary (pandas, up to 10,000 events) after each event by default;
    the app, whose launch turns that dashboard off, leaves it alone unless the user set the variable."""
    monkeypatch.setenv(GRADIO_SUMMARY_ENV, "placeholder")  # monkeypatch restores the variable afterwards
    monkeypatch.delenv(GRADIO_SUMMARY_ENV)
    if setting is not None:
        monkeypatch.setenv(GRADIO_SUMMARY_ENV, setting)
    demo = build_demo(predictor, Limits(), Monitor(), output_dir=tmp_path)
    demo.close()
    frequency = demo._queue.ANAYLTICS_CACHE_FREQUENCY  # Gradio's attribute, its spelling included
    assert frequency == (int(setting) if setting else 2**62)
