"""The predictor's options: one dataclass whose fields are the flags of every command line that loads a model, and
one rule for CPU threads in training and prediction."""

from __future__ import annotations

import argparse
import os

import pytest

from contradiction.inference import predict_cli
from contradiction.inference.options import PredictorOptions, cpu_threads, options_from_flags
from contradiction.serving import cli as app_cli
from contradiction.training import calibrate_cli

PREDICT = ["--input", "in.csv", "--output", "out.csv"]
CALIBRATE = ["--model", "m", "--data", "d.csv", "--output_dir", "o"]


def test_every_command_line_reads_the_options_the_same_way() -> None:
    flags = ["--max_length", "96", "--batch_size", "8", "--num_threads", "3", "--no_fast", "--engine", "transformers"]
    expected = PredictorOptions(max_length=96, batch_size=8, num_threads=3, fast=False, engine="transformers")
    assert options_from_flags(predict_cli.parse_args([*PREDICT, *flags])) == expected
    app = app_cli.parse_args([f for f in flags if f not in ("--batch_size", "8")])  # the app's batches: the scheduler's
    assert options_from_flags(app) == PredictorOptions(max_length=96, num_threads=3, fast=False, engine="transformers")
    calibrate = calibrate_cli.parse_args([*CALIBRATE, "--max_length", "96", "--batch_size", "8"])
    assert options_from_flags(calibrate) == PredictorOptions(max_length=96, batch_size=8)


def test_the_defaults_are_the_dataclass_s(monkeypatch) -> None:
    monkeypatch.delenv("MODEL_ID", raising=False)
    for args in (predict_cli.parse_args(PREDICT), app_cli.parse_args([]), calibrate_cli.parse_args(CALIBRATE)):
        assert options_from_flags(args) == PredictorOptions()  # max_length None: the model's recipe, else 256
    assert predict_cli.parse_args(PREDICT).model is None and calibrate_cli.parse_args(CALIBRATE).model == "m"


def test_help_comes_from_the_fields(capsys) -> None:
    with pytest.raises(SystemExit):
        predict_cli.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--batch_size BATCH_SIZE pairs per forward pass (default 64)" in text
    assert "--engine {auto,transformers}" in text and "(default auto)" in text
    assert "the max_seq_length the model was trained with, from its recipe.yaml, else 256" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max_length", "4"], "max_length 4 is too small"),
        (["--batch_size", "0"], "batch_size 0 must be a positive number"),
    ],
)
def test_bad_options_are_one_sentence(argv: list[str], message: str) -> None:
    from contradiction.errors import UserError

    with pytest.raises(UserError, match=message):
        options_from_flags(predict_cli.parse_args([*PREDICT, *argv]))


def test_a_bad_engine_is_refused_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit):
        predict_cli.parse_args([*PREDICT, "--engine", "onnx"])
    assert "argument --engine: invalid choice: 'onnx'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "requested, processes, device, omp, expected",
    [
        (3, 1, "cpu", None, 3),  # asked: as asked, everywhere
        (3, 2, "cuda:0", "1", 3),
        (None, 1, "cpu", None, None),  # one process as python starts it: torch's own choice
        (None, 1, "cpu", "1", 8),  # accelerate launch's OMP_NUM_THREADS=1 would leave 7 cores idle
        (None, 2, "cpu", "1", 4),  # the cores shared out
        (None, 3, "cpu", None, 2),
        (None, 16, "cpu", "1", 1),
        (None, 2, "cuda", "1", None),  # on a GPU: torch's choice
    ],
)
def test_one_thread_rule_for_training_and_prediction(monkeypatch, requested, processes, device, omp, expected) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert cpu_threads(requested, processes, device) == expected


def test_training_follows_the_thread_rule(monkeypatch) -> None:
    import torch

    from contradiction.training.arguments import ModelArguments
    from contradiction.training.pipeline import set_cpu_threads

    chosen: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", chosen.append)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = argparse.Namespace(use_cpu=True, world_size=2)
    set_cpu_threads(ModelArguments(), args)
    set_cpu_threads(ModelArguments(cpu_threads=3), args)
    assert chosen == [4, 3]
