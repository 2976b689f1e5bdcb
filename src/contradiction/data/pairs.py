"""Files of premise/hypothesis pairs (CSV, JSON Lines, Parquet), checked and read a chunk at a time.

The project's one reader of pair files: the predict CLI, `competition.load_csv` (data_prep.py, train.py,
calibrate) and the app's upload all go through it, so each check and its message exists once, for every format.
A message names the place a user finds in an editor: the line of a JSON Lines file or of a CSV's text, the row
of a CSV or Parquet file, and the column or key.

Memory stays flat as a file grows. The input is streamed (CSV by pandas' parser, JSON Lines a line at a time,
Parquet a batch at a time with pyarrow) and never held whole; its check keeps 8 bytes per row (a hash of the id,
to find duplicates). Nothing here imports `datasets` (0.3 s of a CSV run's start, docs/benchmarks.md).
"""

from __future__ import annotations

import codecs
import csv
import json
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contradiction.errors import UserError
from contradiction.labels import LABELS
from contradiction.texts import is_blank

FORMATS = {".csv": "csv", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet"}

TEST_COLUMNS = ("id", "premise", "hypothesis", "lang_abv", "language")  # a competition file
TRAIN_COLUMNS = (*TEST_COLUMNS, "label")  # a competition file to train on
EXTRA_COLUMNS = ("lang_abv", "language")  # carried into the probabilities file when the input has them

CHECK_ROWS = 10_000  # rows per read while checking a file: bounds memory, not speed

_LINE = None  # the key under which a JSON Lines batch carries its rows' line numbers: no column is named None
_PLACES = {"csv": ("row", "in column"), "json": ("line", "under key"), "parquet": ("row", "in column")}  # as a user
# finds a value: a JSON Lines file by its line (blank lines are no rows), the others by their row


class DataError(UserError):
    """A file of pairs the project cannot use; the message names the file, the place and the fix."""


class TooManyRows(DataError):
    """A file with more rows than its reader's `max_rows`, found while reading it: the rest is never read."""

    def __init__(self, path: Path, max_rows: int) -> None:
        super().__init__(f"{path}: has more than {max_rows:,} rows; split it into files of at most {max_rows:,} rows.")
        self.max_rows = max_rows


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the id and the two texts."""

    id: str = "id"
    premise: str = "premise"
    hypothesis: str = "hypothesis"

    @property
    def roles(self) -> dict[str, str]:
        """Our name of each column (what `InputFile.chunks` calls it) -> the file's name."""
        return {"id": self.id, "premise": self.premise, "hypothesis": self.hypothesis}


@dataclass(frozen=True)
class TextColumns:
    """A file of single texts (zero-shot classification): the id and text columns, and optionally a column of gold
    labels, each of which must be one of `label_values`."""

    id: str = "id"
    text: str = "text"
    label: str | None = None
    label_values: tuple[str, ...] = ()

    @property
    def roles(self) -> dict[str, str]:
        roles = {"id": self.id, "text": self.text}
        return roles | {"label": self.label} if self.label is not None else roles

    def label_problem(self, value: str) -> str | None:
        """Why a gold label cannot be scored (None when it is one of the candidate labels)."""
        if value in self.label_values:
            return None
        return (
            f"has label {value!r} in column {self.label!r}, which is not one of the candidate labels "
            f"({', '.join(self.label_values)}); use one of them, or leave --label_column out"
        )


@dataclass(frozen=True)
class InputFile:
    """A file checked by `open_input` or `open_competition`: its format, the columns to read, and whether it is a
    competition file (its language columns required and checked row by row, and with `labelled` its labels)."""

    path: Path
    format: str
    columns: Columns | TextColumns
    extra: tuple[str, ...]  # those of EXTRA_COLUMNS the file has
    competition: bool
    last_record_line: int = 0  # CSV only: where the last record starts, for the unclosed-quote message
    labelled: bool = False

    @property
    def source_columns(self) -> list[str]:
        label = ["label"] if self.labelled else []
        return [*self.columns.roles.values(), *self.extra, *label]

    @property
    def our_columns(self) -> list[str]:
        """The names `chunks` gives the source columns."""
        return [*self.columns.roles, *self.extra, *(["label"] if self.labelled else [])]

    def chunks(self, chunk_size: int, skip_rows: int = 0) -> Iterator[dict[str, list[str]]]:
        """The rows from `skip_rows` on, `chunk_size` at a time, as stripped text under our column names
        (`id`, `premise`, `hypothesis`, the extra columns the file has, and `label` for a labelled file)."""
        for chunk, _ in self.numbered_chunks(chunk_size, skip_rows):
            yield chunk

    def numbered_chunks(self, chunk_size: int, skip_rows: int = 0) -> Iterator[tuple[dict[str, list[str]], list[int]]]:
        """`chunks`, each with the number a user finds its rows by: the line in JSON Lines, the row otherwise."""
        names = dict(zip(self.source_columns, self.our_columns, strict=True))
        row = skip_rows
        try:
            for batch in _rebatch(self._batches(chunk_size), chunk_size, skip_rows):
                lines = batch.pop(_LINE, None)
                chunk = {ours: [_text(v) for v in batch[theirs]] for theirs, ours in names.items()}
                size = len(chunk["id"])
                yield chunk, lines if lines is not None else list(range(row + 1, row + size + 1))
                row += size
        except DataError:
            raise
        except Exception as err:  # parser errors come in many types; each ends in one sentence
            raise self.read_error(err) from None

    def _batches(self, size: int) -> Iterator[dict[Any, list[Any]]]:
        """The source columns, about `size` rows at a time; None for a missing value."""
        read = {"csv": self._csv_batches, "json": self._json_batches, "parquet": self._parquet_batches}
        yield from read[self.format](size)

    def _csv_batches(self, size: int) -> Iterator[dict[str, list[Any]]]:
        # every column read as text, so id "1e10" stays a string and "NA" stays "NA" (the settings `datasets`
        # passed to this parser when it read the CSV files)
        with pd.read_csv(
            self.path,
            dtype=dict.fromkeys(self.source_columns, object),
            usecols=self.source_columns,
            keep_default_na=False,
            encoding="utf-8-sig",
            chunksize=size,
        ) as reader:
            for frame in reader:  # a field missing from a short row is NaN
                yield {c: [v if isinstance(v, str) else None for v in frame[c].tolist()] for c in self.source_columns}

    def _json_batches(self, size: int) -> Iterator[dict[Any, list[Any]]]:
        keys = list(dict.fromkeys(self.source_columns))
        required = set(keys) if self.competition else set(self.columns.roles.values())
        batch: dict[Any, list[Any]] = {key: [] for key in [*keys, _LINE]}
        for number, line in _lines(self.path):
            if not line.strip():
                continue
            record = _json_object(self.path, number, line)
            for key in keys:
                if key not in record and key in required:
                    raise DataError(
                        f"{self.path}: line {number} has no key {key!r}; give every object the keys "
                        f"{', '.join(sorted(required, key=keys.index))}."
                    )
                value = record.get(key)
                if value is not None and not _is_text(value, numbers=self._numbers(key)):
                    raise self.not_text(f"line {number}", key, value)
                batch[key].append(value)
            batch[_LINE].append(number)
            if len(batch[_LINE]) == size:
                yield batch
                batch = {key: [] for key in batch}
        if batch[_LINE]:
            yield batch

    def _parquet_batches(self, size: int) -> Iterator[dict[str, list[Any]]]:
        import pyarrow.parquet as pq

        keys = list(dict.fromkeys(self.source_columns))
        parquet = pq.ParquetFile(self.path)
        types = {key: parquet.schema_arrow.field(key).type for key in keys}
        done = 0
        for group in range(parquet.num_row_groups):  # one at a time, so that damage is placed in its rows
            start, rows = done, parquet.metadata.row_group(group).num_rows
            try:
                for table in parquet.iter_batches(batch_size=size, row_groups=[group], columns=keys):
                    batch = {key: table.column(key).to_pylist() for key in keys}
                    for key in keys:
                        if not _arrow_text(types[key], numbers=self._numbers(key)):
                            wrong = next((i for i, v in enumerate(batch[key]) if v is not None), None)
                            if wrong is not None:
                                raise self.not_text(f"row {done + wrong + 1}", key, batch[key][wrong], str(types[key]))
                    yield batch
                    done += table.num_rows
            except DataError:
                raise
            except Exception as err:  # a page damaged part way
                raise DataError(
                    f"{self.path}: rows {start + 1:,} to {start + rows:,} (row group {group + 1}) could not be read as "
                    f"Parquet ({parser_detail(err)}); pass a complete Parquet file."
                ) from None

    def _numbers(self, key: str) -> bool:
        """Whether the column may hold whole numbers: ids and labels; texts and language codes must be text."""
        return key == self.columns.id or (self.labelled and key == "label")

    def place(self, number: int, row_id: str = "") -> str:
        """Where a row is, as a user finds it (`line 3` in JSON Lines, `row 2` otherwise), with its id."""
        where = f"{_PLACES[self.format][0]} {number}"
        return f"{where} (id {row_id!r})" if row_id else where

    def not_text(self, where: str, name: str, value: object, kind: str | None = None) -> DataError:
        """One sentence for a value that is not text: the place, the column or key, the value and its type."""
        field = f"{_PLACES[self.format][1]} {name!r}"
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        wanted = "text or a whole number" if self._numbers(name) else "text"
        held = f" ({kind})" if kind else ""
        fix = f"store column {name!r} as strings" if self.format == "parquet" else 'write it as a JSON string ("...")'
        return DataError(f"{self.path}: {where} has {shown} {field}{held}, not {wanted}; {fix}.")

    def read_error(self, err: BaseException) -> DataError:
        """One sentence for a file the parser gave up on, with the parser's own reason."""
        detail = parser_detail(err)
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


def _rebatch(batches: Iterator[dict[Any, list[Any]]], size: int, skip_rows: int) -> Iterator[dict[Any, list[Any]]]:
    """The same columns in batches of `size` rows (the last may be shorter), the first `skip_rows` rows left out."""
    pending: dict[Any, list[Any]] = {}
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


def _is_text(value: object, numbers: bool) -> bool:
    return isinstance(value, str) or (numbers and isinstance(value, int) and not isinstance(value, bool))


def _arrow_text(kind: Any, numbers: bool) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):  # pandas' categoricals
        kind = kind.value_type
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    return text or pa.types.is_null(kind) or (numbers and pa.types.is_integer(kind))


