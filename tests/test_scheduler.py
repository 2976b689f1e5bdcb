"""The scheduler in front of the model: interactive pairs first, bulk work in chunks and in turns, cancel.

A fake predictor logs every forward pass and can hold one until the test lets it go, so the order is
checked without sleeps or timing.
"""

import threading
import time
from concurrent.futures import CancelledError

import numpy as np
import pytest

from contradiction.serving.scheduler import CALLER, Caller, Priority, QueueFull, Scheduler


class FakePredictor:
    """Answers each pair with probabilities made from its premise, e.g. "a3" -> row 3; logs each pass.

    `hold` makes the next pass wait until `release()`: the test can act while a chunk is "running".
    """

    def __init__(self, fail_on: str | None = None) -> None:
        self.passes: list[list[str]] = []
        self.fail_on = fail_on
        self._hold: threading.Event | None = None
        self.started = threading.Event()

    def hold(self) -> None:
        self._hold = threading.Event()
        self.started.clear()

    def release(self) -> None:
        hold, self._hold = self._hold, None
        hold.set()

    def _enter(self, entry: list[str]) -> None:
        """Log a call into the model; wait there while the test holds it."""
        self.passes.append(entry)
        hold = self._hold
        self.started.set()
        if hold is not None:
            assert hold.wait(10), "the test never released the pass"

    def predict_proba(self, premises, hypotheses, **_):
        self._enter(list(premises))
        if self.fail_on is not None and self.fail_on in premises:
            raise RuntimeError("boom")
        return np.array([[float(p[1:]), 0.0, 0.0] for p in premises], dtype=np.float32)

    def logits(self, premises, hypotheses, **_):
        self._enter(["group", *premises])
        if self.fail_on is not None and self.fail_on in premises:
            raise RuntimeError("boom")
        return np.array([[float(p[1:]), 1.0, 2.0] for p in premises], dtype=np.float32)


def job_rows(prefix: str, n: int) -> tuple[list[str], list[str]]:
    # same lengths, so the scheduler's longest-first order keeps input order
    return [f"{prefix}{i:03d}" for i in range(n)], ["h"] * n


def test_a_single_pair_goes_before_the_next_chunk_of_a_running_file_job() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, chunk_size=4)
    predictor.hold()
    job = scheduler.submit(*job_rows("f", 40), Priority.FILE)
    assert predictor.started.wait(5)  # the file's first chunk is in the model
    pair = scheduler.submit_pair("p7", "h")
    predictor.release()

    assert pair.result(5)[0] == pytest.approx(7.0)
    probs = job.result(5)
    # the pair ran right after the chunk that was running, not after the other 9 chunks
    assert predictor.passes[0][0].startswith("f") and predictor.passes[1] == ["p7"]
    assert len(predictor.passes) == 1 + 1 + 9
    assert probs[:, 0].tolist() == [float(i) for i in range(40)]  # every row answered, in input order
    scheduler.close()


def test_waiting_single_pairs_share_one_forward_pass() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, pair_batch_size=8)
    predictor.hold()
    first = scheduler.submit_pair("p0", "h")
    assert predictor.started.wait(5)
    later = [scheduler.submit_pair(f"p{i}", "h") for i in range(1, 6)]
    predictor.release()
    assert [f.result(5)[0] for f in [first, *later]] == [0, 1, 2, 3, 4, 5]
    assert predictor.passes == [["p0"], ["p1", "p2", "p3", "p4", "p5"]]
    scheduler.close()


def test_two_file_jobs_take_turns_and_batch_calls_go_before_files() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, chunk_size=2)
    predictor.hold()
    blocker = scheduler.submit(*job_rows("z", 1), Priority.FILE)
    assert predictor.started.wait(5)
    a = scheduler.submit(*job_rows("a", 4), Priority.FILE)
    b = scheduler.submit(*job_rows("b", 4), Priority.FILE)
    c = scheduler.submit(*job_rows("c", 4), Priority.BATCH)
    predictor.release()
    for job in (blocker, a, b, c):
        job.result(5)
    kinds = [rows[0][0] for rows in predictor.passes]
    assert kinds == ["z", "c", "c", "a", "b", "a", "b"]
    assert scheduler.passes[Priority.FILE] == 5 and scheduler.passes[Priority.BATCH] == 2
    scheduler.close()


def test_a_cancelled_job_stops_using_the_model() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, chunk_size=5)
    predictor.hold()
    job = scheduler.submit(*job_rows("f", 50), Priority.FILE, owner="session-1")
    other = scheduler.submit(*job_rows("g", 5), Priority.FILE, owner="session-2")
    assert predictor.started.wait(5)
    assert scheduler.cancel_owner("session-1") == 1  # the page of session-1 was closed
    predictor.release()

    other.result(5)
    with pytest.raises(CancelledError):
        job.result(5)
    assert [rows[0][0] for rows in predictor.passes] == ["f", "g"]  # no chunk of the job after the cancel
    assert job.done == 5
    assert scheduler.pending() == {"pairs": 0, "batch": 0, "file": 0}
    scheduler.close()


