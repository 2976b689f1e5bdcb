"""Bad input that the older tests do not already cover: odd CSV files, odd texts through the API and the
upload, and limits. Each is refused in one sentence or handled; docs/robustness.md lists every case."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
from pathlib import Path

import httpx
import pytest
from conftest import ServedApp
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from local_app import launch_local

from contradiction.cli import run_main
from contradiction.data.competition import load_csv
from contradiction.data.prepare_cli import main as prepare_main
from contradiction.errors import UserError
from contradiction.inference.predictor import Predictor
from contradiction.labels import LABELS
from contradiction.serving.cli import parse_args
from contradiction.serving.limits import Limits, text_problem
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.page import build_demo

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["id", "premise", "hypothesis", "lang_abv", "language", "label"]
TEST_HEADER = HEADER[:-1]
# odd but valid texts: control characters, emoji (some outside the BMP), right-to-left and mixed scripts
ODD_TEXTS = {
    "control": "Bell\x07, escape\x1b[31m, NUL\x00 and a tab\tinside.",
    "emoji": "I love pizza 🍕🍕 and 👩‍👩‍👧 family trips ✈️.",
    "rtl": "قال أحمد إن المتجر مغلق يوم الأحد.",
    "mixed": "אני אוהב Hebrew עברית and العربية 123 together.",
}


def write_rows(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def good_rows() -> list[list[str]]:
    """Two rows per (language, label) group for English and French, so a validation split exists."""
    rows = []
    for lang, language in (("en", "English"), ("fr", "French")):
        for label in range(3):
            for k in range(2):
                rows.append(
                    [f"{lang}{label}{k}", f"Premise {lang} {label} {k}.", "A hypothesis.", lang, language, str(label)]
                )
    return rows


def refused(argv: list[str], capsys) -> str:
    """Run data_prep.py's main as the command line does; return its one error line."""
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: prepare_main(argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 1
    return err.strip().splitlines()[-1]


# --- CSV files (data_prep.py, train.py --train_file, the predict CLI and the upload share load_csv)


def test_quoted_newlines_stay_inside_their_text(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0][1] = "Line one of the premise.\nLine two, with a comma."
    ds = load_csv(write_rows(tmp_path / "train.csv", rows), labelled=True)
    assert len(ds) == len(rows)
    assert ds[0]["premise"] == "Line one of the premise.\nLine two, with a comma."


def test_odd_texts_are_kept_as_written(tmp_path: Path) -> None:
    rows = good_rows()
    for i, text in enumerate(ODD_TEXTS.values()):
        rows[i][1] = text
    ds = load_csv(write_rows(tmp_path / "train.csv", rows), labelled=True)
    assert ds["premise"][: len(ODD_TEXTS)] == [text.strip() for text in ODD_TEXTS.values()]


def test_a_100k_character_text_in_a_csv_is_accepted(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0][1] = ("Le musée ferme à six heures. " * 4000)[:100_000]
    assert len(load_csv(write_rows(tmp_path / "train.csv", rows), labelled=True)[0]["premise"]) > 99_000


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            "id,premise,hypothesis,lang_abv,language,label\n"
            'en1,"The shop opens,at nine.,en,English,0\nen2,A.,B.,en,English,1\n',
            'line 2 opens a double quote (") that is never closed; close it or remove it.',
        ),
        (
            "id,premise,hypothesis,lang_abv,language,label\nen1,Hello, world,Hi.,en,English,0\n",
            'line 2 has 7 fields but the header has 6; put texts that contain commas in double quotes ("...").',
        ),
        (
            "id\tpremise\thypothesis\tlang_abv\tlanguage\tlabel\nen1\tA.\tB.\ten\tEnglish\t0\n",
            "(the file seems to use tabs as separator; save it with ',')",
        ),
    ],
    ids=["unclosed-quote", "unquoted-comma", "tabs"],
)
def test_malformed_csv_names_the_line_and_the_fix(tmp_path: Path, capsys, content: str, expected: str) -> None:
    path = tmp_path / "train.csv"
    path.write_text(content, encoding="utf-8")
    line = refused(["--train_file", str(path), "--output_dir", str(tmp_path / "out")], capsys)
    assert line.startswith(f"error: {path}: ") and expected in line
    assert not (tmp_path / "out").exists()


