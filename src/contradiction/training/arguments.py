"""What a training run is told: the recipe's dataclasses beside `TrainingArguments`, the YAML recipe, and every
check that could otherwise fail late.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from transformers import HfArgumentParser, TrainingArguments

from contradiction.data.extra import DEDUP_MODES, SOURCE_FORM, ExtraSource, check_specs, parse_source
from contradiction.errors import UserError
from contradiction.inference.model_folder import RECIPE_FILE

TINY_MODEL = "tiny-xlmr"


PREPARED_DATA_DIR = "data"
EXTRA_STAGE_DIR = "extra-stage"  # staged training's first stage: its checkpoints, then its model and EXTRA_STAGE_FILE
EXTRA_STAGE_FILE = "stage.json"

# the flat options of earlier recipes, matched to extra_train_data by position: now one extra_data entry per source
LEGACY_EXTRA_KEYS = (
    "extra_train_data",
    "extra_licenses",
    "extra_max_rows_per_source",
    "extra_versions_per_item",
    "extra_weight",
)


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
            "help": "Torch threads per process; default on CPU the cores divided by the processes "
            "(accelerate launch otherwise leaves one thread per process), else torch's choice."
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
    extra_data: list[str] | None = field(
        default=None,
        metadata={
            "help": "More NLI data to train on, one SOURCE per source: SPEC[,license=L][,max_rows=N]"
            "[,versions_per_item=K][,weight=W], e.g. data/x.csv.gz,license=cc-by-4.0,max_rows=4000. SPEC is a "
            "CSV/TSV/JSON Lines/Parquet file (gzipped or not), a save_to_disk folder, or a Hub data set "
            "owner/name[:config][@split] such as facebook/xnli:all_languages@train; license is for the card; "
            "max_rows keeps a random N rows after dedup; versions_per_item keeps K translations of each item; "
            "weight (0 to 1) is the share of the source's rows trained on. In a recipe: a list of mappings "
            "with these keys (path: SPEC). Labels are mapped by name; items that overlap an evaluated pair are "
            "dropped whole (--dedup)."
        },
    )
    dedup: str = field(
        default="pair",
        metadata={
            "help": "Drop an extra item when any of its versions matches a validation or test pair (pair), or "
            "also when it shares a premise with one (premise). Texts are compared after NFKC, case folding "
            "and removing punctuation and whitespace."
        },
    )
    extra_sample_seed: int = field(
        default=42, metadata={"help": "Seed of the extra data's sampling (versions, caps and weights)."}
    )
    extra_epochs: float = field(
        default=0.0,
        metadata={
            "help": "Staged training: K epochs on the extra data first, then the competition data as usual; "
            "0 mixes the extra rows into the competition training set instead. Each stage trains at most "
            "--max_steps steps; --resume_from_checkpoint continues in the stage where the run stopped."
        },
    )
    extra_save_steps: int | None = field(
        default=None,
        metadata={
            "help": "Staged training: a checkpoint of the first stage every N steps (it saves as the second "
            "stage does when left out), so a long first stage that is stopped loses at most N steps."
        },
    )
    long_premise_share: float = field(
        default=0.0,
        metadata={
            "help": "Add this share of the training pairs again with a document-length premise: the pair's "
            "premise among other training premises of its language, label kept (data/long_premises.py). "
            "For document mode, which reads windows of a real text; 0 adds none."
        },
    )
    long_premise_tokens: int | None = field(
        default=None,
        metadata={"help": "Pair length the long premises are built to (half of it to all); default max_seq_length."},
    )
    long_premise_removed_share: float = field(
        default=0.0,
        metadata={
            "help": "Of the long premises, the share built without the pair's own premise and labelled neutral: "
            "a window that says nothing about the hypothesis."
        },
    )

    def __post_init__(self) -> None:
        if self.dataset_dir is None and self.train_file is None:
            raise UserError("no data: pass --dataset_dir (a data_prep.py folder) or --train_file (a competition CSV).")
        if self.max_seq_length < 8:
            raise UserError(f"--max_seq_length {self.max_seq_length} is too short; use 64 to 512.")
        if self.extra_save_steps is not None and self.extra_save_steps < 1:
            raise UserError(f"--extra_save_steps {self.extra_save_steps} must be 1 or more.")
        if self.extra_epochs < 0:
            raise UserError(f"--extra_epochs {self.extra_epochs} must be 0 (mixed) or more (staged).")
        if self.long_premise_share < 0:
            raise UserError(f"--long_premise_share {self.long_premise_share} must be 0 or more.")
        if not 0 <= self.long_premise_removed_share <= 1:
            raise UserError(f"--long_premise_removed_share {self.long_premise_removed_share} must be 0 to 1.")
        self.long_premise_tokens = self.long_premise_tokens or self.max_seq_length
        if not 16 <= self.long_premise_tokens <= self.max_seq_length:
            raise UserError(
                f"--long_premise_tokens {self.long_premise_tokens} must be 16 to --max_seq_length "
                f"({self.max_seq_length}): a longer premise would be cut."
            )
        if self.dedup not in DEDUP_MODES:
            raise UserError(f"--dedup {self.dedup}: use pair or premise.")
        # a recipe's mappings and the flag's strings alike become ExtraSource entries
        self.extra_data = [parse_source(value) for value in self.extra_data] if self.extra_data else None


ARGUMENT_CLASSES = (ModelArguments, DataArguments, TrainingArguments)


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """Parse `[recipe.yaml] [--flag value ...]`: the recipe's values, then the flags on top of them, then the
    start checks (output folder, token, extra sources that are missing or on a Hub that is switched off)."""
    model_args, data_args, training_args = read_args(argv)
    check_training_args(data_args, training_args)
    return model_args, data_args, training_args


def read_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """What a recipe and its flags say, checked as values only: nothing is asked of the files or the network."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(ARGUMENT_CLASSES)
    if argv and argv[0].endswith((".yaml", ".yml")):
        parser.set_defaults(**read_recipe(argv.pop(0), parser))
    refuse_legacy_flags(argv)
    return tuple(parser.parse_args_into_dataclasses(args=argv))


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
    legacy = [key for key in LEGACY_EXTRA_KEYS if key in recipe]
    if legacy:
        entries = [source.as_entry() for source in legacy_extra_data(recipe)]
        snippet = yaml.safe_dump(entries, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6)
        fix = f"write `extra_data: {snippet.strip()}` instead"
        if not recipe.get("extra_train_data"):  # e.g. the recipe.yaml of an earlier run without extra data
            fix = f"this recipe names no source, so remove them (a source is written `extra_data: {snippet.strip()}`)"
        raise UserError(
            f"{path}: {', '.join(legacy)} are replaced by one extra_data entry per source, each with its own "
            f"license, max_rows, versions_per_item and weight; {fix}."
        )
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(recipe) - known)
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; see `train.py --help` for the option names.")
    return recipe  # argparse converts string defaults with each option's type (YAML reads `5e-5` as text)


