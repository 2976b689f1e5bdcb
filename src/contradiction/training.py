"""The pieces `train.py` puts together: arguments, data loading, tokenization, the Trainer and its metrics."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from datasets import DatasetDict, concatenate_datasets
from torch.utils.data import SequentialSampler
from transformers import HfArgumentParser, Trainer, TrainingArguments

from contradiction.calibration import calibrate as fit_and_fold
from contradiction.calibration import check_folded
from contradiction.data import load_prepared, prepare, save_prepared
from contradiction.errors import UserError
from contradiction.extra_data import DEDUP_MODES, ExtraOptions, build_extra, check_specs, format_extra_report
from contradiction.labels import NUM_LABELS
from contradiction.metrics import classification_report, flat_metrics

TINY_MODEL = "tiny-xlmr"
RECIPE_FILE = "recipe.yaml"
PREPARED_DATA_DIR = "data"


@dataclass
class ModelArguments:
    """Which backbone to fine-tune."""

    model_name_or_path: str = field(
        default="FacebookAI/xlm-roberta-base",
        metadata={
            "help": "Hub id or local folder of any AutoModelForSequenceClassification backbone, "
            f"or '{TINY_MODEL}' for a tiny XLM-R built on the fly from data/sample (offline smoke runs)."
        },
    )
    base_model: str | None = field(
        default=None,
        metadata={"help": "Hub id named as base_model in the model card when model_name_or_path is a local folder."},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Run code that ships with the model on the Hub; off unless you trust it."}
    )
    cpu_threads: int | None = field(
        default=None,
        metadata={
            "help": "Torch threads per process when training on CPU; default the cores divided by the processes "
            "(accelerate launch otherwise leaves one thread per process)."
        },
    )
    freeze_embeddings: bool = field(
        default=False,
        metadata={
            "help": "Keep the word-embedding matrix as pretrained (most of a multilingual encoder's weights: 96M "
            "of multilingual-e5-small's 118M). No gradient or optimizer state for it, so each step is cheaper, "
            "and tokens that the training data never shows keep their pretrained place."
        },
    )
    calibrate: bool = field(
        default=True,
        metadata={
            "help": "After training, fit one temperature on the validation logits (lowest NLL) and fold it into "
            "the classifier's last layer, so the saved model's probabilities are calibrated for every consumer; "
            "the argmax is unchanged. The report is the `calibration` object of eval_results.json."
        },
    )


@dataclass
class DataArguments:
    """Where the data comes from and how it is tokenized."""

    dataset_dir: str | None = field(
        default=None,
        metadata={"help": "Folder written by data_prep.py (train and validation splits); used instead of train_file."},
    )
    train_file: str | None = field(
        default=None, metadata={"help": "Competition train.csv; prepared once (validated, split) before training."}
    )
    test_file: str | None = field(default=None, metadata={"help": "Competition test.csv, kept as the test split."})
    validation_size: float = field(default=0.1, metadata={"help": "Share of train_file held out for validation."})
    max_seq_length: int = field(
        default=128, metadata={"help": "Tokens per pair; the longer of premise and hypothesis is truncated first."}
    )
    pad_to_max_length: bool = field(
        default=False, metadata={"help": "Pad every pair to max_seq_length instead of per batch (slower)."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use the first N training rows only."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use the first N validation rows only."})
    early_stopping_patience: int | None = field(
        default=None,
        metadata={"help": "Stop after N evaluations without improvement (needs load_best_model_at_end)."},
    )
    dataset_name: str = field(
        default="contradictory-my-dear-watson", metadata={"help": "Data set name shown in the model card."}
    )
    license: str = field(default="apache-2.0", metadata={"help": "License of the trained model, for the card."})
    extra_train_data: list[str] | None = field(
        default=None,
        metadata={
            "help": "More NLI data to train on (SPEC ...): a CSV/TSV/JSON Lines/Parquet file (gzipped or not), a "
            "save_to_disk folder, or a Hub data set owner/name[:config][@split], e.g. "
            "facebook/xnli:all_languages@train. Labels are mapped by name; items that overlap an evaluated "
            "pair are dropped whole (--dedup)."
        },
    )
    extra_licenses: list[str] | None = field(
        default=None, metadata={"help": "License of each extra source, in order, for the model card."}
    )
    dedup: str = field(
        default="pair",
        metadata={
            "help": "Drop an extra item when any of its versions matches a validation or test pair (pair), or "
            "also when it shares a premise with one (premise). Texts are compared after NFKC, case folding "
            "and removing punctuation and whitespace."
        },
    )
    extra_max_rows_per_source: int | None = field(
        default=None, metadata={"help": "Keep at most N rows of each extra source (a random sample, after dedup)."}
    )
    extra_versions_per_item: int | None = field(
        default=None,
        metadata={"help": "Keep at most K versions (translations) of each extra item, chosen at random."},
    )
    extra_sample_seed: int = field(default=42, metadata={"help": "Seed of the extra data's sampling."})
    extra_weight: float = field(
        default=1.0,
        metadata={"help": "Mixed training: the share of the extra rows mixed into the training set (0 to 1)."},
    )
    extra_epochs: float = field(
        default=0.0,
        metadata={
            "help": "Staged training: K epochs on the extra data first, then the competition data as usual; "
            "0 mixes the extra rows into the competition training set instead."
        },
    )

    def __post_init__(self) -> None:
        if self.dataset_dir is None and self.train_file is None:
            raise UserError("no data: pass --dataset_dir (a data_prep.py folder) or --train_file (a competition CSV).")
        if self.max_seq_length < 8:
            raise UserError(f"--max_seq_length {self.max_seq_length} is too short; use 64 to 512.")
        if not 0 < self.extra_weight <= 1:
            raise UserError(f"--extra_weight {self.extra_weight} must be above 0 and at most 1, e.g. 0.5.")
        if self.extra_epochs < 0:
            raise UserError(f"--extra_epochs {self.extra_epochs} must be 0 (mixed) or more (staged).")
        if self.dedup not in DEDUP_MODES:
            raise UserError(f"--dedup {self.dedup}: use pair or premise.")
        for name in ("extra_max_rows_per_source", "extra_versions_per_item"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"--{name} {value} must be 1 or more.")


ARGUMENT_CLASSES = (ModelArguments, DataArguments, TrainingArguments)


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """Parse `[recipe.yaml] [--flag value ...]`: the recipe's values, then the flags on top of them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(ARGUMENT_CLASSES)
    if argv and argv[0].endswith((".yaml", ".yml")):
        parser.set_defaults(**read_recipe(argv.pop(0), parser))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    check_training_args(data_args, training_args)
    return model_args, data_args, training_args