def test_utf16_file_is_named_as_such(tmp_path: Path, capsys) -> None:
    path = tmp_path / "train.csv"
    path.write_text("id,premise,hypothesis,lang_abv,language,label\n", encoding="utf-16")
    line = refused(["--train_file", str(path), "--output_dir", str(tmp_path / "out")], capsys)
    assert line == f"error: {path}: the file is UTF-16; re-save it with UTF-8 encoding."


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda rows: rows[3].__setitem__(0, ""), "row 4 has an empty id; give every row a unique id."),
        (lambda rows: rows[3].__setitem__(3, " "), "row 4 (id 'en11') has an empty lang_abv"),
        (lambda rows: rows[3].__setitem__(5, "2.0"), "row 4 (id 'en11') has label '2.0'; labels must be 0"),
        (lambda rows: rows.__setitem__(3, rows[3][:3]), "row 4 (id 'en11') has an empty lang_abv"),
    ],
    ids=["empty-id", "blank-language-code", "label-2.0", "short-row"],
)
def test_more_bad_rows_are_named(tmp_path: Path, capsys, change, expected: str) -> None:
    rows = good_rows()
    change(rows)
    path = write_rows(tmp_path / "train.csv", rows)
    assert expected in refused(["--train_file", str(path), "--output_dir", str(tmp_path / "out")], capsys)


def test_too_few_rows_for_a_validation_split(tmp_path: Path, capsys) -> None:
    path = write_rows(tmp_path / "train.csv", good_rows()[::2])  # one row per (language, label)
    line = refused(["--train_file", str(path), "--output_dir", str(tmp_path / "out")], capsys)
    assert line == (
        f"error: {path}: too few rows (6) to hold out a validation split, as no language has two rows with the "
        "same label; add rows."
    )


def test_a_folder_as_input_and_a_file_as_output_are_refused_before_any_work(tmp_path: Path, capsys) -> None:
    line = refused(["--train_file", str(tmp_path), "--output_dir", str(tmp_path / "out")], capsys)
    assert (
        line == f"error: {tmp_path}: is a folder; pass the path of the competition CSV file inside it (e.g. train.csv)."
    )
    train = write_rows(tmp_path / "train.csv", good_rows())
    taken = tmp_path / "taken"
    taken.write_text("keep me", encoding="utf-8")
    line = refused(["--train_file", str(train), "--output_dir", str(taken)], capsys)
    assert line == f"error: --output_dir {taken} is a file; pass the path of a folder (it is created or replaced)."
    assert taken.read_text(encoding="utf-8") == "keep me"


def test_loading_a_csv_leaves_no_copy_in_the_datasets_cache(tmp_path: Path, monkeypatch) -> None:
    """An upload's texts must not outlive the request in ~/.cache/huggingface/datasets."""
    import datasets.config

    cache = tmp_path / "hf-datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    load_csv(write_rows(tmp_path / "test.csv", [r[:5] for r in good_rows()], TEST_HEADER), labelled=False)
    assert not cache.exists() or not any(cache.rglob("*.arrow"))


def test_windows_line_endings_are_accepted(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "train.csv", good_rows())
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    ds = load_csv(path, labelled=True)
    assert len(ds) == len(good_rows()) and ds[-1]["label"] == 2 and ds[-1]["language"] == "French"


def test_validation_size_outside_zero_to_one_is_refused(tmp_path: Path, capsys) -> None:
    train = write_rows(tmp_path / "train.csv", good_rows())
    line = refused(
        ["--train_file", str(train), "--output_dir", str(tmp_path / "o"), "--validation_size", "1.5"], capsys
    )
    assert line == "error: --validation_size 1.5 must be between 0 and 1, e.g. 0.1."


# --- train.py recipes and the predict CLI's flags (not covered by their own tests)


