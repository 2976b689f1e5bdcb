"""Faults: a training run killed mid-way resumes and finishes; the app keeps serving after a failure inside
the model; a model folder missing a file is refused at start."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ServedApp
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from prometheus_client.parser import text_string_to_metric_families

from contradiction.cli import run_main
from contradiction.inference.predictor import Predictor
from contradiction.labels import LABELS
from contradiction.serving.cli import main
from contradiction.serving.common import MODEL_FAILED

ROOT = Path(__file__).resolve().parents[1]


def train_command(model: Path, sample_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        *(sys.executable, str(ROOT / "train.py"), str(ROOT / "configs" / "smoke.yaml")),
        *("--model_name_or_path", str(model), "--output_dir", str(out)),
        *("--train_file", str(sample_dir / "train.csv"), "--test_file", str(sample_dir / "test.csv")),
        *("--save_steps", "10", "--save_total_limit", "10", "--eval_strategy", "no"),
        *("--per_device_train_batch_size", "4", "--logging_steps", "10", *extra),
    ]


def whole(state: Path) -> bool:
    """Whether a trainer state file is there and written to its end (the Trainer writes it last)."""
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture(scope="module")
def killed_then_resumed(tiny_model_dir, sample_dir, tmp_path_factory) -> tuple[Path, int, subprocess.CompletedProcess]:
    """A 60-step run killed (SIGKILL) once checkpoint-10 is whole, then rerun with --resume_from_checkpoint last."""
    out = tmp_path_factory.mktemp("killed") / "run"
    command = train_command(tiny_model_dir, sample_dir, out, "--max_steps", "60")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = out / "checkpoint-10" / "trainer_state.json"  # the Trainer writes it last: the checkpoint is whole
    run = subprocess.Popen(command, cwd=out.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not whole(first) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        run.send_signal(signal.SIGKILL)  # no clean-up, as when a machine is lost
    finally:
        run.kill()
        stderr = run.communicate()[1].decode(errors="replace")
    assert run.returncode == -signal.SIGKILL, stderr[-2000:]
    assert first.is_file() and not (out / "model.safetensors").exists()  # killed before the end
    written = first.stat().st_mtime_ns
    resumed = subprocess.run(
        [*command, "--resume_from_checkpoint", "last"], cwd=out.parent, env=env, capture_output=True, text=True
    )
    return out, written, resumed


@pytest.mark.slow
def test_training_killed_mid_way_resumes_from_its_last_checkpoint(killed_then_resumed) -> None:
    out, written, resumed = killed_then_resumed
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "checkpoint-60" / "trainer_state.json").read_text())["global_step"] == 60
    assert (out / "checkpoint-10" / "trainer_state.json").stat().st_mtime_ns == written  # steps 1-10 not rerun
    assert (out / "model.safetensors").is_file() and (out / "eval_results.json").is_file()


@pytest.mark.slow
def test_resume_skips_a_half_written_checkpoint(killed_then_resumed, tiny_model_dir, sample_dir) -> None:
    out, written, _ = killed_then_resumed
    shutil.copytree(
        out / "checkpoint-60", out / "checkpoint-70"
    )  # killed while saving: a state cut short, no optimizer
    (out / "checkpoint-70" / "trainer_state.json").write_text('{"global_step": 7', encoding="utf-8")  # cut short
    (out / "checkpoint-70" / "optimizer.pt").unlink()
    command = train_command(tiny_model_dir, sample_dir, out, "--max_steps", "62", "--resume_from_checkpoint", "last")
    resumed = subprocess.run(
        command, cwd=out.parent, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # it went on from checkpoint-60, the newest whole one: two more steps, saved as checkpoint-62
    assert json.loads((out / "checkpoint-62" / "trainer_state.json").read_text())["global_step"] == 62
    assert (out / "checkpoint-10" / "trainer_state.json").stat().st_mtime_ns == written  # not started again
    assert not whole(out / "checkpoint-70" / "trainer_state.json")  # the broken one was skipped, left as it was


MISTAKES = {
    "resume-without-checkpoint": "holds no complete checkpoint; drop the flag to start from scratch",
    "output-dir-is-a-file": "is a file; pass a folder for the model",
    "two-label-checkpoint": "cannot be loaded as a 3-label classifier",
}


@pytest.mark.parametrize("case", list(MISTAKES))
@pytest.mark.slow
def test_more_training_mistakes_end_in_one_sentence(case, tiny_model_dir, sample_dir, tmp_path, capsys) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    model, out, extra = tiny_model_dir, tmp_path / "out", ["--max_steps", "1", "--save_strategy", "no"]
    if case == "resume-without-checkpoint":
        extra += ["--resume_from_checkpoint", "last"]
    elif case == "output-dir-is-a-file":
        out.write_text("a file", encoding="utf-8")
    else:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = tmp_path / "two-labels"
        names = {0: "entailment", 1: "not_entailment"}
        AutoModelForSequenceClassification.from_pretrained(
            tiny_model_dir,
            num_labels=2,
            id2label=names,
            label2id={v: k for k, v in names.items()},
            ignore_mismatched_sizes=True,
        ).save_pretrained(model)
        AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(model)
    argv = train_command(model, sample_dir, out, *extra)[2:]
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: train.main(argv))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]  # one sentence, naming the input
    assert line.endswith(".") and MISTAKES[case] in line, line


@pytest.fixture
def app(serve_app_for_test) -> ServedApp:
    return serve_app_for_test()


def fail_once(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next forward pass raises, as an out-of-memory error or a broken kernel would; later ones work."""
    original = predictor.predict_proba
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated failure inside the model")
        return original(*args, **kwargs)

    monkeypatch.setattr(predictor, "predict_proba", flaky)


