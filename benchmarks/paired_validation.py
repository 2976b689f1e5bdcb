"""Trained models on the same validation pairs, paired: which differences are beyond noise.

    python benchmarks/paired_validation.py v1=/work/runs/e5-small-extra v2=/work/runs/v2/a v2-xnli-only=/work/runs/v2/b

Every model folder written by train.py keeps its validation split (`data/`); with the same data and seed they are
the same pairs, which this checks. Each model predicts them (float32, the length it was trained with); each model
after the first is compared with the first on the very same pairs: McNemar's exact test on the pairs that one gets
right and the other wrong (two-sided p; a difference is called beyond noise when p < 0.05), overall and per
language. Paired, it sees smaller differences than a test of two accuracies would.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from common import print_table, save

from contradiction.data.competition import load_prepared
from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor


def mcnemar(only_a: int, only_b: int) -> float:
    """Two-sided exact p-value that two classifiers are as often right where the other is wrong."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="NAME=FOLDER, the first one the reference")
    parser.add_argument("--save", default="paired_validation", help="the results file's name (benchmarks/results/)")
    args = parser.parse_args()
    named = [spec.split("=", 1) for spec in args.models]

    splits = [load_prepared(Path(folder) / "data")[0]["validation"] for _, folder in named]
    validation = splits[0]
    for (name, _), split in zip(named, splits, strict=True):
        if split["premise"] != validation["premise"] or split["label"] != validation["label"]:
            raise SystemExit(f"{name}'s validation split is not the first model's: the pairs cannot be paired")
    gold = np.array(validation["label"])
    languages = np.array(validation["lang_abv"])
    right = {}
    for name, folder in named:
        predictor = Predictor.from_pretrained(folder, PredictorOptions(fast=False))
        probs = predictor.predict_proba(validation["premise"], validation["hypothesis"])
        right[name] = probs.argmax(axis=1) == gold
    reference = named[0][0]
    rows = []
    for scope in ["all", *sorted(set(languages))]:
        mask = np.ones(len(gold), bool) if scope == "all" else languages == scope
        row = {"language": scope, "pairs": int(mask.sum()), reference: float(right[reference][mask].mean())}
        for name, _ in named[1:]:
            a, b = right[reference][mask], right[name][mask]
            row[name] = float(b.mean())
            row[f"{name} p"] = mcnemar(int((a & ~b).sum()), int((b & ~a).sum()))
        rows.append(row)
    columns = ["language", "pairs", reference]
    for name, _ in named[1:]:
        columns += [name, f"{name} p"]
    print(f"{len(gold)} validation pairs; p: McNemar's exact test against {reference}")
    print_table(rows, columns)
    save(args.save, {"models": dict(named), "reference": reference, "rows": rows})


if __name__ == "__main__":
    main()
