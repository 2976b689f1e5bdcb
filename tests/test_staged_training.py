"""Staged training (--extra_epochs): stage one checkpoints and resumes like stage two, --max_steps bounds each."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from test_extra_data import sample_extra
from training_run import load_train_script, smoke_args
from transformers import AutoModelForSequenceClassification

pytestmark = pytest.mark.slow  # training runs

# 9 extra rows are one step an epoch, 10 epochs; the competition's 120 rows are 8 steps an epoch, 3 epochs:
# --max_steps 4 bounds both, and a checkpoint every 2 steps leaves one in the middle of each stage
STAGED = [
    "--extra_epochs",
    "10",
    "--num_train_epochs",
    "3",
    "--max_steps",
    "4",
    "--save_steps",
    "2",
    "--eval_steps",
    "2",
    "--calibrate",
    "false",
]


@pytest.fixture(scope="module")
def staged_run(tiny_model_dir, sample_dir, tmp_path_factory):
    """An uninterrupted staged run, and the extra-data file it trained on."""
    folder = tmp_path_factory.mktemp("staged")
    extra = sample_extra(folder, sample_dir)
    out = folder / "model"
    load_train_script().main(smoke_args(tiny_model_dir, out, sample_dir, "--extra_data", extra, *STAGED))
    return out, extra


def steps(checkpoint) -> int:
    return json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]


def assert_same_model(folder, expected_folder) -> None:
    expected = AutoModelForSequenceClassification.from_pretrained(expected_folder).state_dict()
    for name, tensor in AutoModelForSequenceClassification.from_pretrained(folder).state_dict().items():
        assert torch.allclose(tensor, expected[name], atol=1e-6), name


def test_max_steps_bounds_each_stage_and_stage_one_is_checkpointed(staged_run):
    out, _ = staged_run
    results = json.loads((out / "eval_results.json").read_text())
    assert results["extra_stage"]["steps"] == 4  # not 10 epochs
    assert steps(out / "checkpoint-4") == 4 and not (out / "checkpoint-6").exists()  # not 24 steps
    stage = out / "extra-stage"
    assert steps(stage / "checkpoint-2") == 2 and steps(stage / "checkpoint-4") == 4
    assert (stage / "model.safetensors").is_file() and json.loads((stage / "stage.json").read_text())["steps"] == 4


def resume_from(staged_run, tmp_path, sample_dir, tiny_model_dir, copied: list[str]):
    """A run that stopped where `copied` (paths under the output folder) says, resumed with `last`."""
    out, extra = staged_run
    resumed = tmp_path / "resumed"
    for part in copied:
        (shutil.copytree if (out / part).is_dir() else shutil.copy)(out / part, resumed / part)
    args = smoke_args(tiny_model_dir, resumed, sample_dir, "--extra_data", extra, *STAGED)
    load_train_script().main([*args, "--resume_from_checkpoint", "last"])
    return resumed


def test_a_run_stopped_in_stage_one_resumes_there_and_ends_as_if_uninterrupted(
    staged_run, tmp_path, sample_dir, tiny_model_dir
):
    out, _ = staged_run
    resumed = resume_from(staged_run, tmp_path, sample_dir, tiny_model_dir, ["extra-stage/checkpoint-2"])
    state = json.loads((resumed / "extra-stage" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["log_history"][0]["step"] == 2  # stage one went on from step 2
    assert steps(resumed / "checkpoint-4") == 4
    ours, theirs = (json.loads((folder / "eval_results.json").read_text()) for folder in (resumed, out))
    assert ours["accuracy"] == theirs["accuracy"] and ours["eval_loss"] == pytest.approx(theirs["eval_loss"])
    assert ours["extra_stage"]["validation_accuracy"] == theirs["extra_stage"]["validation_accuracy"]
    assert_same_model(resumed, out)


def test_a_run_stopped_after_stage_one_starts_stage_two_from_its_model(
    staged_run, tmp_path, sample_dir, tiny_model_dir
):
    out, _ = staged_run
    resumed = resume_from(staged_run, tmp_path, sample_dir, tiny_model_dir, ["extra-stage"])
    results = json.loads((resumed / "eval_results.json").read_text())
    assert results["extra_stage"] == json.loads((out / "eval_results.json").read_text())["extra_stage"]
    assert_same_model(resumed, out)


def test_a_run_stopped_in_stage_two_resumes_there(staged_run, tmp_path, sample_dir, tiny_model_dir):
    out, _ = staged_run
    resumed = resume_from(staged_run, tmp_path, sample_dir, tiny_model_dir, ["extra-stage", "checkpoint-2"])
    assert steps(resumed / "checkpoint-4") == 4
    results = json.loads((resumed / "eval_results.json").read_text())
    assert results["extra_stage"] == json.loads((out / "eval_results.json").read_text())["extra_stage"]
    stage_one = [folder / "extra-stage" / "stage.json" for folder in (resumed, out)]
    assert len({path.stat().st_mtime_ns for path in stage_one}) == 1  # the copy's: stage one was not run again
    assert_same_model(resumed, out)


def test_extra_save_steps_sets_stage_one_s_checkpoints(tiny_model_dir, sample_dir, tmp_path):
    out = tmp_path / "model"
    extra = sample_extra(tmp_path, sample_dir)
    args = smoke_args(tiny_model_dir, out, sample_dir, "--extra_data", extra, *STAGED, "--extra_save_steps", "1")
    load_train_script().main(args)
    stage = sorted(path.name for path in (out / "extra-stage").glob("checkpoint-*"))
    assert stage == ["checkpoint-3", "checkpoint-4"]  # every step, the recipe's save_total_limit 2 kept
    assert sorted(path.name for path in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]  # stage two's


def test_the_readme_smoke_command_of_the_gpu_recipe_parses():
    """README's smoke run of configs/xlmr-large-xnli.yaml: the tiny model, on a CPU, 2 steps a stage."""
    import shlex

    from training_run import ROOT

    from contradiction.training.arguments import read_args

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("python train.py configs/xlmr-large-xnli.yaml --model_name_or_path tiny-xlmr")
    words = shlex.split(readme[start : readme.index("```", start)].replace("\\\n", " "))
    model_args, data_args, args = read_args([str(ROOT / words[2]), *words[3:]])
    assert model_args.model_name_or_path == "tiny-xlmr" and args.max_steps == 2 and args.use_cpu and not args.bf16
    assert data_args.extra_epochs == 1 and data_args.extra_save_steps == 2000