def test_a_failing_chunk_fails_only_its_own_job() -> None:
    predictor = FakePredictor(fail_on="x001")
    scheduler = Scheduler(predictor, chunk_size=2)
    predictor.hold()
    bad = scheduler.submit(*job_rows("x", 6), Priority.FILE)
    assert predictor.started.wait(5)
    good = scheduler.submit(*job_rows("y", 3), Priority.FILE)
    pair = scheduler.submit_pair("p1", "h")
    predictor.release()
    with pytest.raises(RuntimeError, match="boom"):
        bad.result(5)
    assert good.result(5)[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert pair.result(5)[0] == 1.0
    assert not any(rows[0].startswith("x") for rows in predictor.passes[1:])  # the failed job ran no further
    scheduler.close()


def test_an_empty_job_is_done_at_once_and_close_cancels_what_waits() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, chunk_size=2)
    assert scheduler.submit([], [], Priority.BATCH).result(1).shape == (0, 3)
    predictor.hold()
    running = scheduler.submit(*job_rows("a", 2), Priority.FILE)
    assert predictor.started.wait(5)
    waiting = scheduler.submit(*job_rows("b", 2), Priority.FILE)
    closer = threading.Thread(target=scheduler.close)
    closer.start()
    while scheduler.pending()["file"]:  # close() has emptied the queue before the running pass ends
        time.sleep(0.001)
    predictor.release()
    closer.join(5)
    with pytest.raises(CancelledError):
        waiting.result(1)
    assert running.result(1).shape == (2, 3)  # the pass already in the model finished
    with pytest.raises(RuntimeError, match="closed"):
        scheduler.submit_pair("p1", "h")


def test_bulk_work_runs_longest_first_in_tokens_when_the_predictor_can_count_them() -> None:
    class Counting(FakePredictor):
        def token_lengths(self, premises, hypotheses):
            return [int(p[1:]) % 4 for p in premises]  # tokens unrelated to characters, as across scripts

    predictor = Counting()
    scheduler = Scheduler(predictor, chunk_size=3)
    job = scheduler.submit(*job_rows("t", 12), Priority.FILE)
    assert job.result(5)[:, 0].tolist() == [float(i) for i in range(12)]  # answers still in input order
    assert [sorted(int(p[1:]) % 4 for p in rows) for rows in predictor.passes] == [[3] * 3, [2] * 3, [1] * 3, [0] * 3]
    scheduler.close()


