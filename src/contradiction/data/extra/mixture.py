"""The mixture: every source collected, leaking items dropped whole, versions and rows sampled, weights applied
(`build_extra`), the one place where extra rows are deduplicated and sampled; and the report of each source."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from contradiction.data.extra.arrow import dataset_from_table
from contradiction.data.extra.collection import SourceRows, collect, normalise, text_hash
from contradiction.data.extra.sources import ExtraSource, check_specs, read_source
from contradiction.errors import UserError
from contradiction.labels import LABELS
from contradiction.languages import language_name

DEDUP_MODES = ("pair", "premise")


OUTPUT_FEATURES = Features(
    {
        "id": Value("string"),
        "premise": Value("string"),
        "hypothesis": Value("string"),
        "lang_abv": Value("string"),
        "language": Value("string"),
        "label": ClassLabel(names=list(LABELS)),
    }
)


def evaluated_keys(splits: DatasetDict) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the normalised pairs and premises of every split that is evaluated (all but train), sorted."""
    pairs, premises = [], []
    for name, ds in splits.items():
        if name == "train":
            continue
        for p, h in zip(ds["premise"], ds["hypothesis"], strict=True):
            p_key = normalise(p)
            pairs.append(text_hash(p_key, normalise(h)))
            premises.append(text_hash(p_key))
    return np.unique(np.array(pairs, np.uint64)), np.unique(np.array(premises, np.uint64))


def build_extra(
    sources: list[ExtraSource], splits: DatasetDict, dedup: str = "pair", seed: int = 42
) -> tuple[Dataset, list[dict]]:
    """Load, clean, deduplicate and sample every source of the mixture; return the rows and one report entry each.

    Every draw comes from `seed`: one stream through the sources in order for versions and caps, then one
    shuffle of the whole mixture for the weights, so the same recipe and seed give the same rows.
    """
    if dedup not in DEDUP_MODES:
        raise UserError(f"--dedup {dedup}: use pair or premise.")
    parsed = check_specs([source.path for source in sources])  # every source checked before any is read
    pairs, premises = evaluated_keys(splits)
    rng = random.Random(seed)
    collected, capped = [], []
    for source, spec in zip(sources, parsed, strict=True):
        rows = collect(spec, read_source(spec), source.license)
        collected.append(rows)
        capped.append(_deduplicate_and_cap(rows, pairs, premises, dedup, source, rng))
    kept = [versions for versions, _ in capped]
    order_source, order_row = _weigh([len(versions) for versions in kept], [source.weight for source in sources], seed)
    extra = _gather(collected, [versions for versions, _ in capped], order_source, order_row)
    report = []
    for n, (source, rows, (versions, counts)) in enumerate(zip(sources, collected, capped, strict=True)):
        trained = versions[order_row[order_source == n]]
        report.append(_entry(source, rows, counts, trained))
    return extra, report


def _gather(collected: list[SourceRows], kept: list[np.ndarray], sources: np.ndarray, rows: np.ndarray) -> Dataset:
    """The output rows for (source, row of its kept versions) pairs, in that order: each source's texts read in
    one pass, the columns assembled in Arrow (not as Python rows)."""
    premises, hypotheses, labels, codes = [], [], [], []
    place = np.zeros(len(sources), np.int64)  # each output row's place among the rows of every source, in turn
    offset = 0
    for n, (source, versions) in enumerate(zip(collected, kept, strict=True)):
        where = np.flatnonzero(sources == n)
        place[where] = offset + np.arange(len(where))
        offset += len(where)
        trained = versions[rows[where]]
        premise, hypothesis = source.texts(trained)
        premises.append(premise)
        hypotheses.append(hypothesis)
        labels.append(source.label[trained].astype(np.int64))
        codes.append(np.array(source.languages + [""], dtype=object)[source.lang[trained]])
    take = pa.array(place)
    code = np.concatenate(codes)[place] if codes else np.zeros(0, object)
    names = {c: language_name(c) for c in set(code.tolist())}
    table = pa.table(
        {
            "id": pa.array(
                [f"extra{n}-{j}" for n, j in zip(sources.tolist(), rows.tolist(), strict=True)], pa.string()
            ),
            "premise": pa.concat_arrays(premises).take(take) if premises else pa.array([], pa.string()),
            "hypothesis": pa.concat_arrays(hypotheses).take(take) if hypotheses else pa.array([], pa.string()),
            "lang_abv": pa.array(code.tolist(), pa.string()),
            "language": pa.array([names[c] for c in code.tolist()], pa.string()),
            "label": pa.array(np.concatenate(labels)[place] if labels else np.zeros(0, np.int64)),
        }
    )
    return dataset_from_table(table, OUTPUT_FEATURES)


