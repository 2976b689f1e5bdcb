"""`python -m contradiction.classify`: a file of texts sorted into the user's labels, the classifier's scores, gold
labels scored, one-sentence refusals; a killed run resumes to the same bytes and 2 processes write those of 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contradiction.inference.classify_cli import main
from contradiction.inference.options import PredictorOptions
from contradiction.inference.outputs import progress_path
from contradiction.inference.predictor import Predictor
from contradiction.inference.zero_shot import ZeroShotClassifier, ZeroShotTask

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["weather", "food", "travel"]


@pytest.fixture(scope="module")
def texts(sample_dir: Path, tmp_path_factory) -> Path:
    """The premises of our sample training file (150 texts in several languages) as a file of texts, each with a
    gold topic (made up: the tiny model is untrained, only the arithmetic is checked)."""
    frame = pd.read_csv(sample_dir / "train.csv", dtype=str, keep_default_na=False)
    frame = frame.rename(columns={"premise": "text"})[["id", "text", "lang_abv"]]
    frame["topic"] = [TOPICS[i % 3] for i in range(len(frame))]
    path = tmp_path_factory.mktemp("texts") / "texts.csv"
    frame.to_csv(path, index=False)
    return path


def classify(model: Path, source: Path, out: Path, *flags: str) -> bytes:
    main(["--model", str(model), "--input", str(source), "--output", str(out), "--labels", *TOPICS, *flags])
    return out.read_bytes()


def command(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.slow
def test_the_file_gets_the_classifier_s_scores(tiny_model_dir, texts, tmp_path, capsys, multi_label) -> None:
    flags = ("--multi_label",) if multi_label else ()
    classify(tiny_model_dir, texts, tmp_path / "out.csv", "--chunk_size", "40", "--batch_size", "7", *flags)
    out = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    source = pd.read_csv(texts, dtype=str)
    assert list(out.columns) == ["id", "label", *TOPICS]
    assert out["id"].tolist() == source["id"].tolist()

    predictor = Predictor.from_pretrained(tiny_model_dir, PredictorOptions())  # the CLI's own defaults
    expected = ZeroShotClassifier.from_predictor(predictor).score(
        source["text"].tolist(), ZeroShotTask.create(TOPICS, multi_label=multi_label)
    )
    np.testing.assert_allclose(out[TOPICS].to_numpy(), expected, atol=2e-6)
    # each row's label is a label with the row's highest score (the file's scores are rounded: two labels of the
    # tiny model can tie there, and then either is the highest)
    scores = out[TOPICS].to_numpy()
    label_scores = scores[np.arange(len(out)), [TOPICS.index(label) for label in out["label"]]]
    np.testing.assert_array_equal(label_scores, scores.max(axis=1))
    if not multi_label:
        np.testing.assert_allclose(out[TOPICS].sum(axis=1), 1.0, atol=1e-5)
    assert f"wrote {len(source)} texts to" in capsys.readouterr().out


def test_gold_labels_are_scored_overall_and_per_language(tiny_model_dir, texts, tmp_path, capsys) -> None:
    classify(tiny_model_dir, texts, tmp_path / "out.csv", "--label_column", "topic")
    printed = capsys.readouterr().out
    out = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    source = pd.read_csv(texts, dtype=str)
    accuracy = (out["label"] == source["topic"]).mean()
    assert f"against the gold labels: accuracy {accuracy:.3f}" in printed
    for lang, group in source.groupby("lang_abv"):
        right = (out.loc[group.index, "label"] == group["topic"]).mean()
        assert f"  {lang}: accuracy {right:.3f}" in printed


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--template", "About these."), "error: The template 'About these.' needs exactly one {}"),
        (("--label_column", "lang_abv"), "in column 'lang_abv', which is not one of the candidate labels"),
        (("--text_column", "body"), "has no column 'body' for the texts; name the right one with --text_column"),
    ],
)
@pytest.mark.slow
def test_bad_settings_end_in_one_sentence_and_status_2(tiny_model_dir, texts, tmp_path, flags, message) -> None:
    out = tmp_path / "out.csv"
    done = command(
        "-m",
        "contradiction.classify",
        "--model",
        str(tiny_model_dir),
        "--input",
        str(texts),
        "--output",
        str(out),
        "--labels",
        *TOPICS,
        *flags,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert message in line and line.endswith(".")
    assert not out.exists()


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_bytes(tiny_model_dir, texts, tmp_path, capsys) -> None:
    flags = ("--chunk_size", "20", "--batch_size", "8")
    uninterrupted = classify(tiny_model_dir, texts, tmp_path / "whole.csv", *flags)
    out = tmp_path / "killed" / "out.csv"
    killed = command(
        str(ROOT / "tests" / "killed_run.py"),
        "2",
        "--module",
        "contradiction.classify",
        "--model",
        str(tiny_model_dir),
        "--input",
        str(texts),
        "--output",
        str(out),
        "--labels",
        *TOPICS,
        *flags,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert json.loads(progress_path(out).read_text(encoding="utf-8"))["rows_done"] == 40
    assert not out.exists()
    capsys.readouterr()
    assert classify(tiny_model_dir, texts, out, *flags, "--resume") == uninterrupted
    assert "40 of them from the run resumed" in capsys.readouterr().out


@pytest.mark.slow
def test_two_processes_write_the_bytes_of_one(tiny_model_dir, texts, tmp_path) -> None:
    flags = ("--chunk_size", "40", "--batch_size", "6")  # 4 chunks, the last of 30; 120 pairs a chunk
    one = classify(tiny_model_dir, texts, tmp_path / "one.csv", *flags)
    two = tmp_path / "two.csv"
    result = command(
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "-m",
        "contradiction.classify",
        "--model",
        str(tiny_model_dir),
        "--input",
        str(texts),
        "--output",
        str(two),
        "--labels",
        *TOPICS,
        *flags,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote 150 texts") == 1 and "2 processes" in result.stdout
    assert two.read_bytes() == one


@pytest.mark.slow
def test_json_lines_give_the_csv_s_output(tiny_model_dir, texts, tmp_path) -> None:
    from_csv = classify(tiny_model_dir, texts, tmp_path / "csv.csv")
    source = tmp_path / "texts.jsonl"
    frame = pd.read_csv(texts, dtype=str).rename(columns={"id": "ticket", "text": "body"})
    frame.to_json(source, orient="records", lines=True, force_ascii=False)
    got = classify(tiny_model_dir, source, tmp_path / "jsonl.csv", "--id_column", "ticket", "--text_column", "body")
    assert got == from_csv
