"""What the app's buttons and API endpoints call: checks, the model through the scheduler, monitoring.

The page layout is in `page.py`; this module holds the request handlers and what they say about the model's record
(`ModelRecord`, read from its folder by `inference.model_folder`: validation accuracy per language, calibration).
The public endpoints' docstrings and type hints are their MCP tool descriptions and schemas (Gradio reads the text
before `Args:`, one `name: description` line per argument, and each line after `Returns:` as one item), so they say
what each returns and how to read its probabilities. The JSON API (`json_api.py`) calls the same checks through
`one_pair`, `many_pairs` and `classification`, which take the endpoint name to record under; a refusal is a
`Refused` carrying its HTTP status.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import CancelledError
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from contradiction.data.competition import DataError, load_csv
from contradiction.errors import UserError
from contradiction.inference.documents import DocumentChecker, DocumentResult
from contradiction.inference.model_folder import ModelRecord
from contradiction.inference.tables import PROB_COLUMNS, TABLE_COLUMNS, chunk_table, submission, write_csvs
from contradiction.inference.zero_shot import DEFAULT_TEMPLATE, ZeroShotClassifier, ZeroShotTask, split_labels
from contradiction.labels import LABELS
from contradiction.languages import LanguageDetector, language_name
from contradiction.serving.limits import Limits, text_problem
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.scheduler import Priority, Scheduler
from contradiction.texts import is_blank

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 20

OUTPUT_MAX_AGE_S = 3600  # uploads and result files older than this are deleted (and all of them at shutdown)

PROGRESS_EVERY_S = 0.5  # how often a CSV job's progress bar moves

MODEL_FAILED = "The model failed on this request; try again, and tell the operator if it keeps failing."


class Refused(gr.Error):
    """A request refused before it reached the model: one sentence for the user (Gradio shows it as any
    `gr.Error`), and the HTTP status the JSON API answers it with (400 malformed, 413 over a limit, 422 a text or
    a label the model cannot use)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, print_exception=False)
        self.status = status


def as_dict(row: Iterable[float]) -> dict[str, float]:
    return {label: float(p) for label, p in zip(LABELS, row, strict=True)}


def language_notes(
    premise_lang: str | None,
    hypothesis_lang: str | None,
    record: ModelRecord,
    top: float,
    low: float,
    names: tuple[str, str] = ("premise", "hypothesis"),
    warn_mixed: bool = True,
) -> tuple[dict | None, list[str]]:
    """The model's record in the premise's language, and plain sentences about what may weaken this answer.
    `names` are what the page calls the two sides (a classification's: the text and the labels); `warn_mixed`
    warns of two languages in one pair."""
    notes = []
    for name, code in zip(names, (premise_lang, hypothesis_lang), strict=True):
        if code is None:
            notes.append(f"The language of the {name} could not be told (too short, or no letters).")
    languages = [c for c in dict.fromkeys((premise_lang, hypothesis_lang)) if c is not None]
    if record.known:
        for code in languages:
            if code not in record.per_language:
                notes.append(
                    f"{language_name(code)} is not one of the {len(record.per_language)} languages the model "
                    "was trained and validated on; its answer may be no better than a guess."
                )
    if warn_mixed and premise_lang and hypothesis_lang and premise_lang != hypothesis_lang:
        first, second = language_name(premise_lang), language_name(hypothesis_lang)
        notes.append(
            f"The {names[0]} is in {first} and the {names[1]} in {second}; "
            "the model learned from pairs in one language, so mixed pairs are less reliable."
        )
    if top < low:
        notes.append(f"The top probability is only {top:.0%}: the model is unsure; treat this answer as a guess.")
    entry = record.per_language.get(premise_lang) if premise_lang else None
    known = None
    if entry is not None:
        known = {
            "language": premise_lang,
            "name": entry.get("language") or language_name(premise_lang),
            "validation_accuracy": entry["accuracy"],
            "validation_pairs": entry["rows"],
        }
    return known, notes


