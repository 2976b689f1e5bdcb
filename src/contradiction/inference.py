"""Load an NLI classifier (local folder or Hub id) and turn premise/hypothesis pairs into probabilities.

The model's own label names decide which logit is which, so a checkpoint whose head is ordered
`contradiction, neutral, entailment` still answers in our order (`labels.LABELS`).

    predictor = Predictor.from_pretrained("outputs/model")
    predictor.predict("A man is sleeping.", "Nobody is asleep.")  # {"entailment": 0.01, ...}
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
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

ENGINES = ("auto", "transformers")
"""What runs the model: "auto" runs a BERT, RoBERTa or XLM-R classifier (a local folder, or a Hub model whose files
it needs are read from the cache) in `contradiction.native` (no transformers import; the same logits), anything else
in transformers; "transformers" runs everything there."""

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
    engine: str = "auto"  # "auto": contradiction.native where it builds the model exactly; "transformers": always

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise UserError(f"max_length {self.max_length} is too small; use at least 8 tokens, e.g. 256.")
        if self.batch_size < 1:
            raise UserError(f"batch_size {self.batch_size} must be a positive number, e.g. 32.")
        if self.num_threads is not None and self.num_threads < 1:
            raise UserError(f"num_threads {self.num_threads} must be a positive number, e.g. 2.")
        if self.dtype not in (None, "float32", "bfloat16", "float16"):
            raise UserError(f"dtype {self.dtype!r} is not supported; use float32, bfloat16 or float16.")
        if self.engine not in ENGINES:
            raise UserError(f"engine {self.engine!r} is not one of {', '.join(ENGINES)}; use auto (the default).")


def add_run_flags(parser: Any) -> None:
    """The flags that choose how the model runs, the same in the CLI and the app: `--no_fast` and `--engine`."""
    parser.add_argument(
        "--no_fast",
        action="store_true",
        help="run in float32 even where bfloat16 is native (the fast default; see docs/benchmarks.md)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto: a BERT, RoBERTa or XLM-R classifier (local or from the Hub) runs without transformers (same "
        "logits, 1.5 s less start-up), any other model in transformers; transformers: every model there "
        "(default auto)",
    )


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


HUB_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
"""What a Hub model needs for `contradiction.native` and `PairTokenizer`; nothing else of its repository is fetched."""


def _hub_snapshot(repo_id: str) -> Path | None:
    """The cache folder of a Hub model that `contradiction.native` and `PairTokenizer` can run, its config, weights
    and tokenizer downloaded there first (or only looked up, when `HF_HUB_OFFLINE=1`); None for any other model,
    or where anything fails, and transformers loads it from the Hub as before (and says what is wrong)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from contradiction import native

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


def _auto_config(source: str, local: bool, remote: dict[str, Any]) -> Any:
    """The model's config as transformers reads it; any failure ends in one sentence."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, **remote)
    except Exception as err:  # OSError, ValueError, network errors
        raise _load_error(source, local, err) from None


def _check_classifier(config: Any, source: str) -> None:
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelLoadError(
            f"{source} is a {', '.join(architectures)}, not a sequence classification model",
            "pass a model fine-tuned for NLI (its config lists a ...ForSequenceClassification architecture)",
        )


# --- the tokenizer: tokenizer.json read straight into `tokenizers`, where that is what transformers would build

DIRECT_TOKENIZER_CLASSES = ("XLMRobertaTokenizer", "XLMRobertaTokenizerFast")  # one class in transformers 5
"""Tokenizer classes whose set-up `PairTokenizer` repeats: XLM-R's, which the multilingual e5 models use too."""
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                  "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}  # fmt: skip
"""XLMRobertaTokenizer's special tokens and their defaults."""
UNREPEATED_SETTINGS = ("auto_map", "added_tokens_decoder", "extra_special_tokens", "additional_special_tokens",
                       "model_input_names", "model_specific_special_tokens")  # fmt: skip
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

    def __init__(self, backend: Any, pad_token_id: int, model_max_length: int, padding_side: str = "right",
                 truncation_side: str = "right") -> None:  # fmt: skip
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

    def __call__(self, text: Sequence[str], text_pair: Sequence[str], truncation: str = "longest_first",
                 max_length: int = 512) -> dict[str, list[list[int]]]:  # fmt: skip
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
        saved = self.backend.truncation
        self.backend.no_truncation()  # each text alone and whole: linear in its length
        try:
            shortened = list(pairs)
            for i in long:
                shortened[i] = self._shorten_pair(*pairs[i], max_length)
        finally:
            self.backend.enable_truncation(**saved)
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

        from contradiction import native

        options = options or PredictorOptions()
        source, local = _resolve_source(str(name_or_path))
        name = source  # what messages and the page call the model
        remote = {"trust_remote_code": options.trust_remote_code}
        shortcut = options.engine == "auto" and not options.trust_remote_code
        snapshot = _hub_snapshot(source) if shortcut and not local else None
        if snapshot is not None:  # a Hub model that native runs: read from its files in the cache, as a folder
            source, local = str(snapshot), True
        # a local BERT-family classifier runs in contradiction.native: its config is read here, not by transformers
        raw = native.read_config(Path(source)) if shortcut and local else None
        config = None
        if raw is not None and native.EncoderConfig.from_dict(raw) is not None:
            id2label = raw["id2label"]
        else:
            raw, config = None, _auto_config(source, local, remote)
            _check_classifier(config, name)
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
            raise _load_error(source, local, err) from None
        if model is None:  # transformers builds it: another architecture, a Hub id, or weights native does not read
            config = config or _auto_config(source, local, remote)
            from transformers import AutoModelForSequenceClassification

            try:
                # each tensor is cast to `dtype` as it is read from the file: no float32 copy of the model first
                model = AutoModelForSequenceClassification.from_pretrained(source, config=config, dtype=dtype, **remote)
            except Exception as err:
                raise _load_error(source, local, err) from None
        return cls(model.to(options.device), tokenizer, name, options)

    @property
    def engine(self) -> str:
        """What runs the model: "native" (`contradiction.native`) or "transformers"."""
        return "native" if type(self.model).__module__ == "contradiction.native" else "transformers"

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

    def token_lengths(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[int]:
        """Tokens of each pair after truncation, as `predict_proba` sees them; the app's scheduler sorts bulk
        work by it, so that its small chunks pad little."""
        if not premises:
            return []  # a tokenizer may refuse an empty batch; a process without a share of a chunk has one
        with self._lock:  # the tokenizer is not for two threads at once
            encoded = self.tokenizer(
                list(premises), list(hypotheses), truncation="longest_first", max_length=self.max_length
            )
        return [len(ids) for ids in encoded["input_ids"]]
