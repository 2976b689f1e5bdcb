"""`/classify` against `/predict` through gradio_client on an idle app, side by side in one run.

The app is started as `python app.py` on loopback (its own process); one client sends `--requests` calls of each
kind, alternating, each its own request: a SIB-200 sentence (../shared/data/sib200, never committed) with its 7
topics for `/classify`, a premise and a hypothesis of the same sentences for `/predict`. Goal: p50 of `/classify`
with 7 labels at most 2 times that of `/predict` (one text and 7 labels is 7 pairs in one forward pass).

    python benchmarks/classify_latency.py --model /work/runs/e5-small-extra --requests 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from common import ROOT, one_address_env, print_table, save
from serving import free_port, percentile, wait_until_up
from zero_shot_accuracy import TOPICS, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--requests", type=int, default=200, help="calls of each endpoint")
    args = parser.parse_args()

    texts = load(701, seed=0).sample(frac=1.0, random_state=0)["text"].tolist()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **one_address_env()}
    server = subprocess.Popen(
        [sys.executable, "app.py", "--model", args.model, "--port", str(port), "--monitor_db", "none"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(url, server)
        from gradio_client import Client

        client = Client(url, verbose=False, analytics_enabled=False)
        labels = ", ".join(TOPICS)
        calls = {
            "/predict": lambda i: client.predict(texts[i], texts[i + 1], api_name="/predict"),
            "/classify (7 labels)": lambda i: client.predict(texts[i], labels, api_name="/classify"),
        }
        for call in calls.values():  # warm-up: first calls compile kernels and fill caches
            for i in range(5):
                call(i)
        seconds: dict[str, list[float]] = {name: [] for name in calls}
        for i in range(args.requests):
            for name, call in calls.items():
                start = time.perf_counter()
                call(10 + 2 * i)
                seconds[name].append(time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(30)

    base = statistics.median(seconds["/predict"])
    rows = [
        {
            "endpoint": name,
            "requests": len(values),
            "p50_ms": 1000 * statistics.median(values),
            "p95_ms": 1000 * percentile(values, 0.95),
            "p50_vs_predict": statistics.median(values) / base,
        }
        for name, values in seconds.items()
    ]
    print_table(rows, ["endpoint", "requests", "p50_ms", "p95_ms", "p50_vs_predict"])
    save("classify_latency", {"model": args.model, "rows": rows})


if __name__ == "__main__":
    main()
