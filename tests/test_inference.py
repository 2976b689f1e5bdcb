"""The predictor: label order taken from the model's config, batching, truncation, clear refusals."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hub_cache import fake_hub_cache

from contradiction.inference.loading import ModelLoadError, map_labels
from contradiction.inference.options import PredictorOptions, resolve_dtype
from contradiction.inference.predictor import Predictor
from contradiction.labels import LABELS


@pytest.fixture(scope="module")
def predictor(make_predictor) -> Predictor:
    return make_predictor(fast=False)  # float32: exact comparisons


@pytest.fixture(scope="module")
def pairs(sample_dir: Path) -> tuple[list[str], list[str]]:
    with open(sample_dir / "test.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:12]
    return [r["premise"] for r in rows], [r["hypothesis"] for r in rows]


def _variant(tiny_model_dir: Path, out: Path, order: list[int], scale: float) -> Path:
    """The tiny model with head rows (and their label names) in `order`, logits scaled for sharp answers."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    head = model.classifier.out_proj
    with torch.no_grad():
        head.weight.copy_(head.weight[order] * scale)
        head.bias.copy_(head.bias[order] * scale)
    names = model.config.id2label
    model.config.id2label = {i: names[j] for i, j in enumerate(order)}
    model.config.label2id = {name: i for i, name in model.config.id2label.items()}
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


def _copy_with(tiny_model_dir: Path, out: Path, file: str, **changes) -> Path:
    """A copy of the tiny model whose JSON `file` has `changes` on top."""
    shutil.copytree(tiny_model_dir, out)
    config = json.loads((out / file).read_text(encoding="utf-8"))
    config.update(changes)
    (out / file).write_text(json.dumps(config), encoding="utf-8")
    return out


def _with_config(tiny_model_dir: Path, out: Path, **changes) -> Path:
    return _copy_with(tiny_model_dir, out, "config.json", **changes)


def _assert_one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".")
    assert "Traceback" not in message


def test_predict_gives_our_three_labels_summing_to_one(predictor: Predictor) -> None:
    result = predictor.predict("A man is sleeping on a bench.", "Nobody is asleep.")
    assert list(result) == list(LABELS)
    assert sum(result.values()) == pytest.approx(1.0, abs=1e-5)


def test_head_in_another_order_gives_the_same_answers(tiny_model_dir: Path, tmp_path: Path, pairs) -> None:
    ours = Predictor.from_pretrained(_variant(tiny_model_dir, tmp_path / "ours", [0, 1, 2], scale=200.0))
    # config says 0=contradiction, 1=neutral, 2=entailment, and the head rows moved with the names
    reversed_ = Predictor.from_pretrained(_variant(tiny_model_dir, tmp_path / "rev", [2, 1, 0], scale=200.0))
    assert reversed_.model.config.id2label[0] == "contradiction"

    expected = ours.predict_proba(*pairs)
    np.testing.assert_allclose(reversed_.predict_proba(*pairs), expected, atol=1e-5)
    # not a vacuous check: the raw outputs of the two models really are in different orders
    assert not np.allclose(expected[:, ::-1], expected, atol=1e-3)


@pytest.mark.slow
def test_batch_equals_one_by_one(predictor: Predictor, pairs) -> None:
    premises, hypotheses = pairs
    batched = predictor.predict_proba(premises, hypotheses, batch_size=5)
    single = np.array([list(predictor.predict(p, h).values()) for p, h in zip(premises, hypotheses, strict=True)])
    assert batched.shape == (len(premises), len(LABELS))
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-5)


def test_very_long_text_is_truncated_from_the_longer_side(predictor: Predictor) -> None:
    words = ("Baba yangu anapenda kusoma magazeti kila asubuhi. " * 2000)[:100_000]
    long_result = predictor.predict(words, "Baba yangu ni mwalimu.")
    # the 256-token budget is spent long before 5000 characters, so only the premise's tail is cut
    assert long_result == pytest.approx(predictor.predict(words[:5000], "Baba yangu ni mwalimu."), abs=1e-5)
    assert sum(long_result.values()) == pytest.approx(1.0, abs=1e-5)


FAST_TOLERANCE = 0.06  # largest change of a probability, fast path against float32, on the model below