class Measuring(FakePredictor):
    """Counts tokens too (one per pair), logging each count as ["measure", first premise, pairs] among the passes,
    and the threads that asked."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def token_lengths(self, premises, hypotheses):
        self.threads.add(threading.current_thread().name)
        self._enter(["measure", premises[0], str(len(premises))])
        return [1] * len(premises)


def test_a_single_pair_goes_between_the_chunks_that_count_a_file_s_tokens() -> None:
    predictor = Measuring()
    scheduler = Scheduler(predictor, chunk_size=4, measure_chunk=10)
    predictor.hold()
    job = scheduler.submit(*job_rows("f", 40), Priority.FILE)  # returns at once: nothing is counted here
    assert predictor.started.wait(5)  # the file's first 10 pairs are being counted
    pair = scheduler.submit_pair("p7", "h")
    predictor.release()

    assert pair.result(5)[0] == pytest.approx(7.0)
    assert job.result(5)[:, 0].tolist() == [float(i) for i in range(40)]
    counts = [rows for rows in predictor.passes if rows[0] == "measure"]
    assert counts == [["measure", f"f{i:03d}", "10"] for i in (0, 10, 20, 30)]  # the upload in 4 chunks, not at once
    # the pair waited for one chunk of counting, not for the whole file's
    assert predictor.passes[:3] == [counts[0], ["p7"], counts[1]]
    assert predictor.passes[3:5] == counts[2:]  # every pair counted before the first forward pass
    assert len(predictor.passes[5:]) == 10 and all(rows[0] != "measure" for rows in predictor.passes[5:])
    assert predictor.threads == {"model-scheduler"}
    scheduler.close()


def test_a_job_cancelled_while_its_tokens_are_counted_never_reaches_the_model() -> None:
    predictor = Measuring()
    scheduler = Scheduler(predictor, chunk_size=4, measure_chunk=10)
    predictor.hold()
    job = scheduler.submit(*job_rows("f", 40), Priority.FILE, owner="session-1")
    assert predictor.started.wait(5)
    assert scheduler.cancel_owner("session-1") == 1
    predictor.release()
    with pytest.raises(CancelledError):
        job.result(5)
    assert scheduler.submit_pair("p1", "h").result(5)[0] == 1.0  # the worker went on
    assert predictor.passes == [["measure", "f000", "10"], ["p1"]]
    scheduler.close()


def test_a_group_of_pairs_is_one_interactive_pass_with_its_logits() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, chunk_size=4)
    predictor.hold()
    job = scheduler.submit(*job_rows("f", 40), Priority.FILE)
    assert predictor.started.wait(5)  # the file's first chunk is in the model
    answer = []
    thread = threading.Thread(target=lambda: answer.append(scheduler.logits(["t1", "t2", "t3"], ["a", "b", "c"])))
    thread.start()
    while not scheduler.pending()["pairs"]:
        time.sleep(0.001)
    predictor.release()
    thread.join(5)
    job.result(5)

    assert predictor.passes[1] == ["group", "t1", "t2", "t3"]  # right after the running chunk, in one pass
    assert answer[0].tolist() == [[1.0, 1.0, 2.0], [2.0, 1.0, 2.0], [3.0, 1.0, 2.0]]  # logits, not probabilities
    scheduler.close()


def test_a_file_s_chunk_waits_at_most_one_group() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, chunk_size=4)
    predictor.hold()
    job = scheduler.submit(*job_rows("f", 12), Priority.FILE)
    assert predictor.started.wait(5)
    results = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(scheduler.logits([f"g{i}", f"g{i}"], ["a", "b"])))
        for i in range(3)
    ]
    for thread in threads:  # three classifications queue up while the file's first chunk runs
        thread.start()
        while scheduler.pending()["pairs"] < threads.index(thread) + 1:
            time.sleep(0.001)
    pair = scheduler.submit_pair("p5", "h")
    predictor.release()
    for thread in threads:
        thread.join(5)
    job.result(5)
    pair.result(5)

    kinds = ["file" if p[0].startswith("f") else p[0] for p in predictor.passes]
    # each classification went before the file's next chunk, but never two in a row while a chunk waited; the
    # single pair, queued after them, went before them all: a person waits for no classification
    assert kinds == ["file", "p5", "group", "file", "group", "file", "group"]
    assert len(results) == 3
    scheduler.close()


def test_a_failing_group_fails_only_its_request() -> None:
    predictor = FakePredictor(fail_on="g1")
    scheduler = Scheduler(predictor)
    with pytest.raises(RuntimeError, match="boom"):
        scheduler.logits(["g1"], ["a"])
    assert scheduler.predict_pair("p2", "h")[0] == pytest.approx(2.0)
    assert scheduler.logits(["g3"], ["a"]).tolist() == [[3.0, 1.0, 2.0]]
    scheduler.close()


def test_a_document_s_few_windows_are_one_interactive_pass_and_many_go_in_chunks() -> None:
    from contradiction.serving.scheduler import INTERACTIVE_PAIRS

    predictor = FakePredictor()
    predictor.label_index = [2, 1, 0]  # the model's columns in reverse of ours
    scheduler = Scheduler(predictor, chunk_size=4)
    few = scheduler.probabilities(*job_rows("w", 3))
    assert predictor.passes == [["group", "w000", "w001", "w002"]]
    logits = np.array([[float(i), 1.0, 2.0] for i in range(3)])
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(few, expected[:, [2, 1, 0]], rtol=1e-6)
    predictor.passes.clear()
    many = scheduler.probabilities(*job_rows("w", INTERACTIVE_PAIRS + 1))
    assert len(predictor.passes) == -(-(INTERACTIVE_PAIRS + 1) // 4)  # a bulk call, in chunks of 4
    assert many[:, 0].tolist() == [float(i) for i in range(INTERACTIVE_PAIRS + 1)]
    scheduler.close()


def test_past_max_waiting_a_request_is_refused_at_once() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, max_waiting=2)
    predictor.hold()
    running = scheduler.submit_pair("p0", "h")
    assert predictor.started.wait(5)  # in the model: no longer waiting
    waiting = [scheduler.submit_pair("p1", "h"), scheduler.submit(*job_rows("f", 4), Priority.FILE)]
    with pytest.raises(QueueFull, match=r"^The app is busy: 2 requests are waiting for the model; try again"):
        scheduler.submit_pair("p2", "h")
    with pytest.raises(QueueFull):
        scheduler.submit(*job_rows("g", 4), Priority.BATCH)
    predictor.release()
    assert running.result(5)[0] == 0 and waiting[0].result(5)[0] == 1 and len(waiting[1].result(5)) == 4
    assert scheduler.submit_pair("p3", "h").result(5)[0] == 3  # room again
    scheduler.close()


def test_the_jobs_of_a_caller_who_left_stop_and_those_it_queues_later_never_join() -> None:
    predictor = FakePredictor()
    scheduler = Scheduler(predictor, chunk_size=5)
    caller = Caller()
    predictor.hold()
    token = CALLER.set(caller)  # as the JSON API sets it for the thread that answers a request
    try:
        job = scheduler.submit(*job_rows("f", 50), Priority.BATCH)
        assert predictor.started.wait(5)
        caller.leave()  # the client closed its connection
        later = scheduler.submit(*job_rows("g", 50), Priority.BATCH)
    finally:
        CALLER.reset(token)
    other = scheduler.submit(*job_rows("h", 5), Priority.BATCH)  # another request's job
    predictor.release()
    other.result(5)
    for gone in (job, later):
        with pytest.raises(CancelledError):
            gone.result(5)
    assert [rows[0][0] for rows in predictor.passes] == ["f", "h"]
    scheduler.close()
