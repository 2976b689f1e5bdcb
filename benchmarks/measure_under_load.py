"""A single `/predict` while a large upload is read and its tokens counted: how long it waits, against one chunk.

    python benchmarks/measure_under_load.py --model /work/runs/e5-small-cal              # 20,000 rows
    python benchmarks/measure_under_load.py --model outputs/tiny-xlmr --rows 2000 --name measure_under_load_tiny

The app is started as its own process (`app.py`'s command line, with the package's debug log on stderr), then:
1. idle: `--requests` single pairs in a row (p50, p95, max), and as many `/predict_batch` calls of `--chunk_size`
   pairs: one forward chunk of bulk work, as long as a single pair may wait behind a file being predicted;
2. a file of `--rows` rows (the competition test CSV repeated, new ids) through `/predict_file`, while a client
   sends a single pair every `--pace` seconds. The app's log says when the file was read, when its tokens were
   counted (in how many chunks) and when it was predicted; each single pair is put in the phase it overlapped.
   Unless `--whole_file`, the file is cancelled `--predict_s` seconds into its prediction (the phase of interest is
   over by then).
Goal (issue 17): while the file is read and counted, a single pair waits no longer than one chunk (p95 under
the idle p95 plus one forward chunk). Results in benchmarks/results/<--name>.json. Run it on an otherwise idle
machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_MODEL, ROOT, WATSON, one_address_env, print_table, save
from gradio_client import Client, handle_file
from interactive_under_load import PAIRS, free_port

# the app as `python app.py` runs it, with the package's debug lines (read, counted, predicted) on stderr
APP = """import logging, sys
logging.basicConfig(stream=sys.stderr, format="%(created).6f %(name)s %(message)s")
logging.getLogger("contradiction").setLevel(logging.DEBUG)
from contradiction.cli import run_main
from contradiction.serving.cli import main
run_main(main)
"""
READ = re.compile(r"^(\S+) \S+ read .*: (\d+) rows in (\S+) s$")
COUNTED = re.compile(r"^(\S+) \S+ job of (\d+) pairs: tokens counted in (\S+) s \((\d+) chunks\)$")
PREDICTED = re.compile(r"^(\S+) \S+ job of (\d+) pairs: predicted in (\S+) s \((\d+) chunks\)$")


class App:
    """`app.py --model MODEL` in its own process; `events` gets the phases of the file from its log."""

    def __init__(self, model: str, rows: int, chunk_size: int) -> None:
        port = free_port()
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", **one_address_env()}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
        self.command = [sys.executable, "-c", APP, "--model", model, "--port", str(port), "--monitor_db", "none"]
        self.command += ["--chunk_size", str(chunk_size), "--max_rows", str(max(rows, 20_000))]
        self.process = subprocess.Popen(
            self.command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.url = f"http://127.0.0.1:{port}/"
        self.events: dict[str, dict] = {}
        self.tail: list[str] = []
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_log(self) -> None:
        for line in self.process.stderr:
            line = line.rstrip("\n")
            self.tail = [*self.tail[-20:], line]
            if m := READ.match(line):
                end, seconds = float(m[1]), float(m[3])
                self.events["read"] = {"start": end - seconds, "end": end, "rows": int(m[2])}
            elif (m := COUNTED.match(line)) or (m := PREDICTED.match(line)):
                end, seconds = float(m[1]), float(m[3])
                phase = "counted" if "tokens counted" in line else "predicted"
                self.events[phase] = {"start": end - seconds, "end": end, "rows": int(m[2]), "chunks": int(m[4])}

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                status = self.process.returncode
                raise SystemExit(f"error: the app exited with status {status}:\n" + "\n".join(self.tail))
            try:
                Client(self.url, verbose=False, analytics_enabled=False).predict(*PAIRS[0], api_name="/predict")
                return
            except Exception:
                time.sleep(0.5)
        self.stop()
        raise SystemExit(f"error: the app did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def write_file(source: Path, rows: int, path: Path) -> Path:
    """`rows` rows in the competition test schema: `source`'s rows over and over, each with a new id."""
    with open(source, encoding="utf-8-sig", newline="") as f:
        pool = [{k: r[k] for k in ("premise", "hypothesis", "lang_abv", "language")} for r in csv.DictReader(f)]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, ["id", "premise", "hypothesis", "lang_abv", "language"])
        writer.writeheader()
        for i in range(rows):
            writer.writerow({"id": f"bench{i:07d}", **pool[i % len(pool)]})
    return path


def stats(seconds: list[float]) -> dict:
    if not seconds:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    ms = np.array(seconds) * 1000
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_ms": float(ms.max()),
    }


