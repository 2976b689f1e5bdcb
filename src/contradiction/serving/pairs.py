"""One pair: does the hypothesis follow from the premise? The handlers, the page's first tab and `/api/v1/nli`.

Endpoints: `/predict` (label and three confidences, the page's answer), `/analyze` (the same with the languages
seen, the model's record in them and what weakens the answer), `/predict_batch` (a list of pairs, a bulk call
behind single pairs), `POST /api/v1/nli` (one pair or a list).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import gradio as gr
import numpy as np
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, WithJsonSchema

from contradiction.labels import LABELS
from contradiction.languages import language_name
from contradiction.serving.api import LIMIT_KEY, BodyShape, JsonRoute
from contradiction.serving.common import Context, probabilities, require
from contradiction.serving.limits import Limits, text_problem
from contradiction.serving.notes import language_markdown, language_notes
from contradiction.serving.scheduler import Priority
from contradiction.texts import is_blank

LABEL_MEANINGS = {
    "entailment": "if the premise is true, the hypothesis is true too.",
    "neutral": "the premise neither confirms nor rules out the hypothesis.",
    "contradiction": "if the premise is true, the hypothesis is false.",
}

# Written for this app: (language, expected label, premise, hypothesis); every label in several languages.
EXAMPLES: list[tuple[str, str, str, str]] = [
    (
        "English",
        "entailment",
        "A woman is reading a newspaper on the morning train.",
        "A woman is on a train.",
    ),
    (
        "French",
        "contradiction",
        "Le musée ferme ses portes à dix-huit heures le dimanche.",
        "Le dimanche, le musée reste ouvert toute la nuit.",
    ),
    (
        "Spanish",
        "neutral",
        "Mi hermana compró una bicicleta roja la semana pasada.",
        "Mi hermana va al trabajo en bicicleta.",
    ),
    (
        "German",
        "contradiction",
        "Der Zug nach Hamburg hatte heute Morgen zwanzig Minuten Verspätung.",
        "Der Zug nach Hamburg kam heute Morgen pünktlich an.",
    ),
    ("Russian", "entailment", "Дети построили во дворе большую снежную крепость.", "Во дворе лежит снег."),
    ("Arabic", "neutral", "اشترى أحمد سيارة جديدة في الشهر الماضي.", "يحب أحمد السفر بالسيارة في العطلات."),
    ("Chinese", "contradiction", "这家面包店每天早上七点开门。", "这家面包店只在晚上营业。"),
    ("Hindi", "entailment", "सीता हर सुबह पार्क में दौड़ने जाती है।", "सीता सुबह व्यायाम करती है।"),
    ("Thai", "neutral", "ร้านกาแฟนี้เพิ่งเปิดเมื่อเดือนที่แล้ว", "ร้านกาแฟนี้ขายขนมเค้กด้วย"),
    (
        "Swahili",
        "contradiction",
        "Mvua kubwa ilinyesha jana usiku katika mji wa Mombasa.",
        "Hakukuwa na mvua Mombasa jana usiku.",
    ),
    ("Vietnamese", "entailment", "Nam đã tốt nghiệp đại học vào năm ngoái.", "Nam từng học đại học."),
    ("Turkish", "neutral", "Ayşe bu sabah otobüsü kaçırdı.", "Ayşe işe geç kaldı."),
]


class Pairs:
    """The handlers of one pair and of lists of pairs, on the app's `Context`."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def run(self, endpoint: str, premise: str, hypothesis: str) -> tuple[np.ndarray, str | None, str | None]:
        """Check, predict through the scheduler (single pairs first), detect both languages, record under
        `endpoint`; the probabilities in `LABELS` order and the two languages. Raises `Refused` or `gr.Error`."""
        start = time.perf_counter()
        context = self.context
        context.check_texts(endpoint, (("premise", premise), ("hypothesis", hypothesis)))
        with context.model_call(endpoint, "a pair"):
            row = context.scheduler.predict_pair(premise, hypothesis)
        premise_lang, hypothesis_lang = context.detector.detect(premise), context.detector.detect(hypothesis)
        context.monitor.record(
            endpoint,
            time.perf_counter() - start,
            [premise],
            [hypothesis],
            row[None],
            premise_languages=[premise_lang],
            hypothesis_languages=[hypothesis_lang],
        )
        return row, premise_lang, hypothesis_lang

    def run_many(self, endpoint: str, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """Check, predict through the scheduler as one bulk call (after single pairs, in chunks), record under
        `endpoint`; the probabilities (pairs, 3) in `LABELS` order. Raises `Refused` or `gr.Error`."""
        start = time.perf_counter()
        context, limits = self.context, self.context.limits
        if not isinstance(premises, list) or not isinstance(hypotheses, list):
            raise context.refuse(endpoint, "Send two lists of strings: the premises and the hypotheses.")
        if len(premises) != len(hypotheses):
            raise context.refuse(
                endpoint, f"Got {len(premises)} premises and {len(hypotheses)} hypotheses; send one of each per pair."
            )
        if len(premises) > limits.max_pairs:
            raise context.refuse(
                endpoint,
                f"Got {len(premises)} pairs; send at most {limits.max_pairs} per call, or upload a CSV file.",
                413,
            )
        for i, pair in enumerate(zip(premises, hypotheses, strict=True)):
            for name, text in zip(("premise", "hypothesis"), pair, strict=True):
                if problem := text_problem(text, limits.max_chars):
                    fix = "fill it in or leave the pair out" if problem.what == "is empty" else problem.fix
                    raise context.refuse(endpoint, f"Pair {i}: the {name} {problem.what}; {fix}.", problem.status)
        with context.model_call(endpoint, f"a {endpoint} call of {len(premises)} pair(s)"):
            probs = context.scheduler.submit(premises, hypotheses, Priority.BATCH).result()
        record_many(context, endpoint, time.perf_counter() - start, premises, hypotheses, probs)
        return probs

    def predict(self, premise: str, hypothesis: str) -> dict[str, float]:
        """Natural language inference: does the hypothesis follow from the premise (entailment), contradict it
        (contradiction), or neither (neutral)? Premise and hypothesis may be in any of the model's languages.
        The three probabilities sum to 1; analyze says whether they are calibrated and what may weaken them.
        An empty or over-long text is refused with one sentence. Requests that arrive together share a forward pass.

        Args:
            premise: the statement taken as true, e.g. "The museum closes at six on Sundays."
            hypothesis: the statement to check against it, e.g. "The museum is open all night on Sundays."

        Returns:
            {"label": the most probable label, "confidences": [{"label", "confidence"}] for all three, highest first}
        """
        row, _, _ = self.run("predict", premise, hypothesis)
        return probabilities(row)

    def analyze(self, premise: str, hypothesis: str) -> dict:
        """Natural language inference on one pair, in full: does the hypothesis follow from the premise
        (entailment), contradict it (contradiction), or neither (neutral)? Use it to check whether a statement is
        supported or contradicted by a source text. Answers the label and its probabilities with what to make of
        them: the languages seen, the model's validation accuracy in the premise's language, whether the
        probabilities are calibrated, and notes that warn of an untrained or mixed language or a low confidence.

        Args:
            premise: the source text, taken as true (any of the model's languages)
            hypothesis: the statement to check against the premise

        Returns:
            label: entailment (the premise implies the hypothesis), contradiction (it rules it out) or neutral (neither)
            probabilities: {entailment, neutral, contradiction}, summing to 1; calibrated only when calibrated is true
            premise_language and hypothesis_language: {code, name}; code null when too short to tell
            language_record: the model's validation_accuracy and validation_pairs in the premise's language, or null
            trained_languages, calibrated, temperature, max_length (tokens read per pair; longer pairs are cut)
            truncated: whether the pair was longer than max_length, so that its end was never read; tokens: {read,
                total}, the tokens the model read and those of the whole pair
            notes: what weakens this answer (an untrained or a mixed language, a low top probability, a cut pair); []
                when nothing
        """
        row, premise_lang, hypothesis_lang = self.run("analyze", premise, hypothesis)
        known, notes = language_notes(
            premise_lang, hypothesis_lang, self.context.record, float(row.max()), self.context.monitor.low_confidence
        )
        tokens, cut = self.cut(premise, hypothesis)
        notes += [cut] if cut else []
        return {
            "label": LABELS[int(row.argmax())],
            "probabilities": probabilities(row),
            "premise_language": {"code": premise_lang, "name": language_name(premise_lang)},
            "hypothesis_language": {"code": hypothesis_lang, "name": language_name(hypothesis_lang)},
            "language_record": known,
            "trained_languages": sorted(self.context.record.per_language) or None,
            "calibrated": self.context.record.calibrated,
            "temperature": self.context.record.temperature,
            "max_length": getattr(self.context.scheduler.predictor, "max_length", None),
            "truncated": tokens is not None and tokens["total"] > tokens["read"],
            "tokens": tokens,
            "notes": notes,
        }

    def cut(self, premise: str, hypothesis: str) -> tuple[dict | None, str | None]:
        """The tokens the model read of a pair and those of the whole pair ({read, total}; None when the predictor
        cannot count them), and, when the pair was cut, the sentence that says so."""
        count = getattr(self.context.scheduler.predictor, "token_counts", None)
        if count is None:
            return None, None
        read, total = count([premise], [hypothesis])[0]
        if total <= read:
            return {"read": read, "total": total}, None
        return {"read": read, "total": total}, (
            f"The pair has {total:,} tokens and the model reads {read:,}: the end of the longer text was cut and "
            "never read, so this answer is about its beginning only; shorten it to the part that decides."
        )

    def predict_batch(self, premises: list[str], hypotheses: list[str]) -> list[dict[str, float]]:
        """Natural language inference on several pairs at once: for each premise and the hypothesis at the same
        position, the probabilities that the hypothesis follows from the premise (entailment), contradicts it
        (contradiction) or neither (neutral). Each pair's three probabilities sum to 1; they are calibrated only when
        analyze says calibrated: true. A call goes after waiting single pairs, in chunks.

        Args:
            premises: the premises, one per pair
            hypotheses: the hypotheses, as many as premises, in the same order

        Returns:
            one {"entailment", "neutral", "contradiction"} of probabilities per pair, in input order
        """
        return [probabilities(row) for row in self.run_many("predict_batch", premises, hypotheses)]

    def page_require(self, premise: str, hypothesis: str) -> None:
        """The Submit button, before anything runs: a friendly warning when a box is empty."""
        require({"premise": premise, "hypothesis": hypothesis})

    def page_notes(self, premise: str, hypothesis: str, prediction: dict[str, float] | str | None) -> str:
        """The lines under the page's answer: languages seen, the model's record, warnings. `prediction` is the
        answer's `gr.Label` as Gradio hands an input label to a function: {label: confidence}."""
        if is_blank(premise) or is_blank(hypothesis) or not prediction:
            return ""
        context = self.context
        # a label without confidences (a str) says nothing of the model's doubt
        top = max(map(float, prediction.values())) if isinstance(prediction, dict) else 1.0
        premise_lang, hypothesis_lang = context.detector.detect(premise), context.detector.detect(hypothesis)
        known, notes = language_notes(
            premise_lang, hypothesis_lang, context.record, top, context.monitor.low_confidence
        )
        _, cut = self.cut(premise, hypothesis)
        calibrated = context.record.calibrated if context.record.known else None
        return language_markdown(premise_lang, hypothesis_lang, known, notes + ([cut] if cut else []), calibrated)


def record_many(
    context: Context, endpoint: str, latency_s: float, premises: Sequence[str], hypotheses: Sequence[str], probs
) -> None:
    """Record many pairs' predictions under `endpoint`, with each text's language."""
    context.monitor.record(
        endpoint,
        latency_s,
        premises,
        hypotheses,
        probs,
        premise_languages=context.detector.detect_many(premises),
        hypothesis_languages=context.detector.detect_many(hypotheses),
    )


def header(name: str, max_chars: int) -> str:
    """The page's title and what the three labels mean."""
    meanings = "\n".join(f"- **{label}**: {LABEL_MEANINGS[label]}" for label in LABELS)
    model = f"[`{name}`](https://huggingface.co/{name})" if not Path(name).exists() else f"`{name}`"
    return (
        "# Contradiction detector: multilingual natural language inference\n"
        "Does the **hypothesis** follow from the **premise**? Write both in any of the model's languages "
        f"(up to {max_chars:,} characters each). The model answers with one of three labels:\n"
        f"{meanings}\n\n"
        f"Model in use: {model}"
    )


def build_pair_tab(pairs: Pairs, limits: Limits, max_batch_size: int) -> None:
    """The "One pair" tab and its events, and the pair endpoints scripts call (`/predict`, `/analyze`,
    `/predict_batch`)."""
    with gr.Tab("One pair"):
        with gr.Row():
            with gr.Column():
                premise = gr.Textbox(
                    label="Premise",
                    placeholder="A statement taken as true, e.g. The shop is closed on Sundays.",
                    lines=3,
                    max_length=limits.max_chars,
                )
                hypothesis = gr.Textbox(
                    label="Hypothesis",
                    placeholder="A statement to check against it, e.g. The shop opens every day.",
                    lines=2,
                    max_length=limits.max_chars,
                )
                with gr.Row():
                    clear = gr.ClearButton(value="Clear", api_name="clear")
                    submit = gr.Button("Submit", variant="primary")
            with gr.Column():
                label = gr.Label(num_top_classes=len(LABELS), label="Prediction")
                languages = gr.Markdown(elem_id="languages")
        clear.add([premise, hypothesis, label, languages])
        gr.Examples(
            [[p, h] for _, _, p, h in EXAMPLES],
            inputs=[premise, hypothesis],
            label=f"Examples in {len(EXAMPLES)} languages",
            examples_per_page=len(EXAMPLES),
            cache_examples=False,
            api_name="load_example",
            api_visibility="private",
        )
    submit.click(
        pairs.page_require, [premise, hypothesis], None, api_name="check_pair", api_visibility="private"
    ).success(
        pairs.predict,
        [premise, hypothesis],
        label,
        api_name="predict",
        concurrency_limit=2 * max_batch_size,  # one batch runs while the next gathers
    ).success(pairs.page_notes, [premise, hypothesis, label], languages, api_name="describe", api_visibility="private")
    gr.api(pairs.predict_batch, api_name="predict_batch", concurrency_limit=4)
    gr.api(pairs.analyze, api_name="analyze", concurrency_limit=2 * max_batch_size)


# --- POST /api/v1/nli: one pair, or a list of pairs
Text = Annotated[Any, WithJsonSchema({"type": "string", "minLength": 1, LIMIT_KEY: {"maxLength": "max_chars"}})]
"""A text of a pair: anything is taken here, and `Context.check_texts` says what is wrong with it in one sentence
(a number, an empty text, one over the limit), as the Gradio endpoints do."""


class PairBody(BaseModel):
    """One pair."""

    model_config = ConfigDict(extra="forbid")
    premise: Text
    hypothesis: Text


class PairsBody(BaseModel):
    """A list of pairs, answered as a list in the same order."""

    model_config = ConfigDict(extra="forbid")
    pairs: list[tuple[Text, Text]] = Field(json_schema_extra={LIMIT_KEY: {"maxItems": "max_pairs"}})


LabelName = Literal[LABELS]  # type: ignore[valid-type]


class LabelProbabilities(BaseModel):
    """The three probabilities, summing to 1. They are calibrated only when the app's /analyze says calibrated:
    true (else read them as a ranking). Trust them less for a language the model was not trained on, for a
    premise and a hypothesis in different languages, and when the top probability is low: /analyze names each
    case in its notes."""

    entailment: float
    neutral: float
    contradiction: float


class PairAnswer(BaseModel):
    label: LabelName
    probabilities: LabelProbabilities


NliBody = Annotated[
    Annotated[PairBody, Tag("pair")] | Annotated[PairsBody, Tag("pairs")],
    Discriminator(lambda body: "pairs" if isinstance(body, dict) and "pairs" in body else "pair"),
]

NLI_ENDPOINTS = {"pair": "api_v1_nli", "pairs": "api_v1_nli_pairs"}
"""The monitoring names of the route's two shapes: one pair goes with the single pairs, a list as a bulk call."""


def nli_route(pairs: Pairs) -> JsonRoute:
    """`{"premise", "hypothesis"}` -> `{"label", "probabilities"}`; `{"pairs": [[p, h], ...]}` -> a list of them."""
    single = '{"premise": "...", "hypothesis": "..."} or {"pairs": [["premise", "hypothesis"], ...]}'
    shape = '"pairs" must be a list of [premise, hypothesis] lists, e.g. [["It rains.", "It is dry."]].'

    def answer(body: PairBody | PairsBody) -> dict | list[dict]:
        if isinstance(body, PairBody):
            row, _, _ = pairs.run(NLI_ENDPOINTS["pair"], body.premise, body.hypothesis)
            return labelled(row)
        premises, hypotheses = [p for p, _ in body.pairs], [h for _, h in body.pairs]
        return [labelled(row) for row in pairs.run_many(NLI_ENDPOINTS["pairs"], premises, hypotheses)]

    return JsonRoute(
        "/nli",
        "Does the hypothesis follow from the premise (entailment), contradict it, or neither (neutral)? One pair, "
        "or a list of pairs (answered as a list, in order).",
        NliBody,
        PairAnswer | list[PairAnswer],
        answer,
        {
            "pair": BodyShape(NLI_ENDPOINTS["pair"], single),
            "pairs": BodyShape(
                NLI_ENDPOINTS["pairs"], '{"pairs": [["premise", "hypothesis"], ...]} alone', {"pairs": shape}
            ),
        },
    )


def labelled(row: np.ndarray) -> dict:
    """A pair's answer: its most probable label and the three probabilities."""
    return {"label": LABELS[int(row.argmax())], "probabilities": probabilities(row)}
