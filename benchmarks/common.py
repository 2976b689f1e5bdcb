"""What every benchmark shares: the machine, the real data's location, a table printer, JSON results."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WATSON = Path(os.environ.get("WATSON_DIR", ROOT.parent / "shared" / "data" / "watson"))
DEFAULT_MODEL = os.environ.get("BENCH_MODEL", "/work/runs/e5-small-watson")
BACKBONE = os.environ.get("BENCH_BACKBONE", str(Path.home() / ".cache/offline-backbones/multilingual-e5-small"))


ONE_ADDRESS_LIMITS = {"rate_limit": "1000000/minute", "max_client_in_flight": 1024, "max_in_flight": 1024}
"""The app's bounds per client and route (serving/bounds.py) for a benchmark whose clients all come from this
machine's loopback address: with the defaults they would count as one client, refused what a crowd of clients is
not. `one_address_env()` gives them as app.py's environment variables, which an older checkout ignores."""


def one_address_env() -> dict[str, str]:
    from contradiction.serving.limits import LIMIT_ENV

    return {LIMIT_ENV[name]: str(value) for name, value in ONE_ADDRESS_LIMITS.items()}


def machine() -> dict:
    """CPU model, cores and the instruction-set flags that decide matmul speed."""
    flags: set[str] = set()
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    import torch

    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "flags": [f for f in wanted if f in flags],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(fmt(r.get(c)).ljust(widths[c]) for c in columns))


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, ensure_ascii=False) + "\n")
    print(f"\nsaved {path.relative_to(ROOT)}")
    return path
