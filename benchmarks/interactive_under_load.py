"""Interactive first: `/predict` latency while another user's CSV file runs through the app, and the file's time.

    python benchmarks/interactive_under_load.py --model /work/runs/e5-small-cal
    python benchmarks/interactive_under_load.py --baseline_src /tmp/baseline/src --chunk_sizes 16 32 64
    python benchmarks/interactive_under_load.py --engines auto transformers   # the app's --engine, side by side

Each app is started as its own process (`python app.py --monitor_db none`), as a user would serve it, then:
1. idle: one client sends `--requests` single pairs in a row (p50, p95, max);
2. the competition test CSV (5,195 rows) alone through `/predict_file` (seconds);
3. the same file again, while one client sends a single pair every `--pace` seconds until the file is done
   (the pairs' p50, p95, max; the file's seconds).
Steps 2 and 3 alternate `--repeats` times in the same app; the slowdown is the median loaded over the median alone
(each repeat's ratio is kept too). The idle step also notes the CPU one `/predict` costs the app's process and the
client's (all on the same 2 cores: what the client spends, the file loses as much as what the app spends).
Goals (issue 11): p95 during the file <= 3 x idle p95 + 0.5 s; the file under load <= 1.15 x alone.
`--baseline_src` runs the same measurements on another checkout's package (e.g. a `git worktree` of the
commit before the scheduler), side by side in the same run. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_MODEL, ROOT, WATSON, one_address_env, print_table, save
from gradio_client import Client, handle_file

PAIRS = [  # our own sentences (the app's examples are in the package; these keep the baseline comparable)
    ("A woman is reading a newspaper on the morning train.", "A woman is on a train."),
    ("Le musée ferme ses portes à dix-huit heures le dimanche.", "Le dimanche, le musée reste ouvert toute la nuit."),
    ("Mi hermana compró una bicicleta roja la semana pasada.", "Mi hermana va al trabajo en bicicleta."),
    ("Der Zug nach Hamburg hatte heute Morgen Verspätung.", "Der Zug kam pünktlich an."),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(
    model: str, src: Path | None, chunk_size: int | None, engine: str | None = None
) -> tuple[subprocess.Popen, str]:
    """`python app.py` in its own process; `src` puts another checkout's package first on the path."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", **one_address_env()}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    command = [sys.executable, str((src.parent if src else ROOT) / "app.py"), "--model", model, "--port", str(port)]
    command += ["--monitor_db", "none"] + (["--chunk_size", str(chunk_size)] if chunk_size else [])
    command += ["--engine", engine] if engine else []
    app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"error: the app exited with status {app.returncode}: {' '.join(command)}")
        try:
            Client(url, verbose=False, analytics_enabled=False).predict(*PAIRS[0], api_name="/predict")
            return app, url
        except Exception:
            time.sleep(0.5)
    app.kill()
    raise SystemExit(f"error: the app did not answer within 300 s: {' '.join(command)}")


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_ms": float(ms.max()),
        "all_ms": ms.tolist(),
    }


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def idle_latency(url: str, requests: int, app_pid: int) -> dict:
    client = Client(url, verbose=False, analytics_enabled=False)
    times = []
    app_cpu, client_cpu = process_cpu_s(app_pid), own_cpu_s()
    for k in range(requests):
        start = time.perf_counter()
        client.predict(*PAIRS[k % len(PAIRS)], api_name="/predict")
        times.append(time.perf_counter() - start)
    cpu = {
        "app_cpu_ms_per_request": (process_cpu_s(app_pid) - app_cpu) / requests * 1000,
        "client_cpu_ms_per_request": (own_cpu_s() - client_cpu) / requests * 1000,
    }
    return {k: v for k, v in percentiles(times).items() if k != "all_ms"} | cpu


def run_file(url: str, csv: Path, pace: float | None) -> tuple[float, dict | None]:
    """The file's seconds through /predict_file; with `pace`, a pair every `pace` s meanwhile (latencies)."""
    client = Client(url, verbose=False, analytics_enabled=False)
    pairs_client = Client(url, verbose=False, analytics_enabled=False)
    done = threading.Event()
    times: list[float] = []

    def interactive() -> None:
        k = 0
        while not done.is_set():
            start = time.perf_counter()
            pairs_client.predict(*PAIRS[k % len(PAIRS)], api_name="/predict")
            elapsed = time.perf_counter() - start
            if not done.is_set():
                times.append(elapsed)
            k += 1
            done.wait(max(0.0, pace - elapsed))

    start = time.perf_counter()
    job = client.submit(handle_file(csv), api_name="/predict_file")
    thread = None
    if pace is not None:
        time.sleep(1.0)  # the upload is read and the file is in the model
        thread = threading.Thread(target=interactive)
        thread.start()
    job.result(timeout=1800)
    seconds = time.perf_counter() - start
    done.set()
    if thread is not None:
        thread.join()
    return seconds, percentiles(times) if times else None


