"""What the app's buttons and API endpoints call: checks, the model through the scheduler, monitoring.

The page layout is in `page.py`; this module holds the request handlers and what they say about the model's record
(`ModelRecord`, read from its folder by `inference.model_folder`: validation accuracy per language, calibration).
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
from contradiction.inference.model_folder import ModelRecord
from contradiction.inference.tables import PROB_COLUMNS, TABLE_COLUMNS, chunk_table, submission, write_csvs
from contradiction.inference.zero_shot import DEFAULT_TEMPLATE, ZeroShotClassifier, ZeroShotTask
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

    def refuse(self, endpoint: str, message: str) -> gr.Error:
        self.monitor.error(endpoint, "input")
        return gr.Error(message, print_exception=False)

    def check_texts(self, endpoint: str, premise: str, hypothesis: str) -> None:
        for name, text in (("premise", premise), ("hypothesis", hypothesis)):
            if problem := text_problem(text, self.limits.max_chars):
                raise self.refuse(endpoint, f"The {name} {problem[0]}; {problem[1]}.")

    # --- the page's Submit button, before anything runs
    def check_pair(self, premise: str, hypothesis: str) -> None:
        """Stop the prediction with a friendly warning when a box is empty."""
        _stop_if_empty({"premise": premise, "hypothesis": hypothesis})

    def _one_pair(self, endpoint: str, premise: str, hypothesis: str) -> tuple[np.ndarray, str | None, str | None]:
        """Check, predict through the scheduler, detect both languages, record; the probabilities and languages."""
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
        """Probabilities of entailment, neutral and contradiction for one premise and one hypothesis.

        Requests that arrive together share a forward pass. An empty, over-long or broken text is refused with
        one sentence, alone; a failure inside the model gets one sentence too, for each request of its batch.
        """
        row, _, _ = self._one_pair("predict", premise, hypothesis)
        return as_dict(row)

    def analyze(self, premise: str, hypothesis: str) -> dict:
        """One pair in full: label, the three probabilities, the languages seen, the model's record in the
        premise's language (when its folder has eval_results.json), whether it is calibrated, the tokens per pair
        it reads (`max_length`: longer pairs are cut), and notes."""
        row, premise_lang, hypothesis_lang = self._one_pair("analyze", premise, hypothesis)
        known, notes = language_notes(
            premise_lang, hypothesis_lang, self.record, float(row.max()), self.monitor.low_confidence
        )
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
            "notes": notes,
        }

    def describe(self, premise: str, hypothesis: str, prediction: dict | None) -> str:
        """The page's language line after a prediction: languages seen, the model's record, warnings."""
        if is_blank(premise) or is_blank(hypothesis) or not prediction:
            return ""
        confidences = prediction.get("confidences") or []
        top = max((float(c["confidence"]) for c in confidences), default=1.0)
        premise_lang, hypothesis_lang = self.detector.detect(premise), self.detector.detect(hypothesis)
        known, notes = language_notes(premise_lang, hypothesis_lang, self.record, top, self.monitor.low_confidence)
        calibrated = self.record.calibrated if self.record.known else None
        return language_markdown(premise_lang, hypothesis_lang, known, notes, calibrated)

    # --- zero-shot classification: a text against a hypothesis per candidate label, one interactive pass
    def _classification(self, endpoint: str, text: str, labels: str, template: str, multi_label: bool) -> dict:
        start = time.perf_counter()
        if problem := text_problem(text, self.limits.max_chars):
            raise self.refuse(endpoint, f"The text {problem[0]}; {problem[1]}.")
        try:
            task = ZeroShotTask.create(labels, template, multi_label, max_labels=self.limits.max_labels)
        except UserError as err:
            raise self.refuse(endpoint, str(err)) from None
        for label, hypothesis in zip(task.labels, task.hypotheses(), strict=True):
            if problem := text_problem(hypothesis, self.limits.max_chars):
                raise self.refuse(endpoint, f"The label {label[:40]!r} makes a hypothesis that {problem[0]}; "
                                  f"{problem[1]}.")  # fmt: skip
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
        """Zero-shot classification: which of `labels` (comma-separated, or one per line) fits `text`.

        Each label fills `template` (its `{}`) to make a hypothesis, and the text is the premise. Returns
        {"sequence", "labels", "scores"}, the labels sorted by score, highest first: the shape of transformers'
        zero-shot-classification pipeline. By default the scores are shared out among the labels and sum to one;
        with `multi_label` each label is scored on its own (entailment against contradiction), so several can fit.
        The scores rank the labels; they are not calibrated probabilities.
        """
        return self._classification("classify", text, labels, template, multi_label)

    def classify_scores(self, text: str, labels: str, template: str, multi_label: bool) -> dict[str, float]:
        """The page's Classify button: {label: score} for its `gr.Label`."""
        answer = self._classification("classify", text, labels, template, multi_label)
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

    def predict_batch(self, premises: list[str], hypotheses: list[str]) -> list[dict[str, float]]:
        """Probabilities of entailment, neutral and contradiction for each (premise, hypothesis) pair."""
        start = time.perf_counter()
        refuse = self.refuse
        if not isinstance(premises, list) or not isinstance(hypotheses, list):
            raise refuse("predict_batch", "Send two lists of strings: the premises and the hypotheses.")
        if len(premises) != len(hypotheses):
            raise refuse(
                "predict_batch",
                f"Got {len(premises)} premises and {len(hypotheses)} hypotheses; send one of each per pair.",
            )
        if len(premises) > self.limits.max_pairs:
            raise refuse(
                "predict_batch",
                f"Got {len(premises)} pairs; send at most {self.limits.max_pairs} per call, or upload a CSV file.",
            )
        for i, pair in enumerate(zip(premises, hypotheses, strict=True)):
            for name, text in zip(("premise", "hypothesis"), pair, strict=True):
                if problem := text_problem(text, self.limits.max_chars):
                    fix = "fill it in or leave the pair out" if problem[0] == "is empty" else problem[1]
                    raise refuse("predict_batch", f"Pair {i}: the {name} {problem[0]}; {fix}.")
        try:
            probs = self.scheduler.submit(premises, hypotheses, Priority.BATCH).result()
        except Exception:
            logger.exception("prediction failed for a /predict_batch call of %d pair(s)", len(premises))
            self.monitor.error("predict_batch", "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        self._record_many("predict_batch", time.perf_counter() - start, premises, hypotheses, probs)
        return [as_dict(row) for row in probs]

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
        """Predict a competition test CSV: a preview, the predictions with probabilities, the submission.

        The file's pairs go through the scheduler after every waiting single pair and /predict_batch call. The
        job stops using the model when the page's Stop button is pressed, when the page is closed, or when a
        gradio_client job is cancelled.
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
            )
        try:
            ds = load_csv(path, labelled=False)
        except DataError as err:
            raise self.refuse("predict_file", str(err).replace(str(path), name)) from None
        if len(ds) > self.limits.max_rows:
            raise self.refuse(
                "predict_file",
                f"{name} has {len(ds):,} rows, over the limit of {self.limits.max_rows:,}; split it, or predict it "
                "with `python -m contradiction.predict`.",
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
