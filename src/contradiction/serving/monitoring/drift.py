"""The training data's label and premise-language mix (from the model folder, `inference.model_folder`), and the
distance of the live mix from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contradiction.inference.model_folder import ModelFolder
from contradiction.labels import LABELS
from contradiction.languages import language_code

MIN_DRIFT_PREDICTIONS = 100  # fewer recent predictions than this say too little about the label mix to warn


# Sampling alone puts n pairs about 1.2/sqrt(n) from the competition's 15-language mix (0.12 at 100, 0.05 at
# 500), so the language warning waits for more predictions than the three-label one.
MIN_LANGUAGE_DRIFT_PREDICTIONS = 500


def training_label_mix(model: str | Path | ModelFolder | None) -> tuple[dict[str, float], str]:
    """The label mix the model was trained on, and where it comes from.

    Read from the model's `data_report.json` (train split, written by train.py), else from the validation labels
    in `eval_results.json` (its confusion matrix), else uniform; a Hub model's files as a local folder's.
    """
    found = ModelFolder.of(model).label_counts() if model is not None else None
    if found is None:
        return {label: 1 / len(LABELS) for label in LABELS}, "uniform (the model folder has no data report)"
    return _shares(found.counts), found.source


@dataclass(frozen=True)
class TrainingLanguages:
    """The languages a model was trained on, as lower-case codes (en, th, zh).

    `shares` is the competition train split's language mix, the reference for language drift: it is the
    traffic the model was built for. Rows from `--extra_data` are left out of it, since their mix only
    reflects per-source sampling caps; their languages are listed in `extra`, so that they count as known.
    """

    shares: dict[str, float]
    source: str
    extra: frozenset[str] = frozenset()

    @property
    def known(self) -> frozenset[str]:
        """Every language the model saw in training."""
        return frozenset(self.shares) | self.extra


def training_language_mix(model: str | Path | ModelFolder | None) -> TrainingLanguages | None:
    """The language mix of the model's training data (train split, from `data_report.json`), or None where the
    model has no data report (one trained elsewhere)."""
    found = ModelFolder.of(model).language_counts() if model is not None else None
    if found is None:
        return None
    counts: Counter[str] = Counter()
    for language, n in found.counts.items():
        counts[language_code(language)] += n
    return TrainingLanguages(_mix(counts), found.source, frozenset(language_code(code) for code in found.extra))


def _shares(counts: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(counts.values()))
    return {label: float(counts.get(label, 0)) / total for label in LABELS}


def _mix(counts: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(counts.values()))
    return {key: float(n) / total for key, n in counts.items()}


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Half the L1 distance between two mixes (of labels or languages): 0 when equal, 1 when they share nothing."""
    return 0.5 * sum(abs(p.get(key, 0.0) - q.get(key, 0.0)) for key in p.keys() | q.keys())


@dataclass(frozen=True)
class Drift:
    """A live mix (of the last `n` predictions) against the training mix."""

    live: dict[str, float]
    n: int
    tvd: float
    threshold: float
    min_n: int = MIN_DRIFT_PREDICTIONS  # fewer predictions than this never warn

    @property
    def warning(self) -> bool:
        return self.n >= self.min_n and self.tvd > self.threshold