def read_recipe(path: str, parser: HfArgumentParser) -> dict:
    """A YAML recipe whose keys are the argument names; an unknown key is refused, not ignored."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such recipe; pass a YAML file such as configs/smoke.yaml.")
    try:
        recipe = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]}).") from None
    if not isinstance(recipe, dict):
        raise UserError(f"{path}: a recipe is a mapping of option names to values.")
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(recipe) - known)
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; see `train.py --help` for the option names.")
    return recipe  # argparse converts string defaults with each option's type (YAML reads `5e-5` as text)


def check_training_args(data_args: DataArguments, args: TrainingArguments) -> None:
    """Refuse, before any work, what would fail at the end or leak a secret."""
    if os.path.isfile(args.output_dir):
        raise UserError(f"--output_dir {args.output_dir} is a file; pass a folder for the model.")
    if args.hub_token:
        raise UserError("do not pass --hub_token: set HF_TOKEN or run `hf auth login`, so the token is never saved.")
    if data_args.early_stopping_patience is not None and not (
        args.load_best_model_at_end and args.metric_for_best_model
    ):
        raise UserError("--early_stopping_patience needs --load_best_model_at_end true and --metric_for_best_model.")
    if data_args.extra_train_data:
        check_specs(list(data_args.extra_train_data))


def resolved_recipe(*arg_objects) -> dict:
    """Every value of every argument class, as run (tokens left out)."""
    recipe: dict = {}
    for obj in arg_objects:
        values = obj.to_dict() if hasattr(obj, "to_dict") else dataclasses.asdict(obj)
        recipe.update({k: v for k, v in values.items() if "token" not in k})
    return json.loads(json.dumps(recipe, default=str))


def save_recipe(recipe: dict, output_dir: str) -> None:
    Path(output_dir, RECIPE_FILE).write_text(yaml.safe_dump(recipe, sort_keys=True, allow_unicode=True), "utf-8")


def resolve_checkpoint(resume: str | None, output_dir: str) -> str | None:
    """`--resume_from_checkpoint last` (or true): the newest checkpoint in output_dir that was saved whole.

    A run killed while saving leaves a checkpoint folder without `trainer_state.json` (written last);
    resuming from it would fail, so it is skipped.
    """
    if resume not in ("last", "true", "True"):
        if resume is not None and not os.path.isdir(resume):
            raise UserError(f"--resume_from_checkpoint {resume}: no such checkpoint folder; pass one or `last`.")
        return resume
    complete = [
        path
        for path in Path(output_dir).glob("checkpoint-*")
        if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file()
    ]
    if not complete:
        raise UserError(
            f"--resume_from_checkpoint {resume}: {output_dir} holds no complete checkpoint; "
            "drop the flag to start from scratch."
        )
    return str(max(complete, key=lambda path: int(path.name.split("-")[-1])))


def freeze_word_embeddings(model) -> int:
    """Stop training the input word embeddings; return how many parameters that freezes."""
    embeddings = model.get_input_embeddings()
    frozen = 0
    for parameter in embeddings.parameters():
        parameter.requires_grad_(False)
        frozen += parameter.numel()
    return frozen


def set_cpu_threads(model_args: ModelArguments, args: TrainingArguments) -> None:
    """Use every core on CPU: `accelerate launch` sets OMP_NUM_THREADS=1, which halves speed on 2 cores."""
    import torch

    if torch.cuda.is_available() and not args.use_cpu:
        return
    threads = model_args.cpu_threads or max(1, (os.cpu_count() or 1) // max(1, args.world_size))
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


def add_extra_data(
    splits: DatasetDict, data_report: dict | None, data_args: DataArguments, args: TrainingArguments
) -> tuple[DatasetDict, dict]:
    """Add the extra sources: mixed into `train`, or as an `extra` split for a first stage (--extra_epochs).

    Every process builds the same rows (sampling is seeded); Hub downloads happen on the main process first.
    """
    options = ExtraOptions(
        dedup=data_args.dedup,
        max_rows_per_source=data_args.extra_max_rows_per_source,
        versions_per_item=data_args.extra_versions_per_item,
        sample_seed=data_args.extra_sample_seed,
        licenses=list(data_args.extra_licenses or []),
    )
    with args.main_process_first(desc="extra training data"):
        extra, sources = build_extra(list(data_args.extra_train_data), splits, options)
    if len(extra) == 0:
        raise UserError("--extra_train_data: no rows are left after removing unlabelled and overlapping ones.")
    report = dict(data_report or {})
    staged = data_args.extra_epochs > 0
    if not staged and data_args.extra_weight < 1:
        extra = extra.shuffle(seed=data_args.extra_sample_seed).select(
            range(round(len(extra) * data_args.extra_weight))
        )
    report["extra_data"] = sources
    report["extra_schedule"] = {
        "mode": "staged" if staged else "mixed",
        "extra_epochs": data_args.extra_epochs,
        "extra_weight": data_args.extra_weight,
        "dedup": data_args.dedup,
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


class NLITrainer(Trainer):
    """A Trainer whose evaluation keeps dataset order, so predictions line up with each row's language.

    With `train_sampling_strategy="group_by_length"` the stock Trainer also groups the evaluation set by
    length, and `evaluate`/`predict` then return rows in that order.
    """

    def _get_eval_sampler(self, eval_dataset):
        if eval_dataset is None or self.args.world_size > 1:
            return None  # accelerate then shards batches in order and gathers them back in order
        return SequentialSampler(eval_dataset)


EXTRA_STAGE_DIR = "extra-stage"


def train_extra_stage(trainer_kwargs: dict, extra_dataset, args: TrainingArguments, epochs: float) -> dict:
    """Staged training, stage one: `epochs` epochs on the extra data alone, then one evaluation.

    The model in `trainer_kwargs` is trained in place; stage two (the competition data) starts from it with
    its own learning-rate schedule. Nothing is checkpointed: a resumed run resumes stage two.
    """
    stage_args = dataclasses.replace(
        args,
        output_dir=os.path.join(args.output_dir, EXTRA_STAGE_DIR),
        num_train_epochs=epochs,
        max_steps=-1,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        report_to=[],
    )
    trainer = NLITrainer(args=stage_args, train_dataset=extra_dataset, **trainer_kwargs)
    result = trainer.train()
    metrics = trainer.evaluate()
    return {
        "rows": len(extra_dataset),
        "epochs": epochs,
        "runtime_s": result.metrics.get("train_runtime"),
        "validation_accuracy": metrics.get("eval_accuracy"),
        "validation_macro_f1": metrics.get("eval_macro_f1"),
    }


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
