"""Hostile load: clients sending the heaviest requests the limits allow while one person sends a pair every second.

    python benchmarks/hostile_load.py --model /work/runs/e5-small-watson --duration 300
    python benchmarks/hostile_load.py --tiny --duration 20            # a quick run on an untrained tiny model

The app runs as its own process (`python app.py`, its default limits, a fresh monitoring database), as an operator
serves it. Each client sends from an address of its own on the loopback (127.0.1.N; the person 127.0.0.1), so the
app's per-client limits see them as different clients. Then:
1. idle: the person alone, a pair every second through `POST /api/v1/nli`, for `--idle` seconds;
2. hostile: the same person, while `--clients` hostile clients (default 24) each run `--streams` requests at once
   (default 10, more than `--max_client_in_flight` lets through), for `--duration` seconds. Each client sends one
   kind, in turn across clients: a document check of `max_document_chars` with as many claim sentences as the
   pair limit allows (it starts with more and takes the numbers of its 413), a classification of `max_chars` into
   `max_labels` labels, a `/predict_batch`-sized list of `max_pairs` pairs of `max_chars` texts, or a CSV of
   `max_rows` rows and close to `max_upload_mb` uploaded and predicted through `/predict_file` (a file still
   running when the time is up is cancelled, as the page's Stop does). A refused request waits the Retry-After it
   was given before the next (`--ignore_retry_after`: at once; the clients share the app's cores, so their own
   work on refusals then slows the app as much as the refusals themselves).
It reports the person's p50 and p95 idle and under load (goal: p95 within 2x of idle), each hostile kind's answers
by status (200, 413, 429, 503, 500, other), the app's peak resident memory (goal: 1.5 GB at most), the 500s of the
whole run (goal: none) and whether every answered prediction is in the monitoring database once (the person's
pairs, the lists' pairs and the files' rows; classifications and document checks are counted, not recorded).
Results go to benchmarks/results/hostile_load.json. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from common import DEFAULT_MODEL, ROOT, print_table, save

from contradiction.serving.limits import Limits
from contradiction.serving.pairs import EXAMPLES
from contradiction.tiny import build_tiny_model, sample_sentences

LIMITS = Limits()  # the app is started with its defaults
KINDS = ("document", "classify", "batch", "file")
PERSON = "127.0.0.1"
APP_START_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(model: str, folder: Path) -> tuple[subprocess.Popen, str, Path]:
    """`python app.py` in its own process on a free loopback port, recording into a fresh database in `folder`."""
    port, db = free_port(), folder / "monitoring.sqlite"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(ROOT / "app.py"), "--model", model, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--monitor_db", str(db)]
    log = open(folder / "app.log", "wb")  # noqa: SIM115 - the app writes to it until it is stopped
    app = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + APP_START_S
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"error: the app exited with status {app.returncode}; see {folder / 'app.log'}")
        try:
            if httpx.get(f"{url}config", timeout=5).status_code == 200:
                return app, url, db
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    app.kill()
    raise SystemExit(f"error: the app did not answer within {APP_START_S} s; see {folder / 'app.log'}")


def memory_mb(pid: int) -> tuple[float, float]:
    """The process's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))


def client(address: str, timeout: float = 300) -> httpx.Client:
    """An HTTP client whose connections come from `address` (any of 127.0.0.0/8 reaches the app on Linux)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=timeout)


# --- what the hostile clients send: our own sentences, up to each limit


def texts_up_to(sentences: list[str], chars: int, start: int = 0) -> str:
    """Sentences joined until `chars` characters, cut there."""
    out, i = [], start
    while sum(map(len, out)) + len(out) < chars:
        out.append(sentences[i % len(sentences)])
        i += 1
    return " ".join(out)[:chars]


def big_csv(sentences: list[str], path: Path) -> Path:
    """A CSV in the competition's test format of `max_rows` rows, a little under `max_upload_mb`."""
    per_row = (LIMITS.max_upload_bytes - 2**16) // LIMITS.max_rows  # bytes a row may take
    premise = texts_up_to(sentences, per_row).encode()
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "premise", "hypothesis", "lang_abv", "language"])
        for i in range(LIMITS.max_rows):
            hypothesis = sentences[i % len(sentences)]
            room = per_row - len(hypothesis.encode()) - 40  # the id, the language columns, quotes and commas
            writer.writerow([f"h{i}", premise[:room].decode("utf-8", "ignore"), hypothesis, "en", "English"])
    assert path.stat().st_size <= LIMITS.max_upload_bytes, path.stat().st_size
    return path