def model_errors(url: str) -> dict[str, float]:
    import httpx

    families = text_string_to_metric_families(httpx.get(f"{url}metrics").text)
    errors = next(f for f in families if f.name == "contradiction_errors")
    samples = [s for s in errors.samples if s.name.endswith("_total") and s.labels["kind"] == "model"]
    return {s.labels["endpoint"]: s.value for s in samples if s.value}  # every endpoint's series exists, at zero


@pytest.mark.slow
def test_app_keeps_serving_after_a_failure_inside_the_model(app, monkeypatch, sample_dir: Path, caplog) -> None:
    client, predictor, url = app.client, app.predictor, app.url
    fail_once(predictor, monkeypatch)
    with pytest.raises(AppError) as err:
        client.predict("A man is sleeping.", "Nobody sleeps.", api_name="/predict")
    assert str(err.value) == MODEL_FAILED
    assert client.predict("A man is sleeping.", "Nobody sleeps.", api_name="/predict")["label"] in LABELS

    fail_once(predictor, monkeypatch)
    with pytest.raises(AppError, match=MODEL_FAILED):
        client.predict(["A."], ["B."], api_name="/predict_batch")
    assert list(client.predict(["A."], ["B."], api_name="/predict_batch")[0]) == list(LABELS)

    fail_once(predictor, monkeypatch)
    with pytest.raises(AppError, match=MODEL_FAILED):
        client.predict(handle_file(sample_dir / "test.csv"), api_name="/predict_file")
    assert Path(client.predict(handle_file(sample_dir / "test.csv"), api_name="/predict_file")[2]).is_file()

    assert model_errors(url) == {"predict": 1.0, "predict_batch": 1.0, "predict_file": 1.0}
    assert "simulated failure inside the model" in caplog.text  # the operator's log has the cause


@pytest.mark.slow
def test_a_failure_reaches_only_its_own_batch(app, monkeypatch) -> None:
    client, predictor = app.client, app.predictor
    fail_once(predictor, monkeypatch)
    jobs = [client.submit(f"Premise {i}.", "A hypothesis.", api_name="/predict") for i in range(6)]
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job.result(timeout=120)["label"] in LABELS)
        except AppError as err:
            assert str(err) == MODEL_FAILED
            outcomes.append(False)
    assert not all(outcomes)  # the failing batch's requests got the sentence
    assert client.predict("After the failure.", "It works.", api_name="/predict")["label"] in LABELS


def broken_copy(tiny_model_dir: Path, tmp_path: Path, *missing: str) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    for pattern in missing:
        for path in folder.glob(pattern):
            path.unlink()
    return folder


def refused_at_start(folder: Path, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: main(["--model", str(folder), "--monitor_db", "none"]))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("error:")]) == 1 and "Traceback" not in "\n".join(err)
    return err[-1]


def test_model_folder_without_its_weights_is_refused_at_start(tiny_model_dir, tmp_path, capsys) -> None:
    folder = broken_copy(tiny_model_dir, tmp_path, "model.safetensors")
    assert refused_at_start(folder, capsys) == (
        f"error: {folder} could not be loaded as a model (Error no file named model.safetensors, or "
        f"pytorch_model.bin, found in directory {folder}.); pass a local model folder or a Hub model id with "
        "--model PATH_OR_ID or MODEL_ID."
    )


def test_model_folder_without_its_tokenizer_is_refused_at_start(tiny_model_dir, tmp_path) -> None:
    from contradiction.inference.loading import ModelLoadError

    folder = broken_copy(tiny_model_dir, tmp_path, "tokenizer*.json", "special_tokens_map.json")
    with pytest.raises(ModelLoadError, match="tokenizer"):  # what main() turns into one sentence and status 2
        Predictor.from_pretrained(folder)
