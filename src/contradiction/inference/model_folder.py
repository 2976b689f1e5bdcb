"""What a model's folder says about the model, read the same way for a local folder and a Hub id.

`train.py` writes three files beside the weights, and the page, monitoring, calibration and the predictor read them:

- `eval_results.json`: the validation record per language, the confusion matrix, the calibration temperature;
- `data_report.json`: the training data's pairs per language and label, and the extra corpora's languages;
- `recipe.yaml`: every training setting, `max_seq_length` among them.

One lookup rule: a local folder's own file; anything else is taken as a Hub id and its file read through the
Hugging Face cache (downloaded first, unless `HF_HUB_OFFLINE=1`). A file that is not there, cannot be fetched or does
not parse counts as absent, never as an error: a model trained elsewhere has none of them.

    folder = ModelFolder("outputs/model")
    folder.record.per_language["fr"]["accuracy"], folder.max_seq_length, folder.label_counts()
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contradiction.labels import LABELS

logger = logging.getLogger(__name__)

EVAL_RESULTS_FILE = "eval_results.json"
DATA_REPORT_FILE = "data_report.json"
RECIPE_FILE = "recipe.yaml"

_ABSENT = object()  # a looked-up file that is not there, kept so that a Hub id is asked once per file


@dataclass(frozen=True)
class ModelRecord:
    """What `train.py` wrote beside the model: validation accuracy per language and the calibration."""

    per_language: dict[str, dict] = field(default_factory=dict)  # code -> accuracy, rows, language (name)
    temperature: float | None = None  # None: not calibrated, or not known

    @property
    def known(self) -> bool:
        return bool(self.per_language)

    @property
    def calibrated(self) -> bool:
        return self.temperature is not None

    @classmethod
    def read(cls, model: str | Path | ModelFolder) -> ModelRecord:
        """From the model's `eval_results.json` (its folder's, or its Hub repository's); empty when there is none."""
        return ModelFolder.of(model).record


@dataclass(frozen=True)
class TrainingCounts:
    """Pairs of the training data per label (or per language), and the file that says so."""

    counts: dict[str, float]
    source: str  # e.g. "outputs/model/data_report.json (train split)"
    extra: tuple[str, ...] = ()  # with language counts: the languages of the extra corpora, left out of `counts`


class ModelFolder:
    """The files `train.py` writes beside a model (`model`: a local folder or a Hub id), each read once."""

    def __init__(self, model: str | Path) -> None:
        self.model = str(model)
        self._folder = Path(model).expanduser()
        self._read: dict[str, Any] = {}

    @classmethod
    def of(cls, model: str | Path | ModelFolder) -> ModelFolder:
        """`model` itself when it is a `ModelFolder` already (its files read once for every caller)."""
        return model if isinstance(model, ModelFolder) else cls(model)

    @property
    def local(self) -> bool:
        return self._folder.is_dir()

    def where(self, filename: str) -> str:
        """How messages name one of the model's files: its path, or `hf://<repo id>/<file>`."""
        return str(self._folder / filename) if self.local else f"hf://{self.model}/{filename}"

    def path(self, filename: str) -> Path | None:
        """Where the file is on this machine (for a Hub id: in the cache, downloaded unless offline); None when the
        model has no such file, the Hub cannot be reached, or `model` is neither a folder nor a Hub id."""
        if self.local:
            path = self._folder / filename
            return path if path.is_file() else None
        if self._folder.exists():  # a file, not a folder: nothing lies beside it
            return None
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(self.model, filename))
        except Exception:  # not a Hub id, no such file, offline and not cached, no network
            return None

    def read(self, filename: str) -> dict | None:
        """A file's content (JSON, or YAML for `.yaml`) as a mapping; None when absent or broken (a warning)."""
        found = self._read.get(filename)
        if found is None:
            found = self._load(filename)
            self._read[filename] = found
        return None if found is _ABSENT else found

    def _load(self, filename: str) -> Any:
        path = self.path(filename)
        if path is None:
            return _ABSENT
        try:
            text = path.read_text(encoding="utf-8")
            if filename.endswith(".yaml"):
                import yaml

                content = yaml.safe_load(text)
            else:
                content = json.loads(text)
            if not isinstance(content, dict):
                raise ValueError(f"holds a {type(content).__name__}, not a mapping")
        except Exception as err:  # unreadable, not JSON or YAML (json, yaml and UnicodeDecodeError all differ)
            logger.warning("ignoring %s: %s", self.where(filename), err)
            return _ABSENT
        return content

    @property
    def record(self) -> ModelRecord:
        """The validation record per language and the calibration temperature, from `eval_results.json`."""
        results = self.read(EVAL_RESULTS_FILE)
        if results is None:
            return ModelRecord()
        try:
            per_language = {
                code: {"accuracy": float(v["accuracy"]), "rows": int(v["rows"]), "language": v.get("language")}
                for code, v in results.get("per_language", {}).items()
            }
            temperature = (results.get("calibration") or {}).get("temperature")
            return ModelRecord(per_language, float(temperature) if temperature is not None else None)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            logger.warning("ignoring %s: %s", self.where(EVAL_RESULTS_FILE), err)
            return ModelRecord()

    @property
    def max_seq_length(self) -> int | None:
        """Tokens per pair the model was trained with (`recipe.yaml`); None for a model trained elsewhere."""
        length = (self.read(RECIPE_FILE) or {}).get("max_seq_length")
        if isinstance(length, int) and not isinstance(length, bool) and length >= 8:  # train.py refuses fewer
            return length
        if length is not None:
            logger.warning("ignoring %s: max_seq_length %r is not a number of tokens", self.where(RECIPE_FILE), length)
        return None

    def label_counts(self) -> TrainingCounts | None:
        """Pairs per label the model learned from: the train split in `data_report.json`, else the validation
        labels in `eval_results.json` (its confusion matrix's rows); None when neither says."""
        try:
            counts = dict.fromkeys(LABELS, 0.0)
            for per_label in (self.read(DATA_REPORT_FILE) or {})["counts"]["train"].values():
                for label, n in per_label.items():
                    if label in counts:
                        counts[label] += int(n)
            if sum(counts.values()) > 0:
                return TrainingCounts(counts, f"{self.where(DATA_REPORT_FILE)} (train split)")
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        try:
            matrix = (self.read(EVAL_RESULTS_FILE) or {})["confusion_matrix"]  # rows: the true labels
            rows = [sum(float(n) for n in row) for row in matrix]
            if len(rows) == len(LABELS) and sum(rows) > 0:
                source = f"{self.where(EVAL_RESULTS_FILE)} (validation)"
                return TrainingCounts(dict(zip(LABELS, rows, strict=True)), source)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        return None

    def language_counts(self) -> TrainingCounts | None:
        """Pairs per language (as `data_report.json` names them, e.g. "Thai") of the train split, with the extra
        corpora's languages; None where the model has no data report."""
        try:
            report = self.read(DATA_REPORT_FILE) or {}
            counts: dict[str, float] = {}
            for language, per_label in report["counts"]["train"].items():
                counts[language] = counts.get(language, 0) + sum(int(n) for n in per_label.values())
            extra = tuple(str(code) for source in report.get("extra_data", []) for code in source.get("languages", {}))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if sum(counts.values()) <= 0:
            return None
        return TrainingCounts(counts, f"{self.where(DATA_REPORT_FILE)} (train split)", extra)
