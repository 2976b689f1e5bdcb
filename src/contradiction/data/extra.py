"""Extra NLI training data beside the competition CSV: a mixture of sources, labels mapped by name, leaks dropped.

The mixture is a list of `ExtraSource` entries (a recipe's `extra_data`, like alignment-handbook's
`dataset_mixture`), each with its own license, cap, versions per item and weight. A source's SPEC is a local
file (CSV, TSV, JSON Lines, Parquet; `.gz` too), a `save_to_disk` folder, or a Hub data set
`owner/name[:config][@split]` (split `train` when left out). Every source becomes rows of
`premise, hypothesis, label, lang_abv, item`. The competition's non-English pairs are XNLI pairs, so a
source item (one pair and its translations) is dropped whole when any of its versions matches an evaluated
pair: the validation split, and the test split when there is one. `build_extra` is the one place where rows
are deduplicated and sampled; it holds a source's versions as columns of numbers, not rows of strings (XNLI
`all_languages` is 5.9 million versions). `build_fingerprint`, `save_build` and `load_build` keep that build
on disk, named for its inputs, so a run builds it once and every process memory-maps it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import random
import re
import sys
import tempfile
import unicodedata
from array import array
from dataclasses import dataclass, field, fields
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets.table import InMemoryTable

from contradiction.data.competition import _parser_detail
from contradiction.errors import UserError
from contradiction.files import atomic_folder, write_json
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
        for start, batch in _batches(self.dataset, columns):
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


COLLECT_BATCH = 2000  # source rows read at a time: 30,000 XNLI versions


def _rows_in(arrow_file: str) -> int:
    """The rows of an Arrow stream file, from its batches' headers (their data is mapped, never read)."""
    with pa.memory_map(arrow_file) as source:
        return sum(batch.num_rows for batch in pa.ipc.open_stream(source))


def _batches(ds: Dataset, columns: list[str]):
    """(first row, {column: values}) of consecutive batches of `ds`. A dataset on disk is read from its Arrow
    files as a stream, not through its memory map: the pages of a map stay in the process (XNLI's 2 GB)."""
    files = [f["filename"] for f in ds.cache_files]
    whole = ds._indices is None and sum(_rows_in(name) for name in files) == len(ds)
    if not files or not whole:  # in memory, or some of a file's rows (a selection, a split such as train[:10%])
        for start in range(0, len(ds), COLLECT_BATCH):
            yield start, ds.select_columns(columns)[start : start + COLLECT_BATCH]
        return
    start = 0
    for name in files:
        with pa.OSFile(name) as stream:
            for batch in pa.ipc.open_stream(stream):
                yield start, batch.select(columns).to_pydict()
                start += batch.num_rows


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
    for start, batch in _batches(ds, wanted):
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
                pair_hash.append(_hash(p_key, normalise(h)))
                premise_hash.append(_hash(p_key))
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


def _hash(*texts: str) -> int:
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


def evaluated_keys(splits: DatasetDict) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the normalised pairs and premises of every split that is evaluated (all but train), sorted."""
    pairs, premises = [], []
    for name, ds in splits.items():
        if name == "train":
            continue
        for p, h in zip(ds["premise"], ds["hypothesis"], strict=True):
            p_key = normalise(p)
            pairs.append(_hash(p_key, normalise(h)))
            premises.append(_hash(p_key))
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


BUILD_VERSION = 2  # raise when the rows chosen for the same inputs change: every saved build is then rebuilt
BUILD_REPORT_FILE = "extra_report.json"


def build_fingerprint(sources: list[ExtraSource], splits: DatasetDict, dedup: str, seed: int) -> str:
    """A name for the build of this mixture: every input that changes its rows or its report.

    Each source's settings, and what it is: a local file's path, size and modification time (each file of a
    folder), or a Hub SPEC (`owner/name[:config][@split]`; a SPEC names no revision, so a Hub data set
    updated in place under the same SPEC is not noticed); the dedup mode, the seed and the evaluated pairs
    deduplicated against.
    """
    digest = hashlib.sha256()
    inputs = {"version": BUILD_VERSION, "dedup": dedup, "seed": seed, "sources": []}
    for source, spec in zip(sources, check_specs([s.path for s in sources]), strict=True):
        inputs["sources"].append({**dataclasses.asdict(source), "files": _files(spec)})
    digest.update(json.dumps(inputs, sort_keys=True).encode())
    for keys in evaluated_keys(splits):
        digest.update(keys.tobytes())
    return digest.hexdigest()[:16]


def _files(spec: Spec) -> list | str:
    """What a SPEC is made of: (path, size, mtime) of each local file, or the Hub SPEC itself."""
    if spec.is_hub:
        return spec.text
    paths = sorted(p for p in spec.path.rglob("*") if p.is_file()) if spec.path.is_dir() else [spec.path]
    stats = [(p, p.stat()) for p in paths if not p.name.startswith("cache-")]  # datasets' own caches left out
    return [[str(p.resolve()), st.st_size, st.st_mtime_ns] for p, st in stats]


def save_build(folder: str | Path, extra: Dataset, report: list[dict]) -> None:
    """Write a build whole: to a temporary folder beside `folder`, then moved into place (a reader never sees half)."""
    with atomic_folder(folder) as tmp:
        extra.save_to_disk(str(tmp))
        write_json(tmp / BUILD_REPORT_FILE, report)


def load_build(folder: str | Path) -> tuple[Dataset, list[dict]] | None:
    """A build `save_build` wrote, memory-mapped (not read into memory); None when there is none."""
    folder = Path(folder)
    if not (folder / BUILD_REPORT_FILE).is_file():
        return None
    report = json.loads((folder / BUILD_REPORT_FILE).read_text(encoding="utf-8"))
    return datasets.load_from_disk(str(folder)), report


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
    return Dataset(
        InMemoryTable(table.cast(OUTPUT_FEATURES.arrow_schema)), info=datasets.DatasetInfo(features=OUTPUT_FEATURES)
    )


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
