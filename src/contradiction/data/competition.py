"""Load, validate, split and save the Kaggle "Contradictory, My Dear Watson" CSV files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: reading a CSV to predict needs the checks here, not `datasets` (0.3 s)
    from datasets import Dataset, DatasetDict

from contradiction.errors import UserError
from contradiction.files import write_json
from contradiction.labels import LABELS
from contradiction.texts import is_blank

TEXT_COLUMNS = ("premise", "hypothesis")
TEST_COLUMNS = ("id", "premise", "hypothesis", "lang_abv", "language")
TRAIN_COLUMNS = (*TEST_COLUMNS, "label")
REPORT_FILE = "data_report.json"


class DataError(UserError):
    """A CSV file the project cannot use; the message names the file, the row and the problem."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_text(path: Path) -> str:
    """Check that `path` is a UTF-8 file with a header line and at least one row; return its text."""
    if path.is_dir():
        raise DataError(f"{path}: is a folder; pass the path of the competition CSV file inside it (e.g. train.csv).")
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass the path of the competition CSV (e.g. train.csv).")
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: the file is UTF-16; re-save it with UTF-8 encoding.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not valid UTF-8; re-save the file with UTF-8 encoding.") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty; it needs a header line and at least one row.")
    lines = text.splitlines()
    if not any(line.strip() for line in lines[1:]):
        raise DataError(f"{path}: the file has a header but no rows; add at least one row.")
    return text


def read_header(path: Path) -> list[str]:
    """Check that `path` exists, is UTF-8 and has a header line; return its column names."""
    return _header_of(read_text(path))


def _header_of(text: str) -> list[str]:
    return [name.strip() for name in next(csv.reader([text.splitlines()[0]]))]


def scan_records(path: Path, text: str, n_columns: int) -> int:
    """Read the records as the csv module does (quoted newlines stay inside their field); return the last
    record's first line.

    Refuses a row with more filled fields than the header: usually a text with an unquoted comma, which
    would otherwise shift the row's values into the wrong columns.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    start = last_start = reader.line_num + 1
    for record in reader:
        if len(record) > n_columns and any(field.strip() for field in record[n_columns:]):
            raise DataError(
                f"{path}: line {start} has {len(record)} fields but the header has {n_columns}; "
                'put texts that contain commas in double quotes ("...").'
            )
        last_start, start = start, reader.line_num + 1
    return last_start


def _parser_detail(err: BaseException) -> str:
    """The innermost reason of a `datasets`/pandas parsing error (the outer ones only say that one occurred)."""
    while (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def check_columns(path: Path, header: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in header]
    if not missing:
        return
    hint = ""
    for separator, name in ((";", "';'"), ("\t", "tabs")):
        if len(header) == 1 and separator in header[0]:
            hint = f" (the file seems to use {name} as separator; save it with ',')"
    raise DataError(
        f"{path}: missing column(s) {', '.join(missing)}{hint}; the header must include {', '.join(required)}."
    )


def load_csv(path: str | Path, labelled: bool) -> Dataset:
    """Load one competition CSV with `datasets`, strip the texts and validate every row.

    Args:
        path: a CSV in the competition schema.
        labelled: True for training data (a `label` column of 0, 1 or 2 is required).

    Raises:
        DataError: one sentence naming the file, the row and the problem.
    """
    path = Path(path)
    required = TRAIN_COLUMNS if labelled else TEST_COLUMNS
    text = read_text(path)
    header = _header_of(text)
    check_columns(path, header, required)
    last_record = scan_records(path, text, len(header))
    # every column read as text: ids such as "1e10" must not become floats, "NA" must not become missing.
    # Built in a temporary cache and kept in memory: no copy of the texts (an upload to the app, say) stays
    # behind in the `datasets` cache.
    import datasets

    features = datasets.Features({name: datasets.Value("string") for name in required})
    with tempfile.TemporaryDirectory(prefix="contradiction-csv-") as cache_dir:
        try:
            ds = datasets.load_dataset(
                "csv",
                data_files=str(path),
                split="train",
                features=features,
                usecols=list(required),
                keep_default_na=False,
                encoding="utf-8-sig",
                cache_dir=cache_dir,
                keep_in_memory=True,
            )
        except Exception as err:  # pandas' parser errors come in many types
            detail = _parser_detail(err)
            if "EOF inside string" in detail:
                raise DataError(
                    f'{path}: line {last_record} opens a double quote (") that is never closed; close it or remove it.'
                ) from None
            raise DataError(f"{path}: could not be parsed as CSV ({detail}); check its quoting.") from None
    if len(ds) == 0:
        raise DataError(f"{path}: the file has a header but no rows; add at least one row.")

    ds = ds.map(_strip_texts, batched=True, keep_in_memory=True, desc=f"Cleaning {path.name}")
    _validate_rows(path, ds, labelled)
    if labelled:
        ds = ds.map(lambda b: {"label": [int(v) for v in b["label"]]}, batched=True, keep_in_memory=True)
        ds = ds.cast_column("label", datasets.ClassLabel(names=list(LABELS)))
    return ds


def _strip_texts(batch: dict) -> dict:
    # the real data has trailing spaces; ids, language codes and labels get the same treatment
    return {k: [(v or "").strip() for v in vals] for k, vals in batch.items()}


def _validate_rows(path: Path, ds: Dataset, labelled: bool) -> None:
    ids = ds["id"]

    def where(i: int) -> str:
        return f"row {i + 1} (id {ids[i]!r})" if ids[i] else f"row {i + 1}"

    for i, value in enumerate(ids):
        if not value:
            raise DataError(f"{path}: row {i + 1} has an empty id; give every row a unique id.")
    for column in TEXT_COLUMNS:
        for i, text in enumerate(ds[column]):
            if is_blank(text):
                raise DataError(f"{path}: {where(i)} has an empty {column}; fill it in or remove the row.")
    for column in ("lang_abv", "language"):
        for i, value in enumerate(ds[column]):
            if not value:
                raise DataError(f"{path}: {where(i)} has an empty {column}; fill it in or remove the row.")
    if labelled:
        allowed = {str(i) for i in range(len(LABELS))}
        for i, value in enumerate(ds["label"]):
            if value not in allowed:
                raise DataError(
                    f"{path}: {where(i)} has label {value!r}; labels must be 0 (entailment), 1 (neutral) "
                    "or 2 (contradiction)."
                )
    seen: dict[str, int] = {}
    for i, value in enumerate(ids):
        if value in seen:
            raise DataError(f"{path}: {where(i)} repeats the id of row {seen[value] + 1}; ids must be unique.")
        seen[value] = i


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
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        splits.save_to_disk(str(tmp))
        write_json(tmp / REPORT_FILE, report)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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
