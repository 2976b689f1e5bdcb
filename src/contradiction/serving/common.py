"""What every feature's handlers share: what they are given (`Context`), the refusal with its HTTP status, the
checks of a text, the one way they call the model, and the page's warning about an empty box."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from dataclasses import dataclass

import gradio as gr

from contradiction.inference.model_folder import ModelRecord
from contradiction.labels import LABELS
from contradiction.languages import LanguageDetector
from contradiction.serving.limits import Limits, text_problem
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.scheduler import QueueFull, Scheduler
from contradiction.texts import is_blank

logger = logging.getLogger(__name__)

MODEL_FAILED = "The model failed on this request; try again, and tell the operator if it keeps failing."


BUSY_RETRY_S = 5  # what a refusal for a full queue tells the client to wait (Retry-After)


class Refused(gr.Error):
    """A request refused before it reached the model: one sentence for the user (Gradio shows it as any
    `gr.Error`), and the HTTP status the JSON API answers it with (400 malformed, 413 over a limit, 422 a text or
    a label the model cannot use, 503 the app too busy to queue it, with `retry_after` seconds)."""

    def __init__(self, message: str, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(message, print_exception=False)
        self.status = status
        self.retry_after = retry_after


@dataclass
class Context:
    """What every feature's handlers are given: the queue in front of the model, the limits, where requests are
    recorded, the language detector and the model's validation record."""

    scheduler: Scheduler
    limits: Limits
    monitor: Monitor
    detector: LanguageDetector
    record: ModelRecord

    def refuse(self, endpoint: str, message: str, status: int = 400) -> Refused:
        """Count a refused request of `endpoint` and return the error to raise (see `Refused` for `status`)."""
        self.monitor.error(endpoint, "input")
        return Refused(message, status)

    def check_texts(
        self,
        endpoint: str,
        texts: Iterable[tuple[str, object]],
        max_chars: int | None = None,
        blank_ok: bool = False,
    ) -> None:
        """Refuse the first of the (name, text) pairs that cannot be sent to the model, in one sentence that
        names it ("The premise is empty; send a sentence."). `blank_ok`: an empty text is the caller's to handle
        (a page's event warns of an empty box, or answers nothing)."""
        for name, text in texts:
            problem = text_problem(text, max_chars or self.limits.max_chars)
            if problem and not (blank_ok and (text is None or isinstance(text, str)) and is_blank(text)):
                raise self.refuse(endpoint, f"The {name} {problem.what}; {problem.fix}.", problem.status)

    @contextmanager
    def model_call(self, endpoint: str, what: str) -> Iterator[None]:
        """Around a call of the model for `endpoint`: a failure inside it is logged (`what` says what was asked),
        counted as a model error and answered with `MODEL_FAILED`; a full queue is a 503 that says so, counted as
        kind "busy"; a cancelled job stays cancelled."""
        try:
            yield
        except (CancelledError, Refused):
            raise
        except QueueFull as full:  # the app is full, not the request wrong: counted apart, and worth a retry
            self.monitor.error(endpoint, "busy")
            raise Refused(str(full), 503, BUSY_RETRY_S) from None
        except Exception:
            logger.exception("%s failed", what)
            self.monitor.error(endpoint, "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None


def probabilities(row: Iterable[float]) -> dict[str, float]:
    """{label: probability} in `LABELS` order, as plain floats."""
    return {label: float(p) for label, p in zip(LABELS, row, strict=True)}


def require(boxes: dict[str, str]) -> None:
    """Before a page's event runs: a friendly warning naming the empty boxes, and an error that stops the chain."""
    missing = [name for name, value in boxes.items() if is_blank(value)]
    if missing:
        message = f"Type a {' and a '.join(missing)} first, or click one of the examples."
        gr.Warning(message)
        # invisible: the warning says it all; raising is what stops the chained event
        raise gr.Error(message, visible=False, print_exception=False)
