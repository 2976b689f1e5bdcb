"""Load test of the app: N concurrent gradio_client clients, each sending M `/predict` requests in a row.

    python benchmarks/load_test.py --model /work/runs/e5-small-watson --clients 32 --requests 50
    python benchmarks/load_test.py --url http://127.0.0.1:7860/ --monitor_db outputs/monitoring.sqlite

Without --url the app is started in this process on a free loopback port, with a fresh monitoring
database. Only loopback addresses are accepted. The run is bounded by --clients x --requests and by
--timeout seconds in all. It reports errors (exceptions and answers that are not a distribution over our
three labels), latency percentiles as the clients see them, throughput, and two cross-checks: the
monitoring database gained one row per request served, and `/metrics` scrapes and counts the same.
The pairs come from the project's own examples and sample data (not the competition data).
"""

from __future__ import annotations

import argparse
import math
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
from common import ONE_ADDRESS_LIMITS, ROOT, print_table, save
from gradio_client import Client
from prometheus_client.parser import text_string_to_metric_families

from contradiction.labels import LABELS
from contradiction.serving.pairs import EXAMPLES
from contradiction.tiny import sample_sentences

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def pairs() -> list[tuple[str, str]]:
    """Our own pairs: the app's examples, then the sample test file's premise/hypothesis pairs."""
    sample = sample_sentences(ROOT / "data" / "sample")
    return [(p, h) for _, _, p, h in EXAMPLES] + list(zip(sample[0::2], sample[1::2], strict=True))


def valid(result: object) -> bool:
    """A `/predict` answer: our three labels, probabilities summing to one, the label the most probable."""
    try:
        scores = {c["label"]: float(c["confidence"]) for c in result["confidences"]}
    except (TypeError, KeyError, ValueError):
        return False
    return (
        set(scores) == set(LABELS)
        and all(0.0 <= p <= 1.0 for p in scores.values())
        and math.isclose(sum(scores.values()), 1.0, abs_tol=1e-3)
        and result["label"] == max(scores, key=scores.get)
    )


def run_clients(url: str, clients: int, requests: int, timeout_s: float) -> dict:
    """Each client sends `requests` calls in a row; all start together and stop at the deadline."""
    texts = pairs()
    latencies: list[float] = []
    errors: list[str] = []
    unsent = [0]
    lock = threading.Lock()
    connected = [Client(url, verbose=False, analytics_enabled=False) for _ in range(clients)]
    barrier = threading.Barrier(clients)
    deadline = time.monotonic() + timeout_s

    def one_client(index: int) -> None:
        client = connected[index]
        barrier.wait()
        for k in range(requests):
            left = deadline - time.monotonic()
            if left <= 0:
                with lock:
                    unsent[0] += requests - k
                return
            premise, hypothesis = texts[(index * requests + k) % len(texts)]
            start = time.perf_counter()
            try:
                result = client.submit(premise, hypothesis, api_name="/predict").result(timeout=left)
                problem = None if valid(result) else f"not a distribution: {str(result)[:200]}"
            except Exception as err:  # every failure is counted, none stops the run
                problem = f"{type(err).__name__}: {str(err)[:200]}"
            elapsed = time.perf_counter() - start
            with lock:
                if problem is None:
                    latencies.append(elapsed)
                else:
                    errors.append(problem)

    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    for client in connected:
        client.close()
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "clients": clients,
        "requests_per_client": requests,
        "ok": len(latencies),
        "errors": len(errors),
        "unsent_at_deadline": unsent[0],
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(np.max(ms)),
        "wall_s": wall,
        "throughput_rps": len(latencies) / wall,
        "first_errors": sorted(set(errors))[:5],
    }


def scrape(url: str) -> dict[str, float]:
    """`/metrics` parsed: predict requests, predict errors, pairs predicted."""
    text = httpx.get(url.rstrip("/") + "/metrics", timeout=30).raise_for_status().text
    found = {"requests": 0.0, "errors": 0.0, "predictions": 0.0}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "contradiction_requests_total" and s.labels.get("endpoint") == "predict":
                found["requests"] += s.value
            elif s.name == "contradiction_errors_total" and s.labels.get("endpoint") == "predict":
                found["errors"] += s.value
            elif s.name == "contradiction_predictions_total":
                found["predictions"] += s.value
    return found


