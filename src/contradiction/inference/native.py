"""BERT-family sequence classifiers (BERT, RoBERTa, XLM-RoBERTa) for inference in plain torch, read straight from a
folder's `model.safetensors`: what `Predictor` runs when the folder allows it, so that a process that only predicts
does not import transformers (0.6 s) and its model classes (1.7 s more: they pull in torch.distributed, sympy and
torch._dynamo), and a single pair does not pay transformers' per-call wrappers.

Same computation as transformers 5's `BertForSequenceClassification` and `XLMRobertaForSequenceClassification` in
eval mode: embeddings (word + token type + position, then LayerNorm), post-LayerNorm encoder layers with
`scaled_dot_product_attention`, exact GELU, and the architecture's head. tests/test_native.py checks the logits
against transformers' on tiny models of both kinds; benchmarks/startup.py the labels on the competition's test set.

A folder this module does not recognise in every detail (another architecture or activation, custom code, a sharded
or `.bin` checkpoint, a weight it has no place for or lacks) gets `None` from `load`, and the caller loads it with
transformers: this path is a shortcut, never a second opinion on what a model is.

    model = load(Path("outputs/model"), torch.bfloat16)  # None: use AutoModelForSequenceClassification
    model(input_ids=ids, attention_mask=mask).logits
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

ARCHITECTURES = {  # the config's architecture: (its model_type, the checkpoint's prefix for the encoder, its head)
    "BertForSequenceClassification": ("bert", "bert", "pooler"),
    "RobertaForSequenceClassification": ("roberta", "roberta", "dense"),
    "XLMRobertaForSequenceClassification": ("xlm-roberta", "roberta", "dense"),
}
"""What `load` builds. "pooler": tanh(dense(<s>)) then `classifier`; "dense": `classifier.dense`, tanh, `out_proj`."""
REQUIRED = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "layer_norm_eps",
    "pad_token_id",
    "id2label",
)
"""config.json keys `load` reads; a config without one of them is left to transformers and its class defaults."""
UNSUPPORTED = ("auto_map", "is_decoder", "add_cross_attention", "quantization_config", "pruned_heads")
"""Config keys that, when set, change the model in ways this module does not repeat."""
IGNORED_WEIGHTS = ("embeddings.position_ids", "embeddings.token_type_ids")  # buffers some older checkpoints hold
WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class EncoderConfig:
    """The parts of config.json the computation depends on, and the labels `Predictor` reads."""

    architecture: str
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int
    id2label: dict[int, str]

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @property
    def prefix(self) -> str:
        return ARCHITECTURES[self.architecture][1]

    @property
    def head(self) -> str:
        return ARCHITECTURES[self.architecture][2]

    @property
    def roberta_positions(self) -> bool:
        """RoBERTa numbers positions from pad_token_id + 1 and skips padding; BERT counts from 0."""
        return self.prefix == "roberta"

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> EncoderConfig | None:
        """The config when this module computes exactly what transformers would for it; else None."""
        architectures = config.get("architectures") or []
        if len(architectures) != 1 or architectures[0] not in ARCHITECTURES:
            return None
        architecture = architectures[0]
        if config.get("model_type") != ARCHITECTURES[architecture][0] or config.get("hidden_act", "gelu") != "gelu":
            return None
        if any(config.get(key) for key in UNSUPPORTED) or any(key not in config for key in REQUIRED):
            return None
        try:
            ints = {key: int(config[key]) for key in REQUIRED if key not in ("layer_norm_eps", "id2label")}
            id2label = {int(i): str(name) for i, name in dict(config["id2label"]).items()}
            eps = float(config["layer_norm_eps"])
        except (TypeError, ValueError):
            return None
        if ints["num_attention_heads"] < 1 or ints["hidden_size"] % ints["num_attention_heads"]:
            return None
        return cls(
            architecture=architecture,
            hidden_size=ints["hidden_size"],
            num_layers=ints["num_hidden_layers"],
            num_heads=ints["num_attention_heads"],
            intermediate_size=ints["intermediate_size"],
            vocab_size=ints["vocab_size"],
            max_positions=ints["max_position_embeddings"],
            type_vocab_size=ints["type_vocab_size"],
            layer_norm_eps=eps,
            pad_token_id=ints["pad_token_id"],
            id2label=id2label,
        )


class Uninitialised:
    """A module whose weights all come from the checkpoint: nothing to initialise. (Initialising on the meta device
    would also import torch._dynamo, 0.8 s, for random numbers that are never drawn.)"""

    def reset_parameters(self) -> None:
        pass


class Linear(Uninitialised, nn.Linear):
    pass


class Embedding(Uninitialised, nn.Embedding):
    pass


class LayerNorm(Uninitialised, nn.LayerNorm):
    pass


@dataclass
class ClassifierOutput:
    """What the caller reads of a forward pass, named as transformers names it."""

    logits: torch.Tensor


class Layer(nn.Module):
    """One post-LayerNorm encoder layer: self-attention, then the feed-forward block, each added back and normed."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        hidden, eps = config.hidden_size, config.layer_norm_eps
        self.heads = config.num_heads
        self.query, self.key, self.value = (Linear(hidden, hidden) for _ in range(3))
        self.attention_out = Linear(hidden, hidden)
        self.attention_norm = LayerNorm(hidden, eps=eps)
        self.up = Linear(hidden, config.intermediate_size)
        self.down = Linear(config.intermediate_size, hidden)
        self.out_norm = LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, hidden = x.shape
        head_size = hidden // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:  # (batch, length, hidden) -> (batch, heads, length, head_size)
            return t.view(batch, length, self.heads, head_size).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=head_size**-0.5)
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        x = self.attention_norm(self.attention_out(attended) + x)
        return self.out_norm(self.down(F.gelu(self.up(x))) + x)


