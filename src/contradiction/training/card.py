"""The model card (README.md with Hub metadata) and the two plots that go beside it."""

from __future__ import annotations

from pathlib import Path

import yaml

from contradiction.labels import LABELS

CONFUSION_PNG = "confusion_matrix.png"
PER_LANGUAGE_PNG = "per_language_accuracy.png"
RELIABILITY_PNG = "reliability_diagram.png"

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


def save_plots(report: dict, output_dir: str | Path) -> list[str]:
    """Write the confusion matrix and the per-language accuracy as PNG files; return their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    matrix = report["confusion_matrix"]
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > peak / 2 else "black")
    fig.colorbar(image, ax=ax)
    ax.set_title(f"Validation, {report['rows']} pairs (accuracy {report['accuracy']:.3f})", fontsize=10)
    fig.tight_layout()
    fig.savefig(output_dir / CONFUSION_PNG, dpi=110)
    plt.close(fig)

    per_language = sorted(report["per_language"].items(), key=lambda kv: kv[1]["accuracy"])
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(per_language) + 1.2))
    names = [v.get("language", code) for code, v in per_language]
    ax.barh(names, [v["accuracy"] for _, v in per_language], color="#4c72b0")
    ax.axvline(report["accuracy"], color="#dd8452", linestyle="--", label=f"overall {report['accuracy']:.3f}")
    ax.axvline(1 / len(LABELS), color="grey", linestyle=":", label="chance")
    ax.set_xlim(0, 1)
    ax.set_xlabel("validation accuracy")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(output_dir / PER_LANGUAGE_PNG, dpi=110)
    plt.close(fig)
    names = [CONFUSION_PNG, PER_LANGUAGE_PNG]
    if "calibration" in report:
        save_reliability_diagram(report["calibration"], output_dir / RELIABILITY_PNG)
        names.append(RELIABILITY_PNG)
    return names


def save_reliability_diagram(calibration: dict, path: Path) -> None:
    """Accuracy against mean confidence per bin, before and after temperature scaling, with the diagonal."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for key, color, name in (("before", "#dd8452", "softmax"), ("after", "#4c72b0", "temperature scaled")):
        bins = calibration[f"bins_{key}"]
        ax.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            color=color,
            label=f"{name} (ECE {calibration[key]['ece']:.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean top probability in the bin")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(
        f"T = {calibration['temperature']:.2f}, fitted on {calibration['rows']} {calibration['fitted_on']} pairs",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_calibration_section(report: dict) -> str:
    """The card's "Calibration" section, or nothing for a model trained with --calibrate false."""
    cal = report.get("calibration")
    if not cal:
        return ""
    rows = "\n".join(
        f"| {name} | {cal['before'][key]:.3f} | {cal['after'][key]:.3f} |"
        for key, name in (
            ("ece", "expected calibration error (15 bins)"),
            ("nll", "negative log-likelihood"),
            ("brier", "Brier score"),
        )
    )
    return f"""
## Calibration

The probabilities are temperature scaled: after training, one temperature T = {cal["temperature"]:.3f} was fitted
on the validation logits and folded into the last linear layer (its weight and bias divided by T), so the
softmax of this model's logits is already calibrated and its labels are the same as before. Measured on the
{cal["rows"]} validation pairs T was fitted on (a fresh split would show a slightly larger error):

| metric | before | after |
| --- | --- | --- |
{rows}

![Reliability diagram]({RELIABILITY_PNG})
"""


def card_metadata(report: dict, recipe: dict, model_name: str) -> dict:
    """Hub metadata: license, languages, data set, metrics, base model, pipeline tag and model-index."""
    base_model = recipe.get("base_model") or recipe["model_name_or_path"]
    dataset = recipe.get("dataset_name", "contradictory-my-dear-watson")
    metadata = {
        "license": recipe.get("license", "apache-2.0"),
        "language": sorted(report["per_language"]),
        "datasets": [dataset],
        "metrics": ["accuracy", "f1"],
        # what the NLI models on the Hub declare: the Hub's widget then offers zero-shot classification
        "pipeline_tag": "zero-shot-classification",
        "tags": ["natural-language-inference", "nli", "xnli", "multilingual", "zero-shot-classification"],
        "widget": [
            {
                "text": "Le match s'est terminé sur un score nul après les prolongations.",
                "candidate_labels": "sport, politique, santé",
                "hypothesis_template": "Ce texte parle de {}.",
            }
        ],
        "model-index": [
            {
                "name": model_name,
                "results": [
                    {
                        "task": {"type": "text-classification", "name": "Natural Language Inference"},
                        "dataset": {"name": "Contradictory, My Dear Watson", "type": dataset, "split": "validation"},
                        "metrics": [
                            {"type": "accuracy", "value": round(report["accuracy"], 4), "name": "Accuracy"},
                            {
                                "type": "f1",
                                "value": round(report["macro_f1"], 4),
                                "name": "Macro F1",
                                "args": {"average": "macro"},
                            },
                        ],
                    }
                ],
            }
        ],
    }
    if "/" in base_model and not Path(base_model).exists():  # a Hub id, not a local folder
        metadata["base_model"] = base_model
    return metadata


def render_card(report: dict, recipe: dict, data_report: dict | None, model_name: str) -> str:
    """The model card text: YAML front matter, then intended use, labels, training, results, limitations."""
    front = yaml.safe_dump(card_metadata(report, recipe, model_name), sort_keys=False, allow_unicode=True)
    base = recipe.get("base_model") or recipe["model_name_or_path"]
    label_rows = "\n".join(f"| {i} | {name} |" for i, name in enumerate(LABELS))
    recipe_rows = "\n".join(f"| `{k}` | `{recipe[k]}` |" for k in CARD_RECIPE_KEYS if k in recipe)
    language_rows = "\n".join(
        f"| {v.get('language', code)} | {code} | {v['rows']} | {v['accuracy']:.3f} | {v['macro_f1']:.3f} |"
        for code, v in sorted(report["per_language"].items(), key=lambda kv: -kv[1]["rows"])
    )
    data_lines = ""
    if data_report:
        data_lines = "\n".join(
            f"- `{f['role']}`: {Path(f['path']).name}, {f['rows']} rows, sha256 `{f['sha256']}`"
            for f in data_report["files"]
        )
        rows = ", ".join(f"{k} {v}" for k, v in data_report["rows"].items())
        data_lines += f"\n- split (seed {data_report['seed']}): {rows}"
    extra_section = render_extra_section(data_report, report)
    balance = (
        "Most competition pairs are English; the other languages have about 300 pairs each (more from the extra\n"
        "  data below)"
        if extra_section
        else "Most training pairs are English; the other languages have about 300 pairs each"
    ) + (
        ", and their validation\n  accuracies rest on about 30 pairs, so differences of a few points between "
        "languages are noise."
    )
    return f"""---
{front}---

# {model_name}

A multilingual natural language inference (NLI) classifier fine-tuned from `{base}` on the Kaggle
competition data "Contradictory, My Dear Watson" ({len(report["per_language"])} languages). Given a
premise and a hypothesis, it says whether the hypothesis follows from the premise, contradicts it, or neither.

## Intended use

Scoring sentence pairs in any of the languages below, for example to flag contradictions between two
statements or to check that a summary follows from its source. Read its confidences as a signal, not a
verdict: it was trained on {report.get("train_rows", "about 9,000")} pairs only.

```python
from transformers import pipeline

nli = pipeline("text-classification", model="{model_name}", top_k=None)
nli({{"text": "The museum opens at nine.", "text_pair": "The museum is closed all day."}})
```

### Zero-shot classification

Sort any text into labels of your own: each label becomes a hypothesis ("This text is about sports."), and the
label the model finds best entailed wins. Labels and template may be in the text's language.

```python
from transformers import pipeline

classifier = pipeline("zero-shot-classification", model="{model_name}")
classifier("Le match a fini sur un score nul.", candidate_labels=["sport", "politique", "santé"],
           hypothesis_template="Ce texte parle de {{}}.")
```

With the contradiction package (the same scores, several times faster on a CPU), in Python or for a whole file:

```python
from contradiction.inference import Predictor
from contradiction.inference.zero_shot import ZeroShotClassifier, ZeroShotTask

classifier = ZeroShotClassifier.from_predictor(Predictor.from_pretrained("{model_name}"))
classifier(["Le match a fini sur un score nul."], ZeroShotTask.create(["sport", "politique", "santé"]))
```

```bash
python -m contradiction.classify --model {model_name} --input texts.csv --text_column text \
    --labels sport politique santé --template "Ce texte parle de {{}}." --output labelled.csv
```

## Labels

| id | label |
| --- | --- |
{label_rows}

## Training

Trained with the transformers `Trainer` (`train.py` of the contradiction project). Main recipe values
(every value is in `recipe.yaml` beside this card):

| option | value |
| --- | --- |
{recipe_rows}

Data:
{data_lines or "- see recipe.yaml"}
{extra_section}
## Results

On the validation split (held out, stratified by language and label): accuracy
**{report["accuracy"]:.3f}**, macro-F1 **{report["macro_f1"]:.3f}** over {report["rows"]} pairs.

| language | code | pairs | accuracy | macro-F1 |
| --- | --- | --- | --- | --- |
{language_rows}

![Confusion matrix]({CONFUSION_PNG})

![Accuracy per language]({PER_LANGUAGE_PNG})
{render_calibration_section(report)}
## Limitations

- {balance}
- The texts are short sentences; long documents are truncated to `max_seq_length` tokens.
- It has not been checked for bias; do not use it to make decisions about people.
"""


def render_extra_section(data_report: dict | None, report: dict) -> str:
    """The extra sources with their licenses, sampling and counts, and how overlap with evaluated pairs was removed."""
    if not data_report or not data_report.get("extra_data"):
        return ""
    schedule = data_report.get("extra_schedule", {})
    rows = "\n".join(
        f"| `{e['source']}` | {e['license']} | {_sampling(e)} | {e['rows_read']} | {e['rows_dropped_unlabelled']} | "
        f"{e['items_dropped_overlap']} ({e['rows_dropped_overlap']} rows) | {e['rows_dropped_sampling']} | "
        f"{e['rows_kept']} | {', '.join(sorted(e['languages']))} |"
        for e in data_report["extra_data"]
    )
    if schedule.get("mode") == "staged":
        how = f"first {schedule['extra_epochs']:g} epoch(s) on the extra rows alone, then the competition data"
        stage = report.get("extra_stage")
        if stage and stage.get("validation_accuracy") is not None:
            how += f" (validation accuracy after the first stage: {stage['validation_accuracy']:.3f})"
    else:
        how = "mixed with the competition training pairs into one shuffled training set"
    seed = f" (sampling seed {schedule['sample_seed']})" if "sample_seed" in schedule else ""
    return f"""
### Extra training data

{schedule.get("extra_rows_trained_on", "")} extra pairs, {how}. An extra item (a pair and its translations)
was dropped in every language when any of its versions matched a validation or test pair after Unicode
NFKC, case folding and removing punctuation and whitespace (dedup mode `{schedule.get("dedup", "pair")}`).
Items are known where a source has them (an `item` column, XNLI's `all_languages` rows); elsewhere each
pair is its own item, so only copies of an evaluated pair, not its translations, can be found there. Each
source was then sampled as its sampling column says{seed}. Respect each source's license when you use this model.

| source | license | sampling | rows read | unlabelled | overlapping items | sampled out | rows kept | languages |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rows}
"""


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
    path = Path(output_dir) / "README.md"
    path.write_text(render_card(report, recipe, data_report, model_name), encoding="utf-8")
    return path