@pytest.mark.parametrize(
    "recipe, expected",
    [
        (None, "no such recipe; pass a YAML file such as configs/smoke.yaml."),
        ("learning_rate: [1e-5\n", "not valid YAML (while parsing a flow sequence)."),
        ("- train_file\n- output_dir\n", "a recipe is a mapping of option names to values."),
        ("train_file: x.csv\nmax_seq_length: 4\n", "--max_seq_length 4 is too short; use 64 to 512."),
    ],
    ids=["missing", "invalid-yaml", "a-list", "max-seq-length-4"],
)
def test_bad_recipes_are_refused(tmp_path: Path, recipe: str | None, expected: str) -> None:
    from contradiction.training.arguments import parse_args as train_args

    path = tmp_path / "recipe.yaml"
    if recipe is not None:
        path.write_text(recipe, encoding="utf-8")
    with pytest.raises(UserError) as err:
        train_args([str(path), "--output_dir", str(tmp_path / "o")])
    assert str(err.value).endswith(expected)


def test_a_flag_of_the_wrong_type_is_refused_by_argparse(capsys) -> None:
    from contradiction.training.arguments import parse_args as train_args

    with pytest.raises(SystemExit) as exit_info:
        train_args(["--train_file", "x.csv", "--learning_rate", "abc"])
    assert exit_info.value.code == 2
    assert "argument --learning_rate/--learning-rate: invalid float value: 'abc'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--output", "{tmp}"], "--output {tmp} is a folder; pass a file name such as {tmp}/submission.csv."),
        (
            ["--output", "{tmp}/a.csv", "--probabilities", "{tmp}/a.csv"],
            "--output and --probabilities name the same file; give them different names.",
        ),
        (["--output", "{tmp}/a.csv", "--batch_size", "0"], "batch_size 0 must be a positive number, e.g. 32."),
    ],
    ids=["output-is-a-folder", "same-file-twice", "batch-size-0"],
)
def test_predict_cli_flags_are_checked_before_the_model_loads(sample_dir, tmp_path, capsys, flags, expected) -> None:
    from contradiction.inference.predict_cli import main as predict_main

    argv = ["--model", str(tmp_path / "no-model"), "--input", str(sample_dir / "test.csv")]
    argv += [f.format(tmp=tmp_path) for f in flags]
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: predict_main(argv))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {expected.format(tmp=tmp_path)}"


# --- the app: the API, the upload, the limits


def test_text_problem_names_each_kind() -> None:
    assert text_problem("A sentence.", 20) is None
    assert text_problem(" \t\n", 20) == ("is empty", "send a sentence", 422)
    assert text_problem(None, 20) == ("is empty", "send a sentence", 422)
    assert text_problem("x" * 21, 20) == ("has 21 characters, over the limit of 20", "shorten it", 413)
    assert text_problem("a\ud800b", 20)[::2] == ("is not valid Unicode (it holds an unpaired surrogate)", 422)
    assert text_problem(7, 20) == ("is not text (int)", "send a string", 400)
    for text in ODD_TEXTS.values():
        assert text_problem(text, 200) is None


@pytest.fixture(scope="module")
def app(serve_app) -> ServedApp:
    """The app with small limits: 300 characters, 4 pairs, 10 rows, 2 kB (0.002 MB) uploads."""
    return serve_app(limits=Limits(max_chars=300, max_pairs=4, max_rows=10, max_upload_mb=0.002))


def assert_distribution(result: dict) -> None:
    scores = {c["label"]: c["confidence"] for c in result["confidences"]}
    assert set(scores) == set(LABELS) and sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert result["label"] == max(scores, key=scores.get)


@pytest.mark.parametrize("kind", list(ODD_TEXTS))
@pytest.mark.slow
def test_odd_texts_get_a_prediction(app, kind: str) -> None:
    client = app.client
    assert_distribution(client.predict(ODD_TEXTS[kind], "Something is said.", api_name="/predict"))


def test_a_100k_character_text_is_refused_by_both_endpoints(app) -> None:
    client = app.client
    long = "Baba yangu anapenda kusoma magazeti. " * 2800
    with pytest.raises(AppError, match=r"^The hypothesis box has 103,600 characters, over the limit of 300; shorten"):
        client.predict("A premise.", long, api_name="/predict")
    with pytest.raises(AppError, match=r"^Pair 1: the premise has 103,600 characters, over the limit of 300"):
        client.predict(["A.", long], ["B.", "C."], api_name="/predict_batch")


