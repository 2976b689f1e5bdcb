"""The model card: README.md with Hub metadata, made with `huggingface_hub`'s `ModelCard` from the template
`templates/model_card.md` (its values from the run's report, recipe and data report)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from contradiction.labels import LABELS
from contradiction.training.plots import CONFUSION_PNG, PER_LANGUAGE_PNG, RELIABILITY_PNG

TEMPLATE = Path(__file__).with_name("templates") / "model_card.md"

# recipe values worth a line in the card; the full set is in recipe.yaml
CARD_RECIPE_KEYS = (
    "model_name_or_path",
    "max_seq_length",
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "warmup_steps",
    "weight_decay",
    "lr_scheduler_type",
    "train_sampling_strategy",
    "bf16",
    "fp16",
    "seed",
    "validation_size",
    "freeze_embeddings",
    "extra_epochs",
    "extra_sample_seed",
)


CALIBRATION_METRICS = (
    ("ece", "expected calibration error (15 bins)"),
    ("nll", "negative log-likelihood"),
    ("brier", "Brier score"),
)

# what the NLI models on the Hub declare: the Hub's widget then offers zero-shot classification
WIDGET = [
    {
        "text": "Le match s'est terminé sur un score nul après les prolongations.",
        "candidate_labels": "sport, politique, santé",
        "hypothesis_template": "Ce texte parle de {}.",
    }
]


def card_data(report: dict, recipe: dict, model_name: str) -> ModelCardData:
    """Hub metadata: license, languages, data set, metrics, base model, pipeline tag, widget, and the validation
    results (the card's model-index)."""
    base_model = recipe.get("base_model") or recipe["model_name_or_path"]
    dataset = recipe.get("dataset_name", "contradictory-my-dear-watson")
    shared = {
        "task_type": "text-classification",
        "task_name": "Natural Language Inference",
        "dataset_type": dataset,
        "dataset_name": "Contradictory, My Dear Watson",
        "dataset_split": "validation",
    }
    return ModelCardData(
        license=recipe.get("license", "apache-2.0"),
        language=sorted(report["per_language"]),
        datasets=[dataset],
        metrics=["accuracy", "f1"],
        pipeline_tag="zero-shot-classification",
        tags=["natural-language-inference", "nli", "xnli", "multilingual", "zero-shot-classification"],
        base_model=base_model if "/" in base_model and not Path(base_model).exists() else None,  # a Hub id only
        model_name=model_name,
        eval_results=[
            EvalResult(
                **shared, metric_type="accuracy", metric_value=round(report["accuracy"], 4), metric_name="Accuracy"
            ),
            EvalResult(
                **shared,
                metric_type="f1",
                metric_value=round(report["macro_f1"], 4),
                metric_name="Macro F1",
                metric_args={"average": "macro"},
            ),
        ],
        widget=WIDGET,
    )


def build_card(report: dict, recipe: dict, data_report: dict | None, model_name: str) -> ModelCard:
    """The model card of a run: its metadata (`card_data`) and the template filled with what the run reported."""
    data_report = data_report or {}
    extra = data_report.get("extra_data") or []
    schedule = data_report.get("extra_schedule", {})
    if schedule.get("mode") == "staged":
        how = f"first {schedule['extra_epochs']:g} epoch(s) on the extra rows alone, then the competition data"
        stage = report.get("extra_stage")
        if stage and stage.get("validation_accuracy") is not None:
            how += f" (validation accuracy after the first stage: {stage['validation_accuracy']:.3f})"
    else:
        how = "mixed with the competition training pairs into one shuffled training set"
    where = "competition pairs" if extra else "training pairs"
    more = " (more from the extra\n  data below)" if extra else ""
    balance = (
        f"Most {where} are English; the other languages have about 300 pairs each{more}, and their validation\n"
        "  accuracies rest on about 30 pairs, so differences of a few points between languages are noise."
    )
    by_size = sorted(report["per_language"].items(), key=lambda kv: -kv[1]["rows"])
    return ModelCard.from_template(
        card_data(report, recipe, model_name),
        template_path=str(TEMPLATE),
        model_name=model_name,
        base=recipe.get("base_model") or recipe["model_name_or_path"],
        languages=sorted(report["per_language"]),
        train_rows=report.get("train_rows", "about 9,000"),
        labels=LABELS,
        recipe_values=[(key, recipe[key]) for key in CARD_RECIPE_KEYS if key in recipe],
        data_files=[{**f, "name": Path(f["path"]).name} for f in data_report.get("files", [])],
        split_seed=data_report.get("seed"),
        split_rows=", ".join(f"{k} {v}" for k, v in data_report.get("rows", {}).items()),
        extra_sources=[{**e, "sampling": _sampling(e), "languages": ", ".join(sorted(e["languages"]))} for e in extra],
        extra_rows=schedule.get("extra_rows_trained_on", ""),
        extra_schedule=how,
        dedup=schedule.get("dedup", "pair"),
        sample_seed=f" (sampling seed {schedule['sample_seed']})" if "sample_seed" in schedule else "",
        long_premises=data_report.get("long_premises"),
        accuracy=report["accuracy"],
        macro_f1=report["macro_f1"],
        rows=report["rows"],
        language_rows=[{**v, "name": v.get("language", code), "code": code} for code, v in by_size],
        calibration=report.get("calibration"),
        calibration_metrics=CALIBRATION_METRICS,
        balance=balance,
        confusion_png=CONFUSION_PNG,
        per_language_png=PER_LANGUAGE_PNG,
        reliability_png=RELIABILITY_PNG,
    )


def _sampling(entry: dict) -> str:
    """A source's settings in words: versions per item, cap, weight (or every row)."""
    parts = []
    if entry.get("versions_per_item") is not None:
        parts.append(f"{entry['versions_per_item']} versions per item")
    if entry.get("max_rows") is not None:
        parts.append(f"at most {entry['max_rows']} rows")
    if entry.get("weight", 1) < 1:
        parts.append(f"weight {entry['weight']:g}")
    return ", ".join(parts) or "every row"


def write_card(report: dict, recipe: dict, data_report: dict | None, output_dir: str | Path, model_name: str) -> Path:
    """Write the card to `output_dir`/README.md; return its path."""
    path = Path(output_dir) / "README.md"
    build_card(report, recipe, data_report, model_name).save(path)
    return path
