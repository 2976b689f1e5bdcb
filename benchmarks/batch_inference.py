"""Batch inference over test.csv: our predictor against `transformers.pipeline` on the same model and data.

Each variant runs in its own process (its own peak memory), one after the other in this run:

- `pipeline`: `pipeline("text-classification", model=..., top_k=None)` with its default settings, fed
  `{"text": premise, "text_pair": hypothesis}` dicts: what a Space author would write;
- `predictor float32`: our predictor with the fast path off (`--no_fast`), pairs sorted by length;
- `predictor bfloat16`: the default where the CPU has AVX512-BF16 or AMX;
- `predictor int8`: torch dynamic int8 quantization of the linear layers (tried, not adopted).

Accuracy is measured on the validation split that data_prep made for the model (its `data/` folder).

    python benchmarks/batch_inference.py --model /work/runs/e5-small-watson
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from common import DEFAULT_MODEL, WATSON, peak_rss_mb, print_table, save

VARIANTS = ["pipeline", "float32 bs32", "float32 bs64", "bfloat16 bs32", "bfloat16 bs64", "bfloat16 bs128", "int8 bs32"]


def test_pairs(limit: int | None) -> tuple[list[str], list[str]]:
    with open(WATSON / "test.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:limit]
    return [r["premise"].strip() for r in rows], [r["hypothesis"].strip() for r in rows]


def validation(dataset_dir: str) -> tuple[list[str], list[str], list[int]]:
    from contradiction.data.competition import load_prepared

    splits, _ = load_prepared(dataset_dir)
    val = splits["validation"]
    return val["premise"], val["hypothesis"], val["label"]


def build_predictor(variant: str, model: str):
    import torch

    from contradiction.inference.options import PredictorOptions
    from contradiction.inference.predictor import Predictor

    precision, batch = variant.split()
    options = PredictorOptions(batch_size=int(batch[2:]), dtype="float32" if precision == "int8" else precision)
    if precision == "int8":  # quantize_dynamic swaps torch.nn.Linear modules by exact type: transformers' model
        options.engine = "transformers"
    predictor = Predictor.from_pretrained(model, options)
    if precision == "int8":
        predictor.model = torch.ao.quantization.quantize_dynamic(predictor.model, {torch.nn.Linear}, dtype=torch.qint8)
    return predictor


def run_variant(variant: str, model: str, limit: int | None, dataset_dir: str) -> dict:
    """Time one variant on test.csv and score it on the validation split, in this process."""
    import numpy as np

    premises, hypotheses = test_pairs(limit)
    if variant == "pipeline":
        from transformers import pipeline

        classify = pipeline("text-classification", model=model, top_k=None, device="cpu")
        inputs = [{"text": p, "text_pair": h} for p, h in zip(premises, hypotheses, strict=True)]
        start = time.perf_counter()
        outputs = classify(inputs)
        seconds = time.perf_counter() - start
        assert len(outputs) == len(inputs)
        return {"variant": variant, "pairs": len(inputs), "seconds": seconds, "peak_rss_mb": peak_rss_mb()}

    predictor = build_predictor(variant, model)
    predictor.predict_proba(premises[:64], hypotheses[:64])  # warm-up: first-call allocations, oneDNN kernels
    start = time.perf_counter()
    probs = predictor.predict_proba(premises, hypotheses)
    seconds = time.perf_counter() - start
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-3)
    vp, vh, labels = validation(dataset_dir)
    predicted = predictor.predict_proba(vp, vh).argmax(axis=1)
    return {
        "variant": variant,
        "pairs": len(premises),
        "seconds": seconds,
        "val_accuracy": float((predicted == np.array(labels)).mean()),
        "val_predictions": predicted.tolist(),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a folder written by train.py")
    parser.add_argument("--limit", type=int, help="only the first N pairs of test.csv (default: all 5,195)")
    parser.add_argument("--dataset_dir", help="data_prep.py folder with the validation split (default: MODEL/data)")
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one variant, in a child process
    args = parser.parse_args()
    args.dataset_dir = args.dataset_dir or str(Path(args.model) / "data")
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.model, args.limit, args.dataset_dir)))
        return

    rows = []
    for variant in args.variants:
        command = [
            sys.executable,
            __file__,
            "--variant",
            variant,
            "--model",
            args.model,
            "--dataset_dir",
            args.dataset_dir,
        ]
        if args.limit:
            command += ["--limit", str(args.limit)]
        child = subprocess.run(command, capture_output=True, text=True)
        if child.returncode != 0:
            sys.exit(f"{variant} failed:\n{child.stderr[-3000:]}")
        row = json.loads(child.stdout.strip().splitlines()[-1])
        row["pairs_per_s"] = row["pairs"] / row["seconds"]
        rows.append(row)
        print(f"{variant}: {row['pairs_per_s']:.1f} pairs/s", flush=True)

    by_name = {r["variant"]: r for r in rows}
    baseline = by_name.get("pipeline", rows[0])["pairs_per_s"]
    reference = by_name.get("float32 bs32")
    reference_labels = reference["val_predictions"] if reference else None
    for row in rows:
        row["speedup_vs_pipeline"] = row["pairs_per_s"] / baseline
        if reference and "val_accuracy" in row:
            row["accuracy_delta_points"] = 100 * (row["val_accuracy"] - reference["val_accuracy"])
            same = sum(a == b for a, b in zip(row["val_predictions"], reference_labels, strict=True))
            row["same_labels_as_float32"] = same / len(reference_labels)
        row.pop("val_predictions", None)

    from ceiling import measure

    ceiling = measure(args.model)
    rates = {r["precision"]: r["ceiling_pairs_per_s"] for r in ceiling["rows"]}
    for row in rows:
        precision = row["variant"].split()[0]
        key = {"int8": "int8 (dynamic)", "pipeline": "float32"}.get(precision, precision)
        row["share_of_ceiling"] = row["pairs_per_s"] / rates[key]

    print()
    columns = [
        "variant",
        "pairs",
        "seconds",
        "pairs_per_s",
        "speedup_vs_pipeline",
        "val_accuracy",
        "accuracy_delta_points",
        "same_labels_as_float32",
        "share_of_ceiling",
        "peak_rss_mb",
    ]
    print_table(rows, columns)
    print(
        f"\nceiling: {ceiling['gflops_per_pair']:.2f} GFLOP per pair at {ceiling['mean_tokens']:.1f} tokens; "
        + ", ".join(
            f"{r['precision']} {r['matmul_gflops']:.0f} GFLOP/s = {r['ceiling_pairs_per_s']:.0f} pairs/s"
            for r in ceiling["rows"]
        )
    )
    save("batch_inference", {"model": args.model, "rows": rows, "ceiling": ceiling})


if __name__ == "__main__":
    main()
