"""The pieces `train.py` puts together: data loading with extra corpora, tokenization, staged training and the
evaluation report."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
from datasets import DatasetDict, concatenate_datasets
from transformers import Trainer, TrainingArguments

from contradiction.data.competition import load_prepared, prepare, save_prepared
from contradiction.data.extra import build_extra, build_fingerprint, format_extra_report, load_build, save_build
from contradiction.errors import UserError
from contradiction.files import write_json
from contradiction.inference.options import cpu_threads
from contradiction.labels import NUM_LABELS
from contradiction.metrics import classification_report, flat_metrics
from contradiction.training.arguments import (
    EXTRA_STAGE_DIR,
    EXTRA_STAGE_FILE,
    PREPARED_DATA_DIR,
    DataArguments,
    ModelArguments,
)
from contradiction.training.calibration import calibrate as fit_and_fold
from contradiction.training.calibration import check_folded
from contradiction.training.trainer import NLITrainer


def freeze_word_embeddings(model) -> int:
    """Stop training the input word embeddings; return how many parameters that freezes."""
    embeddings = model.get_input_embeddings()
    frozen = 0
    for parameter in embeddings.parameters():
        parameter.requires_grad_(False)
        frozen += parameter.numel()
    return frozen


def set_cpu_threads(model_args: ModelArguments, args: TrainingArguments) -> None:
    """Torch threads per process by the rule prediction follows too (`inference.options.cpu_threads`): every core
    on the CPU, shared among the processes, where `accelerate launch`'s OMP_NUM_THREADS=1 would halve the speed."""
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.use_cpu else "cpu"
    threads = cpu_threads(model_args.cpu_threads, args.world_size, device)
    if threads is not None:
        torch.set_num_threads(threads)


def load_data(data_args: DataArguments, args: TrainingArguments) -> tuple[DatasetDict, dict | None]:
    """The prepared splits: from a data_prep.py folder, or prepared from CSV once, on the main process."""
    if data_args.dataset_dir is not None:
        return load_prepared(data_args.dataset_dir)
    prepared = os.path.join(args.output_dir, PREPARED_DATA_DIR)
    with args.main_process_first(desc="data preparation"):
        if args.process_index == 0:
            splits, report = prepare(data_args.train_file, data_args.test_file, data_args.validation_size, args.seed)
            save_prepared(splits, report, prepared)
    return load_prepared(prepared)


EXTRA_DATA_DIR = "extra-data"


def add_extra_data(
    splits: DatasetDict, data_report: dict | None, data_args: DataArguments, args: TrainingArguments
) -> tuple[DatasetDict, dict]:
    """Add the extra-data mixture: mixed into `train`, or as an `extra` split for a first stage (--extra_epochs).

    The rows are chosen in `build_extra` alone, once per run: the main process builds them into
    `<output_dir>/extra-data/<fingerprint>` (named for the sources and every option that changes them) unless
    a run with the same inputs already did, and every process memory-maps that folder.
    """
    options = (data_args.extra_data, splits, data_args.dedup, data_args.extra_sample_seed)
    folder = Path(args.output_dir, EXTRA_DATA_DIR, build_fingerprint(*options))
    with args.main_process_first(desc="extra training data"):
        if args.local_process_index == 0:
            if load_build(folder) is None:
                print(f"extra training data: building {folder}")
                save_build(folder, *build_extra(*options))
                for other in folder.parent.iterdir():  # one build kept: an earlier one has other inputs
                    if other != folder and other.is_dir():
                        shutil.rmtree(other, ignore_errors=True)
            else:
                print(f"extra training data: reusing {folder} (same sources and options)")
        built = load_build(folder)
    if built is None:
        raise RuntimeError(f"{folder}: the main process did not write the extra data")
    extra, sources = built
    if len(extra) == 0:
        raise UserError("--extra_data: no rows are left after removing unlabelled and overlapping ones.")
    report = dict(data_report or {})
    staged = data_args.extra_epochs > 0
    report["extra_data"] = sources
    report["extra_schedule"] = {
        "mode": "staged" if staged else "mixed",
        "extra_epochs": data_args.extra_epochs,
        "dedup": data_args.dedup,
        "sample_seed": data_args.extra_sample_seed,
        "extra_rows_trained_on": len(extra),
    }
    if args.process_index == 0:
        print(f"extra training data ({report['extra_schedule']['mode']}, dedup {data_args.dedup}):")
        print(format_extra_report(sources))
    if staged:
        splits["extra"] = extra
    else:
        splits["train"] = concatenate_datasets([splits["train"], extra.cast(splits["train"].features)])
    return splits, report


def tokenize(splits: DatasetDict, tokenizer, data_args: DataArguments, args: TrainingArguments) -> DatasetDict:
    """Tokenize premise and hypothesis as a pair; keep a `length` column for length grouping."""

    def encode(batch: dict) -> dict:
        encoded = tokenizer(
            batch["premise"],
            batch["hypothesis"],
            truncation="longest_first",
            max_length=data_args.max_seq_length,
            padding="max_length" if data_args.pad_to_max_length else False,
        )
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    with args.main_process_first(desc="tokenization"):
        return splits.map(encode, batched=True, desc="Tokenizing")


