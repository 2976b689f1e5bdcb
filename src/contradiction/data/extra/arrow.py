"""The one place that knows how `datasets` keeps a data set: its Arrow files and its indices mapping.

A data set on disk is read from its Arrow stream files, not through its memory map (the pages of a map stay in
the process: XNLI's 2 GB), and a table of columns becomes a `Dataset` without a copy. Both lean on details of
`datasets` that are not its public API (`Dataset._indices`, cache files written as Arrow streams, the
`InMemoryTable` constructor); tests/test_extra_data.py checks each, so that an upgrade that changes one fails there.
"""

from __future__ import annotations

import datasets
import pyarrow as pa
from datasets import Dataset, Features
from datasets.table import InMemoryTable

COLLECT_BATCH = 2000  # source rows read at a time: 30,000 XNLI versions


def _rows_in(arrow_file: str) -> int:
    """The rows of an Arrow stream file, from its batches' headers (their data is mapped, never read)."""
    with pa.memory_map(arrow_file) as source:
        return sum(batch.num_rows for batch in pa.ipc.open_stream(source))


def batches(ds: Dataset, columns: list[str]):
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


def dataset_from_table(table: pa.Table, features: Features) -> Dataset:
    """A `Dataset` of an Arrow table, without copying its columns (`Dataset.from_dict` would convert them to Python
    and back)."""
    return Dataset(InMemoryTable(table.cast(features.arrow_schema)), info=datasets.DatasetInfo(features=features))
