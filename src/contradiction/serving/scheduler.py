"""One queue in front of the model: a person's single pair never waits behind someone's CSV file.

Every request the app runs goes through one worker thread that picks, before each forward pass: single pairs first
(all those waiting, in one pass), then groups (a classification, a short document), then `/predict_batch` calls,
then CSV files. Calls and files run in small chunks, so bulk work yields to interactive requests between chunks, and
several jobs of the same kind take turns chunk by chunk instead of running one after the other. A job's tokens are
counted the same way, in the worker, a chunk of `MEASURE_CHUNK` pairs at a time, before its first forward pass.

    scheduler = Scheduler(predictor)
    scheduler.predict_pair("A man sleeps.", "Nobody sleeps.")          # blocks; shares a pass with others
    scheduler.logits(["A text."] * 3, ["About a.", "About b.", "About c."])  # a classification: one pass, interactive
    scheduler.probabilities(windows, claims)  # a document: one pass up to INTERACTIVE_PAIRS pairs, else in chunks
    job = scheduler.submit(premises, hypotheses, Priority.FILE, owner=session)
    job.result()                                                        # or scheduler.cancel(job)

The queue is bounded: past `max_waiting` requests waiting at once, a new one is refused at once (`QueueFull`) rather
than queued. A request whose client went away (`Caller.leave`, the JSON API's) stops using the model: its bulk jobs
leave the queue before their next chunk, and those it would queue later never join.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from contradiction.labels import LABELS
from contradiction.metrics import softmax

logger = logging.getLogger(__name__)

PAIR_BATCH_SIZE = 16  # single pairs waiting together that share one forward pass
CHUNK_SIZE = 16  # pairs per forward pass of bulk work: the longest an interactive request waits (docs/benchmarks.md)
# pairs tokenized per turn when a job's tokens are counted: a fraction of one forward chunk's time
# (benchmarks/measure_under_load.py), so a single pair waits no longer behind a file being measured than behind one
# being predicted
MEASURE_CHUNK = 256
# pairs of one interactive request (a document's windows) that still go as one pass of their own; more go as a
# bulk call, in chunks between single pairs
INTERACTIVE_PAIRS = 32
# requests waiting for the model at once (single pairs, groups and bulk jobs together); the app's own bounds (Gradio's
# threads and concurrency limits, the JSON API's threads) keep far fewer waiting: this one holds whatever gets past them
MAX_WAITING = 256


class QueueFull(RuntimeError):
    """The scheduler already holds `max_waiting` requests: this one is refused at once rather than queued."""


class Caller:
    """Whoever waits for a request's answer. `leave()` when they are gone: the request's bulk jobs leave the queue
    before their next chunk, and those it would queue later never join (see `CALLER`)."""

    def __init__(self) -> None:
        self._left = threading.Event()

    def leave(self) -> None:
        self._left.set()

    @property
    def left(self) -> bool:
        return self._left.is_set()


CALLER: ContextVar[Caller | None] = ContextVar("caller", default=None)
"""The caller of the request being served, set by the door that serves it (the JSON API sets one per request): a
bulk job takes it when it is queued, so that handlers, and the document checker inside them, need not pass it on.
Worker threads started with `anyio.to_thread.run_sync` see the value of the task that started them."""


class Priority(IntEnum):
    """The order in which work reaches the model; lower goes first."""

    PAIR = 0  # the page's Submit button and /predict
    BATCH = 1  # /predict_batch calls (up to a few hundred pairs)
    FILE = 2  # CSV files from the page or /predict_file


@dataclass(eq=False)
class Job:
    """A bulk request: its pairs, how far it is, and the future that gets its probabilities (pairs, 3).

    With `measure`, the worker counts each pair's tokens first (`measuring` until it has); otherwise the pairs
    are sorted by `lengths`, or by characters when none are given.
    """

    premises: Sequence[str]
    hypotheses: Sequence[str]
    priority: Priority
    owner: str | None = None  # the session that asked, so that closing a page cancels its jobs
    lengths: Sequence[int] | None = None  # tokens per pair; characters when not given
    future: Future = field(default_factory=Future)
    done: int = 0
    measure: bool = False
    caller: Caller | None = field(default_factory=CALLER.get)

    def __post_init__(self) -> None:
        if len(self.premises) != len(self.hypotheses) or (self.lengths and len(self.lengths) != len(self.premises)):
            raise ValueError(
                f"{len(self.premises)} premises, {len(self.hypotheses)} hypotheses, {len(self.lengths or [])} lengths"
            )
        self._probs = np.zeros((len(self.premises), len(LABELS)), dtype=np.float32)
        self._tokens: list[int] = []
        self._order: list[int] | None = None
        self._phase_start = 0.0  # when counting, then predicting, began (for the operator's debug log)
        if self.lengths or not self.measure:
            self._sort(self.lengths or [len(p) + len(h) for p, h in zip(self.premises, self.hypotheses, strict=True)])

    def _sort(self, lengths: Sequence[int]) -> None:
        # longest first, so each chunk holds pairs of similar length and pads little. Characters are a poor
        # stand-in for tokens across scripts: sorted by characters, 64-pair chunks of the test file pad to
        # 33% more tokens than sorted by tokens (docs/benchmarks.md)
        self._order = sorted(range(len(lengths)), key=lambda i: -lengths[i])

    @property
    def total(self) -> int:
        return len(self.premises)

    @property
    def measuring(self) -> bool:
        """True while the worker is still counting this job's tokens."""
        return self._order is None

    @property
    def cancelled(self) -> bool:
        """Cancelled, or its caller left: then cancelled here, so that whoever still waits on it is told."""
        if self.caller is not None and self.caller.left:
            self.future.cancel()
        return self.future.cancelled()

    def next_rows(self, size: int) -> list[int]:
        """The rows of the next turn: the next pairs to measure (input order), else to predict (longest first)."""
        if self._order is None:
            return list(range(len(self._tokens), min(len(self._tokens) + size, self.total)))
        return self._order[self.done : self.done + size]

    def last_turn(self, rows: list[int]) -> bool:
        """Whether the turn of `rows` is this job's last: no measuring and no predicting left after it."""
        return self._order is not None and self.done + len(rows) >= self.total

    def measured(self, tokens: Sequence[int]) -> None:
        """Record the token counts of the next rows; once every pair has one, sort by them."""
        self._tokens += tokens
        if len(self._tokens) == self.total:
            self._sort(self._tokens)

    def result(self, timeout: float | None = None) -> np.ndarray:
        return self.future.result(timeout)