def _sharp(tiny_model_dir: Path, out: Path) -> Path:
    """The tiny model with large random weights: varied, confident answers (and bfloat16 error magnified)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


@pytest.mark.slow
def test_fast_path_gives_the_labels_of_float32(tiny_model_dir: Path, tmp_path: Path, sample_dir: Path) -> None:
    with open(sample_dir / "train.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    premises, hypotheses = [r["premise"] for r in rows], [r["hypothesis"] for r in rows]
    sharp = _sharp(tiny_model_dir, tmp_path / "sharp")
    plain = Predictor.from_pretrained(sharp, PredictorOptions(fast=False)).predict_proba(premises, hypotheses)
    fast = Predictor.from_pretrained(sharp, PredictorOptions(dtype="bfloat16"))  # the fast path, on any CPU
    assert fast.precision == "bfloat16"
    quick = fast.predict_proba(premises, hypotheses)
    assert len(set(plain.argmax(1))) == 3  # real decisions to compare, not one constant label
    np.testing.assert_allclose(quick, plain, atol=FAST_TOLERANCE)
    top2 = np.sort(plain, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * FAST_TOLERANCE  # rows no rounding within the tolerance can flip
    assert clear.mean() > 0.6
    assert (quick.argmax(1)[clear] == plain.argmax(1)[clear]).all()


def test_fast_is_bfloat16_only_where_native(monkeypatch: pytest.MonkeyPatch) -> None:
    from contradiction.inference import options

    monkeypatch.setattr(options, "native_bf16", lambda device="cpu": True)
    assert resolve_dtype(True) == "bfloat16" and resolve_dtype(False) == "float32"
    monkeypatch.setattr(options, "native_bf16", lambda device="cpu": False)
    assert resolve_dtype(True) == "float32"


def test_empty_input_gives_an_empty_array(predictor: Predictor) -> None:
    assert predictor.predict_proba([], []).shape == (0, len(LABELS))


def test_label_names_are_matched_whatever_their_case_and_order() -> None:
    assert map_labels({0: "CONTRADICTION", 1: "Neutral", 2: "ENTAILMENT"}, "m") == [2, 1, 0]
    assert map_labels({"0": "entailment", "1": "neutral", "2": "contradiction"}, "m") == [0, 1, 2]


@pytest.mark.parametrize(
    ("id2label", "expected"),
    [
        ({"0": "entailment", "1": "not_entailment"}, "has 2 labels"),
        ({"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}, "cannot be mapped"),
        ({"0": "entailment", "1": "entailment", "2": "contradiction"}, "cannot be mapped"),
    ],
)
def test_models_whose_labels_do_not_map_are_refused(tiny_model_dir, tmp_path, id2label, expected) -> None:
    folder = _with_config(
        tiny_model_dir, tmp_path / "model", id2label=id2label, label2id={v: int(k) for k, v in id2label.items()}
    )
    with pytest.raises(ModelLoadError) as err:
        Predictor.from_pretrained(folder)
    assert expected in str(err.value)
    assert "entailment, neutral and contradiction" in str(err.value)
    _assert_one_sentence(str(err.value))


def test_a_model_that_is_not_a_classifier_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _with_config(tiny_model_dir, tmp_path / "mlm", architectures=["XLMRobertaForMaskedLM"])
    with pytest.raises(ModelLoadError, match="not a sequence classification model") as err:
        Predictor.from_pretrained(folder)
    _assert_one_sentence(str(err.value))


def test_missing_folder_and_folder_without_config_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model folder .*nope does not exist; pass a local model folder"):
        Predictor.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="has no config.json") as err:
        Predictor.from_pretrained(tmp_path / "empty")
    _assert_one_sentence(str(err.value))


def test_offline_and_not_cached_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE=1 forbids downloading it") as err:
        Predictor.from_pretrained("contradiction-tests/not-a-cached-model")
    _assert_one_sentence(str(err.value))


# --- the tokenizer read straight from tokenizer.json: the ids of AutoTokenizer, else AutoTokenizer itself

AWKWARD_TEXTS = [
    "two  spaces,\ta tab\nand a newline",
    "<mask> and </s> and <s> typed in a text",
    "\u00a0no-break space, ideographic\u3000space",
    "ｆｕｌｌｗｉｄｔｈ letters ① and ﬁ ligature",  # NFKC in the file's normalizer, which transformers drops
    "e\u0301 combining accent beside café",
    "trailing space ",
    "🙂 emoji, Ω≈ç√ symbols, ไทย, 中文, العربية",
]


def _texts(sample_dir: Path) -> tuple[list[str], list[str]]:
    with open(sample_dir / "train.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    premises = [r["premise"] for r in rows] + [a for a in AWKWARD_TEXTS for _ in AWKWARD_TEXTS]
    hypotheses = [r["hypothesis"] for r in rows] + [b for _ in AWKWARD_TEXTS for b in AWKWARD_TEXTS]
    long = "Baba yangu anapenda kusoma magazeti kila asubuhi. " * 40
    # one long text per pair: with two, tokenizers lists every overflow of one against every overflow of the other
    return premises + [long, "short"], hypotheses + ["short", long]


@pytest.mark.parametrize("sides", ["right", "left"])
def test_direct_tokenizer_gives_auto_tokenizer_s_ids(tiny_model_dir: Path, tmp_path: Path, sample_dir, sides) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from contradiction.inference.tokenizer import PairTokenizer

    folder = tiny_model_dir
    if sides == "left":
        folder = _tokenizer_config(tiny_model_dir, tmp_path / "left", padding_side="left", truncation_side="left")
    direct, auto = PairTokenizer.from_folder(folder), AutoTokenizer.from_pretrained(folder)
    assert direct is not None and direct.model_max_length == auto.model_max_length
    premises, hypotheses = _texts(sample_dir)
    for max_length in (8, 24, 256):
        got = direct(premises, hypotheses, truncation="longest_first", max_length=max_length)
        expected = auto(premises, hypotheses, truncation="longest_first", max_length=max_length)
        assert list(got) == list(expected) == ["input_ids", "attention_mask"]
        assert got["input_ids"] == expected["input_ids"] and got["attention_mask"] == expected["attention_mask"]
        features = [{k: got[k][i] for k in got} for i in range(0, len(premises), 7)]
        padded, auto_padded = direct.pad(features), auto.pad(features, return_tensors="pt")
        for key in auto_padded:
            assert padded[key].dtype == auto_padded[key].dtype and (padded[key] == auto_padded[key]).all()
    # not a vacuous check: the file as written (its NFKC normalizer kept) tokenizes some of these differently
    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert any(raw.encode(text, "x").ids != auto(text, "x")["input_ids"] for text in AWKWARD_TEXTS)


def _tokenizer_config(tiny_model_dir: Path, out: Path, **changes) -> Path:
    return _copy_with(tiny_model_dir, out, "tokenizer_config.json", **changes)


V4_ADDED_TOKENS = {
    "0": {
        "content": "<s>",
        "lstrip": False,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
        "special": True,
    }
}
"""How transformers 4 saved special tokens in tokenizer_config.json."""


@pytest.mark.parametrize("change", ["added_tokens_decoder", "special_tokens_map", "other_class", "no_tokenizer_json"])
def test_tokenizers_it_does_not_repeat_load_through_transformers(tiny_model_dir, tmp_path, pairs, change) -> None:
    from contradiction.inference.tokenizer import PairTokenizer

    settings = {
        "added_tokens_decoder": {"added_tokens_decoder": V4_ADDED_TOKENS},
        "other_class": {"tokenizer_class": "BertTokenizer"},
    }.get(change, {})
    folder = _tokenizer_config(tiny_model_dir, tmp_path / "model", **settings)
    if change == "special_tokens_map":
        (folder / "special_tokens_map.json").write_text('{"mask_token": "<mask>"}', encoding="utf-8")
    elif change == "no_tokenizer_json":
        (folder / "tokenizer.json").unlink()  # a slow-only tokenizer: AutoTokenizer's business
    assert PairTokenizer.from_folder(folder) is None
    if change == "added_tokens_decoder":  # the predictor loads it through transformers, with the same answers
        predictor = Predictor.from_pretrained(folder, PredictorOptions(fast=False))
        assert not isinstance(predictor.tokenizer, PairTokenizer)
        direct = Predictor.from_pretrained(tiny_model_dir, PredictorOptions(fast=False))
        assert isinstance(direct.tokenizer, PairTokenizer)
        np.testing.assert_array_equal(predictor.predict_proba(*pairs), direct.predict_proba(*pairs))


def _long_texts(sample_dir: Path) -> list[str]:
    """Texts of thousands of characters: spaced, without spaces (as Chinese or Thai are written), one long word."""
    from contradiction.tiny import sample_sentences

    sentences = sample_sentences(sample_dir)
    spaced = " ".join(sentences)
    return [spaced[:3000], spaced[1000:2500], "".join(sentences)[:2000], "x".join(sentences)[:1800], spaced[:1100]]


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.slow
def test_pairs_of_two_long_texts_are_cut_first_and_give_the_same_ids(tiny_model_dir, tmp_path, sample_dir, side):
    """Two long texts in a pair are cut before tokenizing (else tokenizers combines every overflowing window of
    one with every window of the other); the ids are still transformers' own, odd and even lengths alike."""
    from transformers import AutoTokenizer

    from contradiction.inference.tokenizer import PairTokenizer

    folder = _tokenizer_config(tiny_model_dir, tmp_path / side, truncation_side=side)
    direct, auto = PairTokenizer.from_folder(folder), AutoTokenizer.from_pretrained(folder)
    texts = _long_texts(sample_dir)
    premises = [a for a in texts for _ in texts] + ["short", texts[0]]
    hypotheses = [b for _ in texts for b in texts] + [texts[0], "short"]
    for max_length in (64, 65):
        got = direct(premises, hypotheses, truncation="longest_first", max_length=max_length)
        expected = auto(premises, hypotheses, truncation="longest_first", max_length=max_length)
        assert got["input_ids"] == expected["input_ids"] and got["attention_mask"] == expected["attention_mask"]
        shortened = direct._shorten_long_pairs(list(zip(premises, hypotheses, strict=True)), max_length)
        cut = sum(pair != whole for pair, whole in zip(shortened, zip(premises, hypotheses, strict=True), strict=True))
        assert cut >= len(texts) ** 2 // 2  # not a vacuous check: most pairs were cut
        assert shortened[-2:] == [("short", texts[0]), (texts[0], "short")]  # one short text: nothing to cut