def language_markdown(premise_lang: str | None, hypothesis_lang: str | None, known: dict | None, notes: list[str],
                      calibrated: bool | None, names: tuple[str, str] = ("premise", "hypothesis")) -> str:  # fmt: skip
    """The lines under the prediction on the page."""
    if premise_lang == hypothesis_lang:
        seen = f"**Language:** {language_name(premise_lang)}"
    else:
        first, second = (language_name(code) for code in (premise_lang, hypothesis_lang))
        seen = f"**Languages:** {names[0]} {first}, {names[1]} {second}"
    lines = [seen]
    if known is not None:
        lines.append(
            f"**{known['name']}:** right {known['validation_accuracy']:.0%} of the time on "
            f"{known['validation_pairs']} validation pairs."
        )
    if calibrated is not None:
        lines.append(
            "Confidences are calibrated on the validation split (temperature scaling)."
            if calibrated
            else "Confidences are the model's raw softmax, not calibrated: read them as a ranking."
        )
    lines += [f"⚠️ {note}" for note in notes]
    return "\n\n".join(lines)


def _stop_if_empty(boxes: dict[str, str]) -> None:
    """Before a page's event runs: a friendly warning naming the empty boxes, and an error that stops the chain."""
    missing = [name for name, value in boxes.items() if is_blank(value)]
    if missing:
        message = f"Type a {' and a '.join(missing)} first, or click one of the examples."
        gr.Warning(message)
        # invisible: the warning says it all; raising is what stops the chained prediction
        raise gr.Error(message, visible=False, print_exception=False)


def _labels_status(labels: object, max_labels: int) -> int:
    """The HTTP status of candidate labels `ZeroShotTask.create` refused: 400 when one is not text, 413 over the
    limit, 422 otherwise (none, a blank or repeated label, a template without its {})."""
    names = split_labels(labels) if isinstance(labels, str | list | tuple) else [labels]
    if not all(isinstance(name, str) for name in names):
        return 400
    return 413 if len(names) > max_labels else 422


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


def _prune(root: Path, max_age_s: float) -> None:
    """Remove result folders older than `max_age_s`: one per CSV file processed."""
    cutoff = time.time() - max_age_s
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