class Hostile:
    """The hostile clients: what they send, and every answer they got, by kind and status."""

    def __init__(self, url: str, sentences: list[str], folder: Path, fn_index: int) -> None:
        self.url = url
        # the bodies encoded once: the clients share the app's cores, so they should spend little of them
        self.document = texts_up_to(sentences, LIMITS.max_document_chars)
        self.claims = 40  # claim sentences of the next document check: lowered to what the pair limit allows
        self.document_body = self.document_json()
        self.ignore_retry_after = False
        classify = {
            "text": texts_up_to(sentences, LIMITS.max_chars),
            "labels": [f"topic {i}: {texts_up_to(sentences, 40, i)}" for i in range(LIMITS.max_labels)],
        }
        self.classify_body = json.dumps(classify).encode()
        long = texts_up_to(sentences, LIMITS.max_chars)
        batch = {"pairs": [[long, sentences[i % len(sentences)]] for i in range(LIMITS.max_pairs)]}
        self.batch_body = json.dumps(batch).encode()
        self.csv = big_csv(sentences, folder / "hostile.csv")
        self.fn_index = fn_index  # /predict_file's, for its cancel
        self.answers: Counter[tuple[str, str]] = Counter()
        self.batch_pairs_answered = 0
        self.file_rows_answered = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def count(self, kind: str, status: str) -> None:
        with self.lock:
            self.answers[(kind, status)] += 1

    def run(self, kind: str, address: str) -> None:
        """One stream of one client: requests of `kind` in a row until `stop`; after a refusal, the `Retry-After`
        it gave, unless `ignore_retry_after`."""
        with client(address) as http:
            while not self.stop.is_set():
                try:
                    wait = getattr(self, f"send_{kind}")(http)
                except httpx.HTTPError as err:
                    self.count(kind, type(err).__name__)
                    wait = None
                if wait and not self.ignore_retry_after:
                    self.stop.wait(wait)

    def answered(self, kind: str, response: httpx.Response) -> float | None:
        """Count `response`; the seconds its Retry-After asks for, if any."""
        self.count(kind, str(response.status_code))
        wait = response.headers.get("retry-after", "")
        return float(wait) if wait.isdigit() else None

    def document_json(self) -> bytes:
        claims = " ".join(f"Claim number {i + 1} is about the document." for i in range(self.claims))
        return json.dumps({"document": self.document, "claims": claims}).encode()

    def post(self, http: httpx.Client, path: str, body: bytes) -> httpx.Response:
        return http.post(f"{self.url}{path}", content=body, headers={"Content-Type": "application/json"})

    def send_document(self, http: httpx.Client) -> float | None:
        response = self.post(http, "api/v1/check_document", self.document_body)
        numbers = re.search(r"\(([\d,]+) windows x ([\d,]+) claim", response.text)
        if response.status_code == 413 and numbers:  # as a hostile client would: just under the limit next time
            claims = max(1, LIMITS.max_document_pairs // int(numbers.group(1).replace(",", "")))
            if claims != self.claims:
                self.claims = claims
                self.document_body = self.document_json()
        return self.answered("document", response)

    def send_classify(self, http: httpx.Client) -> float | None:
        return self.answered("classify", self.post(http, "api/v1/classify", self.classify_body))

    def send_batch(self, http: httpx.Client) -> float | None:
        response = self.post(http, "api/v1/nli", self.batch_body)
        if response.status_code == 200:
            with self.lock:
                self.batch_pairs_answered += len(response.json())
        return self.answered("batch", response)

    def send_file(self, http: httpx.Client) -> float | None:
        with open(self.csv, "rb") as f:
            upload = http.post(f"{self.url}gradio_api/upload", files={"files": (self.csv.name, f, "text/csv")})
        if upload.status_code != 200:
            return self.answered("file", upload)
        session = uuid.uuid4().hex
        data = {"data": [{"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}], "session_hash": session}
        start = http.post(f"{self.url}gradio_api/call/predict_file", json=data)
        if start.status_code != 200:
            return self.answered("file", start)
        self.count("file", self.follow(http, start.json()["event_id"], session))
        return None

    def follow(self, http: httpx.Client, event: str, session: str) -> str:
        """Read a file's event stream to its end, or cancel it at `stop` (as the page's Stop button does)."""
        done = threading.Event()
        found = ["cancelled"]

        def read() -> None:
            try:
                with http.stream("GET", f"{self.url}gradio_api/call/predict_file/{event}", timeout=None) as stream:
                    kind = ""
                    for line in stream.iter_lines():
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data:") and kind in ("complete", "error"):
                            data = json.loads(line[5:])
                            if kind == "complete" and isinstance(data, list) and data and data[0]:
                                found[0] = "200"
                                with self.lock:
                                    self.file_rows_answered += LIMITS.max_rows
                            elif kind == "error":
                                found[0] = "error"
                            return
            except httpx.HTTPError as err:
                found[0] = type(err).__name__
            finally:
                done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while not done.wait(0.5):
            if self.stop.is_set():
                cancel = {"session_hash": session, "fn_index": self.fn_index, "event_id": event}
                httpx.post(f"{self.url}gradio_api/cancel", json=cancel, timeout=30)
                done.wait(30)
                break
        return found[0]


def person(url: str, seconds: float, pace: float, stop: threading.Event | None = None) -> dict:
    """A pair every `pace` seconds through /api/v1/nli for `seconds`: the latencies of the answered ones."""
    latencies, statuses, sentences = [], Counter(), {}
    pairs = [(p, h) for _, _, p, h in EXAMPLES]
    end = time.monotonic() + seconds
    with client(PERSON, timeout=120) as http:
        k = 0
        while time.monotonic() < end and not (stop and stop.is_set()):
            tick = time.monotonic()
            premise, hypothesis = pairs[k % len(pairs)]
            try:
                response = http.post(f"{url}api/v1/nli", json={"premise": premise, "hypothesis": hypothesis})
                statuses[str(response.status_code)] += 1
                if response.status_code == 200:
                    latencies.append(time.monotonic() - tick)
                else:
                    sentences.setdefault(str(response.status_code), response.text[:300])
            except httpx.HTTPError as err:
                statuses[type(err).__name__] += 1
            k += 1
            time.sleep(max(0.0, pace - (time.monotonic() - tick)))
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "pairs": sum(statuses.values()),
        "answered": len(latencies),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_ms": float(np.max(ms)),
        "statuses": dict(statuses),
        "refusals": sentences,
    }


def recorded(db: Path) -> dict[str, int]:
    """Rows of the monitoring database by endpoint, once the app's writer has caught up (two equal reads)."""
    last: dict[str, int] | None = None
    for _ in range(30):
        with sqlite3.connect(db, timeout=30) as connection:
            now = dict(connection.execute("SELECT endpoint, COUNT(*) FROM predictions GROUP BY endpoint").fetchall())
        if now == last:
            return now
        last = now
        time.sleep(1.0)
    return last or {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model folder for the app (default {DEFAULT_MODEL})")
    parser.add_argument("--tiny", action="store_true", help="an untrained tiny model instead (checks that it runs)")
    parser.add_argument("--duration", type=float, default=300, help="seconds of hostile load (default 300)")
    parser.add_argument("--idle", type=float, default=30, help="seconds of the person alone first (default 30)")
    parser.add_argument("--clients", type=int, default=24, help="hostile clients (default 24)")
    parser.add_argument("--streams", type=int, default=10, help="requests each hostile client runs at once (10)")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between the person's pairs (default 1)")
    parser.add_argument(
        "--ignore_retry_after",
        action="store_true",
        help="refused clients retry at once (on a machine shared with the app, the clients' CPU then counts too)",
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="what the hostile clients send (default: all)"
    )
    args = parser.parse_args()
    if not (5 <= args.duration <= 3600 and 5 <= args.idle <= 600 and 1 <= args.clients <= 200):
        sys.exit("error: keep --duration within 5-3600 s, --idle within 5-600 s and --clients within 1-200.")
    if not (1 <= args.streams <= 32 and 0.1 <= args.pace <= 10):
        sys.exit("error: keep --streams within 1-32 and --pace within 0.1-10 s.")

    folder = Path(tempfile.mkdtemp(prefix="hostile-load-"))
    sentences = sample_sentences(ROOT / "data" / "sample")
    model = str(build_tiny_model(folder / "tiny", sentences, seed=0)) if args.tiny else args.model
    app, url, db = start_app(model, folder)
    print(f"app on {url} (pid {app.pid}) with {model}; database and log in {folder}", flush=True)
    peak = [0.0]
    watching = threading.Event()

    def watch_memory() -> None:
        while not watching.wait(0.5):
            peak[0] = max(peak[0], memory_mb(app.pid)[0])

    threading.Thread(target=watch_memory, daemon=True).start()
    try:
        config = httpx.get(f"{url}config", timeout=30).json()
        fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "predict_file")
        hostile = Hostile(url, sentences, folder, fn_index)
        hostile.ignore_retry_after = args.ignore_retry_after
        print(f"idle: a pair every {args.pace:g} s for {args.idle:g} s", flush=True)
        idle = person(url, args.idle, args.pace)
        print(f"hostile: {args.clients} clients x {args.streams} streams for {args.duration:g} s", flush=True)
        streams = [
            threading.Thread(
                target=hostile.run, args=(args.kinds[c % len(args.kinds)], f"127.0.1.{c + 1}"), daemon=True
            )
            for c in range(args.clients)
            for _ in range(args.streams)
        ]
        for stream in streams:
            stream.start()
        loaded = person(url, args.duration, args.pace)
        hostile.stop.set()
        for stream in streams:
            stream.join(timeout=300)
        still = sum(stream.is_alive() for stream in streams)
        rows = recorded(db)
        rss_now, hwm = memory_mb(app.pid)
    finally:
        watching.set()
        app.send_signal(signal.SIGINT)
        try:
            app.wait(timeout=60)
        except subprocess.TimeoutExpired:
            app.kill()
    tracebacks = (folder / "app.log").read_text(errors="replace").count("Traceback")

    statuses = sorted({status for _, status in hostile.answers})
    per_kind = [{"kind": kind, **{s: hostile.answers[(kind, s)] for s in statuses}} for kind in args.kinds]
    server_errors = sum(n for (_, status), n in hostile.answers.items() if status == "500")
    server_errors += sum(n for status, n in (*idle["statuses"].items(), *loaded["statuses"].items()) if status == "500")
    record = {
        "person pairs": (loaded["statuses"].get("200", 0) + idle["statuses"].get("200", 0), rows.get("api_v1_nli", 0)),
        "list pairs": (hostile.batch_pairs_answered, rows.get("api_v1_nli_pairs", 0)),
        "file rows": (hostile.file_rows_answered, rows.get("predict_file", 0)),
    }
    ratio = loaded["p95_ms"] / idle["p95_ms"]
    result = {
        "model": model,
        "duration_s": args.duration,
        "clients": args.clients,
        "streams": args.streams,
        "kinds": args.kinds,
        "idle": idle,
        "under_load": loaded,
        "p95_ratio": ratio,
        "hostile_answers": per_kind,
        "server_errors_500": server_errors,
        "tracebacks_in_app_log": tracebacks,
        "app_rss_peak_mb": max(hwm, peak[0]),
        "app_rss_end_mb": rss_now,
        "streams_still_running": still,
        "recorded": {name: {"answered": a, "rows": r} for name, (a, r) in record.items()},
    }
    print()
    print_table(
        [{"phase": "idle", **idle}, {"phase": "hostile", **loaded}],
        ["phase", "pairs", "answered", "p50_ms", "p95_ms", "max_ms", "statuses"],
    )
    print()
    print_table(per_kind, ["kind", *statuses])
    print()
    print_table(
        [{"what": name, "answered": a, "recorded": r} for name, (a, r) in record.items()],
        ["what", "answered", "recorded"],
    )
    checks = {
        "the person's p95 within 2x of idle": ratio <= 2.0,
        "no 500": server_errors == 0 and tracebacks == 0,
        "app memory peak <= 1.5 GB": result["app_rss_peak_mb"] <= 1536,
        "every answered prediction recorded once": all(a == r for a, r in record.values()),
    }
    print(f"\napp memory: peak {result['app_rss_peak_mb']:.0f} MB, at the end {rss_now:.0f} MB")
    print("\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in checks.items()))
    save("hostile_load", {**result, "checks": checks})
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