@pytest.mark.slow
def test_two_very_long_texts_take_little_memory(tiny_model_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    """Two 300,000-character texts under a 3 GB address-space limit: whole, they would need far more."""
    texts = _long_texts(sample_dir)
    (tmp_path / "a.txt").write_text((texts[0] + " ") * 100, encoding="utf-8")
    (tmp_path / "b.txt").write_text(texts[2] * 150, encoding="utf-8")
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))\n"
        "from contradiction.inference.tokenizer import PairTokenizer\n"
        f"tokenizer = PairTokenizer.from_folder(Path({str(tiny_model_dir)!r}))\n"
        f"a, b = ((Path({str(tmp_path)!r}) / n).read_text(encoding='utf-8') for n in ('a.txt', 'b.txt'))\n"
        "print(len(a), len(b), len(tokenizer([a], [b], max_length=256)['input_ids'][0]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    chars_a, chars_b, tokens = map(int, done.stdout.split())
    assert min(chars_a, chars_b) >= 300_000 and tokens == 256


# --- a Hub model native runs: read from the Hugging Face cache as a folder

HUB_REPO = "contradiction-tests/tiny-nli"


def _fake_hub_cache(tiny_model_dir: Path, cache: Path, files: list[str]) -> None:
    """The tiny model's `files` (an empty JSON object where it has no such file) as HUB_REPO's main revision."""
    present = {name: tiny_model_dir / name if (tiny_model_dir / name).is_file() else "{}" for name in files}
    fake_hub_cache(cache, HUB_REPO, present)


