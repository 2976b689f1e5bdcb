"""The one-step JSON API against Gradio's own HTTP API and gradio_client on the same idle app, then a mixed burst.

The app is started as `python app.py` on loopback (its own process, MCP on, a prediction database in a temporary
folder). Then
1. latency: `--requests` single pairs, one at a time, through each of `POST /api/v1/nli` (one request),
   `POST /gradio_api/call/predict` then its event stream (two requests, as curl would do it) and
   `gradio_client` (`/predict`), each over one kept-alive connection, alternating call by call: p50 and p95;
2. burst: `--clients` clients at once, `--calls` calls each, every client cycling through the JSON API,
   gradio_client and an MCP session (`predict` tool): the errors (goal: none), and the rows the monitoring database
   gained per endpoint against the calls that succeeded (goal: every prediction recorded once).

The pairs are the competition's test set when it is there (`$WATSON_DIR`), else the project's sample data.

    python benchmarks/json_api.py --model /work/runs/e5-small-watson --requests 200 --clients 16 --calls 20
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from common import DEFAULT_MODEL, ROOT, WATSON, one_address_env, print_table, save
from serving import free_port, percentile, wait_until_up


def load_pairs() -> list[tuple[str, str]]:
    path = WATSON / "test.csv" if (WATSON / "test.csv").exists() else ROOT / "data" / "sample" / "test.csv"
    with open(path, encoding="utf-8") as f:
        return [(r["premise"].strip(), r["hypothesis"].strip()) for r in csv.DictReader(f)]


def gradio_http(http: httpx.Client, premise: str, hypothesis: str) -> dict:
    """Gradio's own HTTP API: POST for an event id, then read the event's server-sent events to `complete`."""
    event = http.post("/gradio_api/call/predict", json={"data": [premise, hypothesis]}).raise_for_status().json()
    with http.stream("GET", f"/gradio_api/call/predict/{event['event_id']}") as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                if kind == "error":
                    raise RuntimeError(f"Gradio answered an error: {line}")
                return json.loads(line.split(":", 1)[1])[0]
    raise RuntimeError("the event stream ended without a result")


def latency(url: str, pairs: list[tuple[str, str]], requests: int) -> list[dict]:
    from gradio_client import Client

    client = Client(url, verbose=False, analytics_enabled=False)
    with httpx.Client(base_url=url, timeout=120) as http:
        calls = {
            "POST /api/v1/nli": lambda p, h: (
                http.post("/api/v1/nli", json={"premise": p, "hypothesis": h}).raise_for_status().json()
            ),
            "/gradio_api/call/predict + stream": lambda p, h: gradio_http(http, p, h),
            "gradio_client /predict": lambda p, h: client.predict(p, h, api_name="/predict"),
        }
        for call in calls.values():  # warm-up: first calls compile kernels and fill caches
            for p, h in pairs[:5]:
                call(p, h)
        seconds: dict[str, list[float]] = {name: [] for name in calls}
        for i in range(requests):
            p, h = pairs[(5 + i) % len(pairs)]
            for name, call in calls.items():
                start = time.perf_counter()
                call(p, h)
                seconds[name].append(time.perf_counter() - start)
    base = percentile(seconds["POST /api/v1/nli"], 0.5)
    return [
        {
            "path": name,
            "requests": len(values),
            "p50_ms": 1000 * percentile(values, 0.5),
            "p95_ms": 1000 * percentile(values, 0.95),
            "p50_vs_json": percentile(values, 0.5) / base,
        }
        for name, values in seconds.items()
    ]


KINDS = ("json", "gradio_client", "mcp")
ENDPOINT = {"json": "api_v1_nli", "gradio_client": "predict", "mcp": "predict"}  # where each kind is recorded


async def one_client(url: str, index: int, calls: int, pairs: list[tuple[str, str]], done: dict, errors: list) -> None:
    """One client of the burst: `calls` calls, cycling through the three kinds from its own starting point."""
    from gradio_client import Client
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    client = await anyio.to_thread.run_sync(lambda: Client(url, verbose=False, analytics_enabled=False))
    async with httpx.AsyncClient(base_url=url, timeout=300) as http, httpx.AsyncClient(timeout=300) as mcp_http:
        async with streamable_http_client(f"{url}gradio_api/mcp/", http_client=mcp_http) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                for j in range(calls):
                    kind = KINDS[(index + j) % len(KINDS)]
                    p, h = pairs[(index * calls + j) % len(pairs)]
                    try:
                        if kind == "json":
                            response = await http.post("/api/v1/nli", json={"premise": p, "hypothesis": h})
                            response.raise_for_status()
                        elif kind == "gradio_client":
                            await anyio.to_thread.run_sync(lambda p=p, h=h: client.predict(p, h, api_name="/predict"))
                        else:
                            result = await session.call_tool("predict", {"premise": p, "hypothesis": h})
                            if result.isError:
                                raise RuntimeError(result.content[0].text)
                        done[kind] += 1
                    except Exception as err:  # counted and named, so that one failure does not hide the others
                        errors.append(f"{kind}: {type(err).__name__}: {err}"[:300])


def recorded(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT endpoint, COUNT(*) FROM predictions GROUP BY endpoint").fetchall())


def burst(url: str, db: Path, pairs: list[tuple[str, str]], clients: int, calls: int) -> dict:
    before = recorded(db)
    done = dict.fromkeys(KINDS, 0)
    errors: list[str] = []

    async def run() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(40, 2 * clients)
        async with anyio.create_task_group() as group:
            for i in range(clients):
                group.start_soon(one_client, url, i, calls, pairs, done, errors)

    start = time.perf_counter()
    anyio.run(run)
    seconds = time.perf_counter() - start
    after = recorded(db)
    gained = {endpoint: after.get(endpoint, 0) - before.get(endpoint, 0) for endpoint in set(ENDPOINT.values())}
    expected = {endpoint: sum(done[k] for k in KINDS if ENDPOINT[k] == endpoint) for endpoint in gained}
    return {
        "clients": clients,
        "calls_per_client": calls,
        "seconds": seconds,
        "succeeded": done,
        "errors": len(errors),
        "first_errors": errors[:5],
        "recorded": gained,
        "expected": expected,
        "recorded_once": gained == expected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--requests", type=int, default=200, help="sequential calls of each kind (latency)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients of the burst")
    parser.add_argument("--calls", type=int, default=20, help="calls per client of the burst")
    args = parser.parse_args()

    pairs = load_pairs()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    db = Path(tempfile.mkdtemp(prefix="json-api-bench-")) / "monitoring.sqlite"
    server = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "--model",
            args.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--monitor_db",
            str(db),
        ],
        cwd=ROOT,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **one_address_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(url, server)
        rows = latency(url, pairs, args.requests)
        mixed = burst(url, db, pairs, args.clients, args.calls)
    finally:
        server.terminate()
        server.wait(30)

    print_table(rows, ["path", "requests", "p50_ms", "p95_ms", "p50_vs_json"])
    kinds = "JSON API, gradio_client, MCP"
    print(f"\nburst: {args.clients} clients x {args.calls} calls ({kinds}) in {mixed['seconds']:.1f} s")
    print(f"succeeded {mixed['succeeded']}, errors {mixed['errors']} (goal 0)")
    print(f"recorded {mixed['recorded']}, expected {mixed['expected']}: once each {mixed['recorded_once']}")
    for error in mixed["first_errors"]:
        print(f"  {error}")
    save("json_api", {"model": args.model, "latency": rows, "burst": mixed})


if __name__ == "__main__":
    main()
