"""train.py and training/ (arguments, pipeline, trainer, card): recipes and flags, an end-to-end smoke run,
metrics order, card, Hub push, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from training_run import ROOT, SMOKE, load_train_script, smoke_args
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

from contradiction.cli import run_main
from contradiction.data.competition import prepare
from contradiction.errors import UserError
from contradiction.inference.predictor import Predictor
from contradiction.labels import LABELS
from contradiction.training.arguments import parse_args
from contradiction.training.pipeline import evaluation_report, make_compute_metrics
from contradiction.training.trainer import NLITrainer


def test_recipe_values_then_flags_override(tmp_path):
    model_args, data_args, args = parse_args([SMOKE, "--max_steps", "3", "--output_dir", str(tmp_path / "o")])
    assert model_args.model_name_or_path == "tiny-xlmr"
    assert data_args.max_seq_length == 64
    assert args.max_steps == 3 and args.output_dir == str(tmp_path / "o")
    assert args.learning_rate == pytest.approx(1e-3)  # YAML text "1e-3" typed by the option
    assert args.warmup_steps == pytest.approx(0.1)
    assert args.train_sampling_strategy == "group_by_length"


def test_flags_alone_work(tmp_path):
    _, data_args, args = parse_args(["--train_file", "x.csv", "--output_dir", str(tmp_path), "--max_steps", "2"])
    assert data_args.train_file == "x.csv" and args.max_steps == 2


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"train_file": "x.csv", "learning_rat": 1}, "unknown key(s) learning_rat"),
        ({"learning_rate": 1e-5}, "no data: pass --dataset_dir"),
    ],
)
def test_bad_recipe_is_refused(tmp_path, recipe, message):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_args([str(path), "--output_dir", str(tmp_path / "o")])


def test_hub_token_flag_is_refused(tmp_path):
    with pytest.raises(UserError, match="HF_TOKEN"):
        parse_args([SMOKE, "--hub_token", "hf_secret", "--output_dir", str(tmp_path)])


@pytest.mark.slow
def test_help_documents_every_option():
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in (
        "--model_name_or_path",
        "--dataset_dir",
        "--train_file",
        "--max_seq_length",
        "--early_stopping_patience",
        "--cpu_threads",
        "--learning_rate",
        "--push_to_hub",
    ):
        assert option in result.stdout
    assert "tiny XLM-R built on the fly" in result.stdout


def test_smoke_run_output_reloads_and_predicts(smoke_run):
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "eval_results.json",
        "recipe.yaml",
        "confusion_matrix.png",
        "per_language_accuracy.png",
        "reliability_diagram.png",
        "README.md",
        "data_report.json",
    ):
        assert (smoke_run / name).is_file(), name
    model = AutoModelForSequenceClassification.from_pretrained(smoke_run)
    tokenizer = AutoTokenizer.from_pretrained(smoke_run)
    assert model.config.id2label == dict(enumerate(LABELS))
    batch = tokenizer(["Il pleut à Paris."], ["Paris est sec."], return_tensors="pt")
    with torch.no_grad():
        probs = model(**batch).logits.softmax(-1)
    assert probs.shape == (1, 3) and float(probs.sum()) == pytest.approx(1.0)


def test_eval_results_and_recipe(smoke_run):
    results = json.loads((smoke_run / "eval_results.json").read_text())
    assert 0 <= results["accuracy"] <= 1 and 0 <= results["macro_f1"] <= 1
    assert len(results["per_language"]) == 10 and results["per_language"]["th"]["language"] == "Thai"
    assert sum(v["rows"] for v in results["per_language"].values()) == results["rows"] == 30
    assert np.array(results["confusion_matrix"]).sum() == 30
    calibration = results["calibration"]  # on by default: a temperature fitted on the validation logits, folded in
    assert calibration["temperature"] > 0 and calibration["labels_unchanged"] and calibration["rows"] == 30
    assert calibration["after"]["nll"] <= calibration["before"]["nll"] + 1e-9
    assert results["eval_loss"] == calibration["after"]["nll"]
    recipe = yaml.safe_load((smoke_run / "recipe.yaml").read_text())
    assert recipe["max_steps"] == 8 and recipe["max_seq_length"] == 64 and recipe["learning_rate"] == 1e-3
    assert not any("token" in key for key in recipe)


def test_model_card(smoke_run):
    card = (smoke_run / "README.md").read_text()
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    meta = yaml.safe_load(front)
    assert meta["license"] == "apache-2.0" and meta["pipeline_tag"] == "zero-shot-classification"
    widget = meta["widget"][0]
    assert widget["candidate_labels"] and "{}" in widget["hypothesis_template"]
    assert 'pipeline("zero-shot-classification", model=' in body and "python -m contradiction.classify" in body
    assert 'hypothesis_template="Ce texte parle de {}."' in body  # the f-string's braces came out single
    assert set(meta["language"]) == {"ar", "de", "en", "es", "fr", "hi", "ru", "sw", "th", "zh"}
    assert meta["datasets"] == ["contradictory-my-dear-watson"]
    result = meta["model-index"][0]["results"][0]
    results = json.loads((smoke_run / "eval_results.json").read_text())
    assert result["metrics"][0] == {"type": "accuracy", "value": round(results["accuracy"], 4), "name": "Accuracy"}
    for label in LABELS:
        assert f"| {LABELS.index(label)} | {label} |" in body
    assert f"| Thai | th | 3 | {results['per_language']['th']['accuracy']:.3f} |" in body
    assert "confusion_matrix.png" in body and "sha256" in body and "`learning_rate` | `0.001`" in body
    temperature = results["calibration"]["temperature"]
    assert "## Calibration" in body and f"T = {temperature:.3f}" in body and "reliability_diagram.png" in body
    assert "LABEL_0" not in card


class LengthModel(torch.nn.Module):
    """Predicts (number of tokens) mod 3: a model whose answer differs from row to row, by length."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids=None, attention_mask=None, labels=None, **_):
        logits = torch.nn.functional.one_hot(attention_mask.sum(-1) % 3, 3).float() + self.dummy
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def length_grouped_setup(tiny_model_dir, sample_dir, tmp_path):
    from transformers import DataCollatorWithPadding

    from contradiction.training.arguments import DataArguments
    from contradiction.training.pipeline import tokenize

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    splits, _ = prepare(sample_dir / "train.csv", validation_size=0.3, seed=0)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=4,
        use_cpu=True,
        train_sampling_strategy="group_by_length",
        report_to="none",
    )
    data_args = DataArguments(train_file="x", max_seq_length=64)
    eval_dataset = tokenize(splits, tokenizer, data_args, args)["validation"]
    expected = np.array(eval_dataset["length"]) % 3  # what LengthModel predicts, in dataset order
    kwargs = dict(
        model=LengthModel(),
        args=args,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=make_compute_metrics(eval_dataset),
    )
    return kwargs, eval_dataset, expected


