"""XLM-R's tokenizer read straight from tokenizer.json into `tokenizers` (`PairTokenizer`), where that is
exactly what transformers 5 would build.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

DIRECT_TOKENIZER_CLASSES = ("XLMRobertaTokenizer", "XLMRobertaTokenizerFast")  # one class in transformers 5
"""Tokenizer classes whose set-up `PairTokenizer` repeats: XLM-R's, which the multilingual e5 models use too."""

SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "cls_token": "<s>",
    "mask_token": "<mask>",
}
"""XLMRobertaTokenizer's special tokens and their defaults."""

UNREPEATED_SETTINGS = (
    "auto_map",
    "added_tokens_decoder",
    "extra_special_tokens",
    "additional_special_tokens",
    "model_input_names",
    "model_specific_special_tokens",
)
"""tokenizer_config.json keys with which transformers builds the tokenizer in ways `PairTokenizer` does not repeat."""

LEGACY_TOKENIZER_FILES = ("special_tokens_map.json", "added_tokens.json")  # transformers merges them into the config

LONG_TEXT_CHARS_PER_TOKEN = 16
"""A pair whose two texts both have more than this many characters per token of max_length is cut before it is
tokenized (`PairTokenizer._shorten_long_pairs`)."""

MAX_WORD_CHARS = 64
"""How far past the last kept token `PairTokenizer` looks for a space to cut after; beyond, it cuts after the token."""


