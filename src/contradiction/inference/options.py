"""How the predictor runs: tokens per pair, batch size, device, precision, threads and engine; the flags that set
them in every command line that loads a model; how many CPU threads a process uses, in training too."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contradiction.cli import add_dataclass_flags, dataclass_from_flags
from contradiction.errors import UserError
from contradiction.inference.model_folder import ModelFolder

ENGINES = ("auto", "transformers")
"""What runs the model: "auto" runs a BERT, RoBERTa or XLM-R classifier (a local folder, or a Hub model whose files
it needs are read from the cache) in `inference.native` (no transformers import; the same logits), anything else
in transformers; "transformers" runs everything there."""


DEFAULT_MAX_LENGTH = 256
"""Tokens per pair for a model whose folder does not say what it was trained with (no `recipe.yaml`)."""

COMMAND_LINE_OPTIONS = ("max_length", "batch_size", "num_threads", "fast", "engine")
"""The options a command line that loads a model offers (`--no_fast` for `fast`); the others are for code."""


@dataclass
class PredictorOptions:
    """How the model runs; speed options (quantization, compile) belong here. Each field's `help` is its flag's."""

    max_length: int | None = field(
        default=None,
        metadata={
            "help": "tokens per pair; longer pairs lose tokens from the longer text first (default: the "
            f"max_seq_length the model was trained with, from its recipe.yaml, else {DEFAULT_MAX_LENGTH})"
        },
    )
    batch_size: int = field(
        default=64,  # bigger batches: 79 against 65 pairs/s at 32 on 2 cores (docs/benchmarks.md)
        metadata={"help": "pairs per forward pass"},
    )
    device: str = field(default="cpu", metadata={"help": "where the model runs: cpu, cuda, cuda:1, ..."})
    dtype: str | None = field(
        default=None, metadata={"help": "float32, bfloat16 or float16 weights (default: fast decides)"}
    )
    fast: bool = field(
        default=True,
        metadata={"help": "run in float32 even where bfloat16 is native (the fast default; see docs/benchmarks.md)"},
    )
    num_threads: int | None = field(
        default=None,
        metadata={
            "help": "CPU threads for torch per process (default: torch's choice, except where several processes share "
            "the CPU or OMP_NUM_THREADS is set, as accelerate launch does: the cores divided among the processes)"
        },
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "run Python code from the model repository: only when asked"}
    )
    engine: str = field(
        default="auto",
        metadata={
            "choices": ENGINES,
            "help": "auto: a BERT, RoBERTa or XLM-R classifier (local or from the Hub) runs without transformers "
            "(same logits, 1.5 s less start-up), any other model in transformers; transformers: every model there",
        },
    )

    def __post_init__(self) -> None:
        if self.max_length is not None and self.max_length < 8:
            raise UserError(f"max_length {self.max_length} is too small; use at least 8 tokens, e.g. 256.")
        if self.batch_size < 1:
            raise UserError(f"batch_size {self.batch_size} must be a positive number, e.g. 32.")
        if self.num_threads is not None and self.num_threads < 1:
            raise UserError(f"num_threads {self.num_threads} must be a positive number, e.g. 2.")
        if self.dtype not in (None, "float32", "bfloat16", "float16"):
            raise UserError(f"dtype {self.dtype!r} is not supported; use float32, bfloat16 or float16.")
        if self.engine not in ENGINES:
            raise UserError(f"engine {self.engine!r} is not one of {', '.join(ENGINES)}; use auto (the default).")

    def length_for(self, model: str | Path | ModelFolder) -> int:
        """Tokens per pair to serve `model` with: `max_length` when set, else the length it was trained with
        (its `recipe.yaml`, from its folder or its Hub repository), else 256."""
        return self.max_length or ModelFolder.of(model).max_seq_length or DEFAULT_MAX_LENGTH


def add_options_flags(
    parser: Any, names: Sequence[str] = COMMAND_LINE_OPTIONS, *, model_required: bool = False
) -> None:
    """`--model` and the flags of the `PredictorOptions` fields `names`: the same name, type, default and help in
    every command line that loads a model (`options_from_flags` reads them back)."""
    default = "" if model_required else " (default: $MODEL_ID, else a public multilingual NLI model)"
    help = f"local model folder or Hub id of a 3-label NLI classifier{default}"
    parser.add_argument("--model", required=model_required, help=help)
    add_dataclass_flags(parser, PredictorOptions, names)


def options_from_flags(args: Any, **fixed: Any) -> PredictorOptions:
    """The `PredictorOptions` the flags of `add_options_flags` ask for, with `fixed` (e.g. `device`) on top."""
    return dataclass_from_flags(PredictorOptions, args, **fixed)


def cpu_threads(requested: int | None, processes: int = 1, device: str = "cpu") -> int | None:
    """Torch threads for each of `processes` processes on `device`, one rule for training and prediction.

    `requested` when given; on a GPU, torch's choice (None). On the CPU, the cores shared out among the processes:
    `accelerate launch` sets OMP_NUM_THREADS=1, which leaves cores idle (half the speed on 2 cores). A lone process
    started without it keeps torch's choice, which already uses the cores.
    """
    if requested is not None:
        return requested
    if not device.startswith("cpu") or (processes <= 1 and "OMP_NUM_THREADS" not in os.environ):
        return None
    return max(1, (os.cpu_count() or 1) // max(1, processes))


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
