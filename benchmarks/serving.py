"""Serving: what the app adds to a request, and what request batching gives under concurrency.

In one run: the app is started as `python app.py` on loopback (its own process, as in production), then
1. the same pairs go one at a time to the predictor directly and through `gradio_client` (`/predict`):
   the difference of the medians is the app's overhead per request;
2. the same number of requests is sent by 1 client and by 16 concurrent clients: the throughput ratio is
   what queueing and batching concurrent requests into shared forward passes gives.

    python benchmarks/serving.py --model /work/runs/e5-small-watson --requests 120
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import DEFAULT_MODEL, ROOT, WATSON, one_address_env, print_table, save


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
    import urllib.request

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"app.py exited with status {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    sys.exit(f"app.py did not answer at {url} within {timeout_s:.0f} s")


def rss_mb(pid: int) -> float:
    """Peak resident memory of another process (VmHWM, Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn, pairs) -> list[float]:
    latencies = []
    for premise, hypothesis in pairs:
        start = time.perf_counter()
        fn(premise, hypothesis)
        latencies.append(time.perf_counter() - start)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--requests", type=int, default=120, help="sequential requests per measurement (>= 100)")
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    from gradio_client import Client

    from contradiction.inference.predictor import Predictor

    with open(WATSON / "test.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[: args.requests]
    pairs = [(r["premise"].strip(), r["hypothesis"].strip()) for r in rows]

    predictor = Predictor.from_pretrained(args.model)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    db = Path(tempfile.mkdtemp()) / "monitoring.sqlite"
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "--model",
            args.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--monitor_db",
            str(db),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **one_address_env()},
    )
    try:
        wait_until_up(url, server)
        client = Client(url, verbose=False, analytics_enabled=False)
        api = lambda p, h: client.predict(p, h, api_name="/predict")  # noqa: E731
        for p, h in pairs[:5]:  # warm-up both paths
            predictor.predict(p, h)
            api(p, h)
        direct = timed(predictor.predict, pairs)
        through_app = timed(api, pairs)

        start = time.perf_counter()
        timed(api, pairs)
        sequential_s = time.perf_counter() - start

        clients = [Client(url, verbose=False, analytics_enabled=False) for _ in range(args.clients)]
        shares = [pairs[i :: args.clients] for i in range(args.clients)]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(
                pool.map(
                    lambda job: timed(lambda p, h: job[0].predict(p, h, api_name="/predict"), job[1]),
                    zip(clients, shares, strict=True),
                )
            )
        concurrent_s = time.perf_counter() - start
        server_rss_mb = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    ms = lambda xs, q: 1000 * percentile(xs, q)  # noqa: E731
    latency_rows = [
        {"path": "predictor call", "requests": len(direct), "p50_ms": ms(direct, 0.5), "p95_ms": ms(direct, 0.95)},
        {
            "path": "app via gradio_client",
            "requests": len(through_app),
            "p50_ms": ms(through_app, 0.5),
            "p95_ms": ms(through_app, 0.95),
        },
    ]
    overhead_ms = 1000 * (statistics.median(through_app) - statistics.median(direct))
    throughput_rows = [
        {"clients": 1, "requests": len(pairs), "seconds": sequential_s, "requests_per_s": len(pairs) / sequential_s},
        {
            "clients": args.clients,
            "requests": len(pairs),
            "seconds": concurrent_s,
            "requests_per_s": len(pairs) / concurrent_s,
        },
    ]
    ratio = throughput_rows[1]["requests_per_s"] / throughput_rows[0]["requests_per_s"]
    print_table(latency_rows, ["path", "requests", "p50_ms", "p95_ms"])
    print(f"\napp overhead at the median: {overhead_ms:.1f} ms (goal < 30 ms)\n")
    print_table(throughput_rows, ["clients", "requests", "seconds", "requests_per_s"])
    print(f"\nconcurrent / sequential throughput: {ratio:.2f}x (goal >= 3x)")
    print(f"app process peak RSS {server_rss_mb:.0f} MB")
    save(
        "serving",
        {
            "model": args.model,
            "precision": predictor.precision,
            "latency": latency_rows,
            "overhead_ms": overhead_ms,
            "throughput": throughput_rows,
            "throughput_ratio": ratio,
            "app_peak_rss_mb": server_rss_mb,
        },
    )


if __name__ == "__main__":
    main()