@pytest.mark.parametrize(
    "premise, expected",
    [(None, "The premise is empty; send a sentence."), ("\n\t ", "The premise is empty; send a sentence.")],
)
def test_missing_text_is_refused(app, premise, expected: str) -> None:
    client = app.client
    with pytest.raises(AppError) as err:
        client.predict(premise, "A hypothesis.", api_name="/predict")
    assert str(err.value) == expected


def test_invalid_unicode_in_the_json_is_refused(app) -> None:
    """A lone surrogate is valid JSON (\\ud800) but not text; gradio_client cannot even send it, so raw HTTP."""
    url = app.url
    body = b'{"data": ["caf\\ud800", "A hypothesis."]}'
    start = httpx.post(f"{url}gradio_api/call/predict", content=body, headers={"content-type": "application/json"})
    stream = httpx.get(f"{url}gradio_api/call/predict/{start.json()['event_id']}", timeout=60).text
    assert "event: error" in stream
    error = json.loads(stream.split("data:", 1)[1].strip().splitlines()[0])["error"]
    assert error == "The premise box is not valid Unicode (it holds an unpaired surrogate); send UTF-8 text."


@pytest.mark.slow
def test_predict_batch_limits_and_shapes(app) -> None:
    client = app.client
    with pytest.raises(AppError, match=r"^Got 5 pairs; send at most 4 per call, or upload a CSV file\.$"):
        client.predict(["A."] * 5, ["B."] * 5, api_name="/predict_batch")
    with pytest.raises(AppError, match=r"^Send two lists of strings: the premises and the hypotheses\.$"):
        client.predict("A.", ["B."], api_name="/predict_batch")
    with pytest.raises(AppError, match=r"^Pair 1: the premise is empty; fill it in or leave the pair out\.$"):
        client.predict(["A.", ""], ["B.", "C."], api_name="/predict_batch")
    assert client.predict([], [], api_name="/predict_batch") == []
    results = client.predict(list(ODD_TEXTS.values()), ["Something."] * 4, api_name="/predict_batch")
    assert all(sum(r.values()) == pytest.approx(1.0, abs=1e-5) for r in results)


def test_upload_over_the_size_limit_is_refused(app, tmp_path: Path) -> None:
    client, url = app.client, app.url
    rows = [[str(i), "The shop opens at nine.", "It opens.", "en", "English"] for i in range(100)]
    big = write_rows(tmp_path / "big.csv", rows, TEST_HEADER)
    with pytest.raises(ValueError, match="exceeds the maximum file size of 2097 bytes"):  # gradio_client checks first
        client.predict(handle_file(big), api_name="/predict_file")
    with open(big, "rb") as f:  # and the server refuses it without the client's check
        response = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.csv", f, "text/csv")})
    assert response.status_code == 413


