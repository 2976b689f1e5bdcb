"""Load, split and save the Kaggle "Contradictory, My Dear Watson" CSV files (checked by `data.pairs`)."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used (0.3 s)
    from datasets import Dataset, DatasetDict

from contradiction.data.pairs import CHECK_ROWS, DataError, check_rows, open_competition
from contradiction.data.pairs import parser_detail as parser_detail  # noqa: F401 - data/extra.py imports it from here
from contradiction.errors import UserError
from contradiction.files import atomic_folder, write_json
from contradiction.labels import LABELS

REPORT_FILE = "data_report.json"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_csv(path: str | Path, labelled: bool, max_rows: int | None = None) -> Dataset:
    """Load one competition file, checked row by row by the pair-file reader (`data.pairs`), as an in-memory
    `Dataset` of stripped texts.

    Args:
        path: a CSV in the competition schema (or a JSON Lines or Parquet file with its columns).
        labelled: True for training data (a `label` column of 0, 1 or 2 is required).
        max_rows: refuse a file of more rows as soon as reading it gets there (`TooManyRows`), the rest unread.

    Raises:
        DataError: one sentence naming the file, the row and the problem.
    """
    source = open_competition(path, labelled, max_rows)
    check_rows(source, max_rows)
    columns: dict[str, list] = {name: [] for name in source.our_columns}
    for chunk in source.chunks(CHECK_ROWS):
        for name, values in columns.items():
            values.extend(chunk[name])
    # every column text: ids such as "1e10" stay strings. Built in memory: no copy of the texts (an upload to the
    # app, say) stays behind in the `datasets` cache
    import datasets

    features = {name: datasets.Value("string") for name in columns}
    if labelled:
        columns["label"] = [int(v) for v in columns["label"]]
        features["label"] = datasets.ClassLabel(names=list(LABELS))
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def _check_validation_size(validation_size: float) -> None:
    if not 0 < validation_size < 1:
        raise UserError(f"--validation_size {validation_size} must be between 0 and 1, e.g. 0.1.")


def stratified_split(ds: Dataset, validation_size: float, seed: int) -> DatasetDict:
    """Split `ds` into train and validation, stratified by (language, label).

    Every (language, label) group of two or more rows gives at least one row to each side, so every
    language appears in both splits. The same seed gives the same split.
    """
    _check_validation_size(validation_size)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, (lang, label) in enumerate(zip(ds["lang_abv"], ds["label"], strict=True)):
        groups[(lang, label)].append(i)
    rng = random.Random(seed)
    train_idx: list[int] = []
    val_idx: list[int] = []
    for key in sorted(groups):  # sorted for determinism: dict order follows the file
        idx = groups[key]
        rng.shuffle(idx)
        n_val = round(len(idx) * validation_size)
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        else:
            n_val = 0
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    from datasets import DatasetDict

    return DatasetDict(train=ds.select(sorted(train_idx)), validation=ds.select(sorted(val_idx)))


def prepare(
    train_file: str | Path,
    test_file: str | Path | None = None,
    validation_size: float = 0.1,
    seed: int = 42,
) -> tuple[DatasetDict, dict]:
    """Load and validate the CSV files, split train, and build the data report.

    Returns:
        The `DatasetDict` (train, validation and, with `test_file`, test) and the report (as JSON data).
    """
    _check_validation_size(validation_size)
    labelled = load_csv(train_file, labelled=True)
    splits = stratified_split(labelled, validation_size, seed)
    if len(splits["validation"]) == 0:
        raise DataError(
            f"{train_file}: too few rows ({len(labelled)}) to hold out a validation split, as no language has two "
            "rows with the same label; add rows."
        )
    files = [{"role": "train", "path": str(train_file), "rows": len(labelled)}]
    if test_file is not None:
        splits["test"] = load_csv(test_file, labelled=False)
        files.append({"role": "test", "path": str(test_file), "rows": len(splits["test"])})
    for entry in files:
        entry["sha256"] = file_sha256(entry["path"])
    return splits, build_report(splits, files, validation_size, seed)


def build_report(splits: DatasetDict, files: list[dict], validation_size: float, seed: int) -> dict:
    """Rows per split x language x label, plus the input files' hashes, so a model traces to its data."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for name, ds in splits.items():
        labels = ds["label"] if "label" in ds.column_names else [None] * len(ds)
        per_lang: dict[str, Counter] = defaultdict(Counter)
        for lang, label in zip(ds["language"], labels, strict=True):
            per_lang[lang][LABELS[label] if label is not None else "unlabelled"] += 1
        counts[name] = {lang: dict(sorted(c.items())) for lang, c in sorted(per_lang.items())}
    return {
        "files": files,
        "validation_size": validation_size,
        "seed": seed,
        "rows": {name: len(ds) for name, ds in splits.items()},
        "languages": sorted({lang for split in counts.values() for lang in split}),
        "counts": counts,
    }


def format_report(report: dict) -> str:
    """The data report as a readable table: one row per language, one column per split (and label)."""
    splits = list(report["counts"])
    columns: list[tuple[str, str]] = []
    for split in splits:
        names = list(LABELS) if split != "test" else ["unlabelled"]
        columns += [(split, n) for n in names]
    heads = [f"{s}:{n}" if n != "unlabelled" else s for s, n in columns]
    width = max(len(lang) for lang in report["languages"] + ["language", "total"])
    lines = ["language".ljust(width) + "".join(h.rjust(max(len(h), 6) + 2) for h in heads)]
    totals = [0] * len(columns)
    for lang in report["languages"]:
        cells = []
        for j, (split, name) in enumerate(columns):
            n = report["counts"][split].get(lang, {}).get(name, 0)
            totals[j] += n
            cells.append(str(n).rjust(max(len(heads[j]), 6) + 2))
        lines.append(lang.ljust(width) + "".join(cells))
    lines.append(
        "total".ljust(width) + "".join(str(t).rjust(max(len(h), 6) + 2) for t, h in zip(totals, heads, strict=True))
    )
    lines.append("")
    for f in report["files"]:
        lines.append(f"{f['role']:<5} {f['path']}  rows={f['rows']}  sha256={f['sha256']}")
    rows = ", ".join(f"{k}={v}" for k, v in report["rows"].items())
    lines.append(f"split rows: {rows}  (validation_size={report['validation_size']}, seed={report['seed']})")
    return "\n".join(lines)


def check_output_dir(output_dir: str | Path) -> None:
    """Refuse, before any work, an output folder that names an existing file."""
    if Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise UserError(f"--output_dir {output_dir} is a file; pass the path of a folder (it is created or replaced).")


def save_prepared(splits: DatasetDict, report: dict, output_dir: str | Path) -> Path:
    """Save the dataset and its report whole: written to a temporary folder, then moved into place."""
    output_dir = Path(output_dir)
    check_output_dir(output_dir)
    with atomic_folder(output_dir) as tmp:
        splits.save_to_disk(str(tmp))
        write_json(tmp / REPORT_FILE, report)
    return output_dir


def load_prepared(path: str | Path) -> tuple[DatasetDict, dict | None]:
    """Load a folder written by `save_prepared`, with its report when present."""
    path = Path(path)
    if not (path / "dataset_dict.json").is_file():
        raise DataError(f"{path}: not a dataset folder written by data_prep.py; run data_prep.py first.")
    import datasets

    splits = datasets.load_from_disk(str(path))
    report_file = path / REPORT_FILE
    report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.is_file() else None
    return splits, report