def idle(url: str, requests: int, chunk_size: int) -> tuple[dict, dict]:
    """Single pairs in a row, then /predict_batch calls of one forward chunk each."""
    client = Client(url, verbose=False, analytics_enabled=False)
    singles, chunks = [], []
    premises = [PAIRS[k % len(PAIRS)][0] for k in range(chunk_size)]
    hypotheses = [PAIRS[k % len(PAIRS)][1] for k in range(chunk_size)]
    for k in range(requests):
        start = time.perf_counter()
        client.predict(*PAIRS[k % len(PAIRS)], api_name="/predict")
        singles.append(time.perf_counter() - start)
    for _ in range(requests):
        start = time.perf_counter()
        client.predict(premises, hypotheses, api_name="/predict_batch")
        chunks.append(time.perf_counter() - start)
    return stats(singles), stats(chunks)


def under_load(app: App, csv_path: Path, pace: float, predict_s: float, whole_file: bool) -> list[tuple[float, float]]:
    """The file through /predict_file with single pairs every `pace` s meanwhile: their (start, end) wall times."""
    client = Client(app.url, verbose=False, analytics_enabled=False)
    pairs_client = Client(app.url, verbose=False, analytics_enabled=False)
    done = threading.Event()
    calls: list[tuple[float, float]] = []

    def interactive() -> None:
        k = 0
        while not done.is_set():
            start = time.time()
            pairs_client.predict(*PAIRS[k % len(PAIRS)], api_name="/predict")
            calls.append((start, time.time()))
            k += 1
            done.wait(max(0.0, pace - (time.time() - start)))

    thread = threading.Thread(target=interactive)
    thread.start()
    job = client.submit(handle_file(csv_path), api_name="/predict_file")
    try:
        while not job.done():
            predicting = app.events.get("counted")
            if not whole_file and predicting is not None and time.time() > predicting["end"] + predict_s:
                job.cancel()
                break
            time.sleep(0.05)
        if whole_file:
            job.result(timeout=3600)
    finally:
        done.set()
        thread.join()
    return calls


def overlapping(calls: list[tuple[float, float]], phase: dict | None) -> list[float]:
    if phase is None:
        return []
    return [end - start for start, end in calls if start < phase["end"] and end > phase["start"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model folder the app serves")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the uploaded file (default 20,000)")
    parser.add_argument("--source_csv", help="rows to repeat (default: the competition test CSV, else data/sample)")
    parser.add_argument("--chunk_size", type=int, default=16, help="the app's --chunk_size (default 16)")
    parser.add_argument("--requests", type=int, default=20, help="idle single pairs and chunk calls (default 20)")
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between single pairs during the file")
    parser.add_argument("--predict_s", type=float, default=5.0, help="seconds of prediction before the file is stopped")
    parser.add_argument("--whole_file", action="store_true", help="predict the whole file instead of stopping it")
    parser.add_argument("--name", default="measure_under_load", help="results file name (benchmarks/results/NAME.json)")
    args = parser.parse_args()

    source = Path(args.source_csv) if args.source_csv else WATSON / "test.csv"
    if not source.is_file():
        source = ROOT / "data" / "sample" / "test.csv"
    app = App(args.model, args.rows, args.chunk_size)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = write_file(source, args.rows, Path(tmp) / "upload.csv")
            app.wait_ready()
            single, chunk = idle(app.url, args.requests, args.chunk_size)
            calls = under_load(app, csv_path, args.pace, args.predict_s, args.whole_file)
            time.sleep(0.5)  # the last log lines
    finally:
        app.stop()
    read, counted = app.events.get("read"), app.events.get("counted")
    if read is None or counted is None:
        raise SystemExit("error: the app's log did not say when the file was read and counted:\n" + "\n".join(app.tail))
    count_chunk_ms = (counted["end"] - counted["start"]) / counted["chunks"] * 1000
    rows = [
        {"phase": "idle", **single},
        {"phase": f"idle /predict_batch of {args.chunk_size} (one forward chunk)", **chunk},
        {"phase": "file being read", **stats(overlapping(calls, read))},
        {"phase": "tokens being counted", **stats(overlapping(calls, counted))},
        {"phase": "file being predicted", **stats(overlapping(calls, {"start": counted["end"], "end": calls[-1][1]}))},
    ]
    phases = {
        "read_s": read["end"] - read["start"],
        "count_s": counted["end"] - counted["start"],
        "count_chunks": counted["chunks"],
        "count_chunk_ms": count_chunk_ms,
        "forward_chunk_p50_ms": chunk["p50_ms"],
    }
    print_table(rows, ["phase", "n", "p50_ms", "p95_ms", "max_ms"])
    print()
    print_table([phases], list(phases))
    goal_ms = single["p95_ms"] + max(chunk["p50_ms"], count_chunk_ms)
    during = rows[3]["p95_ms"]
    met = during is not None and during <= goal_ms
    verdict = "met" if met else "NOT met"
    print(f"\nwhile counted: p95 {during} ms; goal idle p95 + one chunk = {goal_ms:.0f} ms: {verdict}")
    save(
        args.name,
        {
            "model": args.model,
            "rows": args.rows,
            "source": source.name,
            "pace_s": args.pace,
            "phases": phases,
            "goal_ms": goal_ms,
            "goal_met": met,
            "latency": rows,
        },
    )


if __name__ == "__main__":
    main()
