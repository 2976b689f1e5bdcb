"""Calibrate a model that was trained elsewhere: fit a temperature on labelled pairs, save a calibrated copy.

    python -m contradiction.calibrate --model outputs/model --data outputs/model/data --output_dir outputs/calibrated
    python -m contradiction.calibrate --model someone/xnli-model --data heldout.csv --output_dir outputs/calibrated

`--data` is a labelled competition CSV (every row is used) or a data_prep.py folder (its validation split).
Use pairs the model never trained on. The copy's last linear layer holds the temperature, so its softmax is
calibrated for every consumer; its labels are the same as the original's. Its `eval_results.json` gets a
`calibration` object (the metrics are measured on the pairs T was fitted on) and a reliability diagram.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from contradiction.data.competition import DataError, load_csv, load_prepared
from contradiction.errors import UserError
from contradiction.files import write_json
from contradiction.inference.loading import load_error, resolve_source
from contradiction.inference.model_folder import DATA_REPORT_FILE, EVAL_RESULTS_FILE, RECIPE_FILE, ModelFolder
from contradiction.inference.options import add_options_flags, options_from_flags
from contradiction.inference.predictor import Predictor
from contradiction.labels import NUM_LABELS
from contradiction.training.calibration import calibrate, check_folded

# files of a train.py folder that describe the model and stay true after calibration
KEPT_FILES = ("README.md", RECIPE_FILE, DATA_REPORT_FILE, "confusion_matrix.png", "per_language_accuracy.png")

CALIBRATE_OPTIONS = ("max_length", "batch_size")
"""Calibration runs the model as saved (float32, in transformers), since the temperature is folded into it."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m contradiction.calibrate",
        description="Fit one temperature on held-out labelled pairs and write a copy of the model with it "
        "folded into the classifier's last layer (calibrated probabilities, same labels).",
    )
    add_options_flags(parser, CALIBRATE_OPTIONS, model_required=True)
    parser.add_argument(
        "--data", required=True, help="labelled competition CSV, or a data_prep.py folder (its validation split)"
    )
    parser.add_argument("--output_dir", required=True, help="new folder for the calibrated copy")
    return parser.parse_args(argv)


def load_pairs(data: str):
    """The labelled pairs to fit on: a CSV whole, or a data_prep.py folder's validation split."""
    path = Path(data)
    try:
        if path.is_dir():
            splits, _ = load_prepared(path)
            if "validation" not in splits:
                raise UserError(f"--data {data}: the folder has no validation split; prepare it with data_prep.py.")
            return splits["validation"], "validation"
        return load_csv(path, labelled=True), path.name
    except DataError as err:  # it names the file and the fix already
        raise UserError(str(err)) from None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.output_dir)
    source, local = resolve_source(args.model)
    if local and out.resolve() == Path(source).resolve():
        raise UserError(f"--output_dir {out} is the model folder; name a new folder for the calibrated copy.")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--output_dir {out} is not empty; name a new folder, or remove it first.")
    ds, split = load_pairs(args.data)  # before the model loads: a bad file fails in a second

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(source)
    except Exception as err:
        raise load_error(source, local, err).with_flags("--model") from None
    # float32, as saved; the predictor refuses a head whose labels are not our three
    predictor = Predictor(model, tokenizer, source, options_from_flags(args))  # the model's own length, unless told
    ours = predictor.label_index  # our label i is the model's output ours[i]

    start = time.perf_counter()
    logits = predictor.logits(ds["premise"], ds["hypothesis"])
    gold = np.asarray(ds["label"])
    report = calibrate(model, logits[:, ours], gold, NUM_LABELS, split=split)
    folded = predictor.logits(ds["premise"], ds["hypothesis"])
    report.update(check_folded(logits, folded, report["temperature"]))
    report["accuracy"] = float((logits[:, ours].argmax(-1) == gold).mean())
    report["source_model"] = str(args.model)
    report["data"] = str(args.data)

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    folder = ModelFolder(source)  # a local folder's files, or the Hub repository's
    for name in KEPT_FILES:
        if (kept := folder.path(name)) is not None:
            shutil.copy2(kept, out / name)
    results = folder.read(EVAL_RESULTS_FILE) or {}
    if "calibration" in results:  # a second temperature multiplies the first
        earlier = results["calibration"]
        report["temperature_total"] = earlier.get("temperature_total", earlier["temperature"]) * report["temperature"]
    results["calibration"] = report
    write_json(out / EVAL_RESULTS_FILE, results)
    from contradiction.training.card import write_card
    from contradiction.training.plots import RELIABILITY_PNG, save_reliability_diagram

    save_reliability_diagram(report, out / RELIABILITY_PNG)
    copy = ModelFolder(out)
    recipe = copy.read(RECIPE_FILE)
    if recipe is not None and "per_language" in results:  # a train.py card: add its Calibration section
        write_card(results, recipe, copy.read(DATA_REPORT_FILE), out, out.name)
    before, after = report["before"], report["after"]
    print(
        f"T = {report['temperature']:.3f} fitted on {report['rows']} pairs ({split}) in "
        f"{time.perf_counter() - start:.0f} s: ECE {before['ece']:.3f} -> {after['ece']:.3f}, "
        f"NLL {before['nll']:.3f} -> {after['nll']:.3f}, Brier {before['brier']:.3f} -> {after['brier']:.3f} "
        f"(on the same pairs); labels unchanged: {report['labels_unchanged']}; saved to {out}"
    )
