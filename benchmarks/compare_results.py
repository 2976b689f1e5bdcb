"""Validation accuracy of trained models side by side, per language, with what is beyond noise.

Each run is an `eval_results.json` (train.py writes one per model) or a baseline JSON with the same
`per_language` shape. A difference is called beyond noise when a two-sided two-proportion z-test gives
p < 0.05 (unpaired: the baseline's own predictions are not kept). Prints a Markdown table, saves JSON.

    python benchmarks/compare_results.py benchmarks/results/baseline_cpu_small.json \
        mixed=/work/runs/extra-mixed/eval_results.json staged=/work/runs/extra-staged/eval_results.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from common import save


def z_test(a: float, n_a: int, b: float, n_b: int) -> float:
    """Two-sided p-value that accuracies a (of n_a pairs) and b (of n_b pairs) differ."""
    pooled = (a * n_a + b * n_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0
    return math.erfc(abs(a - b) / se / math.sqrt(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="JSON of the run to compare against")
    parser.add_argument("runs", nargs="+", help="NAME=path/to/eval_results.json")
    args = parser.parse_args()
    base = json.loads(Path(args.baseline).read_text())
    runs = {}
    for spec in args.runs:
        name, _, path = spec.partition("=")
        runs[name] = json.loads(Path(path).read_text())
    head = "| language | pairs | baseline | " + " | ".join(runs) + " |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    result: dict = {
        "baseline": args.baseline,
        "runs": {n: s.partition("=")[2] for n, s in zip(runs, args.runs, strict=True)},
    }
    langs = sorted(base["per_language"], key=lambda c: -base["per_language"][c]["rows"])
    for code in [*langs, "all"]:
        b = base if code == "all" else base["per_language"][code]
        cells = []
        for name, run in runs.items():
            r = run if code == "all" else run["per_language"][code]
            p = z_test(r["accuracy"], r["rows"], b["accuracy"], b["rows"])
            mark = " *" if p < 0.05 else ""
            cells.append(f"{r['accuracy']:.3f} ({r['accuracy'] - b['accuracy']:+.3f}){mark}")
            result.setdefault(code, {})[name] = {"accuracy": r["accuracy"], "rows": r["rows"], "p_value": p}
        result.setdefault(code, {})["baseline"] = {"accuracy": b["accuracy"], "rows": b["rows"]}
        label = "**all**" if code == "all" else code
        print(f"| {label} | {b['rows']} | {b['accuracy']:.3f} | " + " | ".join(cells) + " |")
    print("\n* beyond noise: two-proportion z-test against the baseline, p < 0.05")
    save("compare_results", result)


if __name__ == "__main__":
    main()
