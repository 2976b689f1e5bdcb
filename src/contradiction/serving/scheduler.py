"""One queue in front of the model: a person's single pair never waits behind someone's CSV file.

Every request the app runs goes through one worker thread that picks, before each forward pass:
single pairs first (all those waiting, in one pass), then `/predict_batch` calls, then CSV files. Calls and
files run in small chunks, so bulk work yields to interactive requests between chunks, and several jobs of
the same kind take turns chunk by chunk instead of running one after the other.

    scheduler = Scheduler(predictor)
    scheduler.predict_pair("A man sleeps.", "Nobody sleeps.")          # blocks; shares a pass with others
    job = scheduler.submit(premises, hypotheses, Priority.FILE, owner=session)
    job.result()                                                        # or scheduler.cancel(job)
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from contradiction.labels import LABELS

logger = logging.getLogger(__name__)

PAIR_BATCH_SIZE = 16  # single pairs waiting together that share one forward pass
CHUNK_SIZE = 16  # pairs per forward pass of bulk work: the longest an interactive request waits (docs/benchmarks.md)


class Priority(IntEnum):
    """The order in which work reaches the model; lower goes first."""

    PAIR = 0  # the page's Submit button and /predict
    BATCH = 1  # /predict_batch calls (up to a few hundred pairs)
    FILE = 2  # CSV files from the page or /predict_file


@dataclass(eq=False)
class Job:
    """A bulk request: its pairs, how far it is, and the future that gets its probabilities (pairs, 3)."""

    premises: Sequence[str]
    hypotheses: Sequence[str]
    priority: Priority
    owner: str | None = None  # the session that asked, so that closing a page cancels its jobs
    lengths: Sequence[int] | None = None  # tokens per pair; characters when not given
    future: Future = field(default_factory=Future)
    done: int = 0

    def __post_init__(self) -> None:
        # longest first, so each chunk holds pairs of similar length and pads little. Characters are a poor
        # stand-in for tokens across scripts: sorted by characters, 64-pair chunks of the test file pad to
        # 33% more tokens than sorted by tokens (docs/benchmarks.md)
        lengths = self.lengths or [len(p) + len(h) for p, h in zip(self.premises, self.hypotheses, strict=True)]
        if len(lengths) != len(self.premises) or len(self.premises) != len(self.hypotheses):
            raise ValueError(
                f"{len(self.premises)} premises, {len(self.hypotheses)} hypotheses, {len(lengths)} lengths"
            )
        self._order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        self._probs = np.zeros((len(lengths), len(LABELS)), dtype=np.float32)

    @property
    def total(self) -> int:
        return len(self._order)

    @property
    def cancelled(self) -> bool:
        return self.future.cancelled()

    def next_rows(self, size: int) -> list[int]:
        return self._order[self.done : self.done + size]

    def result(self, timeout: float | None = None) -> np.ndarray:
        return self.future.result(timeout)


@dataclass(eq=False)
class _Pair:
    premise: str
    hypothesis: str
    future: Future = field(default_factory=Future)


class Scheduler:
    """Runs every request of the app through `predictor`, interactive first, bulk work in small chunks.

    A failure inside the model fails only the requests of that forward pass (a batch of single pairs, or the
    job whose chunk it was); the worker goes on with the rest.
    """

    def __init__(self, predictor: Any, pair_batch_size: int = PAIR_BATCH_SIZE, chunk_size: int = CHUNK_SIZE) -> None:
        self.predictor = predictor
        self.pair_batch_size = pair_batch_size
        self.chunk_size = chunk_size
        self._pairs: deque[_Pair] = deque()
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
        pair = _Pair(premise, hypothesis)
        with self._wake:
            self._check_open()
            self._pairs.append(pair)
            self._wake.notify()
        return pair.future

    def measure(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[int] | None:
        """Tokens per pair when the predictor can tell (`token_lengths`), else None (characters will do)."""
        measure = getattr(self.predictor, "token_lengths", None)
        return list(measure(premises, hypotheses)) if measure is not None and len(premises) > self.chunk_size else None

    def submit(
        self,
        premises: Sequence[str],
        hypotheses: Sequence[str],
        priority: Priority,
        owner: str | None = None,
        lengths: Sequence[int] | None = None,
    ) -> Job:
        """Queue a bulk job; its future gets the probabilities (pairs, 3) in input order.

        `lengths` (tokens per pair, from `measure`) lets the worker's chunks pad little; measured here, in the
        caller's thread, when not given.
        """
        if priority == Priority.PAIR:
            raise ValueError("single pairs go through submit_pair")
        if lengths is None:
            lengths = self.measure(premises, hypotheses)
        job = Job(premises, hypotheses, priority, owner, lengths)
        if job.total == 0:
            job.future.set_result(job._probs)
            return job
        with self._wake:
            self._check_open()
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

    # --- the worker
    def _next(self) -> tuple[list[_Pair], Job | None, list[int]] | None:
        """Under the lock: the next forward pass, interactive pairs first, else the next job's next chunk."""
        while True:
            if self._closed:
                return None
            if self._pairs:
                pairs = []
                while self._pairs and len(pairs) < self.pair_batch_size:
                    pair = self._pairs.popleft()
                    if pair.future.set_running_or_notify_cancel():
                        pairs.append(pair)
                if pairs:
                    return pairs, None, []
                continue
            for priority in (Priority.BATCH, Priority.FILE):
                queue = self._jobs[priority]
                while queue and queue[0].cancelled:
                    queue.popleft()
                if queue:
                    job = queue.popleft()
                    rows = job.next_rows(self.chunk_size)
                    if job.done + len(rows) < job.total:
                        queue.append(job)  # its turn comes again after the other jobs of its kind
                    return [], job, rows
            self._wake.wait()

    def _run(self) -> None:
        while True:
            with self._wake:
                work = self._next()
            if work is None:
                return
            pairs, job, rows = work
            if pairs:
                self._run_pairs(pairs)
            elif job is not None:
                self._run_chunk(job, rows)

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

    def _run_chunk(self, job: Job, rows: list[int]) -> None:
        if job.cancelled:
            return
        self.passes[job.priority] += 1
        try:
            probs = self.predictor.predict_proba([job.premises[i] for i in rows], [job.hypotheses[i] for i in rows])
            if len(probs) != len(rows):
                raise RuntimeError(f"the model answered {len(probs)} rows for {len(rows)} pairs")
        except Exception as err:
            logger.exception("prediction failed for a chunk of %d pair(s) of a %d-pair job", len(rows), job.total)
            with self._wake:
                if job in self._jobs[job.priority]:
                    self._jobs[job.priority].remove(job)
            _settle(job.future, error=err)
            return
        job._probs[rows] = probs
        job.done += len(rows)
        if job.done == job.total:
            _settle(job.future, result=job._probs)


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Give a job's future its outcome unless it was cancelled meanwhile."""
    if not future.set_running_or_notify_cancel():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
