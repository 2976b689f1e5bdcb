"""A tiny XLM-R model and tokenizer built in about a second from the sample data, with no network.

It is the starting point of `configs/smoke.yaml` (offline quick start, CI) and of the tests: same
architecture and tokenizer class as `FacebookAI/xlm-roberta-base`, a few thousand times smaller. `train.py` keeps
it in `cache_dir()`, a folder named for everything the build depends on.

    python -m contradiction.tiny --output_dir outputs/tiny-xlmr
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from contradiction.labels import ID2LABEL, LABEL2ID

# the sample CSV files ship inside the package (`sample` links to the checkout's data/sample, whose files a wheel
# holds as its own), so a non-editable install builds the tiny model too
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
CACHE_NAME = "tiny-xlmr"
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's order: <s>=0, <pad>=1, </s>=2, <unk>=3


def sample_sentences(sample_dir: Path = SAMPLE_DIR) -> list[str]:
    """Every premise and hypothesis of the sample CSV files."""
    texts: list[str] = []
    for name in ("train.csv", "test.csv"):
        path = sample_dir / name
        if path.is_file():
            with open(path, encoding="utf-8-sig", newline="") as f:
                for row in csv.DictReader(f):
                    texts += [row["premise"].strip(), row["hypothesis"].strip()]
    return texts


def build_tokenizer(texts: Iterable[str], vocab_size: int = 1500):
    """A SentencePiece unigram vocabulary of `texts`, wrapped as `XLMRobertaTokenizerFast`: every character they
    hold (alone and starting a word), then their words and pieces of words by how much text each covers, each
    scored by how often it occurs.

    Counted, not trained: `tokenizers`' Unigram trainer gives another vocabulary at each run, and with it other
    token counts and other probabilities; counting gives the same tokenizer on every machine, so what the tests
    record of the tiny model holds everywhere.
    """
    import math
    from collections import Counter

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import XLMRobertaTokenizerFast

    normalizer = normalizers.Sequence([normalizers.Nmt(), normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    words: Counter[str] = Counter()
    for text in texts:
        words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    pieces: Counter[str] = Counter()  # every character, alone and starting a word: any text of these scripts fits
    longer: Counter[str] = Counter()  # whole words and pieces of 2 to 6 characters, the most frequent kept
    for word, n in words.items():
        pieces[word[:2]] += n
        for i, character in enumerate(word):
            pieces[character] += n
            for size in range(2, 7):
                if i + size <= len(word):
                    longer[word[i : i + size]] += n
        longer[word] += n
    room = max(vocab_size - len(SPECIAL_TOKENS) - len(pieces), 0)
    for piece, n in sorted(longer.items(), key=lambda item: (-item[1] * len(item[0]), item[0])):
        if room == 0:
            break
        if piece not in pieces:
            pieces[piece] = n
            room -= 1
    total = sum(pieces.values())
    vocab = [(token, 0.0) for token in SPECIAL_TOKENS]
    vocab += [(piece, math.log(n / total)) for piece, n in sorted(pieces.items(), key=lambda item: (-item[1], item[0]))]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=SPECIAL_TOKENS.index("<unk>"), byte_fallback=False))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    return XLMRobertaTokenizerFast(tokenizer_object=tokenizer, model_max_length=512)


def build_model(vocab_size: int, seed: int = 0, hidden_size: int = 32, layers: int = 2):
    """An `XLMRobertaForSequenceClassification` with random weights and our label names."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    config = XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=514,
        id2label=dict(ID2LABEL),
        label2id=dict(LABEL2ID),
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    torch.manual_seed(seed)
    return XLMRobertaForSequenceClassification(config)


def build_tiny_model(output_dir: str | Path, texts: Iterable[str] | None = None, seed: int = 0) -> Path:
    """Write a tiny XLM-R checkpoint (model + tokenizer) to `output_dir` and return the folder."""
    output_dir = Path(output_dir)
    tokenizer = build_tokenizer(texts if texts is not None else sample_sentences())
    model = build_model(len(tokenizer), seed=seed)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def cache_dir(seed: int = 0, texts: Iterable[str] | None = None) -> Path:
    """~/.cache/contradiction/tiny-xlmr-<key>, the key a hash of what the build depends on: the sample sentences,
    this module (every build setting is in it), the seed and the versions of the libraries that build it."""
    versions = {name: metadata.version(name) for name in ("tokenizers", "transformers", "torch")}
    key = hashlib.sha256()
    key.update(json.dumps([list(texts if texts is not None else sample_sentences()), seed, versions]).encode())
    key.update(Path(__file__).read_bytes())
    return Path.home() / ".cache" / "contradiction" / f"{CACHE_NAME}-{key.hexdigest()[:16]}"


def cached_tiny_model(seed: int = 0) -> Path:
    """The tiny model in `cache_dir(seed)`, built there first when it is not (written whole, then moved in)."""
    folder = cache_dir(seed)
    if not (folder / "config.json").is_file():
        partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        build_tiny_model(partial, seed=seed)
        try:
            partial.rename(folder)
        except OSError:  # another process moved its copy in first
            shutil.rmtree(partial, ignore_errors=True)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="outputs/tiny-xlmr", help="where to write the checkpoint")
    args = parser.parse_args(argv)
    print(f"wrote {build_tiny_model(args.output_dir)}")


if __name__ == "__main__":
    main()
