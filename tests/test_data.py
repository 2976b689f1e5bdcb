"""data/competition.py and data_prep.py: validation messages, stratified split, determinism, the saved dataset."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from datasets import ClassLabel

from contradiction.cli import run_main
from contradiction.data.competition import format_report, load_csv, load_prepared, prepare, stratified_split
from contradiction.data.prepare_cli import main as prepare_main
from contradiction.labels import LABELS

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["id", "premise", "hypothesis", "lang_abv", "language", "label"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def good_rows() -> list[list[str]]:
    return [
        ["a1", "The shop opens at nine.", "The shop opens in the morning.", "en", "English", "0"],
        ["a2", "Le train part à midi.", "Le train est en retard.", "fr", "French", "1"],
        ["a3", "Es regnet seit Montag.", "Es ist seit Montag trocken.", "de", "German", "2"],
    ]


def run_prepare(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: prepare_main(argv))
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_bytes(b""), p)[1], "the file is empty"),
        (lambda p: (p.write_bytes(b"id,premise\nx1,caf\xe9\n"), p)[1], "line 2 is not valid UTF-8"),
        (
            lambda p: write_csv(
                p, [["a1", "x", "en", "English", "0"]], ["id", "premise", "lang_abv", "language", "label"]
            ),
            "missing column(s) hypothesis",
        ),
        (
            lambda p: write_csv(p, [["a1;b;c;en;English;0"]], ["id;premise;hypothesis;lang_abv;language;label"]),
            "';' as separator",
        ),
        (lambda p: write_csv(p, []), "has a header but no rows"),
        (
            lambda p: write_csv(p, good_rows() + [["a4", "   ", "Something.", "en", "English", "1"]]),
            "row 4 (id 'a4') has an empty premise",
        ),
        (
            lambda p: write_csv(p, good_rows() + [["a4", "Something.", "\t ", "en", "English", "1"]]),
            "row 4 (id 'a4') has an empty hypothesis",
        ),
        (lambda p: write_csv(p, good_rows() + [["a4", "A.", "B.", "en", "English", "3"]]), "has label '3'"),
        (lambda p: write_csv(p, good_rows() + [["a4", "A.", "B.", "en", "English", "abc"]]), "has label 'abc'"),
        (
            lambda p: write_csv(p, good_rows() + [["a2", "A.", "B.", "en", "English", "1"]]),
            "row 4 (id 'a2') repeats the id of row 2",
        ),
    ],
    ids=[
        "missing",
        "empty",
        "not-utf8",
        "missing-column",
        "semicolons",
        "no-rows",
        "blank-premise",
        "blank-hypothesis",
        "label-3",
        "label-abc",
        "duplicate-id",
    ],
)
def test_bad_train_file_is_refused_with_one_sentence_and_nothing_written(tmp_path, capsys, make, expected):
    bad = make(tmp_path / "train.csv")
    out = tmp_path / "out"
    status, err = run_prepare(["--train_file", str(bad), "--output_dir", str(out)], capsys)
    assert status == 2
    assert expected in err
    assert str(tmp_path / "train.csv") in err
    # progress bars may come first; the message is one line, the last
    assert err.strip().splitlines()[-1].startswith("error: ") and err.count("error:") == 1
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] in ([], ["train.csv"])  # no temporary folder left behind


def test_bad_test_file_is_named(tmp_path, capsys, sample_dir):
    test = write_csv(tmp_path / "test.csv", [["t1", "A.", "B.", "en"]], ["id", "premise", "hypothesis", "lang_abv"])
    status, err = run_prepare(
        ["--train_file", str(sample_dir / "train.csv"), "--test_file", str(test), "--output_dir", str(tmp_path / "o")],
        capsys,
    )
    assert status == 2 and "test.csv: missing column(s) language" in err
    assert not (tmp_path / "o").exists()


def test_cli_prints_no_traceback_in_a_real_process(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "data_prep.py"),
            "--train_file",
            str(tmp_path / "nope.csv"),
            "--output_dir",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: {tmp_path / 'nope.csv'}: no such file; pass the path of the competition CSV (e.g. train.csv)."
    )


def test_texts_are_stripped_and_extra_columns_ignored(tmp_path):
    header = [*HEADER, "notes"]
    rows = [[*r, "extra"] for r in good_rows()]
    rows[0][1] = "  The shop opens at nine.   "
    ds = load_csv(write_csv(tmp_path / "train.csv", rows, header), labelled=True)
    assert ds[0]["premise"] == "The shop opens at nine."
    assert "notes" not in ds.column_names
    assert isinstance(ds.features["label"], ClassLabel) and ds.features["label"].names == list(LABELS)


def test_ids_that_look_like_numbers_stay_text(tmp_path):
    rows = good_rows()
    rows[0][0], rows[1][0] = "1e10", "007"
    ds = load_csv(write_csv(tmp_path / "train.csv", rows), labelled=True)
    assert ds["id"][:2] == ["1e10", "007"]


def test_byte_order_mark_is_accepted(tmp_path):
    path = write_csv(tmp_path / "train.csv", good_rows())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_csv(path, labelled=True)["id"][0] == "a1"


def test_sample_data_covers_languages_and_labels(sample_dir):
    ds = load_csv(sample_dir / "train.csv", labelled=True)
    assert len(ds) >= 120
    per_language = Counter(zip(ds["lang_abv"], ds["label"], strict=True))
    languages = {lang for lang, _ in per_language}
    assert len(languages) >= 8 and {"ar", "zh", "hi", "ru", "th"} <= languages
    assert all(per_language[(lang, label)] >= 1 for lang in languages for label in range(3))
    assert load_csv(sample_dir / "test.csv", labelled=False).column_names == [
        "id",
        "premise",
        "hypothesis",
        "lang_abv",
        "language",
    ]


def test_split_is_stratified_and_deterministic(sample_dir):
    ds = load_csv(sample_dir / "train.csv", labelled=True)
    split = stratified_split(ds, 0.2, seed=1)
    assert len(split["train"]) + len(split["validation"]) == len(ds)
    assert set(split["train"]["id"]).isdisjoint(split["validation"]["id"])
    for name in ("train", "validation"):
        groups = Counter(zip(split[name]["lang_abv"], split[name]["label"], strict=True))
        assert set(groups) == set(zip(ds["lang_abv"], ds["label"], strict=True))  # every language x label on both sides
    assert stratified_split(ds, 0.2, seed=1)["validation"]["id"] == split["validation"]["id"]
    assert stratified_split(ds, 0.2, seed=2)["validation"]["id"] != split["validation"]["id"]


def test_split_proportion_on_a_larger_set(tmp_path):
    rows = [
        [f"r{i}", f"Premise {i}.", f"Hypothesis {i}.", lang, lang.upper(), str(i % 3)]
        for i in range(600)
        for lang in [("en", "fr")[i % 2]]
    ]
    ds = load_csv(write_csv(tmp_path / "train.csv", rows), labelled=True)
    split = stratified_split(ds, 0.1, seed=0)
    assert len(split["validation"]) == 60
    assert Counter(split["validation"]["lang_abv"]) == {"en": 30, "fr": 30}


def test_prepared_dataset_reloads_with_report(tmp_path, capsys, sample_dir):
    out = tmp_path / "prepared"
    prepare_main(
        [
            "--train_file",
            str(sample_dir / "train.csv"),
            "--test_file",
            str(sample_dir / "test.csv"),
            "--output_dir",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    splits, report = load_prepared(out)
    assert set(splits) == {"train", "validation", "test"}
    assert splits["train"].features["label"].names == list(LABELS)
    assert "label" not in splits["test"].column_names
    assert len(splits["train"]) + len(splits["validation"]) == 150 and len(splits["test"]) == 30
    saved = json.loads((out / "data_report.json").read_text())
    assert saved == report
    assert report["files"][0]["sha256"] and report["files"][0]["rows"] == 150
    assert sum(report["counts"]["validation"]["Thai"].values()) >= 3
    assert "Thai" in printed and report["files"][0]["sha256"] in printed


def test_output_folder_is_replaced_whole(tmp_path, sample_dir):
    out = tmp_path / "prepared"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    splits, report = prepare(sample_dir / "train.csv")
    from contradiction.data.competition import save_prepared

    save_prepared(splits, report, out)
    assert not (out / "stale.txt").exists() and (out / "dataset_dict.json").exists()
    assert "total" in format_report(report)
