"""Zero-shot classification on the NLI model: which of your own labels fits a text.

Each (text, label) is one NLI pair, the text as the premise and the template filled with the label as the
hypothesis ("This text is about sports."). The scores are those of `transformers.pipeline("zero-shot-classification")`:
one label at a time (the default), a softmax over the labels of each pair's entailment logit; `multi_label`, for each
label on its own, a softmax of its (contradiction, entailment) logits. Which logit is entailment and which is
contradiction comes from the model's own `id2label`, so any 3-way NLI model works, whatever its label order.

    classifier = ZeroShotClassifier(Predictor.from_pretrained("outputs/model"))
    classifier(["Le match a fini sur un score nul."], ZeroShotTask.create(["sports", "politics", "health"]))
    # [{"sequence": "Le match ...", "labels": ["sports", "health", "politics"], "scores": [0.91, 0.05, 0.04]}]

Unlike the pipeline, every pair of a call is tokenized once and run longest first in full batches (one pass for a
text's labels together), which is where the speed comes from (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from contradiction.errors import UserError
from contradiction.labels import LABELS
from contradiction.metrics import softmax
from contradiction.texts import is_blank

DEFAULT_TEMPLATE = "This text is about {}."
MAX_LABELS = 32  # a text with N labels is N pairs: 32 keeps one text inside one or two forward passes

Logits = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""Raw logits of pairs, columns in the model's order: `Predictor.logits`, or the app's scheduler."""


def split_labels(labels: str | Sequence[str]) -> list[str]:
    """The candidate labels of a text box or an API call: one per line when there are several lines, else
    comma-separated; a list as it is. Surrounding spaces are dropped."""
    if isinstance(labels, str):
        parts = labels.splitlines() if "\n" in labels.strip() else labels.split(",")
    else:
        parts = list(labels)
    return [part.strip() if isinstance(part, str) else part for part in parts]


@dataclass(frozen=True)
class ZeroShotTask:
    """Checked candidate labels, the hypothesis template and how to score them; `create` refuses what cannot work."""

    labels: tuple[str, ...]
    template: str = DEFAULT_TEMPLATE
    multi_label: bool = False

    @classmethod
    def create(
        cls,
        labels: str | Sequence[str],
        template: str | None = None,
        multi_label: bool = False,
        max_labels: int = MAX_LABELS,
    ) -> ZeroShotTask:
        """Labels (a list, or one string: comma- or line-separated) and a template with one `{}` for the label.

        Raises:
            UserError: no labels, a blank or repeated label, more than `max_labels`, or a template without `{}`.
        """
        names = split_labels(labels)
        if not names or all(is_blank(name) for name in names):
            raise UserError("No candidate labels were given; pass two or more, e.g. 'sports, politics, health'.")
        for i, name in enumerate(names, start=1):
            if not isinstance(name, str):
                raise UserError(f"Candidate label {i} is a {type(name).__name__}, not text; pass every label as text.")
            if is_blank(name):
                raise UserError(f"Candidate label {i} is empty; remove the extra comma or fill the label in.")
        seen: dict[str, str] = {}
        for name in names:
            key = name.casefold()
            if key in seen:
                raise UserError(f"The label {name!r} is given twice (as {seen[key]!r} too); give each label once.")
            seen[key] = name
        if len(names) > max_labels:
            raise UserError(
                f"{len(names)} candidate labels is over the limit of {max_labels}; pass fewer (each label is one "
                "more pass of the model over the text)."
            )
        template = DEFAULT_TEMPLATE if template is None or is_blank(template) else template.strip()
        if template.count("{}") != 1 or _fill(template, "x") is None:
            raise UserError(
                f"The template {template!r} needs exactly one {{}} where the label goes, e.g. {DEFAULT_TEMPLATE!r}."
            )
        return cls(tuple(names), template, bool(multi_label))

    def hypotheses(self) -> list[str]:
        """The hypothesis of each label, in label order."""
        return [_fill(self.template, label) for label in self.labels]

    def pairs(self, texts: Sequence[str]) -> tuple[list[str], list[str]]:
        """Premises and hypotheses of every (text, label), text by text and label by label within a text."""
        hypotheses = self.hypotheses()
        premises = [text for text in texts for _ in hypotheses]
        return premises, hypotheses * len(texts)


def _fill(template: str, label: str) -> str | None:
    try:
        return template.format(label)
    except (IndexError, KeyError, ValueError):  # other braces: "{label}", "{0} {1}", a lone "{"
        return None


def label_columns(label_index: Sequence[int]) -> tuple[int, int]:
    """Which of the model's logits are entailment and contradiction, from `Predictor.label_index`."""
    return label_index[LABELS.index("entailment")], label_index[LABELS.index("contradiction")]


def scores(logits: np.ndarray, n_labels: int, entailment: int, contradiction: int, multi_label: bool) -> np.ndarray:
    """Scores of shape (texts, labels) from the logits of the pairs `ZeroShotTask.pairs` made, in the pipeline's
    arithmetic: a softmax over the labels of the entailment logits, or, with `multi_label` (or a single label),
    for each label the softmax of its (contradiction, entailment) logits."""
    grouped = logits.astype(np.float64).reshape(-1, n_labels, logits.shape[-1])  # (texts, labels, model labels)
    if multi_label or n_labels == 1:
        return softmax(grouped[..., [contradiction, entailment]])[..., 1]
    return softmax(grouped[..., entailment])


def ranked(text: str, task: ZeroShotTask, row: np.ndarray) -> dict:
    """One text's answer in the pipeline's shape: labels sorted by score, highest first (ties in label order)."""
    order = sorted(range(len(task.labels)), key=lambda i: -row[i])
    return {"sequence": text, "labels": [task.labels[i] for i in order], "scores": [float(row[i]) for i in order]}


class ZeroShotClassifier:
    """Texts and a `ZeroShotTask` in, one answer per text out, through any function that gives pairs' logits.

    Args:
        logits: raw logits of pairs in the model's column order (`Predictor.logits`, or the app's scheduler).
        label_index: for each of our labels, the model's column (`Predictor.label_index`).
    """

    def __init__(self, logits: Logits, label_index: Sequence[int]) -> None:
        self.logits = logits
        self.entailment, self.contradiction = label_columns(label_index)

    @classmethod
    def from_predictor(cls, predictor) -> ZeroShotClassifier:
        return cls(predictor.logits, predictor.label_index)

    def score(self, texts: Sequence[str], task: ZeroShotTask) -> np.ndarray:
        """Scores of shape (texts, labels), labels in the task's order."""
        if not texts:
            return np.zeros((0, len(task.labels)))
        premises, hypotheses = task.pairs(texts)
        logits = np.asarray(self.logits(premises, hypotheses))
        return scores(logits, len(task.labels), self.entailment, self.contradiction, task.multi_label)

    def __call__(self, texts: Sequence[str], task: ZeroShotTask) -> list[dict]:
        """Each text's labels sorted by score: {"sequence", "labels", "scores"}, as the transformers pipeline gives."""
        return [ranked(text, task, row) for text, row in zip(texts, self.score(texts, task), strict=True)]
