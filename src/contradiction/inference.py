"""Load an NLI classifier (local folder or Hub id) and turn premise/hypothesis pairs into probabilities.

The model's own label names decide which logit is which, so a checkpoint whose head is ordered
`contradiction, neutral, entailment` still answers in our order (`labels.LABELS`).

    predictor = Predictor.from_pretrained("outputs/model")
    predictor.predict("A man is sleeping.", "Nobody is asleep.")  # {"entailment": 0.01, ...}
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contradiction.errors import UserError
from contradiction.labels import LABELS, VARIANT_TO_LABEL

DEFAULT_MODEL_ID = "MoritzLaurer/mDeBERTa-v3-base-xnli-multilingual-nli-2mil7"
"""A public multilingual NLI checkpoint whose config names entailment, neutral and contradiction."""
MODEL_ENV = "MODEL_ID"
DEFAULT_FIX = "pass a local model folder or a Hub model id"

# without one of these, transformers quietly builds an empty tokenizer and the model answers nonsense
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model", "spm.model", "vocab.txt")

ProgressCallback = Callable[[int, int], None]
"""Called after each batch with (pairs done, pairs in total)."""


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


@dataclass
class PredictorOptions:
    """How the model runs; speed options (quantization, compile) belong here."""

    max_length: int = 256  # tokens per pair; longer pairs lose tokens from the longer text first
    batch_size: int = 64  # bigger batches: 79 against 65 pairs/s at 32 on 2 cores (docs/benchmarks.md)
    device: str = "cpu"
    dtype: str | None = None  # "float32", "bfloat16" or "float16"; None lets `fast` decide
    fast: bool = True  # bfloat16 weights where the hardware computes bfloat16 natively (docs/benchmarks.md)
    num_threads: int | None = None  # torch.set_num_threads (process-wide); None keeps torch's default
    trust_remote_code: bool = False  # runs Python code from the model repository: only when asked

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise UserError(f"max_length {self.max_length} is too small; use at least 8 tokens, e.g. 256.")
        if self.batch_size < 1:
            raise UserError(f"batch_size {self.batch_size} must be a positive number, e.g. 32.")
        if self.num_threads is not None and self.num_threads < 1:
            raise UserError(f"num_threads {self.num_threads} must be a positive number, e.g. 2.")
        if self.dtype not in (None, "float32", "bfloat16", "float16"):
            raise UserError(f"dtype {self.dtype!r} is not supported; use float32, bfloat16 or float16.")


def native_bf16(device: str = "cpu") -> bool:
    """Whether `device` multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX on x86 CPUs).

    Elsewhere torch still runs bfloat16, but by converting, and it is slower than float32.
    """
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(fast: bool, device: str = "cpu") -> str:
    """The weight precision the predictor runs in: bfloat16 when fast and native, else float32.

    On this project's 2-core AVX512-BF16 CPU, bfloat16 doubled throughput and kept the labels of the
    validation split within 0.5 point of float32 (docs/benchmarks.md); dynamic int8 did not.
    """
    return "bfloat16" if fast and native_bf16(device) else "float32"


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


def _resolve_source(name_or_path: str) -> tuple[str, bool]:
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


def _load_error(source: str, local: bool, err: Exception) -> ModelLoadError:
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


def _check_classifier(config: Any, source: str) -> None:
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelLoadError(
            f"{source} is a {', '.join(architectures)}, not a sequence classification model",
            "pass a model fine-tuned for NLI (its config lists a ...ForSequenceClassification architecture)",
        )


class Predictor:
    """An NLI classifier and its tokenizer: many pairs in, probabilities in our label order out.

    Thread-safe: one lock serialises tokenization and forward passes, since a fast tokenizer must not be
    used from two threads at once (and two forward passes on the same CPU cores only compete).
    """

    def __init__(self, model: Any, tokenizer: Any, name: str, options: PredictorOptions | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.options = options or PredictorOptions()
        self.label_index = map_labels(model.config.id2label, name)
        model_max = getattr(tokenizer, "model_max_length", None) or self.options.max_length
        self.max_length = min(self.options.max_length, model_max)
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, options: PredictorOptions | None = None) -> Predictor:
        """Load from a local folder or a Hub id (downloaded once into the cache; only the cache when
        `HF_HUB_OFFLINE=1`).

        Raises:
            ModelLoadError: missing folder, not a classifier, labels that do not map, not downloadable.
        """
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        options = options or PredictorOptions()
        source, local = _resolve_source(str(name_or_path))
        remote = {"trust_remote_code": options.trust_remote_code}
        try:
            config = AutoConfig.from_pretrained(source, **remote)
        except Exception as err:  # OSError, ValueError, network errors: all end in one sentence
            raise _load_error(source, local, err) from None
        _check_classifier(config, source)
        map_labels(config.id2label, source)  # refuse before downloading the weights
        if options.num_threads is not None:
            torch.set_num_threads(options.num_threads)
        dtype = getattr(torch, options.dtype or resolve_dtype(options.fast, options.device))
        if local and not any((Path(source) / name).is_file() for name in TOKENIZER_FILES):
            raise ModelLoadError(
                f"{source} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...)",
                "save the tokenizer beside the model (train.py does) or copy its files into the folder",
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **remote)
            model = AutoModelForSequenceClassification.from_pretrained(source, config=config, dtype=dtype, **remote)
        except Exception as err:
            raise _load_error(source, local, err) from None
        return cls(model.to(options.device), tokenizer, source, options)

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS

    @property
    def precision(self) -> str:
        """The weights' dtype, e.g. "bfloat16" (the fast path) or "float32"."""
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")

    def predict_proba(
        self,
        premises: Sequence[str],
        hypotheses: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Probabilities of shape (pairs, 3), columns in `LABELS` order, rows in input order.

        Pairs are tokenized once, then run longest first in batches of similar length to save padding.
        """
        import torch

        if len(premises) != len(hypotheses):
            raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses; pass one of each per pair.")
        total = len(premises)
        probs = np.zeros((total, len(LABELS)), dtype=np.float32)
        if total == 0:
            return probs
        batch_size = batch_size or self.options.batch_size
        with self._lock, torch.inference_mode():
            encoded = self.tokenizer(
                list(premises), list(hypotheses), truncation="longest_first", max_length=self.max_length
            )
            order = sorted(range(total), key=lambda i: -len(encoded["input_ids"][i]))
            keys = list(encoded.keys())
            for start in range(0, total, batch_size):
                rows = order[start : start + batch_size]
                features = [{k: encoded[k][i] for k in keys} for i in rows]
                batch = self.tokenizer.pad(features, return_tensors="pt").to(self.options.device)
                logits = self.model(**batch).logits.float()
                probs[rows] = logits.softmax(dim=-1)[:, self.label_index].cpu().numpy()
                if progress is not None:
                    progress(min(start + batch_size, total), total)
        return probs

    def predict(self, premise: str, hypothesis: str) -> dict[str, float]:
        """One pair's probabilities as {label: probability}, in `LABELS` order."""
        row = self.predict_proba([premise], [hypothesis])[0]
        return {label: float(p) for label, p in zip(LABELS, row, strict=True)}
