"""A build of the mixture on disk, named for every input that changes its rows (`build_fingerprint`), written whole
(`save_build`) and memory-mapped by every process (`load_build`), so a run builds it once."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict

from contradiction.data.extra.mixture import evaluated_keys
from contradiction.data.extra.sources import ExtraSource, Spec, check_specs
from contradiction.files import atomic_folder, write_json

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
