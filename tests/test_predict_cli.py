"""`python -m contradiction.predict`: a Kaggle submission from a file of pairs, whole files only, one-sentence errors;
2 processes write the bytes of 1, a killed run resumes to the same bytes, JSON Lines and Parquet as CSV."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from contradiction.data.competition import load_csv
from contradiction.errors import UserError
from contradiction.inference.outputs import partial_path, progress_path
from contradiction.inference.predict_cli import main
from contradiction.inference.predictor import Predictor
from contradiction.inference.tables import PROB_COLUMNS, TABLE_COLUMNS, chunk_table, submission, write_csvs
from contradiction.labels import LABELS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
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


@pytest.mark.slow
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


# --- files of many pairs: chunks, processes, resume, formats


def predict(model: Path, source: Path, out: Path, *flags: str) -> tuple[bytes, bytes]:
    """Run the CLI in this process; return the submission's and the probabilities' bytes."""
    main(
        [
            "--model",
            str(model),
            "--input",
            str(source),
            "--output",
            str(out / "submission.csv"),
            "--probabilities",
            str(out / "probabilities.csv"),
            *flags,
        ]
    )
    return (out / "submission.csv").read_bytes(), (out / "probabilities.csv").read_bytes()


def command(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def test_one_process_writes_what_the_app_s_csv_tab_writes(tiny_model_dir, sample_dir, tmp_path, capsys):
    """Chunked, streamed and resumable, a plain run writes the bytes the app's CSV tab writes for the whole file."""
    test = sample_dir / "test.csv"
    ds = load_csv(test, labelled=False)
    probs = Predictor.from_pretrained(tiny_model_dir).predict_proba(ds["premise"], ds["hypothesis"])
    table = chunk_table(ds.select_columns(list(TABLE_COLUMNS[:5])).to_dict(), probs)
    write_csvs(
        {tmp_path / "whole" / "submission.csv": submission(table), tmp_path / "whole" / "probabilities.csv": table}
    )
    got = predict(tiny_model_dir, test, tmp_path / "chunked")
    assert got == (
        (tmp_path / "whole" / "submission.csv").read_bytes(),
        (tmp_path / "whole" / "probabilities.csv").read_bytes(),
    )
    assert "wrote 30 predictions" in capsys.readouterr().out


