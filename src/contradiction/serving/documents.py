"""Claims checked against a whole document: the handlers, the Document tab and `/api/v1/check_document`.

Endpoints: `/check_document` (document, claims -> the overall label and consistency score and, per claim, its
label, score, probabilities and evidence) and `POST /api/v1/check_document` (the same as JSON). The document is
read in windows (`inference.documents`): up to `INTERACTIVE_PAIRS` pairs go through the model in one interactive
pass, more in chunks between single pairs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated, Any

import gradio as gr
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from contradiction.errors import UserError
from contradiction.inference.documents import DocumentChecker, DocumentResult
from contradiction.labels import LABELS
from contradiction.serving.api import LIMIT_KEY, BodyShape, JsonRoute
from contradiction.serving.common import Context, require
from contradiction.serving.limits import Limits
from contradiction.serving.pairs import LabelName, LabelProbabilities, Text

logger = logging.getLogger(__name__)

# Written for this app: (document, claims); the evidence of each claim is one sentence of the document
DOCUMENT_EXAMPLES: list[tuple[str, str]] = [
    (
        "Die Bergbahn fährt von Mai bis Oktober. Im Winter fährt die Bahn nicht, weil der Wind auf dem Gipfel zu "
        "stark ist. Eine Fahrt dauert zwölf Minuten. Hunde dürfen mitfahren, wenn sie an der Leine geführt werden.",
        "Im Winter fährt die Bergbahn jeden Tag. Eine Fahrt dauert zwölf Minuten.",
    ),
    (
        "The town library was built in 1932 with money raised by its readers. In 1990 a fire damaged the building, "
        "and the library moved to the old railway station. Today it lends books, music and tools. The reading room "
        "is closed on Mondays. Children under twelve borrow for free.",
        "The reading room is open on Mondays. The library moved after a fire.",
    ),
    (
        "La ciudad celebra su feria en septiembre. Durante una semana, las calles del centro se cierran al tráfico. "
        "Hay conciertos gratuitos cada noche en la plaza mayor. El último día termina con fuegos artificiales sobre "
        "el río.",
        "Los conciertos de la feria son gratuitos.",
    ),
]


def highlighted(document: str, result: DocumentResult) -> list[tuple[str, str | None]]:
    """`gr.HighlightedText`'s value: the document in pieces, each evidence sentence marked with its claim's label
    (the first claim's, where two claims point at one sentence), the rest unmarked."""
    marks: dict[tuple[int, int], str] = {}
    for claim in result.claims:
        if claim.evidence is not None:
            marks.setdefault((claim.evidence.start, claim.evidence.end), claim.label)
    pieces, at = [], 0
    for (start, end), label in sorted(marks.items()):
        if start < at:  # pieces of a document never overlap; kept safe all the same
            continue
        if start > at:
            pieces.append((document[at:start], None))
        pieces.append((document[start:end], label))
        at = end
    if at < len(document):
        pieces.append((document[at:], None))
    return pieces


PLANNED_AT_ONCE = 2
"""Document checks of this process planned at once: planning a 50,000-character document is about a second of Python
holding the GIL (tokens, sentences, windows), so more at once would slow every other request of the process."""
PLANNING = threading.BoundedSemaphore(PLANNED_AT_ONCE)


class Documents:
    """The handlers of document checks, on the app's `Context`: one `DocumentChecker` whose pairs go through the
    scheduler."""

    def __init__(self, context: Context) -> None:
        self.context = context
        # the scheduler's probabilities looked up at each call: a test (or an operator) may swap them
        self.checker = DocumentChecker(context.scheduler.predictor, lambda p, h: context.scheduler.probabilities(p, h))

    def run(self, endpoint: str, document: str, claims: str) -> DocumentResult:
        """Check, plan the windows (`PLANNING` at once) and refuse a check of more pairs than
        `Limits.max_document_pairs` before the model runs, run the windows through the scheduler (one interactive
        pass when few, else in chunks between single pairs; a request whose caller left stops at the next chunk),
        count under `endpoint`. Raises `Refused` or `gr.Error`."""
        start = time.perf_counter()
        context = self.context
        context.check_texts(endpoint, [("document", document)], context.limits.max_document_chars)
        context.check_texts(endpoint, [("claims text", claims)])
        language = context.detector.detect(document)
        with context.model_call(endpoint, f"checking a document of {len(document)} characters"):
            try:
                with PLANNING:
                    plan = self.checker.plan(document, claims, language)
                self._check_pairs(endpoint, plan)
                result = self.checker.check_many([document], [claims], [language], plans=[plan])[0]
            except UserError as err:
                raise context.refuse(endpoint, str(err), 422) from None
        context.monitor.request(endpoint, time.perf_counter() - start)
        return result

    def _check_pairs(self, endpoint: str, plan: Any) -> None:
        """Refuse a document check whose pairs (windows x claim sentences, the model's passes) are over the limit:
        at this CPU's pace the biggest document and claims the other limits allow are minutes of the model."""
        windows, claims, limit = len(plan.window_spans), len(plan.claims), self.context.limits.max_document_pairs
        if windows * claims > limit:
            raise self.context.refuse(
                endpoint,
                f"The document and its claims make {windows * claims:,} pairs for the model ({windows:,} windows x "
                f"{claims:,} claim sentences), over the limit of {limit:,}; send fewer claims or a shorter document, "
                "or check it with `python -m contradiction.predict --documents`, which has no such limit.",
                413,
            )

    def check_document(self, document: str, claims: str) -> dict:
        """Check claims against a whole document (an article, a report, a generated answer's source): is each
        claim supported by the document (entailment), ruled out by it (contradiction), or neither (neutral)? The
        document is split into sentences and read in overlapping windows that fit the model, so nothing is cut;
        claims of several sentences are checked one sentence at a time. Use it to verify a summary or an answer
        against its source. Each claim, and the document, gets a consistency score in [0, 1] (higher = better
        supported; the document's is its least supported claim's), to rank answers or set your own threshold. The
        probabilities are not calibrated: read them as how sure the deciding window is.

        Args:
            document: the source text, taken as true (any of the model's languages; up to the app's document limit)
            claims: one or more sentences to check against the document

        Returns:
            label: contradiction when any claim is contradicted, entailment when every claim is entailed, else neutral
            score: the document's consistency in [0, 1], its lowest claim's score; entailment from the app's threshold
            claims: per claim, in order: claim (its text), start and end (offsets in claims), label, score (its
                consistency: (1 + the best window's P(entailment) - P(contradiction)) / 2), probabilities
                {entailment, neutral, contradiction} of the deciding window, evidence {text, start, end} (the
                sentence of the document that decides, its character offsets in the document; null when neutral),
                window {start, end} (the part of the document the deciding pass read)
            sentences, windows, pairs: how the document was split and read
        """
        return self.run("check_document", document, claims).to_dict()

    def page_require(self, document: str, claims: str) -> None:
        """The check button, before anything runs: a friendly warning when a box is empty."""
        require({"document": document, "claim": claims})

    def page_check(self, document: str, claims: str) -> tuple[dict[str, float], list, list[list], str]:
        """The Document tab's button: the overall label (with the probabilities of the claim that decides it), the
        document with its evidence highlighted, one row per claim, and a line on how it was read."""
        result = self.run("check_document", document, claims)
        rows = [
            [
                c.text,
                c.label,
                round(c.score, 3),
                *(round(c.probabilities[name], 3) for name in LABELS),
                c.evidence.text if c.evidence else "",
            ]
            for c in result.claims
        ]
        return (
            result.probabilities,
            highlighted(document, result),
            rows,
            f"**Consistency score {result.score:.2f}** (0 to 1, higher = better supported; the least supported "
            f"claim's; entailment from {self.checker.thresholds.supported:.2f}). Read as {result.sentences} "
            f"sentence(s) in {result.windows} window(s); {result.pairs} model pass row(s). Each claim's probabilities "
            "are those of the window that decides it.",
        )


def build_document_tab(documents: Documents, limits: Limits, max_batch_size: int) -> None:
    """The Document tab and its events, and `/check_document` for scripts."""
    with gr.Tab("Document"):
        gr.Markdown(
            "Check claims against a whole document: it is split into sentences and read in overlapping windows "
            "that fit the model, so nothing is cut. Each sentence of the claims is checked on its own; the "
            "sentence of the document that decides it is highlighted (green entailment, red contradiction). "
            f"Up to {limits.max_document_chars:,} characters of document."
        )
        with gr.Row():
            with gr.Column():
                document = gr.Textbox(
                    label="Document",
                    placeholder="Paste an article, a report or the source of an answer.",
                    lines=8,
                    max_length=limits.max_document_chars,
                )
                claims = gr.Textbox(
                    label="Claims (one or more sentences)",
                    placeholder="e.g. The library is closed on Mondays.",
                    lines=2,
                    max_length=limits.max_chars,
                )
                check = gr.Button("Check the claims", variant="primary")
            with gr.Column():
                overall = gr.Label(label="The document says", elem_id="document-label")
                evidence = gr.HighlightedText(
                    label="Evidence in the document",
                    color_map={"entailment": "green", "contradiction": "red"},
                    combine_adjacent=False,
                    show_legend=True,
                    elem_id="document-evidence",
                )
        per_claim = gr.Dataframe(
            headers=["claim", "label", "score", *LABELS, "evidence"], label="Each claim", interactive=False, wrap=True
        )
        reading = gr.Markdown(elem_id="document-reading")
        gr.Examples(
            [list(example) for example in DOCUMENT_EXAMPLES],
            inputs=[document, claims],
            label="Examples",
            examples_per_page=len(DOCUMENT_EXAMPLES),
            cache_examples=False,
            api_name="load_document_example",
            api_visibility="private",
        )
    check.click(
        documents.page_require, [document, claims], None, api_name="check_document_input", api_visibility="private"
    ).success(
        documents.page_check,
        [document, claims],
        [overall, evidence, per_claim, reading],
        api_name="check_document_page",
        api_visibility="private",  # scripts call /check_document, which answers JSON
        concurrency_limit=max_batch_size,
    )
    gr.api(documents.check_document, api_name="check_document", concurrency_limit=max_batch_size)


# --- POST /api/v1/check_document
DocumentText = Annotated[
    Any, WithJsonSchema({"type": "string", "minLength": 1, LIMIT_KEY: {"maxLength": "max_document_chars"}})
]


class DocumentBody(BaseModel):
    """A document and the claims to check against it."""

    model_config = ConfigDict(extra="forbid")
    document: DocumentText
    claims: Annotated[
        Text,
        WithJsonSchema(
            {
                "type": "string",
                "minLength": 1,
                LIMIT_KEY: {"maxLength": "max_chars"},
                "description": "one or more sentences, each checked on its own",
            }
        ),
    ]


class Span(BaseModel):
    """A sentence of the document and its character offsets."""

    start: int
    end: int
    text: str


class Window(BaseModel):
    start: int
    end: int


Score = Annotated[float, Field(ge=0, le=1)]


class ClaimAnswer(BaseModel):
    claim: str
    start: int
    end: int
    label: LabelName
    score: Annotated[
        Score,
        Field(
            description="consistency in [0, 1], higher = better supported: (1 + the largest P(entailment) - "
            "P(contradiction) of a window) / 2"
        ),
    ]
    probabilities: LabelProbabilities
    evidence: Span | None
    window: Window


class DocumentAnswer(BaseModel):
    """The document's label (contradiction if any claim is contradicted, entailment if all are entailed, else
    neutral), each claim's answer, and how the document was read."""

    label: LabelName
    score: Annotated[Score, Field(description="the document's consistency: its least supported claim's score")]
    claims: list[ClaimAnswer]
    sentences: int
    windows: int
    pairs: int


def document_route(documents: Documents) -> JsonRoute:
    """`{"document", "claims"}` -> the overall label and each claim's label, probabilities and evidence, as
    `/check_document`."""
    endpoint = "api_v1_check_document"

    def answer(body: DocumentBody) -> dict:
        return documents.run(endpoint, body.document, body.claims).to_dict()

    return JsonRoute(
        "/check_document",
        "Check claims against a whole document: each claim's label, probabilities and the sentence that decides it "
        "(the document is read in overlapping windows, nothing cut).",
        DocumentBody,
        DocumentAnswer,
        answer,
        {"": BodyShape(endpoint, '{"document": "...", "claims": "One or more sentences."}')},
    )