def legacy_extra_data(values: dict) -> list[ExtraSource]:
    """The mixture that selects the same rows as the flat extra_* options of an earlier recipe or recipe.yaml."""
    specs = values.get("extra_train_data") or ["data/extra.csv.gz"]
    licenses = values.get("extra_licenses") or []
    staged = float(values.get("extra_epochs") or 0) > 0  # extra_weight was ignored by a staged run
    return [
        parse_source(
            {
                "path": spec,
                "license": licenses[n] if n < len(licenses) else None,
                "max_rows": values.get("extra_max_rows_per_source"),
                "versions_per_item": values.get("extra_versions_per_item"),
                "weight": 1.0 if staged else values.get("extra_weight"),
            }
        )
        for n, spec in enumerate([specs] if isinstance(specs, str) else specs)
    ]


def refuse_legacy_flags(argv: list[str]) -> None:
    """Refuse --extra_train_data and its flat companions with the --extra_data flags that replace them."""
    values: dict[str, list[str]] = {}
    name = None
    for token in argv:
        if token.startswith("--"):
            key, sep, value = token[2:].partition("=")
            name = key if key in (*LEGACY_EXTRA_KEYS, "extra_epochs") else None
            if name is not None:
                values[name] = [value] if sep else []
        elif name is not None:
            values[name].append(token)
    legacy = [f"--{key}" for key in LEGACY_EXTRA_KEYS if key in values]
    if not legacy:
        return
    single = {key: (found[0] if found else None) for key, found in values.items()}
    sources = legacy_extra_data(
        {**single, "extra_train_data": values.get("extra_train_data"), "extra_licenses": values.get("extra_licenses")}
    )
    flags = " ".join(shlex.quote(source.as_text()) for source in sources)
    raise UserError(
        f"{', '.join(legacy)} are replaced by --extra_data, one SOURCE per source with its own settings "
        f"({SOURCE_FORM}): pass --extra_data {flags} instead."
    )


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
    if data_args.extra_data:
        check_specs([source.path for source in data_args.extra_data])


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
    """`--resume_from_checkpoint last` (or true): the newest checkpoint in output_dir that was saved whole, of
    stage two, else of a staged run's first stage (`<output_dir>/extra-stage`): where the run stopped.

    A run killed while saving leaves a checkpoint folder without `trainer_state.json` (written last), or with
    one cut short; resuming from it would fail, so it is skipped.
    """
    if resume not in ("last", "true", "True"):
        if resume is not None and not os.path.isdir(resume):
            raise UserError(f"--resume_from_checkpoint {resume}: no such checkpoint folder; pass one or `last`.")
        return resume
    for folder in (Path(output_dir), Path(output_dir, EXTRA_STAGE_DIR)):
        complete = [
            path
            for path in folder.glob("checkpoint-*")
            if path.name.split("-")[-1].isdigit() and _whole_state(path / "trainer_state.json")
        ]
        if complete:
            return str(max(complete, key=lambda path: int(path.name.split("-")[-1])))
    raise UserError(
        f"--resume_from_checkpoint {resume}: {output_dir} holds no complete checkpoint; "
        "drop the flag to start from scratch."
    )


def _whole_state(path: Path) -> bool:
    """Whether a checkpoint's trainer state was written to its end: it is there and reads as JSON."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def in_extra_stage(checkpoint: str | None) -> bool:
    """Whether a checkpoint is one of staged training's first stage (saved in `<output_dir>/extra-stage`)."""
    return checkpoint is not None and Path(checkpoint).resolve().parent.name == EXTRA_STAGE_DIR
