"""Zero-shot classification: which of your own labels fits a text. The handlers, the Classify tab and
`/api/v1/classify`.

Endpoints: `/classify` (text, labels, template, multi_label -> {"sequence", "labels", "scores"}, as transformers'
zero-shot pipeline answers) and `POST /api/v1/classify` (the same as JSON). A text and its labels are one
interactive pass of the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any

import gradio as gr
from pydantic import BaseModel, ConfigDict, StrictBool, WithJsonSchema

from contradiction.errors import UserError
from contradiction.inference.zero_shot import DEFAULT_TEMPLATE, ZeroShotClassifier, ZeroShotTask, split_labels
from contradiction.serving.api import LIMIT_KEY, BodyShape, JsonRoute
from contradiction.serving.common import Context, require
from contradiction.serving.limits import Limits
from contradiction.serving.notes import language_markdown, language_notes
from contradiction.serving.pairs import Text
from contradiction.texts import is_blank

# Written for this app: (text, labels, template, multi-label); labels in English and in the text's language
CLASSIFY_EXAMPLES: list[tuple[str, str, str, bool]] = [
    (
        "The new vaccine halved hospital admissions in its first year.",
        "health, politics, sports, technology",
        DEFAULT_TEMPLATE,
        False,
    ),
    (
        "Le gouvernement a présenté hier son projet de budget au parlement.",
        "politique, sport, santé, voyage",
        "Ce texte parle de {}.",
        False,
    ),
    (
        "El equipo ganó la final en los penaltis tras un partido muy igualado.",
        "sports, politics, health, travel",
        DEFAULT_TEMPLATE,
        False,
    ),
    (
        "Unser Flug nach Lissabon wurde wegen eines Sturms um drei Stunden verschoben.",
        "Reisen, Politik, Sport, Gesundheit",
        "Dieser Text handelt von {}.",
        False,
    ),
    ("这款新手机的电池可以连续使用两天。", "technology, sports, politics, travel", DEFAULT_TEMPLATE, False),
    ("فاز المنتخب الوطني بالمباراة بهدفين مقابل هدف واحد.", "الرياضة, السياسة, الصحة, السفر", "هذا النص عن {}.", False),
    (
        "The minister promised new money for hospitals and for sports clubs.",
        "politics, health, sports, travel",
        DEFAULT_TEMPLATE,
        True,
    ),
]


def _labels_status(labels: object, max_labels: int) -> int:
    """The HTTP status of candidate labels `ZeroShotTask.create` refused: 400 when one is not text, 413 over the
    limit, 422 otherwise (none, a blank or repeated label, a template without its {})."""
    names = split_labels(labels) if isinstance(labels, str | list | tuple) else [labels]
    if not all(isinstance(name, str) for name in names):
        return 400
    return 413 if len(names) > max_labels else 422


class Classification:
    """The handlers of zero-shot classification, on the app's `Context`."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def run(
        self, endpoint: str, text: str, labels: str | Sequence[str], template: str | None, multi_label: bool
    ) -> dict:
        """Check, classify through the scheduler (one interactive pass), count under `endpoint`; the pipeline's
        {"sequence", "labels", "scores"}. Raises `Refused` or `gr.Error`."""
        start = time.perf_counter()
        context, limits = self.context, self.context.limits
        context.check_texts(endpoint, [("text", text)])
        try:
            task = ZeroShotTask.create(labels, template, multi_label, max_labels=limits.max_labels)
        except UserError as err:
            raise context.refuse(endpoint, str(err), _labels_status(labels, limits.max_labels)) from None
        for label, hypothesis in zip(task.labels, task.hypotheses(), strict=True):
            context.check_texts(endpoint, [(f"label {label[:40]!r} makes a hypothesis that", hypothesis)])
        classifier = ZeroShotClassifier(context.scheduler.logits, context.scheduler.predictor.label_index)
        with context.model_call(endpoint, f"a classification with {len(task.labels)} label(s)"):
            (answer,) = classifier([text], task)
        context.monitor.request(endpoint, time.perf_counter() - start)
        return answer

    def classify(self, text: str, labels: str, template: str = DEFAULT_TEMPLATE, multi_label: bool = False) -> dict:
        """Zero-shot classification: which of your own labels fits a text, in any of the model's languages.
        Each label fills the template to make a hypothesis, and the text is the premise of an NLI pair.
        By default the scores are shared out among the labels and sum to 1; with multi_label each label is scored
        on its own (entailment against contradiction), so several can fit. The scores rank the labels: they are
        not calibrated probabilities. Labels and template may be in the text's language.

        Args:
            text: the text to classify
            labels: the candidate labels, comma-separated or one per line, e.g. "sports, politics, health"
            template: the hypothesis, with {} where a label goes (default "This text is about {}.")
            multi_label: true to score each label on its own, so that several labels can fit

        Returns:
            {"sequence": the text, "labels": the labels sorted by score, highest first, "scores": in the same order}
        """
        return self.run("classify", text, labels, template, multi_label)

    def page_require(self, text: str, labels: str) -> None:
        """The Classify button, before anything runs: a friendly warning when a box is empty."""
        require({"text": text, "few labels": labels})

    def page_scores(self, text: str, labels: str, template: str, multi_label: bool) -> dict[str, float]:
        """The Classify button: {label: score} for its `gr.Label`."""
        answer = self.run("classify", text, labels, template, multi_label)
        return dict(zip(answer["labels"], answer["scores"], strict=True))

    def page_notes(self, text: str, labels: str, template: str, scores: dict | None) -> str:
        """The Classify tab's language line: the text's language and the labels', the model's record in the text's
        language, and what may weaken the answer."""
        if is_blank(text) or is_blank(labels) or not scores:
            return ""
        try:
            hypothesis = ZeroShotTask.create(labels, template).hypotheses()[0]
        except UserError:
            return ""
        detector = self.context.detector
        text_lang, labels_lang = detector.detect(text), detector.detect(hypothesis)
        names = ("text", "labels")
        # no mixed-language warning: English labels beat translated ones on SIB-200 in 13 of 14 other languages
        known, notes = language_notes(text_lang, labels_lang, self.context.record, 1.0, 0.0, names, warn_mixed=False)
        lines = language_markdown(text_lang, labels_lang, known, notes, None, names)
        return lines + "\n\nThe scores rank the labels for this text; they are not calibrated probabilities."