@pytest.mark.slow
def test_the_size_limit_holds_even_when_launched_without_it(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`demo.launch()` without `launch(...)`'s max_file_size: the CSV tab still refuses the file."""
    limits = Limits(max_upload_mb=0.002)
    demo = build_demo(Predictor.from_pretrained(tiny_model_dir), limits, output_dir=tmp_path / "o")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    rows = [[str(i), "The shop opens at nine.", "It opens.", "en", "English"] for i in range(100)]
    try:
        client = Client(url, verbose=False, download_files=str(tmp_path / "dl"))
        with pytest.raises(AppError) as err:
            client.predict(handle_file(write_rows(tmp_path / "big.csv", rows, TEST_HEADER)), api_name="/predict_file")
    finally:
        demo.close()
    assert str(err.value) == (
        "big.csv is 0.0047 MB, over the 0.002 MB limit; split it, or predict it with `python -m contradiction.predict`."
    )


def test_predict_file_without_a_file_only_warns(app) -> None:
    client = app.client
    assert client.predict(None, api_name="/predict_file") == ({"__type__": "update"},) * 3  # nothing changes


def uploads_named(name: str) -> list[Path]:
    """Files of that name in Gradio's upload folder, where the app's uploads are kept."""
    from gradio.utils import get_upload_folder

    return list(Path(get_upload_folder()).rglob(name))


def test_upload_with_too_many_rows_is_refused_unread_and_deleted(app, tmp_path: Path) -> None:
    client = app.client
    rows = [[str(i), "A.", "B.", "en", "English"] for i in range(11)]
    path = write_rows(tmp_path / f"rows-{tmp_path.name}.csv", rows, TEST_HEADER)
    with open(path, "a", encoding="utf-8") as f:  # a broken line after them: read, it would be refused as such
        f.write('11,"A quote that is never closed,B.,en,English\n')
    with pytest.raises(AppError) as err:
        client.predict(handle_file(path), api_name="/predict_file")
    assert str(err.value) == (
        f"{path.name} has more than 10 rows, the limit; split it, or predict it with `python -m contradiction.predict`."
    )
    assert not uploads_named(path.name)  # deleted from the server at once


def test_a_refused_upload_is_deleted_and_a_good_one_kept(app, tmp_path: Path) -> None:
    bad = tmp_path / f"bad-{tmp_path.name}.csv"
    bad.write_text("id,premise\n1,A.\n", encoding="utf-8")
    with pytest.raises(AppError, match="column"):
        app.client.predict(handle_file(bad), api_name="/predict_file")
    assert not uploads_named(bad.name)
    good = write_rows(tmp_path / f"good-{tmp_path.name}.csv", [["1", "A.", "B.", "en", "English"]], TEST_HEADER)
    app.client.predict(handle_file(good), api_name="/predict_file")
    assert uploads_named(good.name)  # kept for its hour, as Gradio keeps uploads


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("latin1.csv", "id,premise\n1,caf\xe9\n".encode("latin-1"), "latin1.csv: line 2 is not valid UTF-8; re-save"),
        ("empty.csv", b"", "empty.csv: the file is empty; it needs a header line and at least one row."),
        (
            "notes.txt",
            b"id,premise\n",
            "Invalid file type. Please upload a file that is one of these formats: ['.csv']",
        ),
    ],
)
def test_bad_uploads_are_named_by_their_own_name(app, tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    client = app.client
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AppError) as err:
        client.predict(handle_file(path), api_name="/predict_file")
    assert str(err.value).startswith(expected)
    assert str(tmp_path) not in str(err.value)


def test_odd_texts_in_an_upload_are_predicted(app, tmp_path: Path) -> None:
    client = app.client
    rows = [[kind, text, "Something is said.", "xx", "Mixed"] for kind, text in ODD_TEXTS.items()]
    rows.append(["newline", "Line one.\nLine two.", "Two lines.", "en", "English"])
    _, predictions, _ = client.predict(
        handle_file(write_rows(tmp_path / "odd.csv", rows, TEST_HEADER)), api_name="/predict_file"
    )
    import pandas as pd

    table = pd.read_csv(predictions, dtype={"id": str}, keep_default_na=False)
    assert table["id"].tolist() == [*ODD_TEXTS, "newline"]
    assert table["premise"].tolist()[-1] == "Line one.\nLine two."


@pytest.mark.parametrize(
    "argv, env, expected",
    [
        (["--max_chars", "0"], {}, "argument --max_chars: '0' is not a positive whole number"),
        (["--max_upload_mb", "lots"], {}, "argument --max_upload_mb: 'lots' is not a positive number"),
        ([], {"CONTRADICTION_MAX_ROWS": "-5"}, "argument --max_rows: '-5' is not a positive whole number"),
    ],
)
def test_bad_limits_are_refused_by_the_command_line(monkeypatch, capsys, argv, env, expected: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"app.py: error: {expected}"


def test_limits_come_from_flags_then_environment(monkeypatch) -> None:
    monkeypatch.setenv("CONTRADICTION_MAX_PAIRS", "64")
    monkeypatch.setenv("CONTRADICTION_MAX_UPLOAD_MB", "2.5")
    args = parse_args(["--max_chars", "500"])
    assert (args.max_chars, args.max_pairs, args.max_rows, args.max_upload_mb) == (500, 64, 20_000, 2.5)
    with pytest.raises(UserError, match=r"--max_rows 0 must be a positive number\."):
        Limits(max_rows=0)


@pytest.mark.slow
def test_port_in_use_is_one_sentence(tiny_model_dir: Path, capsys) -> None:
    from contradiction.serving.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["--model", str(tiny_model_dir), "--port", str(port), "--host", "127.0.0.1", "--monitor_db", "none"]
        with pytest.raises(SystemExit) as exit_info:
            run_main(lambda: main(argv))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port} (Cannot find empty port in range: {port}-{port}); "
        "pass a free --port or another --host."
    )


