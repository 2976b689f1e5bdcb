"""Which model to serve and where it comes from (a local folder or a Hub id), and why it cannot be served.

`ModelLoadError` says what is wrong and what to pass instead; `map_labels` finds our three labels in the model's
own `id2label`, so a head ordered `contradiction, neutral, entailment` still answers in `labels.LABELS` order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contradiction.errors import UserError
from contradiction.inference.tokenizer import LEGACY_TOKENIZER_FILES, _xlmr_config
from contradiction.labels import LABELS, VARIANT_TO_LABEL

DEFAULT_MODEL_ID = "MoritzLaurer/mDeBERTa-v3-base-xnli-multilingual-nli-2mil7"
"""A public multilingual NLI checkpoint whose config names entailment, neutral and contradiction."""

MODEL_ENV = "MODEL_ID"

DEFAULT_FIX = "pass a local model folder or a Hub model id"


# without one of these, transformers quietly builds an empty tokenizer and the model answers nonsense
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model", "spm.model", "vocab.txt")


class ModelLoadError(UserError):
    """A model that cannot be served; the message says what is wrong and what to pass instead."""

    def __init__(self, reason: str, fix: str = DEFAULT_FIX) -> None:
        self.reason = reason
        self.fix = fix
        super().__init__(f"{reason}; {fix}.")

    def with_flags(self, flags: str) -> ModelLoadError:
        """The same error, its fix naming how an entry point chooses the model, e.g. `--model PATH_OR_ID`."""
        if self.fix == DEFAULT_FIX:
            return ModelLoadError(self.reason, f"pass a local model folder or a Hub model id with {flags}")
        return ModelLoadError(self.reason, f"{self.fix} (the model comes from {flags})")


def resolve_model(model: str | None) -> str:
    """The model to serve: `model` when given, else `$MODEL_ID`, else `DEFAULT_MODEL_ID`."""
    return model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL_ID


def map_labels(id2label: Mapping[int | str, str], source: str) -> list[int]:
    """For each of our labels (in `LABELS` order), the model output index that holds it.

    Raises:
        ModelLoadError: the model does not have exactly our three labels under recognisable names.
    """
    names = {int(i): str(name) for i, name in id2label.items()}
    shown = ", ".join(f"{i}={names[i]}" for i in sorted(names))
    fix = "use a 3-way NLI model whose config names its labels entailment, neutral and contradiction"
    if len(names) != len(LABELS):
        raise ModelLoadError(f"{source} has {len(names)} labels ({shown}), not the 3 NLI labels", fix)
    index: dict[str, int] = {}
    for i, name in names.items():
        label = VARIANT_TO_LABEL.get(  # "not_entailment" (2-way) stays unmapped
            re.sub(r"[\s\-]+", "_", name.strip().lower())
        )
        if label is None or label in index:
            raise ModelLoadError(f"{source}'s labels ({shown}) cannot be mapped onto {', '.join(LABELS)}", fix)
        index[label] = i
    return [index[label] for label in LABELS]


def _is_hub_id(name: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def resolve_source(name_or_path: str) -> tuple[str, bool]:
    """Return (what to pass to from_pretrained, whether it is a local folder); check local folders."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} has no config.json, so it is not a saved model",
                "pass the folder written by save_pretrained (with config.json and the weights)",
            )
        return str(path), True
    if path.exists():
        raise ModelLoadError(f"{path} is a file, not a model folder", "pass the folder that holds config.json")
    if not _is_hub_id(name_or_path):
        raise ModelLoadError(f"model folder {path} does not exist")
    return name_or_path, False


def load_error(source: str, local: bool, err: Exception) -> ModelLoadError:
    from huggingface_hub import is_offline_mode

    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if local:
        return ModelLoadError(f"{source} could not be loaded as a model ({detail})")
    if is_offline_mode():
        return ModelLoadError(
            f"{source} is neither a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE=1 "
            "forbids downloading it",
            "pass a local model folder, or run once with network access to cache it",
        )
    return ModelLoadError(f"{source} could not be loaded from the Hugging Face Hub ({detail})")


HUB_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
"""What a Hub model needs for `inference.native` and `PairTokenizer`; nothing else of its repository is fetched."""


def hub_snapshot(repo_id: str) -> Path | None:
    """The cache folder of a Hub model that `inference.native` and `PairTokenizer` can run, its config, weights
    and tokenizer downloaded there first (or only looked up, when `HF_HUB_OFFLINE=1`); None for any other model,
    or where anything fails, and transformers loads it from the Hub instead (and says what is wrong)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from contradiction.inference import native

    try:
        folder = Path(hf_hub_download(repo_id, "config.json")).parent
        config = native.read_config(folder)
        if config is None or native.EncoderConfig.from_dict(config) is None:
            return None  # another architecture: transformers reads it, with its own files
        for filename in LEGACY_TOKENIZER_FILES:  # where the repository has one, it lands in the folder, and the
            try:  # tokenizer is left to transformers (which merges it into the settings; PairTokenizer does not)
                hf_hub_download(repo_id, filename)
            except EntryNotFoundError:  # not in the repository (or, offline, never downloaded with it)
                pass
        for filename in HUB_FILES[1:]:  # a file downloaded into a snapshot lands beside the config
            hf_hub_download(repo_id, filename)
    except Exception:  # not on the Hub, no such file (e.g. only pytorch_model.bin), offline and not cached, ...
        return None
    return folder if _xlmr_config(folder) is not None else None


def auto_config(source: str, local: bool, remote: dict[str, Any]) -> Any:
    """The model's config as transformers reads it; any failure ends in one sentence."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, **remote)
    except Exception as err:  # OSError, ValueError, network errors
        raise load_error(source, local, err) from None


def check_classifier(config: Any, source: str) -> None:
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelLoadError(
            f"{source} is a {', '.join(architectures)}, not a sequence classification model",
            "pass a model fine-tuned for NLI (its config lists a ...ForSequenceClassification architecture)",
        )
