"""How far bfloat16 moves zero-shot scores, and what re-scoring some pairs in float32 would buy back.

    python benchmarks/zero_shot_precision.py --model /work/runs/e5-small-extra --texts 1000

The texts and labels of benchmarks/zero_shot_speed.py (SIB-200 sentences over the 15 languages, its 7 topics, the
default template). Every pair's logits in bfloat16 (the fast path) and in float32 (the transformers pipeline's
precision, whose scores ours match to 3e-6): the error of the entailment logit, and the scores' largest
difference and top-label agreement when some of the bfloat16 pairs are re-scored in float32, chosen by (a) their
own bfloat16 score (a pair with a small score moves the others little), or (b) a text's margin between its first
two labels (where the top label can flip). The share re-scored is what it would cost: each re-scored pair costs
a float32 pass on top of the bfloat16 one. Last, the matrix product of an e5-small feed-forward layer (4,096
tokens x 384 -> 1,536) in each arithmetic torch has on this CPU: what a faster exact path could be built on.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import print_table, save
from zero_shot_accuracy import TOPICS, load

from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor
from contradiction.inference.zero_shot import ZeroShotTask, label_columns, scores


def matmul_speed() -> list[dict]:
    """Throughput of one feed-forward-sized matrix product per arithmetic (GFLOP/s; int8 counts its operations)."""
    import torch

    tokens, width, hidden = 4096, 384, 1536
    x, w = torch.randn(tokens, width), torch.randn(hidden, width)
    import functools

    linear, int_mm = torch.nn.functional.linear, torch._int_mm
    runs = {
        "float32": functools.partial(linear, x, w),
        "bfloat16": functools.partial(linear, x.bfloat16(), w.bfloat16()),
        "float16": functools.partial(linear, x.half(), w.half()),
        "int8 (torch._int_mm, int32 sums)": functools.partial(int_mm, x.to(torch.int8), w.t().to(torch.int8)),
    }
    rows = []
    for name, run in runs.items():
        for _ in range(3):
            run()
        start, repeats = time.perf_counter(), 20
        for _ in range(repeats):
            run()
        seconds = (time.perf_counter() - start) / repeats
        rows.append({"arithmetic": name, "GFLOP/s": 2 * tokens * width * hidden / seconds / 1e9})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--texts", type=int, default=1000)
    args = parser.parse_args()

    df = load(701, seed=0)
    df = df.groupby("lang_abv").head(-(-args.texts // df["lang_abv"].nunique())).head(args.texts)
    task = ZeroShotTask.create(list(TOPICS))
    premises, hypotheses = task.pairs(df["text"].tolist())
    logits, seconds = {}, {}
    for fast in (True, False):
        predictor = Predictor.from_pretrained(args.model, PredictorOptions(fast=fast))
        start = time.perf_counter()
        logits[fast] = predictor.logits(premises, hypotheses).astype(np.float64)
        seconds[fast] = time.perf_counter() - start
    entailment, contradiction = label_columns(predictor.label_index)
    n = len(task.labels)

    def score(values: np.ndarray) -> np.ndarray:
        return scores(values, n, entailment, contradiction, multi_label=False)

    fast, exact = score(logits[True]), score(logits[False])
    error = np.abs(logits[True][:, entailment] - logits[False][:, entailment])
    rows = [
        {
            "re-scored in float32": "none (bfloat16)",
            "share of pairs": 0.0,
            "same top label": float((fast.argmax(1) == exact.argmax(1)).mean()),
            "max score difference": float(np.abs(fast - exact).max()),
        }
    ]
    for threshold in (0.05, 0.1, 0.15, 0.2, 0.3):
        chosen = (fast >= threshold).reshape(-1)
        mixed = logits[True].copy()
        mixed[chosen] = logits[False][chosen]
        s = score(mixed)
        rows.append(
            {
                "re-scored in float32": f"pairs scoring >= {threshold}",
                "share of pairs": float(chosen.mean()),
                "same top label": float((s.argmax(1) == exact.argmax(1)).mean()),
                "max score difference": float(np.abs(s - exact).max()),
            }
        )
    ordered = np.sort(fast, axis=1)
    for margin in (0.02, 0.05, 0.1):
        chosen = ordered[:, -1] - ordered[:, -2] < margin
        s = np.where(chosen[:, None], exact, fast)
        rows.append(
            {
                "re-scored in float32": f"texts with a top-2 margin < {margin}",
                "share of pairs": float(chosen.mean()),
                "same top label": float((s.argmax(1) == exact.argmax(1)).mean()),
                "max score difference": float(np.abs(s - exact).max()),
            }
        )
    print(f"{len(df)} texts x {n} labels = {len(premises)} pairs; model {args.model}")
    print(
        f"forward passes: bfloat16 {seconds[True]:.1f} s, float32 {seconds[False]:.1f} s "
        f"({seconds[False] / seconds[True]:.2f}x)"
    )
    p99 = np.percentile(error, 99)
    print(f"entailment logit error of bfloat16: mean {error.mean():.4f}, p99 {p99:.4f}, max {error.max():.4f}\n")
    print_table(rows, ["re-scored in float32", "share of pairs", "same top label", "max score difference"])
    products = matmul_speed()
    print()
    print_table(products, ["arithmetic", "GFLOP/s"])
    logit_error = {"mean": float(error.mean()), "p99": float(p99), "max": float(error.max())}
    save(
        "zero_shot_precision",
        {
            "model": args.model,
            "texts": len(df),
            "rows": rows,
            "logit_error": logit_error,
            "seconds": {"bfloat16": seconds[True], "float32": seconds[False]},
            "matmul": products,
        },
    )


if __name__ == "__main__":
    main()
