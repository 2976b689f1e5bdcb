"""Extra NLI training data beside the competition CSV: a mixture of sources, labels mapped by name, leaks dropped.

The mixture is a list of `ExtraSource` entries (a recipe's `extra_data`, like alignment-handbook's
`dataset_mixture`), each with its own license, cap, versions per item and weight. A source's SPEC is a local
file (CSV, TSV, JSON Lines, Parquet; `.gz` too), a `save_to_disk` folder, or a Hub data set
`owner/name[:config][@split]` (split `train` when left out). Every source becomes rows of
`premise, hypothesis, label, lang_abv, item`. The competition's non-English pairs are XNLI pairs, so a
source item (one pair and its translations) is dropped whole when any of its versions matches an evaluated
pair: the validation split, and the test split when there is one. `build_extra` is the one place where rows
are deduplicated and sampled.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path

import datasets
import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from contradiction.data.competition import _parser_detail
from contradiction.errors import UserError
from contradiction.labels import LABEL2ID, LABELS, VARIANT_TO_LABEL
from contradiction.languages import language_name

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
# licenses of well-known sources, for the model card when the recipe gives none
KNOWN_LICENSES = {
    "facebook/xnli": "cc-by-nc-4.0",
    "nyu-mll/multi_nli": "OANC / CC BY-SA 3.0 / CC BY 3.0 (by genre)",
    "stanfordnlp/snli": "cc-by-sa-4.0",
}
LOCAL_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
HUB_SPEC = re.compile(r"^(?P<repo>[\w.-]+(?:/[\w.-]+)?)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.\[\]:%+-]+))?$")
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


SOURCE_FORM = "SPEC[,license=L][,max_rows=N][,versions_per_item=K][,weight=W]"


@dataclass(frozen=True)
class ExtraSource:
    """One source of the extra-data mixture and how much of it is trained on (a recipe's `extra_data` entry).

    Sampling runs in this order: overlapping items dropped, `versions_per_item` versions of each item,
    `max_rows` rows of the source, then `weight`: the share of its rows kept, drawn from one seeded shuffle of
    the whole mixture (so sources of the same weight are drawn together, as one shared share).
    """

    path: str  # the SPEC: a local file or folder, or a Hub data set owner/name[:config][@split]
    license: str | None = None  # for the model card; a well-known Hub source gets its own when left out
    max_rows: int | None = None
    versions_per_item: int | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_rows", "versions_per_item"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"--extra_data {self.path}: {name}={value} must be 1 or more.")
        if not 0 < self.weight <= 1:
            raise UserError(
                f"--extra_data {self.path}: weight={self.weight:g} must be above 0 and at most 1, e.g. 0.5."
            )

    def as_entry(self) -> dict:
        """The source as a recipe writes it: the path, then the settings that differ from the defaults."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}

    def as_text(self) -> str:
        """The source as one command-line SOURCE: `SPEC,key=value,...`."""
        path, *settings = self.as_entry().items()
        return ",".join([path[1], *(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings)])


def parse_source(value: str | dict | ExtraSource) -> ExtraSource:
    """A mixture entry from a recipe mapping (`{path: SPEC, license: ..., ...}`) or a flag's `SPEC,key=value,...`."""
    if isinstance(value, ExtraSource):
        return value
    if isinstance(value, str):
        spec, *settings = value.split(",")
        mapping: dict = {"path": spec}
        for setting in settings:
            key, sep, text = setting.partition("=")
            if not sep:
                raise UserError(f"--extra_data {value}: {setting!r} is not key=value; write {SOURCE_FORM}.")
            mapping[key.strip()] = text.strip()
        return _source_from_mapping(mapping, value)
    if isinstance(value, dict):
        return _source_from_mapping(value, value.get("path", value))
    raise UserError(f"--extra_data {value!r}: a source is {SOURCE_FORM}, or in a recipe a mapping with those keys.")


def _source_from_mapping(mapping: dict, where) -> ExtraSource:
    names = [f.name for f in fields(ExtraSource)]
    unknown = sorted(set(mapping) - set(names))
    if unknown or not mapping.get("path"):
        problem = f"unknown key(s) {', '.join(unknown)}" if unknown else "no path"
        raise UserError(f"--extra_data {where}: {problem}; a source has {', '.join(names)} (path required).")
    values = {"path": str(mapping["path"])}
    for name, kind in (("license", str), ("max_rows", int), ("versions_per_item", int), ("weight", float)):
        if mapping.get(name) is not None:
            try:
                values[name] = kind(mapping[name])
            except ValueError:
                raise UserError(f"--extra_data {where}: {name}={mapping[name]} is not a {kind.__name__}.") from None
    return ExtraSource(**values)


@dataclass
class Spec:
    """One parsed SPEC: a local path, or a Hub data set with its config and split."""

    text: str
    path: Path | None = None
    repo: str | None = None
    config: str | None = None
    split: str = "train"

    @property
    def is_hub(self) -> bool:
        return self.repo is not None


@dataclass
class SourceRows:
    """A source's labelled rows, grouped by item, and the counts of what was dropped on the way."""

    spec: str
    license: str
    rows_read: int = 0
    rows_dropped_unlabelled: int = 0
    rows_dropped_empty: int = 0
    items: dict[str, list[dict]] = field(default_factory=dict)


def parse_spec(text: str) -> Spec:
    """A local file or folder when the path exists (or looks like one), else a Hub id `owner/name[:config][@split]`."""
    path = Path(os.path.expanduser(text))
    if path.exists():
        return Spec(text=text, path=path)
    looks_local = text.startswith((".", "/", "~")) or any(s in text.lower() for s in (*LOCAL_FORMATS, ".gz"))
    match = HUB_SPEC.match(text)
    if looks_local or match is None:
        raise UserError(
            f"--extra_data {text}: no such file or folder; pass a CSV, TSV, JSON Lines or Parquet file, "
            "a save_to_disk folder, or a Hub data set such as facebook/xnli:all_languages@train."
        )
    return Spec(text=text, repo=match["repo"], config=match["config"], split=match["split"] or "train")


def check_hub_reachable(spec: Spec) -> None:
    """Refuse a Hub SPEC at start when the Hub is switched off, rather than after the model is loaded."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_DATASETS_OFFLINE", "0").upper() in ("1", "ON", "YES", "TRUE"):
        raise UserError(
            f"--extra_data {spec.text}: is a Hub data set but the Hub is switched off (HF_HUB_OFFLINE); "
            "unset it, or pass a local copy (a save_to_disk folder or a data file)."
        )


def check_specs(specs: list[str]) -> list[Spec]:
    """Parse every SPEC and refuse, before any work, a missing local path or a Hub source while offline."""
    parsed = [parse_spec(text) for text in specs]
    for spec in parsed:
        if spec.is_hub:
            check_hub_reachable(spec)
    return parsed


def read_source(spec: Spec) -> Dataset:
    """The source as one `datasets.Dataset`, read with `datasets` (temporary cache for local files)."""
    if spec.is_hub:  # check_specs has already refused it when the Hub is switched off
        try:
            return datasets.load_dataset(spec.repo, spec.config, split=spec.split)
        except Exception as err:  # unreachable, unknown id, unknown config or split: all end the same way
            raise UserError(
                f"--extra_data {spec.text}: could not be loaded from the Hub ({_parser_detail(err)[:200]}); "
                "check the id, config and split, or pass a local copy."
            ) from None
    path = spec.path
    if path.is_dir():
        if not any((path / name).is_file() for name in ("dataset_dict.json", "dataset_info.json", "state.json")):
            raise UserError(f"--extra_data {spec.text}: a folder that save_to_disk did not write; pass a file.")
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, DatasetDict):
            split = "train" if "train" in loaded else next(iter(loaded))
            loaded = loaded[split]
        return loaded
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    builder = LOCAL_FORMATS.get(suffixes[-1] if suffixes else "")
    if builder is None:
        raise UserError(
            f"--extra_data {spec.text}: unknown file type; use .csv, .tsv, .jsonl, .json or .parquet "
            "(optionally gzipped)."
        )
    kwargs = {}
    if builder == "csv":
        kwargs = {"keep_default_na": False, "delimiter": "\t" if suffixes[-1] == ".tsv" else ","}
    with tempfile.TemporaryDirectory(prefix="contradiction-extra-") as cache_dir:
        try:
            return datasets.load_dataset(
                builder, data_files=str(path), split="train", cache_dir=cache_dir, keep_in_memory=True, **kwargs
            )
        except Exception as err:
            raise UserError(f"--extra_data {spec.text}: could not be read ({_parser_detail(err)[:200]}).") from None


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
    """Map a loaded source to labelled rows grouped by item (a row is its own item when the source has none)."""
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
    out = SourceRows(spec=spec.text, license=license_)
    all_languages = _is_all_languages(ds, premise)
    groups: dict[str, list[dict]] = defaultdict(list)
    for i, row in enumerate(ds):
        versions = _versions(row, premise, hypothesis, lang, all_languages)
        out.rows_read += len(versions)
        label_id = _label_id(row[label], names, spec, i)
        if label_id is None:
            out.rows_dropped_unlabelled += len(versions)
            continue
        key = f"row{i}" if all_languages or item is None else str(row[item])
        for p, h, code in versions:
            if p and h:
                groups[key].append({"premise": p, "hypothesis": h, "label": label_id, "lang_abv": code})
            else:
                out.rows_dropped_empty += 1
    out.items = dict(groups)
    return out


def _versions(row: dict, premise: str, hypothesis: str, lang: str | None, all_languages: bool) -> list[tuple]:
    """(premise, hypothesis, language) of each version a row holds: 15 for an XNLI `all_languages` row."""
    if all_languages:
        premises = row[premise]
        hyp = row[hypothesis]
        return [
            (premises[code].strip(), text.strip(), code)
            for code, text in zip(hyp["language"], hyp["translation"], strict=True)
            if code in premises
        ]
    code = str(row[lang]).strip() if lang is not None and row[lang] is not None else "unknown"
    return [(str(row[premise] or "").strip(), str(row[hypothesis] or "").strip(), code)]


def normalise(text: str) -> str:
    """The form two copies of a sentence share: NFKC, case-folded, without punctuation or whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if not (c.isspace() or unicodedata.category(c)[0] == "P"))