def db_count(path: Path | None) -> int | None:
    if path is None or not path.is_file():
        return None
    import sqlite3

    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM predictions WHERE endpoint = 'predict'").fetchone()[0]


def start_app(model: str, db: Path, fast: bool):
    """The app in this process, on a free loopback port, recording into `db`."""
    from contradiction.inference.options import PredictorOptions
    from contradiction.inference.predictor import Predictor
    from contradiction.serving.limits import Limits
    from contradiction.serving.monitoring.drift import training_label_mix
    from contradiction.serving.monitoring.monitor import Monitor
    from contradiction.serving.monitoring.store import PredictionLog
    from contradiction.serving.page import build_demo
    from contradiction.serving.server import launch

    predictor = Predictor.from_pretrained(model, PredictorOptions(fast=fast))
    mix, source = training_label_mix(model)
    limits, monitor = Limits(**ONE_ADDRESS_LIMITS), Monitor(PredictionLog(db), mix, source)
    demo = build_demo(predictor, limits, monitor)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url, _ = launch(
        demo, limits, monitor, prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True
    )
    return demo, url, predictor.precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="/work/runs/e5-small-watson", help="model folder (in-process app)")
    parser.add_argument("--url", help="a running app on a loopback address, e.g. http://127.0.0.1:7860/")
    parser.add_argument("--monitor_db", help="the running app's monitoring database, to check its count")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--requests", type=int, default=50, help="requests per client (default 50)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole run (default 600)")
    parser.add_argument("--no_fast", action="store_true", help="in-process app in float32 (see PredictorOptions)")
    args = parser.parse_args()
    if not (1 <= args.clients <= 256 and 1 <= args.requests <= 10_000 and 0 < args.timeout <= 3600):
        sys.exit("error: keep --clients within 1-256, --requests within 1-10000 and --timeout within 1-3600 s.")

    demo, precision = None, None
    db = Path(args.monitor_db) if args.monitor_db else None
    if args.url:
        host = urlparse(args.url).hostname
        if host not in LOOPBACK:
            sys.exit(f"error: {args.url} is not a loopback address; this test only loads this machine's app.")
        url = args.url if args.url.endswith("/") else args.url + "/"
    else:
        db = Path(tempfile.mkdtemp(prefix="load-test-")) / "monitoring.sqlite"
        demo, url, precision = start_app(args.model, db, fast=not args.no_fast)
        print(f"app on {url} with {args.model} ({precision}), recording into {db}", flush=True)
    try:
        before_db, before = db_count(db) or 0, scrape(url)
        result = run_clients(url, args.clients, args.requests, args.timeout)
        after_db, after = db_count(db), scrape(url)
    finally:
        if demo is not None:
            demo.close()

    served = after["requests"] - before["requests"] - (after["errors"] - before["errors"])
    result.update(
        {
            "db_rows_added": None if after_db is None else after_db - before_db,
            "metrics_requests_added": after["requests"] - before["requests"],
            "metrics_served_added": served,
            "metrics_errors_added": after["errors"] - before["errors"],
        }
    )
    print()
    print_table([result], ["clients", "requests_per_client", "ok", "errors", "unsent_at_deadline", "wall_s"])
    print()
    print_table([result], ["p50_ms", "p95_ms", "p99_ms", "max_ms", "throughput_rps"])
    print()
    print_table([result], ["db_rows_added", "metrics_requests_added", "metrics_served_added", "metrics_errors_added"])
    for line in result["first_errors"]:
        print("error:", line)
    checks = {
        "zero errors": result["errors"] == 0 and result["unsent_at_deadline"] == 0,
        "database rows = requests served": result["db_rows_added"] in (None, result["ok"]),
        "/metrics count = requests served": served == result["ok"],
    }
    print("\n" + "\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in checks.items()))
    save(
        "load_test",
        {"model": args.model if not args.url else args.url, "precision": precision, **result, "checks": checks},
    )
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