class PairTokenizer:
    """A model folder's tokenizer.json in `tokenizers`, set up as transformers 5 sets up `XLMRobertaTokenizer`, for
    the two calls `Predictor` makes: encode pairs (truncated, unpadded) and pad a batch into tensors.

    Why: transformers takes 2.5 s to build the tokenizer of a 250,000-piece vocabulary (it parses tokenizer.json
    twice in Python and once in Rust, then rebuilds the vocabulary from Python tuples); `Tokenizer.from_file`
    parses it once, in Rust: 0.75 s. Same ids and masks: tests/test_inference.py on a tiny model,
    benchmarks/startup.py on every pair of the competition's files (docs/benchmarks.md).
    """

    model_input_names = ("input_ids", "attention_mask")  # XLMRobertaTokenizer's: no token_type_ids

    def __init__(
        self,
        backend: Any,
        pad_token_id: int,
        model_max_length: int,
        padding_side: str = "right",
        truncation_side: str = "right",
    ) -> None:
        self.backend = backend
        self.pad_token_id = pad_token_id
        self.model_max_length = model_max_length
        self.padding_side = padding_side
        self.truncation_side = truncation_side

    @classmethod
    def from_folder(cls, folder: Path) -> PairTokenizer | None:
        """The tokenizer of a local model folder; None where this shortcut is not known to give the ids
        `AutoTokenizer` gives, and the caller loads that instead: no tokenizer.json (a slow-only tokenizer),
        another tokenizer class, custom code, or tokenizer settings that this class does not repeat."""
        config = _xlmr_config(folder)
        if config is None:
            return None
        from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors

        try:
            backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception:  # a broken file: AutoTokenizer then says what is wrong with it
            return None
        model = backend.model.__getstate__()  # JSON, its fields in a fixed order: type, unk_id, vocab, byte_fallback
        if not model.startswith(b'{"type":"Unigram","unk_id":3,') or not model.endswith(b',"byte_fallback":false}'):
            return None  # transformers would rebuild the vocabulary as Unigram(unk_id=3, byte_fallback=False)
        tokens = {key: config.get(key, default) for key, default in SPECIAL_TOKENS.items()}
        added = {str(token): (i, token.special) for i, token in backend.get_added_tokens_decoder().items()}
        if not all(added.get(token, (0, False))[1] for token in tokens.values()):
            return None  # transformers would add a special token the file lacks, or make one special

        # what XLMRobertaTokenizer.__init__ builds: of the file's normalizer, its SentencePiece character map only ...
        normalizer = json.loads(backend.normalizer.__getstate__()) if backend.normalizer is not None else {}
        parts = normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else [normalizer]
        charsmap = next((n["precompiled_charsmap"] for n in parts if n.get("type") == "Precompiled"), None)
        if charsmap is None:
            backend.normalizer = None
        elif normalizer.get("type") != "Precompiled":
            backend.normalizer = normalizers.Precompiled(base64.b64decode(charsmap))
        # ... words split at whitespace, each marked as SentencePiece marks a word start ...
        scheme = "always" if config.get("add_prefix_space", True) else "never"
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme=scheme)]
        )
        # ... and a pair framed as <s> A </s></s> B </s>
        bos, eos = tokens["bos_token"], tokens["eos_token"]
        backend.post_processor = processors.TemplateProcessing(
            single=[bos, "$A", eos],
            pair=[bos, "$A", eos, eos, "$B", eos],
            special_tokens=[(bos, added[bos][0]), (eos, added[eos][0])],
        )
        backend.encode_special_tokens = False  # "</s>" inside a text is the special token there too
        backend.no_padding()
        return cls(
            backend,
            pad_token_id=added[tokens["pad_token"]][0],
            model_max_length=int(config.get("model_max_length") or 1e30),  # transformers' "no limit"
            padding_side=config.get("padding_side", "right"),
            truncation_side=config.get("truncation_side", "right"),
        )

    def __call__(
        self, text: Sequence[str], text_pair: Sequence[str], truncation: str = "longest_first", max_length: int = 512
    ) -> dict[str, list[list[int]]]:
        """Token ids and attention masks of each pair, unpadded: what the transformers tokenizer returns for
        `tokenizer(premises, hypotheses, truncation="longest_first", max_length=...)`."""
        if truncation != "longest_first":
            raise ValueError(f"PairTokenizer truncates longest_first only, not {truncation!r}.")
        wanted = {"max_length": max_length, "stride": 0, "strategy": "longest_first", "direction": self.truncation_side}
        current = self.backend.truncation
        if current is None or {key: current.get(key) for key in wanted} != wanted:
            self.backend.enable_truncation(**wanted)
        pairs = self._shorten_long_pairs(list(zip(text, text_pair, strict=True)), max_length)
        encodings = self.backend.encode_batch(pairs, add_special_tokens=True)
        return {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings]}

    def _shorten_long_pairs(self, pairs: list[tuple[str, str]], max_length: int) -> list[tuple[str, str]]:
        """Pairs whose two texts are both long, cut to what truncation keeps of them, and a little more.

        Why: when a pair is truncated, `tokenizers` keeps every overflowing window of each text and combines them,
        one encoding per combination: two texts of 100,000 characters need more than 6 GB. A text is cut after a
        whole word (ASCII whitespace) or, in a text without spaces there, after a whole token (truncating from the
        left: before a whole word, or not at all), so the tokens truncation keeps are the same (whole words
        tokenize alone; a Unigram prefix that ends where a token ended keeps its best segmentation). Truncation
        takes from each text a number of tokens that depends on which text is longer, so the cut texts keep more
        than `max_length` tokens each, in the same order of length as the whole texts; where that cannot be had,
        the pair stays whole. tests/test_inference.py checks the ids against transformers'.
        """
        long = [i for i, (a, b) in enumerate(pairs) if min(len(a), len(b)) > LONG_TEXT_CHARS_PER_TOKEN * max_length]
        if not long:
            return pairs
        shortened = list(pairs)
        with self._untruncated():  # each text alone and whole: linear in its length
            for i in long:
                shortened[i] = self._shorten_pair(*pairs[i], max_length)
        return shortened

    def _shorten_pair(self, a: str, b: str, max_length: int) -> tuple[str, str]:
        def count(text: str) -> int:
            return len(self.backend.encode(text, add_special_tokens=False).ids)

        whole_a, whole_b = self.backend.encode_batch([a, b], add_special_tokens=False)
        a_longer = len(whole_a.ids) > len(whole_b.ids)  # what decides which text gives up the odd token
        keep_a, keep_b = max_length + 1 + a_longer, max_length + 1
        for _ in range(4):
            cut_a, cut_b = self._cut(a, whole_a, keep_a), self._cut(b, whole_b, keep_b)
            n_a, n_b = count(cut_a), count(cut_b)
            if min(n_a, n_b) > max_length and (n_a > n_b) == a_longer:
                return cut_a, cut_b
            if a_longer:
                keep_a += n_b - n_a + 1
            else:
                keep_b += n_a - n_b
        return a, b

    def _cut(self, text: str, encoding: Any, keep: int) -> str:
        """`text` with at least its first `keep` tokens (its last, when truncating from the left); the whole text
        where there are no more, or, from the left, where no space is near."""
        if len(encoding.ids) <= keep:
            return text
        if self.truncation_side == "right":
            end = encoding.offsets[keep - 1][1]
            space = next((j for j in range(end, min(len(text), end + MAX_WORD_CHARS)) if text[j] in " \t\r\n"), None)
            return text[: space if space is not None else end]  # after the word, or, with no space near, the token
        start = encoding.offsets[len(encoding.ids) - keep][0]
        space = max(text.rfind(c, max(0, start - MAX_WORD_CHARS), start + 1) for c in " \t\r\n")
        return text[space:] if space >= 0 else text  # before the word; a piece from inside a word would gain a
        # word-start mark, and change how the rest of that word splits

    def whole_lengths(self, text: Sequence[str], text_pair: Sequence[str]) -> list[int]:
        """Tokens of each whole pair, special tokens included, as if nothing were cut (linear in the texts' length:
        without truncation there are no overflowing windows to combine)."""
        with self._untruncated():
            encodings = self.backend.encode_batch(list(zip(text, text_pair, strict=True)), add_special_tokens=True)
        return [len(e.ids) for e in encodings]

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Each text's tokens alone and whole (no special tokens) as character offsets (start, end)."""
        with self._untruncated():
            return [list(e.offsets) for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    @contextmanager
    def _untruncated(self) -> Iterator[None]:
        """The backend without truncation for the block, its truncation as it was afterwards."""
        saved = self.backend.truncation
        self.backend.no_truncation()
        try:
            yield
        finally:
            if saved is not None:
                self.backend.enable_truncation(**saved)

    def pad(self, features: Sequence[Mapping[str, list[int]]], return_tensors: str = "pt") -> dict[str, Any]:
        """One batch as int64 tensors, padded to its longest pair: what the transformers tokenizer's `pad` makes."""
        import torch

        if return_tensors != "pt":
            raise ValueError(f"PairTokenizer pads into torch tensors only, not {return_tensors!r}.")
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), longest), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            cols = slice(0, n) if self.padding_side == "right" else slice(longest - n, longest)
            ids[row, cols] = torch.tensor(feature["input_ids"], dtype=torch.long)
            mask[row, cols] = torch.tensor(feature["attention_mask"], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask}


def _xlmr_config(folder: Path) -> dict[str, Any] | None:
    """tokenizer_config.json of a folder whose tokenizer `PairTokenizer` can build; None for any other."""
    if not (folder / "tokenizer.json").is_file() or any((folder / name).exists() for name in LEGACY_TOKENIZER_FILES):
        return None
    if not version("transformers").startswith("5."):  # the set-up PairTokenizer repeats is transformers 5's
        return None
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # AutoTokenizer then says what is wrong
    if (
        not isinstance(config, dict)
        or config.get("tokenizer_class") not in DIRECT_TOKENIZER_CLASSES
        or any(key in config for key in UNREPEATED_SETTINGS)
        or config.get("split_special_tokens")
        or any(key.endswith("_token") and key not in SPECIAL_TOKENS for key in config)
        or not all(
            isinstance(config.get(key, ""), str) for key in SPECIAL_TOKENS
        )  # not {"content": ..., "lstrip": ...}
        or config.get("padding_side", "right") not in ("right", "left")
        or config.get("truncation_side", "right") not in ("right", "left")
    ):
        return None
    return config
