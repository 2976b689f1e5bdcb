"""A loaded source as columns of its labelled versions (`collect` -> `SourceRows`): labels mapped by name, rows
without a gold label dropped, each version's pair and premise hashed for deduplication. Columns of numbers, not
rows of strings: XNLI's `all_languages` is 5.9 million versions."""

from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata
from array import array
from dataclasses import dataclass, field

import datasets
import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Dataset

from contradiction.data.extra.arrow import batches
from contradiction.data.extra.sources import KNOWN_LICENSES, Spec
from contradiction.errors import UserError
from contradiction.labels import LABEL2ID, VARIANT_TO_LABEL

# label spellings: the ones checkpoints use, single letters (SNLI/MultiNLI files), digits in our order
LABEL_NAMES = {
    **{variant: LABEL2ID[label] for variant, label in VARIANT_TO_LABEL.items()},
    **{label[0]: i for label, i in LABEL2ID.items()},
    **{str(i): i for i in LABEL2ID.values()},
}


UNLABELLED = {"", "-", "-1", "none", "null", "nan"}


COLUMN_ALIASES = {
    "premise": ("premise", "sentence1", "text_a", "text"),
    "hypothesis": ("hypothesis", "sentence2", "text_b", "text_pair"),
    "label": ("label", "gold_label", "labels"),
    "lang_abv": ("lang_abv", "lang", "language"),
    "item": ("item", "item_id", "pairID", "promptID"),
}