@dataclass(eq=False)
class _Pair:
    premise: str
    hypothesis: str
    future: Future = field(default_factory=Future)


@dataclass(eq=False)
class _Group:
    """Interactive pairs that answer one request together (a text and its candidate labels): one forward pass of
    their own, the raw logits back."""

    premises: list[str]
    hypotheses: list[str]
    future: Future = field(default_factory=Future)


class Scheduler:
    """Runs every request of the app through `predictor`, interactive first, bulk work in small chunks.

    A failure inside the model fails only the requests of that forward pass (a batch of single pairs, or the
    job whose chunk it was); the worker goes on with the rest.
    """

    def __init__(
        self,
        predictor: Any,
        pair_batch_size: int = PAIR_BATCH_SIZE,
        chunk_size: int = CHUNK_SIZE,
        measure_chunk: int = MEASURE_CHUNK,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.predictor = predictor
        self.pair_batch_size = pair_batch_size
        self.chunk_size = chunk_size
        self.measure_chunk = measure_chunk
        self.max_waiting = max_waiting
        self._pairs: deque[_Pair | _Group] = deque()  # interactive work, in arrival order (pairs taken first)
        self._bulk_owed = False  # a group ran while bulk work waited: the next bulk chunk goes before another group
        self._jobs: dict[Priority, deque[Job]] = {Priority.BATCH: deque(), Priority.FILE: deque()}
        self._wake = threading.Condition()
        self._closed = False
        self.passes: dict[Priority, int] = dict.fromkeys(Priority, 0)  # forward passes run, by kind (tests read it)
        self._thread = threading.Thread(target=self._run, name="model-scheduler", daemon=True)
        self._thread.start()

    # --- what handlers call
    def predict_pair(self, premise: str, hypothesis: str) -> np.ndarray:
        """One pair's probabilities in `LABELS` order; blocks; raises what the model raised."""
        return self.submit_pair(premise, hypothesis).result()

    def submit_pair(self, premise: str, hypothesis: str) -> Future:
        return self._queue(_Pair(premise, hypothesis))

    def logits(self, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """Raw logits (pairs, the model's labels) of pairs that answer one interactive request together, such as a
        text and its candidate labels: one forward pass, before any bulk work, except that a bulk chunk that waited
        goes first after each such pass (a file waits at most one classification). Blocks; raises what the model
        raised."""
        if len(premises) != len(hypotheses):
            raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses")
        if not premises:
            return np.zeros((0, 0), dtype=np.float32)
        return self._queue(_Group(list(premises), list(hypotheses))).result()

    def probabilities(self, premises: Sequence[str], hypotheses: Sequence[str], owner: str | None = None) -> np.ndarray:
        """Probabilities (pairs, 3) in `LABELS` order of the pairs of one request, such as a document's windows:
        up to `INTERACTIVE_PAIRS` pairs as one interactive pass (as `logits`); a longer request as a bulk call
        (`Priority.BATCH`), in chunks between single pairs, so that a long document never holds them up. Blocks."""
        if len(premises) > INTERACTIVE_PAIRS:
            return self.submit(premises, hypotheses, Priority.BATCH, owner=owner).result()
        logits = self.logits(premises, hypotheses).astype(np.float64)
        if not len(logits):
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return softmax(logits)[:, list(self.predictor.label_index)].astype(np.float32)

    def _queue(self, item: _Pair | _Group) -> Future:
        with self._wake:
            self._check_open()
            self._check_room()
            self._pairs.append(item)
            self._wake.notify()
        return item.future

    def submit(
        self,
        premises: Sequence[str],
        hypotheses: Sequence[str],
        priority: Priority,
        owner: str | None = None,
        lengths: Sequence[int] | None = None,
    ) -> Job:
        """Queue a bulk job; its future gets the probabilities (pairs, 3) in input order.

        `lengths` (tokens per pair) lets the worker's chunks pad little. When not given and the predictor can
        count tokens (`token_lengths`), the worker counts them first, a `measure_chunk` at a time between single
        pairs: never in the caller's thread, and never a whole upload at once.
        """
        if priority == Priority.PAIR:
            raise ValueError("single pairs go through submit_pair")
        measure = lengths is None and len(premises) > self.chunk_size and hasattr(self.predictor, "token_lengths")
        job = Job(premises, hypotheses, priority, owner, lengths, measure=measure)
        if job.total == 0:
            job.future.set_result(job._probs)
            return job
        if job.cancelled:  # its caller left before it was queued
            return job
        with self._wake:
            self._check_open()
            self._check_room()
            self._jobs[priority].append(job)
            self._wake.notify()
        return job

    def cancel(self, job: Job) -> bool:
        """Stop a job: it leaves the queue before its next chunk; True when it had not finished."""
        return job.future.cancel()

    def cancel_owner(self, owner: str) -> int:
        """Cancel every queued job of `owner` (a page that was closed); return how many."""
        with self._wake:
            jobs = [job for queue in self._jobs.values() for job in queue if job.owner == owner]
        return sum(self.cancel(job) for job in jobs)

    def pending(self) -> dict[str, int]:
        """Waiting work: single pairs, and jobs by kind."""
        with self._wake:
            return {"pairs": len(self._pairs), **{p.name.lower(): len(q) for p, q in self._jobs.items()}}

    def close(self) -> None:
        """Stop the worker after its current pass; what is still queued is cancelled."""
        with self._wake:
            self._closed = True
            pairs, self._pairs = list(self._pairs), deque()
            jobs = [job for queue in self._jobs.values() for job in queue]
            for queue in self._jobs.values():
                queue.clear()
            self._wake.notify()
        for item in [*pairs, *jobs]:
            item.future.cancel()
        self._thread.join(timeout=5)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the scheduler is closed")

    def _check_room(self) -> None:
        """Under the lock: refuse a request when `max_waiting` wait already."""
        waiting = len(self._pairs) + sum(len(queue) for queue in self._jobs.values())
        if waiting >= self.max_waiting:
            raise QueueFull(
                f"The app is busy: {waiting} requests are waiting for the model; try again in a few seconds."
            )

    # --- the worker
    def _next(self) -> list[_Pair] | _Group | tuple[Job, list[int]] | None:
        """Under the lock: the next forward pass, interactive work first (the single pairs waiting, together, before
        any group: a pair is one person waiting, a group may be a 32-label classification), then a group, else the
        next job's next chunk; after a group, a waiting chunk before the next group."""
        while True:
            if self._closed:
                return None
            taken = [item for item in self._pairs if isinstance(item, _Pair)][: self.pair_batch_size]
            if taken:
                chosen = set(map(id, taken))
                self._pairs = deque(item for item in self._pairs if id(item) not in chosen)
                pairs = [pair for pair in taken if pair.future.set_running_or_notify_cancel()]
                if pairs:
                    return pairs
                continue
            head = self._pairs[0] if self._pairs else None
            if head is not None and not (self._bulk_owed and self._bulk_waiting()):
                self._pairs.popleft()
                if head.future.set_running_or_notify_cancel():
                    self._bulk_owed = self._bulk_waiting()
                    return head
                continue
            self._bulk_waiting()  # cancelled jobs leave the queues
            for priority in (Priority.BATCH, Priority.FILE):
                queue = self._jobs[priority]
                if queue:
                    self._bulk_owed = False
                    job = queue.popleft()
                    rows = job.next_rows(self.measure_chunk if job.measuring else self.chunk_size)
                    if not job.last_turn(rows):
                        queue.append(job)  # its turn comes again after the other jobs of its kind
                    return job, rows
            self._wake.wait()

    def _bulk_waiting(self) -> bool:
        """Whether a job waits for its next chunk (cancelled jobs leave the queues here)."""
        for queue in self._jobs.values():
            while queue and queue[0].cancelled:
                queue.popleft()
        return any(self._jobs.values())

    def _run(self) -> None:
        while True:
            with self._wake:
                work = self._next()
            if work is None:
                return
            if isinstance(work, list):
                self._run_pairs(work)
            elif isinstance(work, _Group):
                self._run_group(work)
            elif work[0].measuring:
                self._measure_chunk(*work)
            else:
                self._run_chunk(*work)

    def _run_pairs(self, pairs: list[_Pair]) -> None:
        self.passes[Priority.PAIR] += 1
        try:
            probs = self.predictor.predict_proba([p.premise for p in pairs], [p.hypothesis for p in pairs])
            if len(probs) != len(pairs):
                raise RuntimeError(f"the model answered {len(probs)} rows for {len(pairs)} pairs")
        except Exception as err:  # the operator gets the traceback, each user one sentence; the loop goes on
            logger.exception("prediction failed for a batch of %d pair(s)", len(pairs))
            for pair in pairs:
                pair.future.set_exception(err)
            return
        for pair, row in zip(pairs, probs, strict=True):
            pair.future.set_result(row)

    def _run_group(self, group: _Group) -> None:
        self.passes[Priority.PAIR] += 1
        try:
            logits = self.predictor.logits(group.premises, group.hypotheses)
            if len(logits) != len(group.premises):
                raise RuntimeError(f"the model answered {len(logits)} rows for {len(group.premises)} pairs")
        except Exception as err:
            logger.exception("prediction failed for a group of %d pair(s)", len(group.premises))
            group.future.set_exception(err)
            return
        group.future.set_result(logits)

    def _measure_chunk(self, job: Job, rows: list[int]) -> None:
        if job.cancelled:
            return
        if rows[0] == 0:
            job._phase_start = time.perf_counter()
        try:
            premises, hypotheses = [job.premises[i] for i in rows], [job.hypotheses[i] for i in rows]
            tokens = list(self.predictor.token_lengths(premises, hypotheses))
            if len(tokens) != len(rows):
                raise RuntimeError(f"the tokenizer counted {len(tokens)} rows for {len(rows)} pairs")
        except Exception as err:
            self._fail(job, err, f"counting the tokens of {len(rows)} pair(s) of a {job.total}-pair job failed")
            return
        job.measured(tokens)
        if not job.measuring:
            seconds = time.perf_counter() - job._phase_start
            chunks = -(-job.total // self.measure_chunk)
            logger.debug("job of %d pairs: tokens counted in %.3f s (%d chunks)", job.total, seconds, chunks)

    def _run_chunk(self, job: Job, rows: list[int]) -> None:
        if job.cancelled:
            return
        if job.done == 0:
            job._phase_start = time.perf_counter()
        self.passes[job.priority] += 1
        try:
            probs = self.predictor.predict_proba([job.premises[i] for i in rows], [job.hypotheses[i] for i in rows])
            if len(probs) != len(rows):
                raise RuntimeError(f"the model answered {len(probs)} rows for {len(rows)} pairs")
        except Exception as err:
            self._fail(job, err, f"prediction failed for a chunk of {len(rows)} pair(s) of a {job.total}-pair job")
            return
        job._probs[rows] = probs
        job.done += len(rows)
        if job.done == job.total:
            seconds, chunks = time.perf_counter() - job._phase_start, -(-job.total // self.chunk_size)
            logger.debug("job of %d pairs: predicted in %.3f s (%d chunks)", job.total, seconds, chunks)
            _settle(job.future, result=job._probs)

    def _fail(self, job: Job, err: Exception, message: str) -> None:
        """A turn of `job` failed: the operator gets the traceback, the job its error, and it leaves the queue."""
        logger.exception(message)
        with self._wake:
            if job in self._jobs[job.priority]:
                self._jobs[job.priority].remove(job)
        _settle(job.future, error=err)


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Give a job's future its outcome unless it was cancelled meanwhile."""
    if not future.set_running_or_notify_cancel():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
