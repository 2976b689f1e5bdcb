"""The sources of the extra-data mixture: `ExtraSource` (a recipe's `extra_data` entry, or a flag's
`SPEC,key=value,...`), what its SPEC names (`Spec`: a local file or folder, or a Hub data set
`owner/name[:config][@split]`) and `read_source`, which loads it with `datasets`."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict

from contradiction.data.competition import parser_detail
from contradiction.errors import UserError

# licenses of well-known sources, for the model card when the recipe gives none
KNOWN_LICENSES = {
    "facebook/xnli": "cc-by-nc-4.0",
    "nyu-mll/multi_nli": "OANC / CC BY-SA 3.0 / CC BY 3.0 (by genre)",
    "stanfordnlp/snli": "cc-by-sa-4.0",
}


LOCAL_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


HUB_SPEC = re.compile(r"^(?P<repo>[\w.-]+(?:/[\w.-]+)?)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.\[\]:%+-]+))?$")


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
                f"--extra_data {spec.text}: could not be loaded from the Hub ({parser_detail(err)[:200]}); "
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
            raise UserError(f"--extra_data {spec.text}: could not be read ({parser_detail(err)[:200]}).") from None