@dataclass
class SourceRows:
    """A source's labelled versions as columns, one entry per version (not a dict per row: XNLI's 392,702
    items are 5.9 million versions), and the counts of what was dropped on the way.

    A version is found again in the source by `row` and `position` (its place in an `all_languages` row's
    hypothesis languages); its texts are read back only when it is trained on. Dedup works on 64-bit hashes of
    the normalised pair and premise.
    """

    spec: str
    license: str
    dataset: Dataset
    premise_column: str
    hypothesis_column: str
    all_languages: bool
    rows_read: int = 0
    rows_dropped_unlabelled: int = 0
    rows_dropped_empty: int = 0
    row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    item: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # codes rise with first appearance
    label: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    lang: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))  # index into `languages`
    languages: list[str] = field(default_factory=list)
    pair_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    premise_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))

    def texts(self, versions: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """Premise and hypothesis of each version in `versions` (indices into the columns), in that order: one
        pass through the source in row order, as `collect` reads it."""
        rows = self.row[versions]
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        found, premises, hypotheses = [], [], []  # per batch, as Arrow: no Python string outlives its batch
        columns = [self.premise_column, self.hypothesis_column]
        for start, batch in batches(self.dataset, columns):
            lo, hi = np.searchsorted(sorted_rows, [start, start + len(batch[self.premise_column])])
            ps, hs = [], []
            for k in order[lo:hi].tolist():
                row, position = int(rows[k]) - start, int(self.position[versions[k]])
                p, h = batch[self.premise_column][row], batch[self.hypothesis_column][row]
                if self.all_languages:
                    p, h = p[self.languages[self.lang[versions[k]]]], h["translation"][position]
                ps.append(str(p).strip())
                hs.append(str(h).strip())
            found.append(order[lo:hi])
            premises.append(pa.array(ps, pa.string()))
            hypotheses.append(pa.array(hs, pa.string()))
        if not found:
            return pa.array([], pa.string()), pa.array([], pa.string())
        back = pa.array(np.argsort(np.concatenate(found)))  # from row order back to the order of `versions`
        return pa.concat_arrays(premises).take(back), pa.concat_arrays(hypotheses).take(back)


def _column(ds: Dataset, role: str, spec: Spec, required: bool = True) -> str | None:
    for name in COLUMN_ALIASES[role]:
        if name in ds.column_names:
            return name
    if required:
        raise UserError(
            f"--extra_data {spec.text}: no {role} column (looked for {', '.join(COLUMN_ALIASES[role])}); "
            f"it has {', '.join(ds.column_names)}."
        )
    return None


def _label_id(value, names: list[str] | None, spec: Spec, row: int) -> int | None:
    """The project's label id for a source value, by name; None for a row without a gold label."""
    if value is None:
        return None
    if names is not None and isinstance(value, int):  # a ClassLabel: its own names decide
        if value < 0:
            return None
        value = names[value]
    key = str(value).strip().lower()
    if key in UNLABELLED:
        return None
    if key not in LABEL_NAMES:
        raise UserError(
            f"--extra_data {spec.text}: row {row + 1} has label {value!r}; use entailment, neutral or "
            "contradiction (or e/n/c, or 0/1/2 in that order)."
        )
    return LABEL_NAMES[key]


def _is_all_languages(ds: Dataset, premise: str) -> bool:
    """XNLI's `all_languages` config: one row per item, the premise a {language: text} Translation."""
    return isinstance(ds.features.get(premise), datasets.Translation)


def collect(spec: Spec, ds: Dataset, license_: str | None = None) -> SourceRows:
    """Map a loaded source to its labelled versions, grouped by item (a row is its own item when the source has
    none), as columns; the source is read in batches, never held as Python rows."""
    premise, hypothesis = _column(ds, "premise", spec), _column(ds, "hypothesis", spec)
    label, lang, item = (
        _column(ds, "label", spec),
        _column(ds, "lang_abv", spec, False),
        _column(ds, "item", spec, False),
    )
    feature = ds.features.get(label)
    names = feature.names if isinstance(feature, ClassLabel) else None
    if license_ is None:
        license_ = KNOWN_LICENSES.get(spec.repo or "") or (ds.info.license if spec.is_hub else None) or "not given"
    all_languages = _is_all_languages(ds, premise)
    out = SourceRows(spec.text, license_, ds, premise, hypothesis, all_languages)
    columns = {"row": array("q"), "position": array("h"), "item": array("q"), "label": array("b"), "lang": array("h")}
    pair_hash, premise_hash = array("Q"), array("Q")
    item_codes: dict[str, int] = {}
    lang_codes: dict[str, int] = {}
    wanted = [c for c in (premise, hypothesis, label, lang, item) if c is not None]
    for start, batch in batches(ds, wanted):
        rows = zip(batch[premise], batch[hypothesis], batch[label], strict=True)
        for k, (p_value, h_value, label_value) in enumerate(rows):
            i = start + k
            code = None if all_languages or lang is None else batch[lang][k]
            versions = _versions(p_value, h_value, code, all_languages)
            out.rows_read += len(versions)
            label_id = _label_id(label_value, names, spec, i)
            if label_id is None:
                out.rows_dropped_unlabelled += len(versions)
                continue
            # a row is its own item, coded by its index: no string per row kept alive (they would pin the heap)
            code = i if all_languages or item is None else item_codes.setdefault(str(batch[item][k]), len(item_codes))
            for position, p, h, language in versions:
                if not (p and h):
                    out.rows_dropped_empty += 1
                    continue
                p_key = normalise(p)
                columns["row"].append(i)
                columns["position"].append(position)
                columns["item"].append(code)
                columns["label"].append(label_id)
                columns["lang"].append(lang_codes.setdefault(language, len(lang_codes)))
                pair_hash.append(text_hash(p_key, normalise(h)))
                premise_hash.append(text_hash(p_key))
    for name, values in columns.items():  # the arrays' own memory, not a copy
        setattr(out, name, np.frombuffer(values, dtype=values.typecode) if values else getattr(out, name))
    out.pair_hash = np.frombuffer(pair_hash, np.uint64) if pair_hash else out.pair_hash
    out.premise_hash = np.frombuffer(premise_hash, np.uint64) if premise_hash else out.premise_hash
    out.languages = list(lang_codes)
    return out


def _versions(premise, hypothesis, lang, all_languages: bool) -> list[tuple[int, str, str, str]]:
    """(position, premise, hypothesis, language) of each version a row holds: 15 for an XNLI `all_languages` row,
    the position being the version's place among its hypothesis languages."""
    if all_languages:
        return [
            (position, premise[code].strip(), text.strip(), code)
            for position, (code, text) in enumerate(zip(hypothesis["language"], hypothesis["translation"], strict=True))
            if code in premise
        ]
    code = str(lang).strip() if lang is not None else "unknown"
    return [(0, str(premise or "").strip(), str(hypothesis or "").strip(), code)]


def text_hash(*texts: str) -> int:
    """A 64-bit digest of normalised texts: the same in every process and run (unlike `hash`)."""
    digest = hashlib.blake2b("\x00".join(texts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def normalise(text: str) -> str:
    """The form two copies of a sentence share: NFKC, case-folded, without punctuation or whitespace."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_dropped_characters())


@functools.cache
def _dropped_characters() -> dict[int, None]:
    """Every punctuation and whitespace code point, for `str.translate` (a loop in C, not one in Python per
    character: it is most of the build's time on XNLI's 5.9 million versions)."""
    return {
        cp: None for cp in range(sys.maxunicode + 1) if chr(cp).isspace() or unicodedata.category(chr(cp))[0] == "P"
    }
