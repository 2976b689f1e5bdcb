"""How honest the calibrated confidences are on pairs the temperature was NOT fitted on.

    python benchmarks/calibration_heldout.py --model /work/runs/e5-small-cal \
        --other ../shared/data/nli-extra/{ocnli,indonli,farstail}.csv.gz

train.py fits T on the validation split and reports ECE there, on the same pairs. This script measures it
elsewhere: (1) two-fold cross-fitting on the validation split (T fitted on one half, ECE, NLL and Brier
measured on the other, both ways, pooled); (2) other NLI sources the model never saw (`--other`, `--rows`
sampled from each), with the raw softmax against the model's folded temperature. The folded model gives
logits / T; multiplying them by the T in eval_results.json gives back the raw logits, so one pass serves both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from common import DEFAULT_MODEL, print_table, save
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from contradiction.data.competition import load_prepared
from contradiction.data.extra import LABEL_NAMES
from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor
from contradiction.metrics import softmax
from contradiction.training.calibration import calibration_metrics, fit_temperature


def row(name: str, logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    before, after = calibration_metrics(logits, labels), calibration_metrics(logits / temperature, labels)
    return {
        "data": name,
        "pairs": len(labels),
        "accuracy": float((logits.argmax(-1) == labels).mean()),
        "mean_top_prob_raw": float(softmax(logits).max(-1).mean()),
        "T": temperature,
        **{f"{k}_raw": v for k, v in before.items()},
        **{f"{k}_calibrated": v for k, v in after.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a model folder written by train.py (calibrated)")
    parser.add_argument("--other", nargs="*", default=[], help="labelled NLI files from other sources")
    parser.add_argument("--rows", type=int, default=1000, help="pairs sampled from each --other file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    folder = Path(args.model)
    temperature = json.loads((folder / "eval_results.json").read_text())["calibration"]["temperature"]
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    predictor = Predictor(model, AutoTokenizer.from_pretrained(folder), str(folder), PredictorOptions(max_length=128))

    def raw_logits(premises, hypotheses) -> np.ndarray:
        return predictor.logits(premises, hypotheses)[:, predictor.label_index] * temperature

    validation = load_prepared(folder / "data")[0]["validation"]
    logits, labels = raw_logits(validation["premise"], validation["hypothesis"]), np.asarray(validation["label"])
    rng = np.random.default_rng(args.seed)
    half = rng.permutation(len(labels)) < len(labels) // 2
    rows = [row("validation (T fitted on it: train.py's report)", logits, labels, temperature)]
    pooled_raw, pooled_cal, pooled_labels, fold_t = [], [], [], []
    for fit, test in ((half, ~half), (~half, half)):
        t = fit_temperature(logits[fit], labels[fit])
        fold_t.append(t)
        pooled_raw.append(logits[test])
        pooled_cal.append(logits[test] / t)
        pooled_labels.append(labels[test])
    cross = row(
        "validation, 2-fold cross-fit (T fitted on the other half)",
        np.concatenate(pooled_raw),
        np.concatenate(pooled_labels),
        1.0,
    )
    cross_cal = calibration_metrics(np.concatenate(pooled_cal), np.concatenate(pooled_labels))
    cross.update({f"{k}_calibrated": v for k, v in cross_cal.items()}, T=float(np.mean(fold_t)))
    rows.append(cross)
    for path in args.other:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        table = table.sample(n=min(args.rows, len(table)), random_state=args.seed)
        gold = np.array([LABEL_NAMES[v.strip().lower()] for v in table["label"]])
        name = Path(path).name.split(".")[0]
        rows.append(
            row(
                f"{name} ({table['lang_abv'].iloc[0]}, never seen)",
                raw_logits(table["premise"].tolist(), table["hypothesis"].tolist()),
                gold,
                temperature,
            )
        )

    columns = [
        "data",
        "pairs",
        "accuracy",
        "T",
        "ece_raw",
        "ece_calibrated",
        "nll_raw",
        "nll_calibrated",
        "brier_raw",
        "brier_calibrated",
    ]
    print_table(rows, columns)
    save("calibration_heldout", {"model": str(folder), "fold_temperatures": fold_t, "rows": rows})


if __name__ == "__main__":
    main()