class EncoderClassifier(nn.Module):
    """A BERT-family encoder and its sequence-classification head, for inference (no dropout, no gradients)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        hidden = config.hidden_size
        self.word_embeddings = Embedding(config.vocab_size, hidden)
        self.position_embeddings = Embedding(config.max_positions, hidden)
        self.token_type_embeddings = Embedding(config.type_vocab_size, hidden)
        self.embeddings_norm = LayerNorm(hidden, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.num_layers))
        self.head_dense = Linear(hidden, hidden)  # BERT's pooler, or RoBERTa's classifier.dense
        self.head_out = Linear(hidden, config.num_labels)

    def checkpoint_names(self) -> dict[str, str]:
        """For each of this module's weights, its name in a transformers checkpoint of the architecture."""
        prefix = self.config.prefix
        names = {
            "word_embeddings": f"{prefix}.embeddings.word_embeddings",
            "position_embeddings": f"{prefix}.embeddings.position_embeddings",
            "token_type_embeddings": f"{prefix}.embeddings.token_type_embeddings",
            "embeddings_norm": f"{prefix}.embeddings.LayerNorm",
        }
        if self.config.head == "pooler":
            names |= {"head_dense": f"{prefix}.pooler.dense", "head_out": "classifier"}
        else:
            names |= {"head_dense": "classifier.dense", "head_out": "classifier.out_proj"}
        parts = {
            "query": "attention.self.query",
            "key": "attention.self.key",
            "value": "attention.self.value",
            "attention_out": "attention.output.dense",
            "attention_norm": "attention.output.LayerNorm",
            "up": "intermediate.dense",
            "down": "output.dense",
            "out_norm": "output.LayerNorm",
        }
        for i in range(self.config.num_layers):
            names |= {f"layers.{i}.{ours}": f"{prefix}.encoder.layer.{i}.{theirs}" for ours, theirs in parts.items()}
        return {
            key: f"{names[key.rsplit('.', 1)[0]]}.{key.rsplit('.', 1)[1]}" for key in self.state_dict(keep_vars=True)
        }

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> ClassifierOutput:
        config = self.config
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if config.roberta_positions:
            real = input_ids.ne(config.pad_token_id).long()
            positions = torch.cumsum(real, dim=1) * real + config.pad_token_id
        else:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        if token_type_ids is None:
            token_types = self.token_type_embeddings.weight[0]
        else:
            token_types = self.token_type_embeddings(token_type_ids)
        x = self.word_embeddings(input_ids) + token_types  # summed in transformers' order: the same rounding
        x = self.embeddings_norm(x + self.position_embeddings(positions))
        # padding is masked out of every query's keys; a batch without padding needs no mask at all
        mask = None if bool(attention_mask.all()) else attention_mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        pooled = torch.tanh(self.head_dense(x[:, 0]))
        return ClassifierOutput(logits=self.head_out(pooled))


def read_config(folder: Path) -> dict[str, Any] | None:
    """config.json as a dict, or None where it cannot be read (transformers then says why)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def load(folder: Path, dtype: torch.dtype, config: dict[str, Any] | None = None) -> EncoderClassifier | None:
    """The folder's classifier with each weight cast to `dtype` as it is read; None where this module does not
    build exactly the model transformers would (see the module's docstring), and the caller uses transformers."""
    from safetensors import SafetensorError, safe_open

    config = read_config(folder) if config is None else config
    encoder_config = EncoderConfig.from_dict(config) if config is not None else None
    if encoder_config is None or not (folder / WEIGHTS).is_file():
        return None
    with torch.device("meta"):
        model = EncoderClassifier(encoder_config)
    wanted = model.checkpoint_names()
    expected_shapes = {name: tuple(t.shape) for name, t in model.state_dict(keep_vars=True).items()}
    weights = {}
    try:
        with safe_open(str(folder / WEIGHTS), framework="pt") as f:
            present = {key for key in f.keys() if not key.endswith(IGNORED_WEIGHTS)}
            if present != set(wanted.values()):
                return None  # a weight this module lacks or has no place for: transformers decides what it means
            for ours, theirs in wanted.items():
                tensor = f.get_slice(theirs)
                if tuple(tensor.get_shape()) != expected_shapes[ours]:
                    return None
                weights[ours] = f.get_tensor(theirs).to(dtype)
    except (OSError, SafetensorError):
        return None
    model.load_state_dict(weights, assign=True)
    return model.eval().requires_grad_(False)
