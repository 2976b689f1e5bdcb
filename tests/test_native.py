"""inference.native: the same logits as transformers for the models it builds, transformers for every other one,
and a prediction from a local folder that never imports transformers."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from contradiction.inference.native import EncoderClassifier
from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor
from contradiction.labels import ID2LABEL, LABEL2ID

ROOT = Path(__file__).resolve().parents[1]


def _save(model, tiny_model_dir: Path, out: Path) -> Path:
    """`model` saved with the tiny model's tokenizer files beside it."""
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, out / name)
    return out


def _build(kind: str, tiny_model_dir: Path, out: Path, **config) -> Path:
    """A small random classifier of `kind` whose weights are large enough (initializer_range 0.4) that a wrong
    position, mask or head shows in the logits."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
    )

    vocab = json.loads((tiny_model_dir / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    settings = dict(
        vocab_size=vocab,
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=96,
        initializer_range=0.4,
        id2label=dict(ID2LABEL),
        label2id=dict(LABEL2ID),
        pad_token_id=1,
        layer_norm_eps=1e-5,
    )
    torch.manual_seed(3)
    if kind == "bert":  # BERT's positions count from 0, its head is a pooler and a classifier
        model = BertForSequenceClassification(BertConfig(**settings, max_position_embeddings=300, **config))
    else:  # XLM-R numbers positions from pad_token_id + 1, its head is dense, tanh, out_proj
        model = XLMRobertaForSequenceClassification(XLMRobertaConfig(**settings, max_position_embeddings=302, **config))
    return _save(model, tiny_model_dir, out)


@pytest.fixture(scope="module")
def pairs(sample_dir: Path) -> tuple[list[str], list[str]]:
    """Pairs of many lengths, so that a batch holds padding (and one pair is cut at max_length)."""
    with open(sample_dir / "test.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:20]
    premises, hypotheses = [r["premise"] for r in rows], [r["hypothesis"] for r in rows]
    return premises + [" ".join(premises)], hypotheses + ["Short."]


def _both(folder: Path, **options) -> tuple[Predictor, Predictor]:
    native = Predictor.from_pretrained(folder, PredictorOptions(**options))
    reference = Predictor.from_pretrained(folder, PredictorOptions(engine="transformers", **options))
    assert (native.engine, reference.engine) == ("native", "transformers")
    return native, reference


@pytest.mark.parametrize("kind", ["bert", "xlm-roberta"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.slow
def test_native_logits_are_transformers_logits(kind, padding_side, tiny_model_dir, tmp_path, pairs) -> None:
    folder = _build(kind, tiny_model_dir, tmp_path / kind)
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["padding_side"] = padding_side
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    native, reference = _both(folder, dtype="float32", max_length=64)
    got, expected = native.logits(*pairs, batch_size=8), reference.logits(*pairs, batch_size=8)
    assert np.abs(expected).max() > 0.5  # answers far from uniform: a wrong detail would move them
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # the longest pair of the first batch (no padding in it) alone, so with no mask, gives what it gives in the batch
    longest = int(np.argmax(native.token_lengths(pairs[0][:8], pairs[1][:8])))
    alone = native.logits(pairs[0][longest : longest + 1], pairs[1][longest : longest + 1])
    np.testing.assert_allclose(alone, got[longest : longest + 1], rtol=1e-5, atol=1e-5)


def test_bfloat16_gives_transformers_bfloat16_labels(tiny_model_dir, tmp_path, pairs) -> None:
    native, reference = _both(_build("xlm-roberta", tiny_model_dir, tmp_path / "m"), dtype="bfloat16")
    assert native.precision == reference.precision == "bfloat16"
    np.testing.assert_allclose(native.logits(*pairs), reference.logits(*pairs), rtol=0.02, atol=0.02)


def test_token_type_ids_are_used_as_bert_uses_them(tiny_model_dir, tmp_path) -> None:
    """A BERT tokenizer (not ours) marks the hypothesis' tokens with type 1; the native model reads them."""
    from transformers import AutoModelForSequenceClassification

    from contradiction.inference import native

    folder = _build("bert", tiny_model_dir, tmp_path / "bert")
    ours = native.load(folder, torch.float32)
    theirs = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    ids = torch.tensor([[0, 40, 41, 42, 2, 2, 50, 51, 2], [0, 60, 61, 2, 2, 70, 2, 1, 1]])
    mask, types = (ids != 1).long(), torch.tensor([[0] * 5 + [1] * 4, [0] * 4 + [1] * 3 + [0] * 2])
    with torch.inference_mode():
        got = ours(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        expected = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        without = ours(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, without, atol=1e-3)  # the types change the answer: they were not ignored


def _edit_config(folder: Path, drop: str | None = None, **changes) -> None:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.update(changes)
    config.pop(drop, None)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def _add_weight(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    weights["roberta.pooler.dense.weight"] = torch.zeros(48, 48)  # a weight native has no place for
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


FALLBACKS = {
    "another activation": lambda folder: _edit_config(folder, hidden_act="gelu_new"),
    "a decoder": lambda folder: _edit_config(folder, is_decoder=True),
    "custom code": lambda folder: _edit_config(folder, auto_map={"AutoModel": "x.Y"}),
    "a config without layer_norm_eps": lambda folder: _edit_config(folder, drop="layer_norm_eps"),
    "an unknown weight": _add_weight,
}


@pytest.mark.parametrize("change", list(FALLBACKS))
def test_models_native_does_not_build_exactly_run_in_transformers(change, tiny_model_dir, tmp_path, pairs) -> None:
    folder = _build("xlm-roberta", tiny_model_dir, tmp_path / "m")
    FALLBACKS[change](folder)
    predictor = Predictor.from_pretrained(folder, PredictorOptions(fast=False))
    assert predictor.engine == "transformers"
    assert predictor.predict_proba(*pairs).shape == (len(pairs[0]), 3)


def test_engine_transformers_and_unknown_engines(tiny_model_dir: Path) -> None:
    from contradiction.errors import UserError

    assert Predictor.from_pretrained(tiny_model_dir, PredictorOptions(engine="transformers")).engine == "transformers"
    with pytest.raises(UserError, match="engine 'onnx' is not one of auto, transformers"):
        PredictorOptions(engine="onnx")


def test_state_dict_names_cover_the_checkpoint(tiny_model_dir: Path) -> None:
    """Every weight of the tiny model's file has its place, and load gives a model in eval mode without gradients."""
    from safetensors import safe_open

    from contradiction.inference import native

    model = native.load(tiny_model_dir, torch.float32)
    assert isinstance(model, EncoderClassifier) and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    with safe_open(str(tiny_model_dir / "model.safetensors"), framework="pt") as f:
        assert set(model.checkpoint_names().values()) == set(f.keys())


@pytest.mark.slow
def test_a_prediction_from_a_local_folder_does_not_import_transformers(tiny_model_dir, sample_dir, tmp_path) -> None:
    """What makes the one-pair CLI about 2 s instead of 4 s (docs/benchmarks.md): no transformers at all."""
    script = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('imported:', sorted(m for m in sys.modules if m.split('.')[0] in "
        "('transformers', 'datasets', 'sympy') or m.startswith('torch._dynamo'))))\n"
        f"sys.argv = ['predict', '--model', {str(tiny_model_dir)!r}, '--input', {str(sample_dir / 'test.csv')!r}, "
        f"'--output', {str(tmp_path / 'out.csv')!r}]\n"
        "runpy.run_module('contradiction.predict', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "imported: []" in done.stdout
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").startswith("id,prediction\n")
