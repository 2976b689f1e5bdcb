"""The three NLI labels, defined once: every other module takes names and order from here."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
"""Label names in id order, as in the Kaggle data: entailment=0, neutral=1, contradiction=2."""

ID2LABEL: dict[int, str] = dict(enumerate(LABELS))
LABEL2ID: dict[str, int] = {name: i for i, name in ID2LABEL.items()}
NUM_LABELS = len(LABELS)

LABEL_VARIANTS: dict[str, tuple[str, ...]] = {
    "entailment": ("entailment", "entail", "entails", "entailed"),
    "neutral": ("neutral",),
    "contradiction": ("contradiction", "contradict", "contradicts", "contradictory"),
}
"""Spellings of each label seen in public NLI checkpoints and data sets, lower-cased."""
VARIANT_TO_LABEL: dict[str, str] = {v: label for label, variants in LABEL_VARIANTS.items() for v in variants}