def measure(
    name: str,
    model: str,
    src: Path | None,
    chunk: int | None,
    csv: Path,
    requests: int,
    pace: float,
    repeats: int,
    engine: str | None = None,
) -> dict:
    print(f"{name}: starting the app", flush=True)
    app, url = start_app(model, src, chunk, engine)
    alone, loaded, during = [], [], []
    try:
        idle = idle_latency(url, requests, app.pid)
        for _ in range(repeats):
            alone.append(run_file(url, csv, None)[0])
            seconds, latencies = run_file(url, csv, pace)
            loaded.append(seconds)
            during.append(latencies)
            print(f"{name}: alone {alone[-1]:.1f} s, loaded {loaded[-1]:.1f} s", flush=True)
    finally:
        app.terminate()
        app.wait(30)
    pooled = [ms for d in during for ms in d.pop("all_ms")]
    row = {
        "app": name,
        "idle_p50_ms": idle["p50_ms"],
        "idle_p95_ms": idle["p95_ms"],
        "app_cpu_ms_per_request": idle["app_cpu_ms_per_request"],
        "client_cpu_ms_per_request": idle["client_cpu_ms_per_request"],
        "during_p50_ms": float(np.percentile(pooled, 50)),
        "during_p95_ms": float(np.percentile(pooled, 95)),
        "during_max_ms": float(max(pooled)),
        "during_n": len(pooled),
        "file_alone_s": statistics.median(alone),
        "file_loaded_s": statistics.median(loaded),
        "repeats": repeats,
        "file_alone_each_s": alone,
        "file_loaded_each_s": loaded,
        "file_slowdown_each": [b / a for a, b in zip(alone, loaded, strict=True)],
    }
    row["p95_goal_ms"] = 3 * idle["p95_ms"] + 500
    row["p95_goal_met"] = row["during_p95_ms"] <= row["p95_goal_ms"]
    row["file_slowdown"] = row["file_loaded_s"] / row["file_alone_s"]
    row["file_goal_met"] = row["file_slowdown"] <= 1.15
    print_table([row], [k for k in row if not k.endswith("_each") and not k.endswith("_each_s")])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model folder the apps serve")
    parser.add_argument("--csv", default=str(WATSON / "test.csv"), help="the file (default: the 5,195 test pairs)")
    parser.add_argument("--baseline_src", help="another checkout's src/ (e.g. a git worktree of the old commit)")
    parser.add_argument("--chunk_sizes", type=int, nargs="+", default=[16], help="--chunk_size values to measure")
    parser.add_argument("--requests", type=int, default=40, help="idle single pairs (default 40)")
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between single pairs during the file")
    parser.add_argument("--repeats", type=int, default=3, help="file alone, then loaded, this many times (default 3)")
    parser.add_argument("--engines", nargs="+", help="the app's --engine values to measure (default: its default)")
    args = parser.parse_args()

    csv = Path(args.csv)
    rows = []
    common = (csv, args.requests, args.pace, args.repeats)
    if args.baseline_src:
        rows.append(measure("baseline", args.model, Path(args.baseline_src), None, *common))
    for engine in args.engines or [None]:
        for chunk in args.chunk_sizes:
            name = f"scheduler, chunk {chunk}" + (f", engine {engine}" if engine else "")
            rows.append(measure(name, args.model, None, chunk, *common, engine=engine))
    print()
    columns = [
        "app",
        "idle_p95_ms",
        "app_cpu_ms_per_request",
        "client_cpu_ms_per_request",
        "during_p95_ms",
        "p95_goal_ms",
        "file_alone_s",
        "file_loaded_s",
        "file_slowdown",
    ]
    print_table(rows, columns)
    for row in rows:
        each = ", ".join(f"{r:.3f}" for r in row["file_slowdown_each"])
        print(f"{row['app']}: slowdown of each repeat {each}")
    save("interactive_under_load", {"model": args.model, "csv": csv.name, "pace_s": args.pace, "rows": rows})


if __name__ == "__main__":
    main()