def test_unwritable_monitoring_database_is_one_sentence(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    from contradiction.serving.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: main(["--model", str(tiny_model_dir), "--monitor_db", str(blocker / "m.sqlite")]))
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: --monitor_db {blocker / 'm.sqlite'} cannot be used (")
    assert line.endswith(
        "pass a writable file path, set CONTRADICTION_HOME to a writable folder, or pass --monitor_db none."
    )
    assert os.listdir(tmp_path) == ["a-file"]


# --- security


def test_remote_code_in_a_model_folder_is_not_run(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    from contradiction.serving.cli import main

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "configuration_evil.py").write_text(
        "from pathlib import Path\nPath(__file__).with_name('RAN').write_text('remote code ran')\n", encoding="utf-8"
    )
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.update(model_type="evil", auto_map={"AutoConfig": "configuration_evil.EvilConfig"})
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(SystemExit):
        run_main(lambda: main(["--model", str(folder), "--monitor_db", "none"]))
    assert "contains custom code which must be executed" in capsys.readouterr().err
    assert not (folder / "RAN").exists()


def test_the_app_serves_no_files_but_its_own(app, tiny_model_dir: Path) -> None:
    url = app.url
    for path in ("/etc/passwd", str(ROOT / "app.py"), str(tiny_model_dir / "config.json"), "~/.bash_history"):
        assert httpx.get(f"{url}gradio_api/file={path}").status_code == 403, path
    assert httpx.get(f"{url}gradio_api/file=../../../../etc/passwd").status_code in (403, 404)
    assert httpx.get(f"{url}monitoring").status_code == 403  # Gradio's own analytics dashboard is off
    assert httpx.get(f"{url}docs").status_code == 404


@pytest.mark.slow
def test_uploads_live_in_temporary_storage_and_are_removed(tiny_model_dir, sample_dir, tmp_path, monkeypatch) -> None:
    uploads = tmp_path / "gradio-tmp"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))  # read when the server starts
    limits, monitor = Limits(), Monitor()
    demo = build_demo(Predictor.from_pretrained(tiny_model_dir), limits, monitor, output_dir=tmp_path / "results")
    url = launch_local(demo, limits, monitor)
    try:
        client = Client(url, verbose=False, download_files=str(tmp_path / "dl"))
        client.predict(handle_file(sample_dir / "test.csv"), api_name="/predict_file")
        kept = [p for p in uploads.rglob("*") if p.is_file()]
        assert any(p.name == "test.csv" for p in kept)  # the upload, and copies of the two results
    finally:
        demo.close()
    # all deleted at shutdown (Gradio leaves an empty 0-byte temporary file of the multipart upload behind)
    assert not [p for p in uploads.rglob("*") if p.is_file() and p.stat().st_size > 0]


@pytest.mark.slow
def test_the_hub_token_is_never_printed_or_recorded(tiny_model_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from contradiction.serving.cli import main

    secret = "hf_NotARealTokenButSecret456"
    monkeypatch.setenv("HF_TOKEN", secret)
    db = tmp_path / "m.sqlite"
    with socket.socket() as taken:  # the app stops at launch, after loading the model and opening the database
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        argv = ["--model", str(tiny_model_dir), "--port", str(taken.getsockname()[1]), "--host", "127.0.0.1"]
        with pytest.raises(SystemExit):
            run_main(lambda: main([*argv, "--monitor_db", str(db)]))
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err
    assert all(secret.encode() not in p.read_bytes() for p in tmp_path.iterdir())