def evaluated_keys(splits: DatasetDict) -> tuple[set[tuple[str, str]], set[str]]:
    """Normalised pairs and premises of every split that is evaluated (all but train)."""
    pairs: set[tuple[str, str]] = set()
    premises: set[str] = set()
    for name, ds in splits.items():
        if name == "train":
            continue
        for p, h in zip(ds["premise"], ds["hypothesis"], strict=True):
            pairs.add((normalise(p), normalise(h)))
            premises.add(normalise(p))
    return pairs, premises


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
    weighted = _weigh([kept for kept, _ in capped], [source.weight for source in sources], seed)
    columns: dict[str, list] = {name: [] for name in OUTPUT_FEATURES}
    for n, j in weighted:
        row = capped[n][0][j]
        columns["id"].append(f"extra{n}-{j}")
        columns["language"].append(language_name(row["lang_abv"]))
        for name in ("premise", "hypothesis", "lang_abv", "label"):
            columns[name].append(row[name])
    report = []
    for n, (source, rows, (kept, counts)) in enumerate(zip(sources, collected, capped, strict=True)):
        trained = [kept[j] for m, j in weighted if m == n]
        report.append(_entry(source, rows, counts, trained))
    return Dataset.from_dict(columns, features=OUTPUT_FEATURES), report