class Handlers:
    """The functions behind the page's events and the API, sharing one scheduler in front of the model.

    Args:
        scheduler: runs every request through the model, interactive first.
        limits: text length, pairs per call, rows and size of an upload.
        monitor: where predictions and errors are recorded.
        detector: tells the language of each text.
        record: the model's validation record per language and its calibration.
        outputs_root: where CSV results are written, one folder per file.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        limits: Limits,
        monitor: Monitor,
        detector: LanguageDetector,
        record: ModelRecord,
        outputs_root: Path,
    ) -> None:
        self.scheduler = scheduler
        self.limits = limits
        self.monitor = monitor
        self.detector = detector
        self.record = record
        self.outputs_root = outputs_root
        # the scheduler's probabilities looked up at each call: a test (or an operator) may swap them
        self.documents = DocumentChecker(scheduler.predictor, lambda p, h: self.scheduler.probabilities(p, h))

    def refuse(self, endpoint: str, message: str, status: int = 400) -> Refused:
        """Count a refused request of `endpoint` and return the error to raise (see `Refused` for `status`)."""
        self.monitor.error(endpoint, "input")
        return Refused(message, status)

    def check_texts(self, endpoint: str, premise: str, hypothesis: str) -> None:
        for name, text in (("premise", premise), ("hypothesis", hypothesis)):
            if problem := text_problem(text, self.limits.max_chars):
                raise self.refuse(endpoint, f"The {name} {problem.what}; {problem.fix}.", problem.status)

    # --- the page's Submit button, before anything runs
    def check_pair(self, premise: str, hypothesis: str) -> None:
        """Stop the prediction with a friendly warning when a box is empty."""
        _stop_if_empty({"premise": premise, "hypothesis": hypothesis})

    def one_pair(self, endpoint: str, premise: str, hypothesis: str) -> tuple[np.ndarray, str | None, str | None]:
        """Check, predict through the scheduler (single pairs first), detect both languages, record under
        `endpoint`; the probabilities in `LABELS` order and the two languages. Raises `Refused` or `gr.Error`."""
        start = time.perf_counter()
        self.check_texts(endpoint, premise, hypothesis)
        try:
            row = self.scheduler.predict_pair(premise, hypothesis)
        except Exception:
            self.monitor.error(endpoint, "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        premise_lang, hypothesis_lang = self.detector.detect(premise), self.detector.detect(hypothesis)
        self.monitor.record(
            endpoint,
            time.perf_counter() - start,
            [premise],
            [hypothesis],
            row[None],
            premise_languages=[premise_lang],
            hypothesis_languages=[hypothesis_lang],
        )
        return row, premise_lang, hypothesis_lang

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
        row, _, _ = self.one_pair("predict", premise, hypothesis)
        return as_dict(row)

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
        row, premise_lang, hypothesis_lang = self.one_pair("analyze", premise, hypothesis)
        known, notes = language_notes(
            premise_lang, hypothesis_lang, self.record, float(row.max()), self.monitor.low_confidence
        )
        tokens, cut = self.cut(premise, hypothesis)
        notes += [cut] if cut else []
        return {
            "label": LABELS[int(row.argmax())],
            "probabilities": as_dict(row),
            "premise_language": {"code": premise_lang, "name": language_name(premise_lang)},
            "hypothesis_language": {"code": hypothesis_lang, "name": language_name(hypothesis_lang)},
            "language_record": known,
            "trained_languages": sorted(self.record.per_language) or None,
            "calibrated": self.record.calibrated,
            "temperature": self.record.temperature,
            "max_length": getattr(self.scheduler.predictor, "max_length", None),
            "truncated": tokens is not None and tokens["total"] > tokens["read"],
            "tokens": tokens,
            "notes": notes,
        }

    def cut(self, premise: str, hypothesis: str) -> tuple[dict | None, str | None]:
        """The tokens the model read of a pair and those of the whole pair ({read, total}; None when the predictor
        cannot count them), and, when the pair was cut, the sentence that says so."""
        count = getattr(self.scheduler.predictor, "token_counts", None)
        if count is None:
            return None, None
        read, total = count([premise], [hypothesis])[0]
        if total <= read:
            return {"read": read, "total": total}, None
        return {"read": read, "total": total}, (
            f"The pair has {total:,} tokens and the model reads {read:,}: the end of the longer text was cut and "
            "never read, so this answer is about its beginning only; shorten it to the part that decides."
        )

    def describe(self, premise: str, hypothesis: str, prediction: dict | None) -> str:
        """The page's language line after a prediction: languages seen, the model's record, warnings."""
        if is_blank(premise) or is_blank(hypothesis) or not prediction:
            return ""
        confidences = prediction.get("confidences") or []
        top = max((float(c["confidence"]) for c in confidences), default=1.0)
        premise_lang, hypothesis_lang = self.detector.detect(premise), self.detector.detect(hypothesis)
        known, notes = language_notes(premise_lang, hypothesis_lang, self.record, top, self.monitor.low_confidence)
        _, cut = self.cut(premise, hypothesis)
        calibrated = self.record.calibrated if self.record.known else None
        return language_markdown(premise_lang, hypothesis_lang, known, notes + ([cut] if cut else []), calibrated)

    # --- zero-shot classification: a text against a hypothesis per candidate label, one interactive pass
    def classification(
        self, endpoint: str, text: str, labels: str | Sequence[str], template: str | None, multi_label: bool
    ) -> dict:
        """Check, classify through the scheduler (one interactive pass), count under `endpoint`; the pipeline's
        {"sequence", "labels", "scores"}. Raises `Refused` or `gr.Error`."""
        start = time.perf_counter()
        if problem := text_problem(text, self.limits.max_chars):
            raise self.refuse(endpoint, f"The text {problem.what}; {problem.fix}.", problem.status)
        try:
            task = ZeroShotTask.create(labels, template, multi_label, max_labels=self.limits.max_labels)
        except UserError as err:
            raise self.refuse(endpoint, str(err), _labels_status(labels, self.limits.max_labels)) from None
        for label, hypothesis in zip(task.labels, task.hypotheses(), strict=True):
            if problem := text_problem(hypothesis, self.limits.max_chars):
                raise self.refuse(endpoint, f"The label {label[:40]!r} makes a hypothesis that {problem.what}; "
                                  f"{problem.fix}.", problem.status)  # fmt: skip
        classifier = ZeroShotClassifier(self.scheduler.logits, self.scheduler.predictor.label_index)
        try:
            (answer,) = classifier([text], task)
        except Exception:
            logger.exception("classification failed for a text with %d label(s)", len(task.labels))
            self.monitor.error(endpoint, "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        self.monitor.request(endpoint, time.perf_counter() - start)
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
        return self.classification("classify", text, labels, template, multi_label)

    def classify_scores(self, text: str, labels: str, template: str, multi_label: bool) -> dict[str, float]:
        """The page's Classify button: {label: score} for its `gr.Label`."""
        answer = self.classification("classify", text, labels, template, multi_label)
        return dict(zip(answer["labels"], answer["scores"], strict=True))

    def check_classification(self, text: str, labels: str) -> None:
        """Stop the classification with a friendly warning when a box is empty."""
        _stop_if_empty({"text": text, "few labels": labels})

    def describe_classification(self, text: str, labels: str, template: str, scores: dict | None) -> str:
        """The Classify tab's language line: the text's language and the labels', the model's record in the text's
        language, and what may weaken the answer."""
        if is_blank(text) or is_blank(labels) or not scores:
            return ""
        try:
            hypothesis = ZeroShotTask.create(labels, template).hypotheses()[0]
        except UserError:
            return ""
        text_lang, labels_lang = self.detector.detect(text), self.detector.detect(hypothesis)
        names = ("text", "labels")
        # no mixed-language warning: English labels beat translated ones on SIB-200 in 13 of 14 other languages
        known, notes = language_notes(text_lang, labels_lang, self.record, 1.0, 0.0, names, warn_mixed=False)
        lines = language_markdown(text_lang, labels_lang, known, notes, None, names)
        return lines + "\n\nThe scores rank the labels for this text; they are not calibrated probabilities."

    # --- documents: claims checked against a long text, window by window
    def document_check(self, endpoint: str, document: str, claims: str) -> DocumentResult:
        """Check, run the document's windows through the scheduler (one interactive pass when few, else in chunks
        between single pairs), count under `endpoint`. Raises `Refused` or `gr.Error`."""
        start = time.perf_counter()
        for name, text, limit in (("document", document, self.limits.max_document_chars),
                                  ("claims text", claims, self.limits.max_chars)):  # fmt: skip
            if problem := text_problem(text, limit):
                raise self.refuse(endpoint, f"The {name} {problem.what}; {problem.fix}.", problem.status)
        try:
            result = self.documents.check(document, claims, self.detector.detect(document))
        except UserError as err:
            raise self.refuse(endpoint, str(err), 422) from None
        except Exception:
            logger.exception("checking a document of %d characters failed", len(document))
            self.monitor.error(endpoint, "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        self.monitor.request(endpoint, time.perf_counter() - start)
        return result

    def check_document(self, document: str, claims: str) -> dict:
        """Check claims against a whole document (an article, a report, a generated answer's source): is each
        claim supported by the document (entailment), ruled out by it (contradiction), or neither (neutral)? The
        document is split into sentences and read in overlapping windows that fit the model, so nothing is cut;
        claims of several sentences are checked one sentence at a time. Use it to verify a summary or an answer
        against its source. The probabilities are not calibrated: read them as how sure the deciding window is.

        Args:
            document: the source text, taken as true (any of the model's languages; up to the app's document limit)
            claims: one or more sentences to check against the document

        Returns:
            label: contradiction when any claim is contradicted, entailment when every claim is entailed, else neutral
            claims: per claim, in order: claim (its text), start and end (offsets in claims), label, probabilities
                {entailment, neutral, contradiction} of the deciding window, evidence {text, start, end} (the
                sentence of the document that decides, its character offsets in the document; null when neutral),
                window {start, end} (the part of the document the deciding pass read)
            sentences, windows, pairs: how the document was split and read
        """
        return self.document_check("check_document", document, claims).to_dict()

    def check_document_page(self, document: str, claims: str) -> tuple[dict[str, float], list, list[list], str]:
        """The Document tab's button: the overall label (with the probabilities of the claim that decides it), the
        document with its evidence highlighted, one row per claim, and a line on how it was read."""
        result = self.document_check("check_document", document, claims)
        return (
            result.probabilities,
            highlighted(document, result),
            [[c.text, c.label, *(round(c.probabilities[name], 3) for name in LABELS),
              c.evidence.text if c.evidence else ""] for c in result.claims],  # fmt: skip
            f"Read as {result.sentences} sentence(s) in {result.windows} window(s); {result.pairs} model pass row(s). "
            "Each claim's probabilities are those of the window that decides it.",
        )

    def check_document_input(self, document: str, claims: str) -> None:
        """Stop the check with a friendly warning when a box is empty."""
        _stop_if_empty({"document": document, "claim": claims})

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
        return [as_dict(row) for row in self.many_pairs("predict_batch", premises, hypotheses)]

    def many_pairs(self, endpoint: str, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """Check, predict through the scheduler as one bulk call (after single pairs, in chunks), record under
        `endpoint`; the probabilities (pairs, 3) in `LABELS` order. Raises `Refused` or `gr.Error`."""
        start = time.perf_counter()
        refuse = self.refuse
        if not isinstance(premises, list) or not isinstance(hypotheses, list):
            raise refuse(endpoint, "Send two lists of strings: the premises and the hypotheses.")
        if len(premises) != len(hypotheses):
            raise refuse(
                endpoint, f"Got {len(premises)} premises and {len(hypotheses)} hypotheses; send one of each per pair."
            )
        if len(premises) > self.limits.max_pairs:
            raise refuse(
                endpoint,
                f"Got {len(premises)} pairs; send at most {self.limits.max_pairs} per call, or upload a CSV file.",
                413,
            )
        for i, pair in enumerate(zip(premises, hypotheses, strict=True)):
            for name, text in zip(("premise", "hypothesis"), pair, strict=True):
                if problem := text_problem(text, self.limits.max_chars):
                    fix = "fill it in or leave the pair out" if problem.what == "is empty" else problem.fix
                    raise refuse(endpoint, f"Pair {i}: the {name} {problem.what}; {fix}.", problem.status)
        try:
            probs = self.scheduler.submit(premises, hypotheses, Priority.BATCH).result()
        except Exception:
            logger.exception("prediction failed for a %s call of %d pair(s)", endpoint, len(premises))
            self.monitor.error(endpoint, "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        self._record_many(endpoint, time.perf_counter() - start, premises, hypotheses, probs)
        return probs

    def _record_many(
        self, endpoint: str, latency_s: float, premises: Sequence[str], hypotheses: Sequence[str], probs: np.ndarray
    ) -> None:
        self.monitor.record(
            endpoint,
            latency_s,
            premises,
            hypotheses,
            probs,
            premise_languages=self.detector.detect_many(premises),
            hypothesis_languages=self.detector.detect_many(hypotheses),
        )

    async def predict_file(
        self,
        path: str | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects its progress bar
    ) -> tuple[pd.DataFrame | dict, str | dict, str | dict]:
        """Natural language inference on a whole CSV file in the competition's test format (columns id, premise,
        hypothesis, lang_abv, language): every row gets a label and the probabilities of entailment, neutral and
        contradiction. The file goes after waiting single pairs and batch calls; it stops using the model when the
        page's Stop button is pressed, the page is closed or a gradio_client job is cancelled.

        Args:
            path: the CSV file (an upload, or an http(s) URL of one)

        Returns:
            a preview table of the first rows with their labels and probabilities
            predictions.csv: every row with predicted_label, prob_entailment, prob_neutral and prob_contradiction
            submission.csv: id,prediction with 0=entailment, 1=neutral, 2=contradiction
        """
        start = time.perf_counter()
        if path is None:
            gr.Warning("Upload a CSV file first (columns id, premise, hypothesis, lang_abv, language).")
            return gr.skip(), gr.skip(), gr.skip()
        ds = await asyncio.to_thread(self._load_file, path)  # off the event loop: other users keep being served
        logger.debug("read %s: %d rows in %.3f s", Path(path).name, len(ds), time.perf_counter() - start)
        progress((0, len(ds)), desc="Predicting", unit="pairs")
        session = getattr(request, "session_hash", None)
        # the worker counts the file's tokens a chunk at a time, between single pairs, then predicts it
        job = self.scheduler.submit(ds["premise"], ds["hypothesis"], Priority.FILE, owner=session)
        waiting = asyncio.wrap_future(job.future)
        try:
            while not waiting.done():
                await asyncio.wait({waiting}, timeout=PROGRESS_EVERY_S)
                progress((job.done, job.total), desc="Predicting", unit="pairs")
            probs = waiting.result()
        except (asyncio.CancelledError, CancelledError):  # Stop pressed, page closed or client cancelled
            self.scheduler.cancel(job)
            logger.info("prediction of %s stopped after %d of %d rows", Path(path).name, job.done, job.total)
            raise
        except Exception:
            logger.exception("prediction failed for %s (%d rows)", Path(path).name, len(ds))
            self.monitor.error("predict_file", "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        return await asyncio.to_thread(self._finish_file, ds, probs, start)

    def _load_file(self, path: str):
        name = Path(path).name  # the upload's temporary path means nothing to the user; name the file they chose
        size = Path(path).stat().st_size
        if size > self.limits.max_upload_bytes:  # launch() stops these at upload; this covers other ways in
            raise self.refuse(
                "predict_file",
                f"{name} is {size / 2**20:.3g} MB, over the {self.limits.max_upload_mb:g} MB limit; split it, or "
                "predict it with `python -m contradiction.predict`.",
                413,
            )
        try:
            ds = load_csv(path, labelled=False)
        except DataError as err:
            raise self.refuse("predict_file", str(err).replace(str(path), name), 422) from None
        if len(ds) > self.limits.max_rows:
            raise self.refuse(
                "predict_file",
                f"{name} has {len(ds):,} rows, over the limit of {self.limits.max_rows:,}; split it, or predict it "
                "with `python -m contradiction.predict`.",
                413,
            )
        return ds

    def _finish_file(self, ds, probs: np.ndarray, start: float) -> tuple[pd.DataFrame, str, str]:
        table = chunk_table(ds.select_columns(list(TABLE_COLUMNS[:5])).to_dict(), probs)
        _prune(self.outputs_root, OUTPUT_MAX_AGE_S)
        folder = Path(tempfile.mkdtemp(dir=self.outputs_root))
        predictions_file, submission_file = folder / "predictions.csv", folder / "submission.csv"
        write_csvs({predictions_file: table, submission_file: submission(table)})
        self._record_many("predict_file", time.perf_counter() - start, ds["premise"], ds["hypothesis"], probs)
        preview = table.head(PREVIEW_ROWS).astype({c: float for c in PROB_COLUMNS}).round(3)
        columns = ["id", "language", "predicted_label", *PROB_COLUMNS, "premise", "hypothesis"]
        return preview[columns], str(predictions_file), str(submission_file)

    def close_session(self, request: gr.Request) -> None:
        """The page was closed: its CSV jobs stop using the model."""
        session = getattr(request, "session_hash", None)
        if session and (n := self.scheduler.cancel_owner(session)):
            logger.info("page closed: %d CSV job(s) cancelled", n)