def test_per_language_metrics_are_right_with_length_grouping(tiny_model_dir, sample_dir, tmp_path):
    kwargs, eval_dataset, expected = length_grouped_setup(tiny_model_dir, sample_dir, tmp_path)
    gold = np.array(eval_dataset["label"])
    languages = np.array(eval_dataset["lang_abv"])
    report = evaluation_report(NLITrainer(**kwargs), eval_dataset)
    for lang in set(languages):
        mask = languages == lang
        assert report["per_language"][lang]["accuracy"] == pytest.approx(float((expected[mask] == gold[mask]).mean()))
    metrics = NLITrainer(**kwargs).evaluate()
    assert metrics["eval_accuracy"] == pytest.approx(float((expected == gold).mean()))


def test_stock_trainer_order_is_caught_not_misreported(tiny_model_dir, sample_dir, tmp_path):
    kwargs, _, _ = length_grouped_setup(tiny_model_dir, sample_dir, tmp_path)
    with pytest.raises(RuntimeError, match="out of dataset order"):
        Trainer(**kwargs).evaluate()  # the stock Trainer returns length-grouped order here


@pytest.mark.slow
def test_resume_from_checkpoint(smoke_run, tiny_model_dir, sample_dir, tmp_path):
    out = tmp_path / "resumed"
    import shutil

    shutil.copytree(smoke_run / "checkpoint-4", out / "checkpoint-4")
    load_train_script().main(smoke_args(tiny_model_dir, out, sample_dir, "--resume_from_checkpoint", "last"))
    state = json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    assert (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_push_uploads_the_finished_folder_without_leaking_the_token(
    tiny_model_dir, sample_dir, tmp_path, monkeypatch, capsys
):
    import huggingface_hub

    secret = "hf_NotARealTokenButSecret123"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    calls = []
    monkeypatch.setattr(
        huggingface_hub.HfApi,
        "create_repo",
        lambda self, repo_id, **kw: calls.append(("create", repo_id)) or f"https://hub/{repo_id}",
    )
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda self, **kw: calls.append(("upload", kw)))
    out = tmp_path / "pushed"
    load_train_script().main(smoke_args(tiny_model_dir, out, sample_dir, "--push_to_hub", "--hub_model_id", "me/nli"))
    assert calls[0] == ("create", "me/nli")
    upload = calls[1][1]
    assert upload["repo_id"] == "me/nli" and Path(upload["folder_path"]) == out
    assert "checkpoint-*" in upload["ignore_patterns"] and "data/**" in upload["ignore_patterns"]
    assert yaml.safe_load((out / "README.md").read_text().split("---\n")[1])["model-index"][0]["name"] == "me/nli"
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_push_when_offline_fails_at_start(tmp_path, sample_dir):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_x"}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            SMOKE,
            "--output_dir",
            str(tmp_path / "o"),
            "--push_to_hub",
            "--hub_model_id",
            "me/nli",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --push_to_hub was asked for but HF_HUB_OFFLINE=1")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_missing_model_is_one_sentence(tmp_path, sample_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: load_train_script().main(smoke_args(tmp_path / "no-model", tmp_path / "o", sample_dir)))
    assert exit_info.value.code == 2
    assert "--model_name_or_path" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_write_the_same_folder(tiny_model_dir, sample_dir, smoke_run, tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            str(ROOT / "train.py"),
            *smoke_args(tiny_model_dir, out, sample_dir),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "eval_results.json").read_text())
    assert results["processes"] == 2 and results["rows"] == 30 and results["calibration"]["labels_unchanged"]
    one = {p.name for p in smoke_run.iterdir() if not p.name.startswith("checkpoint")}
    two = {p.name for p in out.iterdir() if not p.name.startswith("checkpoint")}
    assert one == two
    assert result.stdout.count("saved model, card and results") == 1  # files written once, by the main process


