"""data/pairs.py, the one reader of pair files: the predict CLI's check says what `load_csv` says, every format's
message names its line or row and column; inference/outputs.py: resumed outputs fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from contradiction.data.competition import DataError, load_csv
from contradiction.data.pairs import Columns, check_rows, open_input
from contradiction.errors import UserError
from contradiction.inference.outputs import ChunkedOutputs, partial_path, progress_path

HEADER = "id,premise,hypothesis,lang_abv,language\n"
GOOD = [
    "en1,The shop opens at nine.,The shop is open in the morning.,en,English",
    "fr1,Il pleut.,Le soleil brille.,fr,French",
    "de1,Der Laden ist zu.,Der Laden hat offen.,de,German",
]


def streaming_error(path: Path, columns: Columns | None = None) -> str:
    with pytest.raises(DataError) as info:
        check_rows(open_input(path, columns))
    return str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        HEADER + 'en1,"The shop opens,at nine.,en,English\nen2,A.,B.,en,English\n',
        HEADER + "en1,Hello, world,Hi.,en,English\n",
        HEADER.replace(",", "\t") + "en1\tA.\tB.\ten\tEnglish\n",
        HEADER.replace(",", ";") + "en1;A.;B.;en;English\n",
        "id,text\n1,hello\n",
        HEADER + "\n".join([GOOD[0], ",A.,B.,en,English", GOOD[2]]) + "\n",
        HEADER + "\n".join([GOOD[0], "fr1,Il pleut.,  ,fr,French", GOOD[2]]) + "\n",
        HEADER + "\n".join([GOOD[0], "fr1,\u200b\u200b,Oui.,fr,French", GOOD[2]]) + "\n",
        HEADER + "\n".join([GOOD[0], "fr1,Il pleut.,Oui.", GOOD[2]]) + "\n",
        HEADER + "\n".join([*GOOD, "en1,Again.,Twice.,en,English"]) + "\n",
        HEADER + "\n".join([GOOD[0], ",A.,,en,English", "x,,B.,,English"]) + "\n",
        HEADER,
        "   \n",
        "",
    ],
    ids=[
        "unclosed-quote",
        "unquoted-comma",
        "tabs",
        "semicolons",
        "wrong-header",
        "empty-id",
        "blank-hypothesis",
        "invisible-premise",
        "short-row",
        "repeated-id",
        "several-problems",
        "header-only",
        "blank",
        "empty",
    ],
)
def test_a_bad_competition_csv_gets_load_csv_s_sentence(tmp_path: Path, content: str) -> None:
    path = tmp_path / "test.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as expected:
        load_csv(path, labelled=False)
    assert streaming_error(path) == str(expected.value)


@pytest.mark.parametrize(
    "raw",
    [HEADER.encode("utf-16"), (HEADER + GOOD[0] + "\n").encode() + b"en2,caf\xe9,B.,en,English\n"],
    ids=["utf-16", "latin-1-byte"],
)
def test_a_badly_encoded_csv_gets_load_csv_s_sentence(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "test.csv"
    path.write_bytes(raw)
    with pytest.raises(DataError) as expected:
        load_csv(path, labelled=False)
    assert streaming_error(path) == str(expected.value)


def test_a_good_csv_streams_as_load_csv_reads_it(tmp_path: Path, sample_dir: Path) -> None:
    path = tmp_path / "test.csv"
    text = (sample_dir / "test.csv").read_text(encoding="utf-8")
    path.write_text(text.replace("\n", "\r\n", 3), encoding="utf-8-sig")  # a BOM and a few Windows line ends
    expected = load_csv(path, labelled=False)
    source = open_input(path)
    assert check_rows(source) == len(expected)
    chunks = list(source.chunks(7))
    assert [len(c["id"]) for c in chunks] == [7, 7, 7, 7, 2]
    for column in ("id", "premise", "hypothesis", "lang_abv", "language"):
        assert [value for c in chunks for value in c[column]] == expected[column]
    assert [c["id"] for c in source.chunks(7, skip_rows=21)] == [expected["id"][21:28], expected["id"][28:]]
    ids = expected["id"]  # a skip that is not a whole number of chunks (--resume after --chunk_size changed)
    assert [c["id"] for c in source.chunks(7, skip_rows=5)] == [ids[5:12], ids[12:19], ids[19:26], ids[26:]]


def test_awkward_csv_values_stream_as_load_csv_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "test.csv"
    rows = [
        "1e10,NA,null,en,English",
        '007,"A, quoted\ntext","He said ""hi"".",en,English',
        "",
        "x1,  spaced  ,None,fr,French",
        "x2,True,nan,de,German",
    ]
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    expected = load_csv(path, labelled=False)
    chunks = list(open_input(path).chunks(2))
    for column in ("id", "premise", "hypothesis", "lang_abv", "language"):
        assert [value for c in chunks for value in c[column]] == expected[column]
    assert expected["id"] == ["1e10", "007", "x1", "x2"]  # ids stay text; the blank line is no row


@pytest.mark.parametrize(
    "name, content, expected",
    [
        (
            "pairs.txt",
            "id,premise\n",
            "{path}: is a .txt file; pass a .csv, .jsonl or .parquet file (the type is read from the name).",
        ),
        (
            "pairs",
            "",
            "{path}: is a file without extension; pass a .csv, .jsonl or .parquet file (the type is read "
            "from the name).",
        ),
        (
            "pairs.jsonl",
            '{"id": "1", "premise": "A."}\n',
            "{path}: has no column 'hypothesis' for the hypotheses; "
            "name the right one with --hypothesis_column (the file has id, premise).",
        ),
        (
            "pairs.jsonl",
            '{"id": "1", "premise": "A.", "hypothesis": "B."}\n{"id": "2", "premise": \n',
            "{path}: line 2 is not valid JSON (Expecting value at column 24); write one JSON object per line.",
        ),
        ("pairs.jsonl", "[1, 2]\n", "{path}: line 1 is not a JSON object; write one object per line"),
        ("pairs.jsonl", "\n\n", "{path}: the file has no rows; write one JSON object per line."),
        ("pairs.parquet", "not parquet", "{path}: could not be read as Parquet ("),
        (
            "pairs.jsonl",
            '{"id": "1", "premise": "A.", "hypothesis": "B."}\n{"id": "1", "premise": "C.", "hypothesis": "D."}\n',
            "{path}: line 2 (id '1') repeats the id of line 1; ids must be unique.",
        ),
    ],
    ids=[
        "unknown-extension",
        "no-extension",
        "missing-column",
        "broken-json",
        "not-an-object",
        "no-rows",
        "not-parquet",
        "repeated-id",
    ],
)
def test_other_bad_inputs_get_one_sentence(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    message = streaming_error(path)
    assert message.startswith(expected.format(path=path))
    assert "\n" not in message and message.endswith(".")


JSON_GOOD = '{"id": "1", "premise": "A.", "hypothesis": "B."}'


@pytest.mark.parametrize(
    "third_line, expected",
    [
        (JSON_GOOD + " x", "line 3 is not valid JSON (Extra data at column 50); write one JSON object per line."),
        (
            '{"id": "2", "premise": "C."}',
            "line 3 has no key 'hypothesis'; give every object the keys id, premise, hypothesis.",
        ),
        (
            '{"id": "2", "premise": ["C."], "hypothesis": "D."}',
            """line 3 has ['C.'] under key 'premise', not text; write it as a JSON string ("...").""",
        ),
        (
            '{"id": 2.5, "premise": "C.", "hypothesis": "D."}',
            """line 3 has 2.5 under key 'id', not text or a whole number; write it as a JSON string ("...").""",
        ),
        (
            '{"id": "2", "premise": "C.", "hypothesis": " "}',
            "line 3 (id '2') has an empty hypothesis; fill it in or remove the row.",
        ),
        (
            '{"id": "2", "premise": null, "hypothesis": "D."}',
            "line 3 (id '2') has an empty premise; fill it in or remove the row.",
        ),
        ('{"id": "", "premise": "C.", "hypothesis": "D."}', "line 3 has an empty id; give every row a unique id."),
        (JSON_GOOD, "line 3 (id '1') repeats the id of line 1; ids must be unique."),
    ],
    ids=[
        "broken-line",
        "missing-key",
        "wrong-type",
        "wrong-id-type",
        "empty-text",
        "null-text",
        "empty-id",
        "repeated-id",
    ],
)
def test_bad_json_lines_are_named_by_their_line(tmp_path: Path, third_line: str, expected: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(f"{JSON_GOOD}\n\n{third_line}\n", encoding="utf-8")  # line 3 is the second row
    assert streaming_error(path) == f"{path}: {expected}"


def test_json_ids_may_be_whole_numbers(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"id": 7, "premise": " A. ", "hypothesis": "B.", "lang_abv": "en"}\n', encoding="utf-8")
    source = open_input(path)
    assert check_rows(source) == 1
    assert list(source.chunks(4)) == [{"id": ["7"], "premise": ["A."], "hypothesis": ["B."], "lang_abv": ["en"]}]


def test_bad_parquet_values_are_named_by_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    ids = [f"p{i}" for i in range(1, 8)]
    premises = ["A.", "B.", "C.", None, "E.", "F.", "G."]
    pd.DataFrame({"id": ids, "premise": premises, "hypothesis": ["H."] * 7}).to_parquet(path, row_group_size=3)
    assert streaming_error(path) == f"{path}: row 4 (id 'p4') has an empty premise; fill it in or remove the row."
    pd.DataFrame({"id": ids, "premise": [None, 5, 6, 7, 8, 9, 10], "hypothesis": ["H."] * 7}).to_parquet(path)
    assert streaming_error(path) == (
        f"{path}: row 2 has 5.0 in column 'premise' (double), not text; store column 'premise' as strings."
    )
    pd.DataFrame({"id": range(7), "premise": premises[:3] * 2 + ["G."], "hypothesis": ["H."] * 7}).to_parquet(path)
    assert check_rows(open_input(path)) == 7  # whole numbers are ids too


def test_a_damaged_parquet_file_names_the_rows_it_could_not_read(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "pairs.parquet"
    rows = {"id": [str(i) for i in range(1000)], "premise": [f"Premise {i}." for i in range(1000)]}
    pd.DataFrame({**rows, "hypothesis": ["H."] * 1000}).to_parquet(path, row_group_size=100, compression=None)
    damaged = bytearray(path.read_bytes())
    start = pq.ParquetFile(path).metadata.row_group(5).column(1).data_page_offset
    damaged[start : start + 40] = b"\xff" * 40
    path.write_bytes(damaged)
    message = streaming_error(path)
    assert message.startswith(f"{path}: rows 501 to 600 (row group 6) could not be read as Parquet (")
    assert message.endswith("; pass a complete Parquet file.")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_competition_file_loads_alike_in_every_format(tmp_path: Path, sample_dir: Path, suffix: str) -> None:
    frame = pd.read_csv(sample_dir / "train.csv", dtype=str, keep_default_na=False).astype({"label": int})
    path = tmp_path / f"train{suffix}"
    frame.to_json(path, orient="records", lines=True) if suffix == ".jsonl" else frame.to_parquet(path)
    assert load_csv(path, labelled=True).to_dict() == load_csv(sample_dir / "train.csv", labelled=True).to_dict()
    frame.loc[3, "label"] = 3
    frame.to_json(path, orient="records", lines=True) if suffix == ".jsonl" else frame.to_parquet(path)
    with pytest.raises(DataError) as info:
        load_csv(path, labelled=True)
    place = "line 4" if suffix == ".jsonl" else "row 4"
    assert str(info.value) == (
        f"{path}: {place} (id {frame.loc[3, 'id']!r}) has label '3'; labels must be 0 (entailment), 1 (neutral) or "
        "2 (contradiction)."
    )


def test_column_flags_name_the_missing_column_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("pair,sentence1,sentence2\n1,A.,B.\n", encoding="utf-8")
    assert streaming_error(path, Columns("pair", "sentence1", "sentence_2")) == (
        f"{path}: has no column 'sentence_2' for the hypotheses; name the right one with --hypothesis_column "
        "(the file has pair, sentence1, sentence2)."
    )
    bad = tmp_path / "pairs.parquet"
    pd.DataFrame({"pair": ["1", "2"], "s1": ["A.", " "], "s2": ["B.", "C."]}).to_parquet(bad)
    assert streaming_error(bad, Columns("pair", "s1", "s2")) == (
        f"{bad}: row 2 (id '2') has an empty s1; fill it in or remove the row."
    )


def test_a_missing_input_names_the_file(tmp_path: Path) -> None:
    assert streaming_error(tmp_path / "nope.jsonl") == (
        f"{tmp_path / 'nope.jsonl'}: no such file; pass the path of the file to predict."
    )


def written(tmp_path: Path, settings: dict, chunks: int) -> ChunkedOutputs:
    outputs = ChunkedOutputs([tmp_path / "submission.csv", tmp_path / "probabilities.csv"], settings)
    outputs.start(resume=False)
    for i in range(chunks):
        frame = pd.DataFrame({"id": [f"{i}a", f"{i}b"], "prediction": [0, 2]})
        outputs.append([frame, frame], {"entailment": 1, "contradiction": 1})
    return outputs


def test_outputs_resume_from_their_last_recorded_size(tmp_path: Path) -> None:
    written(tmp_path, {"--chunk_size": 2}, chunks=2)
    target = tmp_path / "submission.csv"
    recorded = partial_path(target).read_bytes()
    with open(partial_path(target), "ab") as f:
        f.write(b"3a,1\n3b")  # a chunk half written when the run was killed
    assert not target.exists()
    outputs = ChunkedOutputs([target, tmp_path / "probabilities.csv"], {"--chunk_size": 2})
    assert outputs.start(resume=True) == 4
    assert partial_path(target).read_bytes() == recorded
    assert outputs.counts == {"entailment": 2, "contradiction": 2}
    outputs.append([pd.DataFrame({"id": ["2a"], "prediction": [1]})] * 2, {"neutral": 1})
    outputs.finish()
    assert target.read_text(encoding="utf-8") == "id,prediction\n0a,0\n0b,2\n1a,0\n1b,2\n2a,1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probabilities.csv", "submission.csv"]


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    written(tmp_path, {"--chunk_size": 2, "--batch_size": 64}, chunks=1)
    progress = progress_path(tmp_path / "submission.csv")
    outputs = ChunkedOutputs(
        [tmp_path / "submission.csv", tmp_path / "probabilities.csv"], {"--chunk_size": 2, "--batch_size": 32}
    )
    with pytest.raises(UserError) as info:
        outputs.start(resume=True)
    assert str(info.value) == (
        f"--resume: {progress} was written with --batch_size 64, not 32; pass the same value, or run without "
        "--resume to start over."
    )
    partial_path(tmp_path / "probabilities.csv").unlink()
    outputs = ChunkedOutputs(
        [tmp_path / "submission.csv", tmp_path / "probabilities.csv"], {"--chunk_size": 2, "--batch_size": 64}
    )
    with pytest.raises(UserError, match="is missing or shorter than"):
        outputs.start(resume=True)
    assert json.loads(progress.read_text(encoding="utf-8"))["rows_done"] == 2  # nothing was touched


def test_without_resume_an_unfinished_run_starts_over(tmp_path: Path, capsys) -> None:
    written(tmp_path, {}, chunks=3)
    outputs = ChunkedOutputs([tmp_path / "submission.csv", tmp_path / "probabilities.csv"], {})
    assert outputs.start(resume=False) == 0
    assert partial_path(tmp_path / "submission.csv").read_bytes() == b""
    assert "starting over (--resume continues it)" in capsys.readouterr().err