def _deduplicate_and_cap(
    source: SourceRows, pairs: set, premises: set, dedup: str, settings: ExtraSource, rng: random.Random
) -> tuple[list[dict], dict]:
    """Drop leaking items whole, then sample versions per item and rows per source; count every step.

    A leaking item's other versions are leaks too: an item that shares one of them (two items whose
    translations came out the same) is dropped with it.
    """
    keys = {
        name: [(normalise(v["premise"]), normalise(v["hypothesis"])) for v in versions]
        for name, versions in source.items.items()
    }

    def touches(item_keys: list[tuple[str, str]], pair_set: set, premise_set: set) -> bool:
        return any(k in pair_set or (dedup == "premise" and k[0] in premise_set) for k in item_keys)

    leaking = {name for name, item_keys in keys.items() if touches(item_keys, pairs, premises)}
    tainted_pairs = {k for name in leaking for k in keys[name]}
    tainted_premises = {k[0] for k in tainted_pairs}
    kept: list[dict] = []
    items_overlap = rows_overlap = 0
    for name, versions in source.items.items():
        if name in leaking or touches(keys[name], tainted_pairs, tainted_premises):
            items_overlap += 1
            rows_overlap += len(versions)
            continue
        if settings.versions_per_item is not None and len(versions) > settings.versions_per_item:
            versions = rng.sample(versions, settings.versions_per_item)
        kept += versions
    after_dedup = len(kept)
    if settings.max_rows is not None and len(kept) > settings.max_rows:
        kept = [kept[i] for i in sorted(rng.sample(range(len(kept)), settings.max_rows))]
    counts = {
        "items_dropped_overlap": items_overlap,
        "rows_dropped_overlap": rows_overlap,
        "rows_after_dedup": after_dedup,
    }
    return kept, counts


def _weigh(kept: list[list[dict]], weights: list[float], seed: int) -> list[tuple[int, int]]:
    """(source, row) of every row trained on, in training order: all of them in order when every weight is 1.

    Otherwise one seeded shuffle of the whole mixture, in which a row of a source of weight w is kept when it
    falls in the first w share: about w of each source, and for equal weights exactly one shared share.
    """
    everything = [(n, j) for n, rows in enumerate(kept) for j in range(len(rows))]
    if all(weight == 1 for weight in weights):
        return everything
    shuffled = np.random.default_rng(seed).permutation(len(everything))  # what Dataset.shuffle(seed=seed) draws
    limits = [round(len(everything) * weight) for weight in weights]
    return [everything[i] for position, i in enumerate(shuffled) if position < limits[everything[i][0]]]


def _entry(settings: ExtraSource, source: SourceRows, counts: dict, trained: list[dict]) -> dict:
    """A source's line of the report: its settings, then what was read, dropped at each step and trained on."""
    labels = Counter(LABELS[row["label"]] for row in trained)
    languages = Counter(row["lang_abv"] for row in trained)
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
        "labels": {name: labels.get(name, 0) for name in LABELS},
        "languages": dict(sorted(languages.items())),
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