def test_a_hub_model_that_native_runs_is_read_from_the_cache(tiny_model_dir, offline_hub, pairs) -> None:
    from contradiction.inference.loading import HUB_FILES
    from contradiction.inference.tokenizer import PairTokenizer

    _fake_hub_cache(tiny_model_dir, offline_hub, list(HUB_FILES))
    hub = Predictor.from_pretrained(HUB_REPO, PredictorOptions(fast=False))
    assert hub.engine == "native" and isinstance(hub.tokenizer, PairTokenizer)
    assert hub.name == HUB_REPO  # the page and messages name the Hub id, not the cache folder
    local = Predictor.from_pretrained(tiny_model_dir, PredictorOptions(fast=False))
    np.testing.assert_array_equal(hub.predict_proba(*pairs), local.predict_proba(*pairs))


@pytest.mark.parametrize("change", ["special_tokens_map.json", "no model.safetensors"])
def test_hub_models_native_does_not_run_are_left_to_transformers(tiny_model_dir, offline_hub, change) -> None:
    from contradiction.inference.loading import HUB_FILES, hub_snapshot

    files = [f for f in HUB_FILES if change != f"no {f}"] + ([change] if change.endswith(".json") else [])
    _fake_hub_cache(tiny_model_dir, offline_hub, files)
    assert hub_snapshot(HUB_REPO) is None
    complete = HUB_REPO.replace("tiny-nli", "other")  # and a repository that is not there at all
    assert hub_snapshot(complete) is None


@pytest.mark.parametrize("engine", ["auto", "transformers"])
def test_token_counts_say_which_pairs_were_cut(tiny_model_dir: Path, engine: str) -> None:
    predictor = Predictor.from_pretrained(tiny_model_dir, PredictorOptions(max_length=32, engine=engine))
    long = " ".join(["The old lighthouse keeper walked along the rocky shore every evening."] * 6)
    (short_read, short_total), (long_read, long_total) = predictor.token_counts(
        ["A cat sleeps.", long], ["A cat is asleep.", "Someone walks by the sea."]
    )
    assert short_read == short_total < 32  # whole
    assert long_read == 32 < long_total  # cut to the window; the whole pair is longer
    whole = Predictor.from_pretrained(tiny_model_dir, PredictorOptions(max_length=512, engine=engine))
    assert whole.token_lengths([long], ["Someone walks by the sea."]) == [long_total]
