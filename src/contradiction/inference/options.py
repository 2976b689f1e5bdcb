"""How the predictor runs: tokens per pair, batch size, device, precision, threads and engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contradiction.errors import UserError

ENGINES = ("auto", "transformers")
"""What runs the model: "auto" runs a BERT, RoBERTa or XLM-R classifier (a local folder, or a Hub model whose files
it needs are read from the cache) in `inference.native` (no transformers import; the same logits), anything else
in transformers; "transformers" runs everything there."""


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
    engine: str = "auto"  # "auto": inference.native where it builds the model exactly; "transformers": always

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