def limit(splits: DatasetDict, data_args: DataArguments) -> DatasetDict:
    for name, n in (("train", data_args.max_train_samples), ("validation", data_args.max_eval_samples)):
        if n is not None and name in splits:
            splits[name] = splits[name].select(range(min(n, len(splits[name]))))
    return splits


def train_extra_stage(
    trainer_kwargs: dict,
    extra_dataset,
    args: TrainingArguments,
    epochs: float,
    resume: str | None = None,
    save_steps: int | None = None,
) -> dict:
    """Staged training, stage one: `epochs` epochs on the extra data alone (at most `max_steps` steps, as each
    stage), then one evaluation; the model in `trainer_kwargs` is trained in place.

    It lives in `<output_dir>/extra-stage`: checkpoints as stage two saves them (save_strategy, save_steps,
    save_total_limit), or every `save_steps` steps, so `resume` (one of them) continues it; and when it ends
    its model and `stage.json`, so a run resumed later loads that model and starts stage two (the competition
    data, its own schedule).
    """
    stage_dir = Path(args.output_dir, EXTRA_STAGE_DIR)
    if (stage_dir / EXTRA_STAGE_FILE).is_file():  # finished by the run this one resumes
        from safetensors.torch import load_model

        model = trainer_kwargs["model"]
        load_model(model, stage_dir / "model.safetensors", strict=False, device=str(model.device))
        return finished_extra_stage(args.output_dir)
    saving = {"save_strategy": "steps", "save_steps": save_steps} if save_steps else {}
    if not saving and args.save_strategy == "best":  # "best" needs evaluations, which stage one has not
        saving = {"save_strategy": "epoch"}
    stage_args = dataclasses.replace(
        args,
        output_dir=str(stage_dir),
        num_train_epochs=epochs,
        eval_strategy="no",
        load_best_model_at_end=False,
        report_to=[],
        **saving,
    )
    trainer = NLITrainer(args=stage_args, train_dataset=extra_dataset, **trainer_kwargs)
    result = trainer.train(resume_from_checkpoint=resume)
    metrics = trainer.evaluate()
    report = {
        "rows": len(extra_dataset),
        "epochs": epochs,
        "steps": trainer.state.global_step,
        "runtime_s": result.metrics.get("train_runtime"),
        "validation_accuracy": metrics.get("eval_accuracy"),
        "validation_macro_f1": metrics.get("eval_macro_f1"),
    }
    trainer.save_model(str(stage_dir))
    if args.process_index == 0:
        write_json(stage_dir / EXTRA_STAGE_FILE, report)  # last: its presence says stage one is whole
    trainer.accelerator.wait_for_everyone()
    return report


def finished_extra_stage(output_dir: str) -> dict | None:
    """The report of a stage one that ran to its end in `output_dir`, else None."""
    done = Path(output_dir, EXTRA_STAGE_DIR, EXTRA_STAGE_FILE)
    return json.loads(done.read_text(encoding="utf-8")) if done.is_file() else None


def make_compute_metrics(eval_dataset):
    """Metrics for the Trainer; checks that its label ids come back in dataset order before using languages."""
    gold = np.asarray(eval_dataset["label"])
    languages = eval_dataset["lang_abv"]

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, label_ids = eval_pred.predictions, eval_pred.label_ids
        logits = logits[0] if isinstance(logits, tuple) else logits
        if label_ids.shape != gold.shape or not np.array_equal(label_ids, gold):
            raise RuntimeError("evaluation rows came back out of dataset order; per-language metrics would be wrong")
        return flat_metrics(classification_report(gold, logits.argmax(-1), languages))

    return compute_metrics


def evaluation_report(trainer: Trainer, eval_dataset, calibrate: bool = False) -> dict:
    """The full report on `eval_dataset`: overall, per language (codes and names) and the confusion matrix.

    With `calibrate`, a temperature is fitted on these logits and folded into `trainer.model` first (every
    process fits the same one from the same gathered logits); the report then has a `calibration` object.
    """
    output = trainer.predict(eval_dataset, metric_key_prefix="eval")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    gold = np.asarray(eval_dataset["label"])
    if not np.array_equal(output.label_ids, gold):
        raise RuntimeError("prediction rows came back out of dataset order")
    report = classification_report(gold, logits.argmax(-1), eval_dataset["lang_abv"])
    names = dict(zip(eval_dataset["lang_abv"], eval_dataset["language"], strict=True))
    for code, values in report["per_language"].items():
        values["language"] = names[code]
    report["eval_loss"] = output.metrics.get("eval_loss")
    if calibrate:
        report["calibration"] = fit_and_fold(trainer.model, logits, gold, NUM_LABELS)
        folded = trainer.predict(eval_dataset, metric_key_prefix="eval").predictions  # one more pass, as proof
        folded = folded[0] if isinstance(folded, tuple) else folded
        report["calibration"].update(check_folded(logits, folded, report["calibration"]["temperature"]))
        report["eval_loss"] = report["calibration"]["after"]["nll"]
    return report
