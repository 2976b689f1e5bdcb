"""The model folder's files (eval_results.json, data_report.json, recipe.yaml): one reading for a local folder and a
Hub id, and a missing or broken file taken as absent."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from hub_cache import fake_hub_cache

from contradiction.inference.model_folder import (
    DATA_REPORT_FILE,
    EVAL_RESULTS_FILE,
    RECIPE_FILE,
    ModelFolder,
    ModelRecord,
)
from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor
from contradiction.serving.monitoring.drift import training_label_mix, training_language_mix

HUB_REPO = "contradiction-tests/trained-nli"

RESULTS = {
    "per_language": {
        "en": {"accuracy": 0.75, "rows": 40, "language": "English"},
        "th": {"accuracy": 0.5, "rows": 10, "language": "Thai"},
    },
    "confusion_matrix": [[1, 0, 0], [1, 1, 1], [0, 0, 1]],
    "calibration": {"temperature": 1.25},
}
REPORT = {
    "counts": {"train": {"English": {"entailment": 6, "neutral": 2}, "Thai": {"contradiction": 2}}},
    "extra_data": [{"source": "xnli.csv", "languages": {"fa": 30}}],
}
RECIPE = "max_seq_length: 64\nlearning_rate: 0.001\n"


def _files() -> dict[str, str]:
    return {EVAL_RESULTS_FILE: json.dumps(RESULTS), DATA_REPORT_FILE: json.dumps(REPORT), RECIPE_FILE: RECIPE}


def _local(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _assert_trained_model(folder: ModelFolder) -> None:
    record = folder.record
    assert record.per_language["en"] == {"accuracy": 0.75, "rows": 40, "language": "English"}
    assert record.calibrated and record.temperature == 1.25
    assert folder.max_seq_length == 64
    labels = folder.label_counts()
    assert labels is not None and labels.counts == {"entailment": 6, "neutral": 2, "contradiction": 2}
    assert labels.source == f"{folder.where(DATA_REPORT_FILE)} (train split)"
    languages = folder.language_counts()
    assert languages is not None and languages.counts == {"English": 8, "Thai": 2} and languages.extra == ("fa",)


def test_a_local_folder_s_files_are_read(tmp_path: Path) -> None:
    folder = ModelFolder(_local(tmp_path / "model", _files()))
    _assert_trained_model(folder)
    assert folder.local and folder.where(RECIPE_FILE) == str(tmp_path / "model" / RECIPE_FILE)


def test_a_hub_model_s_files_are_read_from_the_cache_offline(offline_hub: Path) -> None:
    fake_hub_cache(offline_hub, HUB_REPO, _files())
    folder = ModelFolder(HUB_REPO)
    _assert_trained_model(folder)
    assert not folder.local and folder.where(DATA_REPORT_FILE) == f"hf://{HUB_REPO}/{DATA_REPORT_FILE}"
    # what the page shows and what drift compares against now come from the same files
    assert ModelRecord.read(HUB_REPO).known
    mix, source = training_label_mix(HUB_REPO)
    assert mix == pytest.approx({"entailment": 0.6, "neutral": 0.2, "contradiction": 0.2})
    assert source == f"hf://{HUB_REPO}/{DATA_REPORT_FILE} (train split)"
    languages = training_language_mix(HUB_REPO)
    assert languages is not None and languages.shares == pytest.approx({"en": 0.8, "th": 0.2})
    assert languages.known == {"en", "th", "fa"}


@pytest.mark.parametrize("model", ["contradiction-tests/not-cached", "/no/such/dir", "not a hub id!"])
def test_models_without_files_have_nothing_to_say(model: str, offline_hub: Path) -> None:
    folder = ModelFolder(model)
    assert folder.record == ModelRecord() and folder.max_seq_length is None
    assert folder.label_counts() is None and folder.language_counts() is None
    assert training_label_mix(model)[1].startswith("uniform") and training_language_mix(model) is None


def test_a_file_given_as_the_model_has_no_files_beside_it(tmp_path: Path, offline_hub: Path) -> None:
    _local(tmp_path, _files())
    folder = ModelFolder(tmp_path / RECIPE_FILE)
    assert folder.path(EVAL_RESULTS_FILE) is None and folder.max_seq_length is None


@pytest.mark.parametrize(
    "name, text",
    [
        (EVAL_RESULTS_FILE, '{"per_language": '),  # cut short
        (EVAL_RESULTS_FILE, '{"per_language": {"en": {"rows": 3}}}'),  # no accuracy
        (EVAL_RESULTS_FILE, "[1, 2, 3]"),  # JSON, but not an object
        (DATA_REPORT_FILE, "\xff\xfe not text"),
        (RECIPE_FILE, "max_seq_length: [64\n"),  # not YAML
        (RECIPE_FILE, "max_seq_length: long\n"),
    ],
)
def test_broken_files_count_as_absent_with_a_warning(tmp_path: Path, caplog, name: str, text: str) -> None:
    files = _files()
    files[name] = text
    folder = ModelFolder(_local(tmp_path / "model", files))
    with caplog.at_level(logging.WARNING, logger="contradiction.inference.model_folder"):
        record, length, labels = folder.record, folder.max_seq_length, folder.label_counts()
    assert f"ignoring {tmp_path / 'model' / name}" in caplog.text
    if name == EVAL_RESULTS_FILE:
        assert record == ModelRecord() and length == 64
    elif name == DATA_REPORT_FILE:
        assert labels is not None and labels.source.endswith("eval_results.json (validation)")
        assert folder.language_counts() is None and record.known
    else:
        assert length is None and record.known


def test_the_predictor_serves_at_the_length_the_model_was_trained_with(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert Predictor.from_pretrained(tiny_model_dir).max_length == 256  # no recipe.yaml: the default
    trained = tmp_path / "trained"
    shutil.copytree(tiny_model_dir, trained)
    (trained / RECIPE_FILE).write_text(RECIPE, encoding="utf-8")
    assert Predictor.from_pretrained(trained).max_length == 64
    assert Predictor.from_pretrained(trained, PredictorOptions(max_length=128)).max_length == 128  # told otherwise
    assert PredictorOptions().length_for(trained) == 64 and PredictorOptions(max_length=200).length_for(trained) == 200


def test_a_hub_model_is_served_at_its_recipe_s_length(tiny_model_dir: Path, offline_hub: Path) -> None:
    from contradiction.inference.loading import HUB_FILES

    files: dict[str, str | Path] = {name: tiny_model_dir / name for name in HUB_FILES}
    fake_hub_cache(offline_hub, HUB_REPO, {**files, RECIPE_FILE: RECIPE})
    predictor = Predictor.from_pretrained(HUB_REPO, PredictorOptions(fast=False))
    assert predictor.engine == "native" and predictor.max_length == 64
