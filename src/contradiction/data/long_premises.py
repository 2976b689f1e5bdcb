"""Document-length premises for training: a pair's premise placed among other premises of its language.

The NLI corpora's premises are single sentences, but document mode asks the model about windows of a real text
filled to its reading length, where the sentence that decides sits among sentences that say nothing about the
claim. `add_long_premises` adds such pairs (the idea behind the synthetic data of MiniCheck and AlignScore):

- **kept**: the pair's premise at a random place among other training premises of the same language, up to a
  random length between half and all of `max_tokens` beside the hypothesis; the label is the pair's own, since
  the sentences around the premise are about other things;
- **removed** (a `removed_share` of them): the same document without the pair's premise, labelled neutral,
  since nothing left in it is about the hypothesis. This is what a window of a real document that does not
  touch the claim looks like; without it the model calls such windows contradictions.

Only training rows are used, for the premises and the sentences around them, so nothing of the evaluated pairs
comes in. Everything is drawn from one seeded generator: the same rows, options and seed give the same pairs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
from datasets import Dataset, concatenate_datasets

from contradiction.labels import LABEL2ID

TokenCounts = Callable[[Sequence[str]], list[int]]
"""Tokens of each text, without special tokens."""

PAIR_OVERHEAD = 4  # special tokens of a pair (XLM-R: <s> premise </s></s> hypothesis </s>)
MIN_SHARE = 0.5  # a document fills at least this share of the room beside its hypothesis
NEUTRAL = LABEL2ID["neutral"]


def add_long_premises(
    train: Dataset,
    count_tokens: TokenCounts,
    share: float,
    max_tokens: int,
    removed_share: float = 0.0,
    seed: int = 42,
) -> tuple[Dataset, dict]:
    """`train` with `round(share * len(train))` more pairs whose premise is a document (see the module's
    docstring); returns the longer set and a report of what was added.

    Args:
        train: rows with `premise`, `hypothesis`, `label` and `lang_abv`.
        count_tokens: the tokenizer's token counts of texts (no special tokens).
        share: how many pairs to add, as a share of `train`'s rows.
        max_tokens: the pair length a document is built to (premise, hypothesis and special tokens).
        removed_share: of the added pairs, the share whose own premise is left out (labelled neutral).
        seed: seeds every draw.
    """
    wanted = int(round(share * len(train)))
    if wanted == 0:
        return train, {"rows": 0}
    rng = np.random.default_rng(seed)
    premises, hypotheses = list(train["premise"]), list(train["hypothesis"])
    languages, labels = list(train["lang_abv"]), np.asarray(train["label"])

    # the pool each document is filled from: every distinct premise of a language, with its tokens
    distinct = {}
    for text, lang in zip(premises, languages, strict=True):
        distinct.setdefault((lang, text), None)
    keys = list(distinct)
    key_tokens = count_tokens([text for _, text in keys])
    pool: dict[str, list[int]] = defaultdict(list)
    for n, (lang, _) in enumerate(keys):
        pool[lang].append(n)
    pool_arrays = {lang: np.asarray(ids) for lang, ids in pool.items()}

    chosen = rng.choice(len(train), size=wanted, replace=wanted > len(train))
    hypothesis_tokens = count_tokens([hypotheses[i] for i in chosen])
    premise_index = {key: n for n, key in enumerate(keys)}
    rows: dict[str, list] = {"premise": [], "hypothesis": [], "label": [], "lang_abv": []}
    removed = 0
    lengths = []
    for i, hyp_tokens in zip(chosen, hypothesis_tokens, strict=True):
        lang, own = languages[i], premise_index[(languages[i], premises[i])]
        room = max_tokens - PAIR_OVERHEAD - hyp_tokens
        target = int(rng.integers(int(MIN_SHARE * room), room + 1)) if room > 1 else room
        drop = bool(rng.random() < removed_share)
        others = _fill(rng, pool_arrays[lang], key_tokens, own, target - (0 if drop else key_tokens[own]))
        if not others and drop:  # a language with one premise: nothing to build the document from
            drop = False
        parts = [keys[n][1] for n in others]
        if not drop:
            parts.insert(int(rng.integers(0, len(parts) + 1)), premises[i])
        rows["premise"].append(" ".join(parts))
        rows["hypothesis"].append(hypotheses[i])
        rows["label"].append(NEUTRAL if drop else int(labels[i]))
        rows["lang_abv"].append(lang)
        removed += drop
        lengths.append(sum(key_tokens[n] for n in others) + (0 if drop else key_tokens[own]))
    added = Dataset.from_dict({**rows, **_other_columns(train, chosen)}).cast(train.features)
    report = {
        "rows": wanted,
        "removed_rows": removed,
        "max_tokens": max_tokens,
        "median_premise_tokens": int(np.median(lengths)),
        "seed": seed,
    }
    return concatenate_datasets([train, added]), report


def _fill(rng: np.random.Generator, pool: np.ndarray, tokens: list[int], own: int, room: int) -> list[int]:
    """Premises of the pool, other than `own`, drawn at random until the next would not fit in `room` tokens."""
    picked: list[int] = []
    used = 0
    for n in rng.permutation(pool)[:64]:  # a document of 64 sentences is longer than any window
        if n == own:
            continue
        if used + tokens[n] > room:
            break
        picked.append(int(n))
        used += tokens[n]
    return picked


def _other_columns(train: Dataset, chosen: np.ndarray) -> dict[str, list]:
    """The columns of `train` besides the texts, label and language, for the added rows: the source row's
    values (its language name), an id that says the row was built."""
    columns = {}
    for name in train.column_names:
        if name in ("premise", "hypothesis", "label", "lang_abv"):
            continue
        values = list(train[name])
        columns[name] = [f"long-{k}" if name == "id" else values[i] for k, i in enumerate(chosen)]
    return columns
