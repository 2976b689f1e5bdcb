"""Accuracy, macro-F1, accuracy per language and the confusion matrix, in numpy (no Hub metric scripts)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from contradiction.labels import LABELS, NUM_LABELS


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis, from logits shifted by their maximum (no overflow)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def confusion_matrix(labels: Sequence[int], predictions: Sequence[int], num_labels: int = NUM_LABELS) -> np.ndarray:
    """Counts with true labels as rows and predicted labels as columns."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return matrix


def macro_f1(matrix: np.ndarray) -> float:
    """Mean F1 over the classes; a class never predicted nor present scores 0, as in scikit-learn."""
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    denominator = predicted + actual
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1.mean())


def classification_report(
    labels: Sequence[int],
    predictions: Sequence[int],
    languages: Sequence[str] | None = None,
    label_names: Sequence[str] = LABELS,
) -> dict:
    """Overall accuracy and macro-F1, the confusion matrix and, with `languages`, the same per language.

    Args:
        labels: gold label ids, in dataset order.
        predictions: predicted label ids, in the same order.
        languages: the language of each row, in the same order.
        label_names: the name of each label id (the NLI labels, or a zero-shot task's own).
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    matrix = confusion_matrix(labels, predictions, len(label_names))
    report = {
        "accuracy": float((labels == predictions).mean()) if len(labels) else 0.0,
        "macro_f1": macro_f1(matrix),
        "rows": int(len(labels)),
        "labels": list(label_names),
        "confusion_matrix": matrix.tolist(),
    }
    if languages is not None:
        languages = np.asarray(languages)
        if languages.shape != labels.shape:
            raise ValueError(f"{len(languages)} languages but {len(labels)} labels")
        report["per_language"] = {
            str(lang): {
                "accuracy": float((labels[mask] == predictions[mask]).mean()),
                "macro_f1": macro_f1(confusion_matrix(labels[mask], predictions[mask], len(label_names))),
                "rows": int(mask.sum()),
            }
            for lang in sorted(set(languages.tolist()))
            for mask in [languages == lang]
        }
    return report


def flat_metrics(report: dict) -> dict[str, float]:
    """The scalar metrics of a report, for the Trainer's logs: accuracy, macro_f1, accuracy_<language>."""
    flat = {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
    for lang, values in report.get("per_language", {}).items():
        flat[f"accuracy_{lang}"] = values["accuracy"]
    return flat
