"""`python -m contradiction.predict`: a Kaggle submission from a test CSV, whole files only, one-sentence errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from contradiction.labels import LABELS
from contradiction.predict import PROB_COLUMNS, main, write_csvs

ROOT = Path(__file__).resolve().parents[1]


def test_cli_writes_submission_and_probabilities(tiny_model_dir: Path, sample_dir: Path, tmp_path: Path, capsys):
    output, probabilities = tmp_path / "out" / "submission.csv", tmp_path / "out" / "probabilities.csv"
    main(
        [
            *("--model", str(tiny_model_dir), "--input", str(sample_dir / "test.csv")),
            *("--output", str(output), "--probabilities", str(probabilities), "--batch_size", "7"),
        ]
    )
    test = pd.read_csv(sample_dir / "test.csv", dtype=str)
    sub = pd.read_csv(output, dtype={"id": str})
    assert list(sub.columns) == ["id", "prediction"]
    assert sub["id"].tolist() == test["id"].tolist()
    assert set(sub["prediction"]) <= {0, 1, 2}

    probs = pd.read_csv(probabilities, dtype={"id": str})
    assert probs["id"].tolist() == test["id"].tolist()
    assert (probs[list(PROB_COLUMNS)].sum(axis=1) - 1).abs().max() < 1e-4
    assert set(probs["predicted_label"]) <= set(LABELS)
    assert (probs[list(PROB_COLUMNS)].to_numpy().argmax(axis=1) == sub["prediction"].to_numpy()).all()
    assert f"wrote {len(test)} predictions" in capsys.readouterr().out
    assert sorted(p.name for p in output.parent.iterdir()) == ["probabilities.csv", "submission.csv"]


def test_bad_input_ends_in_one_sentence_and_status_2(tiny_model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,hello\n", encoding="utf-8")
    output = tmp_path / "submission.csv"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "contradiction.predict", "--model", str(tiny_model_dir)]
    done = subprocess.run(
        [*command, "--input", str(bad), "--output", str(output)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {bad}: missing column(s) premise, hypothesis, lang_abv, language; "
        "the header must include id, premise, hypothesis, lang_abv, language."
    ]
    assert not output.exists()


def test_outputs_appear_whole_or_not_at_all(tmp_path: Path) -> None:
    class Broken(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            raise OSError("disk full")

    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("old\n", encoding="utf-8")
    with pytest.raises(OSError, match="disk full"):
        write_csvs({first: pd.DataFrame({"id": ["1"]}), second: Broken({"id": ["1"]})})
    assert first.read_text(encoding="utf-8") == "old\n"  # not replaced: the second file failed
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]  # no temporary files left behind
