"""Files of many premise/hypothesis pairs: CSV, JSON Lines or Parquet, checked and read a chunk at a time.

Memory stays flat as a file grows. The input is streamed (CSV by pandas' parser, the others with `datasets`) and
never held whole; its check keeps 8 bytes per row (a hash of the id, to find duplicates).
"""

from __future__ import annotations

import codecs
import csv
import json
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contradiction.data.competition import TEST_COLUMNS, DataError, check_columns
from contradiction.texts import is_blank

FORMATS = {".csv": "csv", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet"}

EXTRA_COLUMNS = ("lang_abv", "language")  # carried into the probabilities file when the input has them

CHECK_ROWS = 10_000  # rows per read while checking a file: bounds memory, not speed


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the id and the two texts."""

    id: str = "id"
    premise: str = "premise"
    hypothesis: str = "hypothesis"


@dataclass(frozen=True)
class InputFile:
    """A file to predict, checked by `open_input`: its format, the columns to read, and whether it is a
    competition CSV (checked row by row as `data.load_csv` checks one, with the same messages)."""

    path: Path
    format: str
    columns: Columns
    extra: tuple[str, ...]  # those of EXTRA_COLUMNS the file has
    competition: bool
    last_record_line: int = 0  # CSV only: where the last record starts, for the unclosed-quote message

    @property
    def source_columns(self) -> list[str]:
        return [self.columns.id, self.columns.premise, self.columns.hypothesis, *self.extra]

    def _batches(self, chunk_size: int, skip_rows: int) -> Iterator[dict[str, list[Any]]]:
        """The source columns, `chunk_size` rows at a time from `skip_rows` on; None for a missing value."""
        if self.format == "csv":
            yield from _rebatch(self._csv_frames(chunk_size), chunk_size, skip_rows)
            return
        import datasets  # JSON Lines and Parquet only: a CSV run is spared its import (docs/benchmarks.md)

        files = {"data_files": str(self.path), "split": "train", "streaming": True}
        if self.format == "parquet":
            stream = datasets.load_dataset("parquet", **files, columns=self.source_columns)
        else:
            stream = datasets.load_dataset("json", **files).select_columns(self.source_columns)
        yield from stream.skip(skip_rows).iter(batch_size=chunk_size) if skip_rows else stream.iter(chunk_size)

    def _csv_frames(self, chunk_size: int) -> Iterator[dict[str, list[Any]]]:
        # the parser and settings `datasets.load_dataset("csv")` used here before, and `data.load_csv` uses: every
        # column read as text, so id "1e10" stays a string and "NA" stays "NA"
        with pd.read_csv(
            self.path,
            dtype=dict.fromkeys(self.source_columns, object),
            usecols=self.source_columns,
            keep_default_na=False,
            encoding="utf-8-sig",
            chunksize=chunk_size,
        ) as reader:
            for frame in reader:  # a field missing from a short row is NaN, which datasets turned into None
                yield {c: [v if isinstance(v, str) else None for v in frame[c].tolist()] for c in self.source_columns}

    def chunks(self, chunk_size: int, skip_rows: int = 0) -> Iterator[dict[str, list[str]]]:
        """The rows from `skip_rows` on, `chunk_size` at a time, as stripped text under our column names
        (`id`, `premise`, `hypothesis` and the extra columns the file has)."""
        names = dict(zip(self.source_columns, ("id", "premise", "hypothesis", *self.extra), strict=True))
        try:
            for batch in self._batches(chunk_size, skip_rows):
                yield {names[column]: [_text(v) for v in values] for column, values in batch.items()}
        except DataError:
            raise
        except Exception as err:  # parser errors come in many types; each ends in one sentence
            raise self.read_error(err) from None

    def read_error(self, err: BaseException) -> DataError:
        """One sentence for a file the parser gave up on, with the parser's own reason."""
        detail = _innermost(err)
        if self.format == "csv":
            if "EOF inside string" in detail:
                return DataError(
                    f'{self.path}: line {self.last_record_line} opens a double quote (") that is never closed; '
                    "close it or remove it."
                )
            return DataError(f"{self.path}: could not be parsed as CSV ({detail}); check its quoting.")
        if self.format == "json":
            return DataError(
                f"{self.path}: could not be read as JSON Lines ({detail}); write one JSON object per line."
            )
        return DataError(f"{self.path}: could not be read as Parquet ({detail}); pass a complete Parquet file.")


def _rebatch(batches: Iterator[dict[str, list[Any]]], size: int, skip_rows: int) -> Iterator[dict[str, list[Any]]]:
    """The same columns in batches of `size` rows (the last may be shorter), the first `skip_rows` rows left out."""
    pending: dict[str, list[Any]] = {}
    for batch in batches:
        rows = len(next(iter(batch.values())))
        if skip_rows >= rows:
            skip_rows -= rows
            continue
        for column, values in batch.items():
            pending.setdefault(column, []).extend(values[skip_rows:])
        skip_rows = 0
        while len(next(iter(pending.values()))) >= size:
            yield {column: values[:size] for column, values in pending.items()}
            pending = {column: values[size:] for column, values in pending.items()}
    if pending and next(iter(pending.values())):
        yield pending


def _text(value: object) -> str:
    # the real data has trailing spaces; ids and language codes get the same treatment. JSON ids may be numbers
    return "" if value is None else str(value).strip()


def _innermost(err: BaseException) -> str:
    while (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def open_input(path: str | Path, columns: Columns | None = None) -> InputFile:
    """Check the extension, the file and its columns; a CSV is also read through once, line by line, for what
    `data.load_csv` checks of its text (encoding, header, fields per record). `check_rows` checks the rows.

    Args:
        path: a `.csv`, `.jsonl` (or `.ndjson`) or `.parquet` file.
        columns: the column names to read; None reads a CSV as a competition file (id, premise, hypothesis,
            lang_abv, language) and other formats by the default names.

    Raises:
        DataError: one sentence naming the file and the fix.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        shown = f"a {path.suffix} file" if path.suffix else "a file without extension"
        raise DataError(f"{path}: is {shown}; pass a .csv, .jsonl or .parquet file (the type is read from the name).")
    competition = kind == "csv" and columns is None
    columns = columns or Columns()
    if path.is_dir():  # data.load_csv's words for a competition CSV
        inside = "the competition CSV file inside it (e.g. train.csv)" if competition else "a file inside it"
        raise DataError(f"{path}: is a folder; pass the path of {inside}.")
    if not path.is_file():
        wanted = "the competition CSV (e.g. train.csv)" if competition else "the file to predict"
        raise DataError(f"{path}: no such file; pass the path of {wanted}.")
    last_record_line = 0
    if kind == "csv":
        header, last_record_line = scan_csv(path, TEST_COLUMNS if competition else None, columns)
    elif kind == "json":
        header = _json_header(path)
    else:
        header = _parquet_header(path)
    if kind != "csv":  # scan_csv checked a CSV's columns, in load_csv's order
        _check_named_columns(path, header, columns)
    extra = tuple(name for name in EXTRA_COLUMNS if name in header and name not in vars(columns).values())
    return InputFile(path, kind, columns, extra, competition, last_record_line)


def _check_named_columns(path: Path, header: list[str], columns: Columns) -> None:
    plural = {"id": "ids", "premise": "premises", "hypothesis": "hypotheses"}
    for role, name in vars(columns).items():
        if name not in header:
            shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
            raise DataError(
                f"{path}: has no column {name!r} for the {plural[role]}; name the right one with --{role}_column "
                f"(the file has {shown})."
            )


def _csv_lines(path: Path, seen: dict[str, bool]) -> Iterator[str]:
    """The file's lines, decoded; refuses UTF-16 and invalid UTF-8 with the line, as `data.read_text` does."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1:
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise DataError(f"{path}: the file is UTF-16; re-save it with UTF-8 encoding.")
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:  # "\n" never occurs inside a UTF-8 sequence, so the line number is exact
                raise DataError(
                    f"{path}: line {number} is not valid UTF-8; re-save the file with UTF-8 encoding."
                ) from None
            if line.strip():
                seen["text"] = True
                seen["rows"] = seen["rows"] or number > 1
            yield line


def scan_csv(path: Path, required: tuple[str, ...] | None, columns: Columns) -> tuple[list[str], int]:
    """Read a CSV once, line by line, as `data.load_csv` checks it whole: encoding, header, fields per record.

    Returns:
        The header and the line where the last record starts.
    """
    seen = {"text": False, "rows": False}
    reader = csv.reader(_csv_lines(path, seen))
    header: list[str] = []
    start = last_start = 1
    too_many: str | None = None
    try:
        header = [name.strip() for name in next(reader, [])]
        start = last_start = reader.line_num + 1
        for record in reader:
            if too_many is None and len(record) > len(header) and any(f.strip() for f in record[len(header) :]):
                too_many = (
                    f"{path}: line {start} has {len(record)} fields but the header has {len(header)}; "
                    'put texts that contain commas in double quotes ("...").'
                )
            last_start, start = start, reader.line_num + 1
    except csv.Error as err:
        if "field larger than field limit" in str(err):
            raise DataError(
                f"{path}: line {start} holds a field of over {csv.field_size_limit():,} characters, usually a double "
                'quote (") that is never closed; close it or remove it.'
            ) from None
        raise DataError(f"{path}: line {start} could not be parsed as CSV ({err}); check its quoting.") from None
    if not seen["text"]:
        raise DataError(f"{path}: the file is empty; it needs a header line and at least one row.")
    if not seen["rows"]:
        raise DataError(f"{path}: the file has a header but no rows; add at least one row.")
    if required is not None:
        check_columns(path, header, required)
    else:
        _check_named_columns(path, header, columns)
    if too_many is not None:
        raise DataError(too_many)
    return header, last_start


def _json_header(path: Path) -> list[str]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise DataError(
                    f"{path}: line {number} is not valid UTF-8; re-save the file with UTF-8 encoding."
                ) from None
            if not line.strip():
                continue
            try:
                first = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{path}: line {number} is not valid JSON ({err.msg}); write one JSON object per line."
                ) from None
            if not isinstance(first, dict):
                raise DataError(f"{path}: line {number} is not a JSON object; write one object per line, e.g. "
                                '{"id": "1", "premise": "...", "hypothesis": "..."}.')  # fmt: skip
            return list(first)
    raise DataError(f"{path}: the file has no rows; write one JSON object per line.")


def _parquet_header(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as err:  # ArrowInvalid, OSError: the file is not Parquet or is cut short
        raise DataError(
            f"{path}: could not be read as Parquet ({_innermost(err)}); pass a complete Parquet file."
        ) from None


def check_rows(source: InputFile) -> int:
    """Check every row as `data.load_csv` does (non-empty id, texts that show something, unique ids); count them.

    The first problem is reported in load_csv's order: empty ids, then empty texts (then, for a competition CSV,
    empty `lang_abv` and `language`), then repeated ids.

    Raises:
        DataError: one sentence naming the file, the row and the fix.
    """
    checked = ["id", "premise", "hypothesis", *(EXTRA_COLUMNS if source.competition else ())]
    shown = {"id": source.columns.id, "premise": source.columns.premise, "hypothesis": source.columns.hypothesis}
    first_empty: dict[str, tuple[int, str]] = {}
    hashes: list[np.ndarray] = []
    rows = 0
    for chunk in source.chunks(CHECK_ROWS):
        ids = chunk["id"]
        for column in checked:
            if column not in first_empty:
                shows_nothing = is_blank if column in ("premise", "hypothesis") else operator.not_
                empty = next((i for i, value in enumerate(chunk[column]) if shows_nothing(value)), None)
                if empty is not None:
                    first_empty[column] = (rows + empty, ids[empty])
        hashes.append(np.fromiter((hash(value) for value in ids), dtype=np.int64, count=len(ids)))
        rows += len(ids)
    if rows == 0:
        raise DataError(f"{source.path}: the file has a header but no rows; add at least one row.")
    for column in checked:
        if column in first_empty:
            row, row_id = first_empty[column]
            if column == "id":
                raise DataError(f"{source.path}: row {row + 1} has an empty id; give every row a unique id.")
            raise DataError(
                f"{source.path}: {_where(row, row_id)} has an empty {shown.get(column, column)}; fill it in or "
                "remove the row."
            )
    repeat = _first_repeat(source, np.concatenate(hashes))
    if repeat is not None:
        row, row_id, first = repeat
        raise DataError(f"{source.path}: {_where(row, row_id)} repeats the id of row {first + 1}; ids must be unique.")
    return rows


def _where(row: int, row_id: str) -> str:
    return f"row {row + 1} (id {row_id!r})" if row_id else f"row {row + 1}"


def _first_repeat(source: InputFile, hashes: np.ndarray) -> tuple[int, str, int] | None:
    """The first row whose id an earlier row has, with that id and the earlier row; None when ids are unique.

    Rows whose id hashes collide are read again to compare the ids themselves, so a hash collision is no error.
    """
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(same) == 0:
        return None
    suspects = set(order[same].tolist()) | set(order[same + 1].tolist())
    ids: dict[int, str] = {}
    start = 0
    for chunk in source.chunks(CHECK_ROWS):
        for i, value in enumerate(chunk["id"], start=start):
            if i in suspects:
                ids[i] = value
        start += len(chunk["id"])
    first_seen: dict[str, int] = {}
    for row in sorted(suspects):
        if ids[row] in first_seen:
            return row, ids[row], first_seen[ids[row]]
        first_seen[ids[row]] = row
    return None