def build_classify_tab(classification: Classification, limits: Limits, max_batch_size: int) -> None:
    """The Classify tab and its events, and `/classify` for scripts."""
    with gr.Tab("Classify"):
        gr.Markdown(
            "Sort a text into labels of your own (zero-shot classification): each label fills the template to "
            "make a hypothesis, and the label the model finds best entailed by the text wins. Labels and "
            "template may be in the text's language, though English ones often score better (docs/results.md); "
            f"up to {limits.max_labels} labels."
        )
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(
                    label="Text",
                    placeholder="e.g. The match ended in a draw after extra time.",
                    lines=3,
                    max_length=limits.max_chars,
                )
                candidate_labels = gr.Textbox(
                    label="Labels (comma-separated, or one per line)",
                    placeholder="sports, politics, health",
                    lines=2,
                    max_length=limits.max_chars,
                )
                template = gr.Textbox(
                    label="Template ({} is where a label goes)", value=DEFAULT_TEMPLATE, max_length=limits.max_chars
                )
                multi_label = gr.Checkbox(label="Several labels can fit (each scored on its own)", value=False)
                classify = gr.Button("Classify", variant="primary")
            with gr.Column():
                scores = gr.Label(label="Scores", elem_id="classify-scores")
                text_languages = gr.Markdown(elem_id="classify-languages")
        gr.Examples(
            [list(example) for example in CLASSIFY_EXAMPLES],
            inputs=[text, candidate_labels, template, multi_label],
            label="Examples",
            examples_per_page=len(CLASSIFY_EXAMPLES),
            cache_examples=False,
            api_name="load_classify_example",
            api_visibility="private",
        )
    classify.click(
        classification.page_require,
        [text, candidate_labels],
        None,
        api_name="check_classification",
        api_visibility="private",
    ).success(
        classification.page_scores,
        [text, candidate_labels, template, multi_label],
        scores,
        api_name="classify_scores",
        api_visibility="private",  # scripts call /classify, which answers in the pipeline's shape
        concurrency_limit=max_batch_size,
    ).success(
        classification.page_notes,
        [text, candidate_labels, template, scores],
        text_languages,
        api_name="describe_classification",
        api_visibility="private",
    )
    gr.api(classification.classify, api_name="classify", concurrency_limit=max_batch_size)


# --- POST /api/v1/classify
Labels = Annotated[
    list[Any] | str,
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}, "minItems": 1, LIMIT_KEY: {"maxItems": "max_labels"}},
                {"type": "string", "description": "comma-separated, or one per line"},
            ]
        }
    ),
]
"""The candidate labels: each is checked by `ZeroShotTask.create`, which says in one sentence what is wrong."""


class ClassifyBody(BaseModel):
    """A text and the labels to sort it into."""

    model_config = ConfigDict(extra="forbid")
    text: Text
    labels: Labels
    template: str | None = DEFAULT_TEMPLATE
    multi_label: StrictBool = False


class ClassifyAnswer(BaseModel):
    """The labels sorted by score, highest first; the scores rank them, they are not calibrated."""

    sequence: str
    labels: list[str]
    scores: list[float]


def classify_route(classification: Classification) -> JsonRoute:
    """`{"text", "labels", "template"?, "multi_label"?}` -> `{"sequence", "labels", "scores"}`, as `/classify`."""
    endpoint = "api_v1_classify"
    example = '{"text": "...", "labels": ["a", "b"], "template": "This text is about {}.", "multi_label": false}'
    fields = {
        "labels": '"labels" must be a list of strings, or one string of comma-separated labels.',
        "template": f'"template" must be a string with one {{}} for the label, e.g. "{DEFAULT_TEMPLATE}".',
        "multi_label": '"multi_label" must be true or false.',
    }

    def answer(body: ClassifyBody) -> dict:
        return classification.run(endpoint, body.text, body.labels, body.template, body.multi_label)

    return JsonRoute(
        "/classify",
        "Zero-shot classification: which of your labels fits the text (one NLI pair per label).",
        ClassifyBody,
        ClassifyAnswer,
        answer,
        {"": BodyShape(endpoint, example, fields)},
    )