@pytest.mark.slow
def test_train_from_a_prepared_dataset_folder(tiny_model_dir, sample_dir, tmp_path):
    from contradiction.data.prepare_cli import main as prepare_main

    prepare_main(["--train_file", str(sample_dir / "train.csv"), "--output_dir", str(tmp_path / "prepared")])
    out = tmp_path / "model"
    load_train_script().main(
        [
            SMOKE,
            "--model_name_or_path",
            str(tiny_model_dir),
            "--dataset_dir",
            str(tmp_path / "prepared"),
            "--output_dir",
            str(out),
            "--max_steps",
            "2",
            "--eval_strategy",
            "no",
            "--save_strategy",
            "no",
            "--calibrate",
            "false",
        ]
    )
    results = json.loads((out / "eval_results.json").read_text())
    assert results["rows"] == 30
    assert not (out / "data").exists()  # nothing prepared again
    # --calibrate false: the softmax as trained, and no calibration in the results, plots or card
    assert "calibration" not in results and not (out / "reliability_diagram.png").exists()
    assert "## Calibration" not in (out / "README.md").read_text()


@pytest.mark.slow
def test_quick_start_command_runs_as_written(tmp_path):
    """`accelerate launch train.py configs/smoke.yaml`, no other argument, from a checkout with no network."""
    import shutil

    for part in ("train.py", "configs", "data/sample"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    env = {**os.environ, "HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "train.py", "configs/smoke.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "outputs" / "smoke"
    # what README's quick start says the folder holds, and a model that answers
    for name in (
        "model.safetensors",
        "tokenizer.json",
        "eval_results.json",
        "confusion_matrix.png",
        "per_language_accuracy.png",
        "recipe.yaml",
        "README.md",
    ):
        assert (out / name).is_file(), name
    probabilities = Predictor.from_pretrained(out).predict("Il pleut.", "Le soleil brille.")
    assert list(probabilities) == list(LABELS) and sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert list((tmp_path / "home" / ".cache" / "contradiction").glob("tiny-xlmr-*/tokenizer.json"))


@pytest.mark.slow
def test_frozen_word_embeddings_stay_as_pretrained(tiny_model_dir, sample_dir, tmp_path):
    out = tmp_path / "frozen"
    load_train_script().main(smoke_args(tiny_model_dir, out, sample_dir, "--freeze_embeddings", "true"))
    before = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    after = AutoModelForSequenceClassification.from_pretrained(out)
    assert torch.equal(before.get_input_embeddings().weight, after.get_input_embeddings().weight)
    assert not torch.equal(before.classifier.out_proj.weight, after.classifier.out_proj.weight)  # the rest trained
    assert yaml.safe_load((out / "recipe.yaml").read_text())["freeze_embeddings"] is True


def test_the_trainer_still_asks_for_the_evaluation_sampler_it_is_given(tiny_model_dir: Path) -> None:
    """`NLITrainer` overrides the Trainer's private `_get_eval_sampler(eval_dataset)`: the Trainer must still have
    it, with that signature, and still ask it when it builds an evaluation loader, or evaluation rows would come
    back grouped by length without a word."""
    import inspect

    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

    assert list(inspect.signature(Trainer._get_eval_sampler).parameters) == ["self", "eval_dataset"]
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    args = TrainingArguments(
        output_dir=str(tiny_model_dir.parent / "sampler"),
        use_cpu=True,
        report_to=[],
        train_sampling_strategy="group_by_length",
        per_device_eval_batch_size=2,
    )
    rows = Dataset.from_dict({"input_ids": [[0, 5, 2], [0, 5, 6, 7, 8, 2], [0, 2]], "label": [0, 1, 2]})
    trainer = NLITrainer(model=model, args=args, eval_dataset=rows)
    asked = []
    real = trainer._get_eval_sampler
    trainer._get_eval_sampler = lambda dataset: asked.append(dataset) or real(dataset)
    loader = trainer.get_eval_dataloader()
    assert asked and isinstance(real(rows), torch.utils.data.SequentialSampler)
    assert list(loader.sampler) == [0, 1, 2]  # the rows in dataset order, not by length
