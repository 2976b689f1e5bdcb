"""The ceiling: this CPU's matrix-multiply rate and the model's FLOPs per pair at the data's real lengths.

    python benchmarks/ceiling.py [--model DIR]

The ceiling in pairs per second is the matmul rate divided by the FLOPs per pair: what batch inference
would reach if every FLOP ran at the speed of one large, well-shaped matrix multiply.
"""

from __future__ import annotations

import argparse
import csv
import time

import torch
from common import DEFAULT_MODEL, WATSON, print_table, save


def matmul_gflops(dtype: torch.dtype, m: int = 2048, k: int = 384, n: int = 1536, seconds: float = 2.0) -> float:
    """Dense matmul rate for the encoder's FFN shape (tokens x hidden -> tokens x 4 hidden)."""
    a = torch.randn(m, k).to(dtype)
    b = torch.randn(k, n).to(dtype)
    for _ in range(3):
        a @ b
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * m * k * n * runs / (time.perf_counter() - start) / 1e9


def int8_linear_gflops(m: int = 2048, k: int = 384, n: int = 1536, seconds: float = 2.0) -> float:
    """Rate of a dynamically quantized int8 Linear layer (what torch's dynamic quantization runs)."""
    layer = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(k, n)), {torch.nn.Linear})
    x = torch.randn(m, k)
    with torch.inference_mode():
        for _ in range(3):
            layer(x)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            layer(x)
            runs += 1
    return 2 * m * k * n * runs / (time.perf_counter() - start) / 1e9


def flops_per_pair(config, tokens: float, mean_square_tokens: float) -> float:
    """Forward FLOPs of a BERT/XLM-R encoder for one pair: the linear layers and attention.

    Per layer and token: Q, K, V and output projections (4 h^2 multiply-adds) and the feed-forward
    (2 h f); per layer and pair: attention scores and the weighted sum (2 L^2 h). Embedding look-ups and
    layer norms are ignored (small); the classifier head adds h^2 + 3h once.
    """
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    linear = 2 * tokens * (4 * h * h + 2 * h * f)
    attention = 2 * 2 * mean_square_tokens * h
    return layers * (linear + attention) + 2 * (h * h + 3 * h)


def token_lengths(model: str, max_length: int = 256) -> list[int]:
    """Tokens per pair of test.csv, as the predictor tokenizes them."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    with open(WATSON / "test.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    encoded = tokenizer(
        [r["premise"].strip() for r in rows],
        [r["hypothesis"].strip() for r in rows],
        truncation="longest_first",
        max_length=max_length,
    )
    return [len(ids) for ids in encoded["input_ids"]]


def measure(model: str) -> dict:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    lengths = token_lengths(model)
    mean = sum(lengths) / len(lengths)
    mean_square = sum(n * n for n in lengths) / len(lengths)
    per_pair = flops_per_pair(config, mean, mean_square)
    rates = {
        "float32": matmul_gflops(torch.float32),
        "bfloat16": matmul_gflops(torch.bfloat16),
        "int8 (dynamic)": int8_linear_gflops(),
    }
    return {
        "pairs": len(lengths),
        "mean_tokens": mean,
        "gflops_per_pair": per_pair / 1e9,
        "rows": [
            {"precision": p, "matmul_gflops": r, "ceiling_pairs_per_s": r * 1e9 / per_pair} for p, r in rates.items()
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    result = measure(args.model)
    print(
        f"{result['pairs']} pairs, {result['mean_tokens']:.1f} tokens on average, "
        f"{result['gflops_per_pair']:.2f} GFLOP per pair\n"
    )
    print_table(result["rows"], ["precision", "matmul_gflops", "ceiling_pairs_per_s"])
    save("ceiling", result)


if __name__ == "__main__":
    main()
