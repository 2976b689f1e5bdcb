"""Temperature scaling: the fit, the fold into the last layer, the metrics, and `python -m contradiction.calibrate`."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from contradiction.cli import run_main
from contradiction.data.competition import load_csv
from contradiction.data.prepare_cli import main as prepare_main
from contradiction.errors import UserError
from contradiction.metrics import softmax
from contradiction.training import calibrate_cli
from contradiction.training.calibration import (
    brier,
    calibrate,
    calibration_metrics,
    check_folded,
    ece,
    final_linear,
    fit_temperature,
    fold_temperature,
    nll,
)


def calibrated_logits(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from their own softmax: a perfectly calibrated model, by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, size=(n, 3))
    probs = softmax(logits)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    return logits, labels


@pytest.mark.parametrize("factor", [0.5, 2.5, 4.0])
def test_logits_scaled_by_a_known_factor_give_that_temperature_back(factor):
    logits, labels = calibrated_logits()
    assert fit_temperature(logits * factor, labels) == pytest.approx(factor, rel=0.05)


def test_an_overconfident_model_gets_lower_ece_nll_and_brier():
    logits, labels = calibrated_logits()
    overconfident = logits * 3
    before, after = calibration_metrics(overconfident, labels), None
    temperature = fit_temperature(overconfident, labels)
    after = calibration_metrics(overconfident / temperature, labels)
    assert after["ece"] < before["ece"] and after["ece"] < 0.02
    assert after["nll"] < before["nll"] and after["brier"] < before["brier"]


def test_metrics_on_hand_checked_values():
    probs = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1])
    # both rows in different bins: |1 - 0.9| and |0 - 0.6|, weighted equally
    assert ece(probs, labels) == pytest.approx((0.1 + 0.6) / 2)
    assert brier(probs, labels) == pytest.approx(((0.01 + 0.0025 + 0.0025) + (0.36 + 0.49 + 0.01)) / 2)
    assert nll(np.log(probs), labels) == pytest.approx(-(np.log(0.9) + np.log(0.3)) / 2)


def sample_pairs(sample_dir):
    ds = load_csv(sample_dir / "train.csv", labelled=True)
    return ds["premise"], ds["hypothesis"], np.asarray(ds["label"])


def logits_of(model, tokenizer, premises, hypotheses) -> np.ndarray:
    batch = tokenizer(list(premises), list(hypotheses), padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits.numpy()


@pytest.mark.slow
def test_folding_divides_the_logits_and_keeps_every_label(tiny_model_dir, sample_dir):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    premises, hypotheses, labels = sample_pairs(sample_dir)
    fold_temperature(model, 10.0, 3)  # the untrained head is near uniform; make it confident first
    before = logits_of(model, tokenizer, premises, hypotheses)

    report = calibrate(model, before, labels, 3)
    after = logits_of(model, tokenizer, premises, hypotheses)

    assert after == pytest.approx(before / report["temperature"], abs=1e-5)
    assert (after.argmax(-1) == before.argmax(-1)).all()
    assert check_folded(before, after, report["temperature"])["labels_unchanged"]
    assert report["after"]["nll"] <= report["before"]["nll"]
    assert report["measured_on"] == "the validation split the temperature was fitted on"


def test_a_head_without_a_final_linear_layer_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
    with pytest.raises(UserError, match="no final linear layer with 3 outputs.*--calibrate false"):
        final_linear(model, 3)


def test_a_fold_that_does_not_divide_the_logits_is_caught():
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    with pytest.raises(UserError, match="did not divide the logits by T"):
        check_folded(logits, logits, 2.0)


def test_a_near_tie_that_rounding_breaks_the_other_way_is_reported_not_refused():
    before = np.array([[1.0, 1.0 + 1e-7, -2.0], [3.0, 0.0, 0.0]])
    after = before / 4.0
    after[0, 0] += 1e-7  # a float32 forward pass of the folded model rounds the near-tie the other way
    report = check_folded(before, after, 4.0)
    assert not report["labels_unchanged"] and report["labels_changed_in_ties"] == 1


def run_cli(*args: str) -> None:
    run_main(lambda: calibrate_cli.main(list(args)))


@pytest.mark.slow
def test_calibrate_cli_writes_a_calibrated_copy_with_its_report(tiny_model_dir, sample_dir, tmp_path, capsys):
    # a confident version of the tiny model, and labels it gets right two times in three, so T has an optimum
    sharp = tmp_path / "sharp"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    fold_temperature(model, 0.05, 3)
    model.save_pretrained(sharp)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.save_pretrained(sharp)
    premises, hypotheses, _ = sample_pairs(sample_dir)
    original = logits_of(model, tokenizer, premises, hypotheses)
    table = pd.read_csv(sample_dir / "train.csv", dtype=str, keep_default_na=False)
    predicted = original.argmax(-1)
    table["label"] = [str(p if i % 3 else (p + 1) % 3) for i, p in enumerate(predicted)]
    data = tmp_path / "labelled.csv"
    table.to_csv(data, index=False)

    run_cli("--model", str(sharp), "--data", str(data), "--output_dir", str(tmp_path / "cal"))
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "cal" / "eval_results.json").read_text())["calibration"]
    assert f"T = {report['temperature']:.3f}" in printed and "labels unchanged: True" in printed
    assert (tmp_path / "cal" / "reliability_diagram.png").stat().st_size > 1000
    assert report["after"]["nll"] < report["before"]["nll"] and report["fitted_on"] == "labelled.csv"
    assert report["accuracy"] == pytest.approx(2 / 3, abs=0.01)
    copy = AutoModelForSequenceClassification.from_pretrained(tmp_path / "cal").eval()
    assert logits_of(copy, tokenizer, premises, hypotheses) == pytest.approx(original / report["temperature"], abs=1e-4)

    # the copy scaled by a known factor: calibrating it again gives that factor back, and a total temperature
    scaled = tmp_path / "scaled"
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "cal")
    fold_temperature(model, 1 / 3, 3)
    model.save_pretrained(scaled)
    tokenizer.save_pretrained(scaled)
    (scaled / "eval_results.json").write_text(json.dumps({"calibration": report}))
    run_cli("--model", str(scaled), "--data", str(data), "--output_dir", str(tmp_path / "again"))
    again = json.loads((tmp_path / "again" / "eval_results.json").read_text())["calibration"]
    assert again["temperature"] == pytest.approx(3.0, rel=0.05)
    assert again["temperature_total"] == pytest.approx(again["temperature"] * report["temperature"], rel=1e-12)
    # the refit finds 3 only as well as the copy's float32 logits allow: they are 3 x the first copy's to about 4e-7
    # of their size, which moves the optimum by up to ~1e-6 (rel=1e-6 failed 1 run in 30: the tiny model changes
    # from run to run, its tokenizer's training is not deterministic)
    assert again["temperature_total"] == pytest.approx(3.0 * report["temperature"], rel=1e-5)


@pytest.mark.slow
def test_calibrate_cli_reads_a_data_prep_folder_and_refuses_bad_input(tiny_model_dir, sample_dir, tmp_path, capsys):
    prepare_main(["--train_file", str(sample_dir / "train.csv"), "--output_dir", str(tmp_path / "data")])
    run_cli("--model", str(tiny_model_dir), "--data", str(tmp_path / "data"), "--output_dir", str(tmp_path / "out"))
    report = json.loads((tmp_path / "out" / "eval_results.json").read_text())["calibration"]
    assert report["fitted_on"] == "validation" and report["rows"] == 30

    capsys.readouterr()
    for args, message in [
        (("--data", str(tmp_path / "missing.csv"), "--output_dir", str(tmp_path / "new")), "missing.csv"),
        (("--data", str(sample_dir / "test.csv"), "--output_dir", str(tmp_path / "new")), "label"),
        (("--data", str(tmp_path / "data"), "--output_dir", str(tmp_path / "out")), "is not empty"),
        (("--data", str(tmp_path / "data"), "--output_dir", str(tiny_model_dir)), "is the model folder"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            run_cli("--model", str(tiny_model_dir), *args)
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert exit_info.value.code == 2 and len(errors) == 1 and message in errors[0], errors