def parser_detail(err: BaseException) -> str:
    """The innermost reason of a parser's error (the outer ones only say that one occurred)."""
    while (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def open_input(path: str | Path, columns: Columns | None = None) -> InputFile:
    """Check the extension, the file and its columns; a CSV is also read through once, line by line, for its
    text (encoding, header, fields per record). `check_rows` checks the rows.

    Args:
        path: a `.csv`, `.jsonl` (or `.ndjson`) or `.parquet` file.
        columns: the column names to read; None reads a CSV as a competition file (id, premise, hypothesis,
            lang_abv, language) and other formats by the default names.

    Raises:
        DataError: one sentence naming the file and the fix.
    """
    path = Path(path)
    competition = FORMATS.get(path.suffix.lower()) == "csv" and columns is None
    return _open(path, columns, competition, labelled=False)


def open_competition(path: str | Path, labelled: bool, max_rows: int | None = None) -> InputFile:
    """`open_input` for a file in the competition's schema, in any of the formats: the columns of TEST_COLUMNS
    (TRAIN_COLUMNS when `labelled`) required, and checked row by row by `check_rows`. `max_rows`: a CSV of more
    rows is refused (`TooManyRows`) as soon as its reading gets there."""
    return _open(Path(path), None, competition=True, labelled=labelled, max_rows=max_rows)


def _open(
    path: Path, columns: Columns | None, competition: bool, labelled: bool, max_rows: int | None = None
) -> InputFile:
    if path.is_dir():
        inside = "the competition CSV file inside it (e.g. train.csv)" if competition else "a file inside it"
        raise DataError(f"{path}: is a folder; pass the path of {inside}.")
    if not path.is_file():
        wanted = "the competition CSV (e.g. train.csv)" if competition else "the file to predict"
        raise DataError(f"{path}: no such file; pass the path of {wanted}.")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        shown = f"a {path.suffix} file" if path.suffix else "a file without extension"
        raise DataError(f"{path}: is {shown}; pass a .csv, .jsonl or .parquet file (the type is read from the name).")
    columns = columns or Columns()
    required = (TRAIN_COLUMNS if labelled else TEST_COLUMNS) if competition else None
    last_record_line = 0
    if kind == "csv":
        header, last_record_line = scan_csv(path, required, columns, max_rows)
    else:
        header = _json_header(path) if kind == "json" else _parquet_header(path)
        _check_header(path, header, required, columns)
    extra = tuple(name for name in EXTRA_COLUMNS if name in header and name not in columns.roles.values())
    return InputFile(path, kind, columns, extra, competition, last_record_line, labelled)


def _check_header(path: Path, header: list[str], required: tuple[str, ...] | None, columns: Columns) -> None:
    """A competition file's columns (`required`), or the columns named by the predict CLI's flags."""
    if required is not None:
        check_columns(path, header, required)
        return
    plural = {"id": "ids", "premise": "premises", "hypothesis": "hypotheses", "text": "texts", "label": "gold labels"}
    for role, name in columns.roles.items():
        if name not in header:
            shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
            raise DataError(
                f"{path}: has no column {name!r} for the {plural[role]}; name the right one with --{role}_column "
                f"(the file has {shown})."
            )


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


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """The file's lines, numbered and decoded; refuses UTF-16 and invalid UTF-8 with the line."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1:
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise DataError(f"{path}: the file is UTF-16; re-save it with UTF-8 encoding.")
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:  # "\n" never occurs inside a UTF-8 sequence, so the line number is exact
                raise DataError(
                    f"{path}: line {number} is not valid UTF-8; re-save the file with UTF-8 encoding."
                ) from None


def _seen_lines(path: Path, seen: dict[str, bool]) -> Iterator[str]:
    """`_lines` for the csv module, noting whether the file holds any text, and any after its first line."""
    for number, line in _lines(path):
        if line.strip():
            seen["text"] = True
            seen["rows"] = seen["rows"] or number > 1
        yield line


def scan_csv(
    path: Path, required: tuple[str, ...] | None, columns: Columns, max_rows: int | None = None
) -> tuple[list[str], int]:
    """Read a CSV once, line by line, for what its text must be: encoding, header, fields per record.

    Args:
        required: the columns of a competition file; None checks the columns named in `columns` instead.
        max_rows: stop at the record after this many and raise `TooManyRows` (once the header is checked).

    Returns:
        The header and the line where the last record starts.
    """
    seen = {"text": False, "rows": False}
    reader = csv.reader(_seen_lines(path, seen))
    header: list[str] = []
    start = last_start = 1
    too_many: str | None = None
    records = 0
    try:
        header = [name.strip() for name in next(reader, [])]
        start = last_start = reader.line_num + 1
        for record in reader:
            if too_many is None and len(record) > len(header) and any(f.strip() for f in record[len(header) :]):
                too_many = (
                    f"{path}: line {start} has {len(record)} fields but the header has {len(header)}; "
                    'put texts that contain commas in double quotes ("...").'
                )
            records += bool(record)  # a blank line is no row (nor is it one to pandas)
            if max_rows is not None and records > max_rows:
                _check_header(path, header, required, columns)
                raise TooManyRows(path, max_rows)
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
        raise _no_rows(path, "csv")
    _check_header(path, header, required, columns)
    if too_many is not None:
        raise DataError(too_many)
    return header, last_start


def _no_rows(path: Path, kind: str) -> DataError:
    if kind == "json":
        return DataError(f"{path}: the file has no rows; write one JSON object per line.")
    return DataError(f"{path}: the file has a header but no rows; add at least one row.")


def _json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    """Line `number` of a JSON Lines file as the object it must hold."""
    try:
        record = json.loads(line.rstrip("\r\n"))  # one line: the column is where the decoder stopped
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: line {number} is not valid JSON ({err.msg} at column {err.colno}); write one JSON object per "
            "line."
        ) from None
    if not isinstance(record, dict):
        raise DataError(
            f"{path}: line {number} is not a JSON object; write one object per line, e.g. "
            '{"id": "1", "premise": "...", "hypothesis": "..."}.'
        )
    return record


def _json_header(path: Path) -> list[str]:
    """The keys of the first object, which name the columns as a CSV's header does."""
    for number, line in _lines(path):
        if line.strip():
            return list(_json_object(path, number, line))
    raise _no_rows(path, "json")


def _parquet_header(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as err:  # ArrowInvalid, OSError: the file is not Parquet or is cut short
        raise DataError(
            f"{path}: could not be read as Parquet ({parser_detail(err)}); pass a complete Parquet file."
        ) from None


def _label_names() -> str:
    names = [f"{i} ({name})" for i, name in enumerate(LABELS)]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _row_checks(source: InputFile) -> dict[str, Callable[[str], bool]]:
    """Column -> whether a value fails, in the order the problems are reported."""
    checks: dict[str, Callable[[str], bool]] = {"id": operator.not_}
    checks.update({role: is_blank for role in source.columns.roles if role in ("premise", "hypothesis", "text")})
    if "label" in source.columns.roles:  # a text file's gold labels
        checks["label"] = lambda value: source.columns.label_problem(value) is not None
    if source.competition:
        checks.update(dict.fromkeys(EXTRA_COLUMNS, operator.not_))
    if source.labelled:
        allowed = {str(i) for i in range(len(LABELS))}
        checks["label"] = lambda value: value not in allowed
    return checks


def check_rows(source: InputFile, max_rows: int | None = None) -> int:
    """Check every row (a non-empty id, texts that show something, for a competition file its language columns and
    labels, unique ids); count them. `max_rows`: stop at the chunk that goes past it (`TooManyRows`).

    The first problem is reported in that order: empty ids, then empty texts (then empty `lang_abv` and `language`,
    then labels), then repeated ids.

    Raises:
        DataError: one sentence naming the file, the row (the line in JSON Lines), the column and the fix.
    """
    checks = _row_checks(source)
    shown = source.columns.roles
    first_bad: dict[str, tuple[int, str, str]] = {}  # column -> (number, id, value) of its first bad row
    hashes: list[np.ndarray] = []
    rows = 0
    for chunk, numbers in source.numbered_chunks(CHECK_ROWS):
        ids = chunk["id"]
        for column, fails in checks.items():
            if column not in first_bad:
                bad = next((i for i, value in enumerate(chunk[column]) if fails(value)), None)
                if bad is not None:
                    first_bad[column] = (numbers[bad], ids[bad], chunk[column][bad])
        hashes.append(np.fromiter((hash(value) for value in ids), dtype=np.int64, count=len(ids)))
        rows += len(ids)
        if max_rows is not None and rows > max_rows:
            raise TooManyRows(source.path, max_rows)
    if rows == 0:
        raise _no_rows(source.path, source.format)
    for column in checks:
        if column in first_bad:
            number, row_id, value = first_bad[column]
            if column == "id":
                raise DataError(f"{source.path}: {source.place(number)} has an empty id; give every row a unique id.")
            if column == "label" and not source.labelled:
                problem = source.columns.label_problem(value)
                raise DataError(f"{source.path}: {source.place(number, row_id)} {problem}.")
            if column == "label":
                raise DataError(
                    f"{source.path}: {source.place(number, row_id)} has label {value!r}; labels "
                    f"must be {_label_names()}."
                )
            raise DataError(
                f"{source.path}: {source.place(number, row_id)} has an empty {shown.get(column, column)}; "
                "fill it in or remove the row."
            )
    repeat = _first_repeat(source, np.concatenate(hashes))
    if repeat is not None:
        (number, row_id), first = repeat
        raise DataError(
            f"{source.path}: {source.place(number, row_id)} repeats the id of "
            f"{source.place(first)}; ids must be unique."
        )
    return rows


def _first_repeat(source: InputFile, hashes: np.ndarray) -> tuple[tuple[int, str], int] | None:
    """The first row whose id an earlier row has, as (its number, the id) and the earlier row's number; None when
    ids are unique.

    Rows whose id hashes collide are read again to compare the ids themselves, so a hash collision is no error.
    """
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(same) == 0:
        return None
    suspects = set(order[same].tolist()) | set(order[same + 1].tolist())
    found: dict[int, tuple[int, str]] = {}
    start = 0
    for chunk, numbers in source.numbered_chunks(CHECK_ROWS):
        for i, (number, value) in enumerate(zip(numbers, chunk["id"], strict=True), start=start):
            if i in suspects:
                found[i] = (number, value)
        start += len(numbers)
    first_seen: dict[str, int] = {}
    for row in sorted(suspects):
        number, value = found[row]
        if value in first_seen:
            return (number, value), first_seen[value]
        first_seen[value] = number
    return None