def _deduplicate_and_cap(
    source: SourceRows, pairs: np.ndarray, premises: np.ndarray, dedup: str, settings: ExtraSource, rng: random.Random
) -> tuple[np.ndarray, dict]:
    """Drop leaking items whole, then sample versions per item and rows per source; count every step. Returns
    the kept versions (indices into the source's columns) in training order.

    A leaking item's other versions are leaks too: an item that shares one of them (two items whose
    translations came out the same) is dropped with it.
    """
    by_premise = dedup == "premise"

    def touches(pair_set: np.ndarray, premise_set: np.ndarray) -> np.ndarray:
        hit = np.isin(source.pair_hash, pair_set)
        return hit | np.isin(source.premise_hash, premise_set) if by_premise else hit

    leaking = np.zeros(len(source.item) and source.item.max() + 1, bool)
    leaking[source.item[touches(pairs, premises)]] = True
    of_leaking = leaking[source.item]
    dropped = leaking.copy()
    dropped[source.item[touches(source.pair_hash[of_leaking], source.premise_hash[of_leaking])]] = True
    order = np.argsort(source.item, kind="stable")  # versions grouped by item, items in first-appearance order
    bounds = np.flatnonzero(np.diff(source.item[order])) + 1
    starts = np.concatenate([[0], bounds]) if len(order) else np.zeros(0, np.int64)
    stops = np.concatenate([bounds, [len(order)]]) if len(order) else np.zeros(0, np.int64)
    k = settings.versions_per_item
    parts = []
    items = source.item[order[starts]].tolist() if len(order) else []
    for item, start, stop in zip(items, starts.tolist(), stops.tolist(), strict=True):
        if dropped[item]:
            continue
        versions = order[start:stop]
        if k is not None and stop - start > k:  # the same draws as sampling the versions themselves
            versions = versions[rng.sample(range(stop - start), k)]
        parts.append(versions)
    kept = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    after_dedup = len(kept)
    if settings.max_rows is not None and len(kept) > settings.max_rows:
        kept = kept[sorted(rng.sample(range(len(kept)), settings.max_rows))]
    counts = {
        "items_dropped_overlap": int(dropped.sum()),
        "rows_dropped_overlap": int(dropped[source.item].sum()),
        "rows_after_dedup": after_dedup,
    }
    return kept, counts


def _weigh(sizes: list[int], weights: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(source, row) of every row trained on, in training order, as two arrays: all of them in order when every
    weight is 1.

    Otherwise one seeded shuffle of the whole mixture, in which a row of a source of weight w is kept when it
    falls in the first w share: about w of each source, and for equal weights exactly one shared share.
    """
    source = np.repeat(np.arange(len(sizes)), sizes)
    row = np.concatenate([np.arange(size) for size in sizes]) if sizes else np.zeros(0, np.int64)
    if all(weight == 1 for weight in weights):
        return source, row
    shuffled = np.random.default_rng(seed).permutation(len(source))  # what Dataset.shuffle(seed=seed) draws
    limits = np.array([round(len(source) * weight) for weight in weights])
    chosen = shuffled[np.arange(len(shuffled)) < limits[source[shuffled]]]
    return source[chosen], row[chosen]


def _entry(settings: ExtraSource, source: SourceRows, counts: dict, trained: np.ndarray) -> dict:
    """A source's line of the report: its settings, then what was read, dropped at each step and trained on."""
    labels = np.bincount(source.label[trained], minlength=len(LABELS))
    languages = np.bincount(source.lang[trained], minlength=len(source.languages))
    dropped = source.rows_dropped_unlabelled + source.rows_dropped_empty + counts["rows_dropped_overlap"]
    return {
        "source": source.spec,
        "license": source.license,
        "max_rows": settings.max_rows,
        "versions_per_item": settings.versions_per_item,
        "weight": settings.weight,
        "rows_read": source.rows_read,
        "rows_kept": len(trained),
        "rows_dropped_unlabelled": source.rows_dropped_unlabelled,
        "items_dropped_overlap": counts["items_dropped_overlap"],
        "rows_dropped_overlap": counts["rows_dropped_overlap"],
        "rows_dropped_empty": source.rows_dropped_empty,
        "rows_dropped_sampling": source.rows_read - dropped - len(trained),
        "rows_after_dedup": counts["rows_after_dedup"],
        "labels": {name: int(labels[i]) for i, name in enumerate(LABELS)},
        "languages": dict(sorted((code, int(languages[i])) for i, code in enumerate(source.languages) if languages[i])),
    }


def format_extra_report(entries: list[dict]) -> str:
    """One line per source: rows read, dropped (unlabelled, overlapping the evaluated splits, sampled) and kept."""
    heads = ("read", "unlabelled", "overlap items", "overlap rows", "sampled out", "kept")
    width = max(len(Path(e["source"]).name) for e in entries)
    lines = ["source".ljust(width) + "".join(h.rjust(len(h) + 2) for h in heads)]
    for e in entries:
        values = (
            e["rows_read"],
            e["rows_dropped_unlabelled"] + e["rows_dropped_empty"],
            e["items_dropped_overlap"],
            e["rows_dropped_overlap"],
            e["rows_dropped_sampling"],
            e["rows_kept"],
        )
        lines.append(
            Path(e["source"]).name.ljust(width)
            + "".join(str(v).rjust(len(h) + 2) for v, h in zip(values, heads, strict=True))
        )
    return "\n".join(lines)