@pytest.mark.slow
def test_two_processes_write_the_bytes_of_one(tiny_model_dir, sample_dir, tmp_path):
    # train.csv: 150 competition rows (its label column is ignored), enough for the tiny model to use two labels
    source = sample_dir / "train.csv"
    flags = ("--chunk_size", "40", "--batch_size", "6")  # uneven: 4 chunks, the last of 30; 7 batches to deal out
    one = predict(tiny_model_dir, source, tmp_path / "one", *flags)
    out = tmp_path / "two"
    result = command(
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "-m",
        "contradiction.predict",
        "--model",
        str(tiny_model_dir),
        "--input",
        str(source),
        "--output",
        str(out / "submission.csv"),
        "--probabilities",
        str(out / "probabilities.csv"),
        *flags,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote 150 predictions") == 1  # written once, by the main process
    assert "2 processes" in result.stdout
    assert ((out / "submission.csv").read_bytes(), (out / "probabilities.csv").read_bytes()) == one
    assert sorted(p.name for p in out.iterdir()) == ["probabilities.csv", "submission.csv"]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_bytes(tiny_model_dir, sample_dir, tmp_path, capsys):
    source = sample_dir / "train.csv"
    flags = ("--chunk_size", "20", "--batch_size", "8")
    uninterrupted = predict(tiny_model_dir, source, tmp_path / "whole", *flags)
    whole_summary = capsys.readouterr().out.splitlines()[0].split(" (")[1]
    out = tmp_path / "killed"
    submission_csv = out / "submission.csv"
    killed = command(
        str(ROOT / "tests" / "killed_run.py"),
        "3",  # SIGKILL with chunk 4 written, not recorded
        "--model",
        str(tiny_model_dir),
        "--input",
        str(source),
        "--output",
        str(submission_csv),
        "--probabilities",
        str(out / "probabilities.csv"),
        *flags,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    progress = json.loads(progress_path(submission_csv).read_text(encoding="utf-8"))
    assert progress["rows_done"] == 60
    assert partial_path(submission_csv).stat().st_size > progress["bytes"][str(submission_csv.resolve())]
    assert not submission_csv.exists() and not (out / "probabilities.csv").exists()  # nothing looks complete

    assert predict(tiny_model_dir, source, out, *flags, "--resume") == uninterrupted
    summary = capsys.readouterr().out.splitlines()[0].split(" (")[1]
    assert summary == whole_summary.replace(")", ", 60 of them from the run resumed)")  # labels of all 150 rows
    assert sorted(p.name for p in out.iterdir()) == ["probabilities.csv", "submission.csv"]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_jsonl_and_parquet_give_the_csv_s_submission(tiny_model_dir, sample_dir, tmp_path, suffix):
    csv_sub, csv_probs = predict(tiny_model_dir, sample_dir / "test.csv", tmp_path / "csv")
    names = {"id": "pair_id", "premise": "sentence1", "hypothesis": "sentence2"}
    frame = pd.read_csv(sample_dir / "test.csv", dtype=str, keep_default_na=False).rename(columns=names)
    source = tmp_path / f"pairs{suffix}"
    if suffix == ".jsonl":
        frame.to_json(source, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(source, row_group_size=8)  # several row groups, read one after the other
    got = predict(
        tiny_model_dir,
        source,
        tmp_path / "other",
        "--chunk_size",
        "11",
        "--id_column",
        "pair_id",
        "--premise_column",
        "sentence1",
        "--hypothesis_column",
        "sentence2",
    )
    assert got[0] == csv_sub
    assert got[1] == csv_probs  # lang_abv and language are carried along when the file has them


def test_help_lists_the_batch_flags():
    result = command("-m", "contradiction.predict", "--help")
    assert result.returncode == 0
    for flag in (
        "--chunk_size",
        "--resume",
        "--id_column",
        "--premise_column",
        "--hypothesis_column",
        ".parquet",
        "--documents",
    ):
        assert flag in result.stdout


def test_the_summary_counts_the_pairs_that_were_cut(tiny_model_dir, sample_dir, tmp_path, capsys):
    source = sample_dir / "test.csv"
    predict(tiny_model_dir, source, tmp_path / "whole")
    assert "were longer than" not in capsys.readouterr().out  # the sample pairs fit in 256 tokens
    predict(tiny_model_dir, source, tmp_path / "cut", "--max_length", "24")
    test = pd.read_csv(source, dtype=str, keep_default_na=False)
    whole = Predictor.from_pretrained(tiny_model_dir)
    counts = whole.token_counts(test["premise"].tolist(), test["hypothesis"].tolist())
    cut = sum(total > 24 for _, total in counts)
    assert 0 < cut < len(test)
    assert f"{cut} of the {len(test)} pairs were longer than 24 tokens" in capsys.readouterr().out


def _documents_file(path: Path) -> pd.DataFrame:
    """A competition-format file whose premises are documents of several sentences (ours, from test_documents)."""
    from test_documents import FILLER

    rows = []
    for i in range(12):
        sentences = FILLER[i % 5 :] + FILLER[: i % 5]
        rows.append(
            {
                "id": f"d{i}",
                "premise": " ".join(sentences[: 4 + i % 5]),
                "hypothesis": FILLER[(i * 7) % len(FILLER)] + (" The bridge is old." if i % 3 == 0 else ""),
                "lang_abv": "en",
                "language": "English",
            }
        )
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.slow
def test_documents_are_checked_window_by_window_with_their_evidence(tiny_model_dir, tmp_path, capsys):
    from contradiction.inference.documents import DocumentChecker
    from contradiction.inference.options import PredictorOptions

    frame = _documents_file(tmp_path / "documents.csv")
    flags = ("--documents", "--max_length", "64", "--chunk_size", "5")
    predict(tiny_model_dir, tmp_path / "documents.csv", tmp_path / "out", *flags)
    probs = pd.read_csv(tmp_path / "out" / "probabilities.csv", dtype={"id": str}, keep_default_na=False)
    predictor = Predictor.from_pretrained(tiny_model_dir, PredictorOptions(max_length=64))
    expected = DocumentChecker(predictor).check_many(
        frame["premise"].tolist(), frame["hypothesis"].tolist(), ["en"] * len(frame)
    )
    assert probs["predicted_label"].tolist() == [r.label for r in expected]
    assert probs["windows"].tolist() == [r.windows for r in expected] and max(probs["windows"]) > 1
    assert probs["score"].tolist() == pytest.approx([r.score for r in expected], abs=1e-5)  # consistency in [0, 1]
    assert probs["score"].between(0, 1).all()
    for row, result in zip(probs.itertuples(), expected, strict=True):
        assert [getattr(row, c) for c in PROB_COLUMNS] == pytest.approx(
            [result.probabilities[label] for label in LABELS], abs=1e-5
        )
        if row.evidence:
            assert row.premise[row.evidence_start : row.evidence_end] == row.evidence
        else:
            assert row.evidence_start == row.evidence_end == -1 and row.predicted_label == "neutral"
    assert "were longer than" not in capsys.readouterr().out  # nothing is cut in document mode


@pytest.mark.slow
def test_a_killed_document_run_resumes_to_the_same_bytes(tiny_model_dir, tmp_path, capsys):
    _documents_file(tmp_path / "documents.csv")
    flags = ("--documents", "--max_length", "64", "--chunk_size", "4")
    uninterrupted = predict(tiny_model_dir, tmp_path / "documents.csv", tmp_path / "whole", *flags)
    out = tmp_path / "killed"
    killed = command(
        str(ROOT / "tests" / "killed_run.py"),
        "1",
        "--model",
        str(tiny_model_dir),
        "--input",
        str(tmp_path / "documents.csv"),
        "--output",
        str(out / "submission.csv"),
        "--probabilities",
        str(out / "probabilities.csv"),
        *flags,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert json.loads(progress_path(out / "submission.csv").read_text(encoding="utf-8"))["rows_done"] == 4
    assert predict(tiny_model_dir, tmp_path / "documents.csv", out, *flags, "--resume") == uninterrupted
    assert "4 of them from the run resumed" in capsys.readouterr().out


def test_a_claim_too_long_for_any_window_names_its_row(tiny_model_dir, tmp_path):
    frame = _documents_file(tmp_path / "documents.csv")
    frame.loc[5, "hypothesis"] = " ".join(["word"] * 80) + "."
    frame.to_csv(tmp_path / "documents.csv", index=False)
    with pytest.raises(UserError, match="Row with id 'd5': Claim 1 has .* tokens and the model reads 64 per pair"):
        main(
            [
                "--model",
                str(tiny_model_dir),
                "--input",
                str(tmp_path / "documents.csv"),
                "--documents",
                "--max_length",
                "64",
                "--output",
                str(tmp_path / "out" / "submission.csv"),
            ]
        )
    assert not (tmp_path / "out" / "submission.csv").exists()
