"""`Predictor`: an NLI classifier and its tokenizer, many premise/hypothesis pairs in, probabilities out.

predictor = Predictor.from_pretrained("outputs/model")
predictor.predict("A man is sleeping.", "Nobody is asleep.")  # {"entailment": 0.01, ...}
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from contradiction.inference.loading import (
    TOKENIZER_FILES,
    ModelLoadError,
    auto_config,
    check_classifier,
    hub_snapshot,
    load_error,
    map_labels,
    resolve_source,
)
from contradiction.inference.options import PredictorOptions, resolve_dtype
from contradiction.inference.tokenizer import PairTokenizer
from contradiction.labels import LABELS

ProgressCallback = Callable[[int, int], None]
"""Called after each batch with (pairs done, pairs in total)."""


class Predictor:
    """An NLI classifier and its tokenizer: many pairs in, probabilities in our label order out.

    `max_length` is the tokens per pair in use: `options.max_length`, else the model's own training length (its
    `recipe.yaml`), else 256, and never more than the tokenizer allows.

    Thread-safe: one lock serialises tokenization and forward passes, since a fast tokenizer must not be
    used from two threads at once (and two forward passes on the same CPU cores only compete).
    """

    def __init__(self, model: Any, tokenizer: Any, name: str, options: PredictorOptions | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.options = options or PredictorOptions()
        self.label_index = map_labels(model.config.id2label, name)
        length = self.options.length_for(name)  # unless told, the length the model was trained with
        self.max_length = min(length, getattr(tokenizer, "model_max_length", None) or length)
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, options: PredictorOptions | None = None) -> Predictor:
        """Load from a local folder or a Hub id (downloaded once into the cache; only the cache when
        `HF_HUB_OFFLINE=1`).

        Raises:
            ModelLoadError: missing folder, not a classifier, labels that do not map, not downloadable.
        """
        import torch

        from contradiction.inference import native

        options = options or PredictorOptions()
        source, local = resolve_source(str(name_or_path))
        name = source  # what messages and the page call the model
        remote = {"trust_remote_code": options.trust_remote_code}
        shortcut = options.engine == "auto" and not options.trust_remote_code
        snapshot = hub_snapshot(source) if shortcut and not local else None
        if snapshot is not None:  # a Hub model that native runs: read from its files in the cache, as a folder
            source, local = str(snapshot), True
        # a local BERT-family classifier runs in inference.native: its config is read here, not by transformers
        raw = native.read_config(Path(source)) if shortcut and local else None
        config = None
        if raw is not None and native.EncoderConfig.from_dict(raw) is not None:
            id2label = raw["id2label"]
        else:
            raw, config = None, auto_config(source, local, remote)
            check_classifier(config, name)
            id2label = config.id2label
        map_labels(id2label, name)  # refuse before downloading the weights
        if options.num_threads is not None:
            torch.set_num_threads(options.num_threads)
        dtype = getattr(torch, options.dtype or resolve_dtype(options.fast, options.device))
        if local and not any((Path(source) / file).is_file() for file in TOKENIZER_FILES):
            raise ModelLoadError(
                f"{source} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...)",
                "save the tokenizer beside the model (train.py does) or copy its files into the folder",
            )
        try:
            tokenizer = PairTokenizer.from_folder(Path(source)) if local else None
            if tokenizer is None:  # a Hub id, or a tokenizer whose set-up PairTokenizer does not repeat
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(name if snapshot else source, **remote)
            model = native.load(Path(source), dtype, raw) if raw is not None else None
        except Exception as err:
            raise load_error(source, local, err) from None
        if model is None:  # transformers builds it: another architecture, a Hub id, or weights native does not read
            config = config or auto_config(source, local, remote)
            from transformers import AutoModelForSequenceClassification

            try:
                # each tensor is cast to `dtype` as it is read from the file: no float32 copy of the model first
                model = AutoModelForSequenceClassification.from_pretrained(source, config=config, dtype=dtype, **remote)
            except Exception as err:
                raise load_error(source, local, err) from None
        return cls(model.to(options.device), tokenizer, name, options)

    @property
    def engine(self) -> str:
        """What runs the model: "native" (`inference.native`) or "transformers"."""
        return "native" if type(self.model).__module__ == "contradiction.inference.native" else "transformers"

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS

    @property
    def precision(self) -> str:
        """The weights' dtype, e.g. "bfloat16" (the fast path) or "float32"."""
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")

    def logits(
        self,
        premises: Sequence[str],
        hypotheses: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Raw logits of shape (pairs, the model's labels), columns in the model's own order (`label_index`
        maps ours onto them), rows in input order.

        Pairs are tokenized once, then run longest first in batches of similar length to save padding.
        """
        import torch

        if len(premises) != len(hypotheses):
            raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses; pass one of each per pair.")
        total = len(premises)
        logits = np.zeros((total, self.model.config.num_labels), dtype=np.float32)
        if total == 0:
            return logits
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
                batch = self.tokenizer.pad(features, return_tensors="pt")
                output = self.model(**{k: v.to(self.options.device) for k, v in batch.items()}).logits
                logits[rows] = output.float().cpu().numpy()
                if progress is not None:
                    progress(min(start + batch_size, total), total)
        return logits

    def predict_proba(
        self,
        premises: Sequence[str],
        hypotheses: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Probabilities of shape (pairs, 3), columns in `LABELS` order, rows in input order."""
        import torch

        logits = torch.from_numpy(self.logits(premises, hypotheses, batch_size, progress))
        return logits.softmax(dim=-1)[:, self.label_index].numpy()

    def predict(self, premise: str, hypothesis: str) -> dict[str, float]:
        """One pair's probabilities as {label: probability}, in `LABELS` order."""
        row = self.predict_proba([premise], [hypothesis])[0]
        return {label: float(p) for label, p in zip(LABELS, row, strict=True)}

    def token_counts(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[tuple[int, int]]:
        """For each pair, the tokens the model reads and the tokens of the whole pair: where they differ, the pair
        was cut to `max_length` (the end of the longer text first) and the rest was never read."""
        kept = self.token_lengths(premises, hypotheses)
        full = [i for i, n in enumerate(kept) if n >= self.max_length]  # only these can have been cut
        totals = list(kept)
        if full:
            chosen = [premises[i] for i in full], [hypotheses[i] for i in full]
            with self._lock:
                if hasattr(self.tokenizer, "whole_lengths"):
                    whole = self.tokenizer.whole_lengths(*chosen)
                else:  # a transformers tokenizer
                    whole = [len(ids) for ids in self.tokenizer(*map(list, chosen), truncation=False)["input_ids"]]
            for i, n in zip(full, whole, strict=True):
                totals[i] = n
        return list(zip(kept, totals, strict=True))

    def text_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Each text's tokens alone (no special tokens, nothing cut) as character offsets (start, end): what
        document mode packs windows of sentences by (`inference.documents`)."""
        if not texts:
            return []
        with self._lock:
            if hasattr(self.tokenizer, "offsets"):  # PairTokenizer
                return self.tokenizer.offsets(texts)
            encoded = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
            return [[tuple(span) for span in spans] for spans in encoded["offset_mapping"]]

    def token_lengths(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[int]:
        """Tokens of each pair after truncation, as `predict_proba` sees them; the app's scheduler sorts bulk
        work by it, so that its small chunks pad little (asking a few hundred pairs at a time, between passes)."""
        if not premises:
            return []  # a tokenizer may refuse an empty batch; a process without a share of a chunk has one
        with self._lock:  # the tokenizer is not for two threads at once
            encoded = self.tokenizer(
                list(premises), list(hypotheses), truncation="longest_first", max_length=self.max_length
            )
        return [len(ids) for ids in encoded["input_ids"]]
