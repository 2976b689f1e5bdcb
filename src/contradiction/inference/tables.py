"""Predictions as tables: the probabilities file (`id, ..., predicted_label, prob_*`) and the Kaggle submission
(`id,prediction`), shared by the predict CLI and the app's CSV tab.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from contradiction.files import atomic_path

if TYPE_CHECKING:
    pass
from contradiction.labels import LABELS

PROB_COLUMNS = tuple(f"prob_{label}" for label in LABELS)

TABLE_COLUMNS = ("id", "premise", "hypothesis", "lang_abv", "language", "predicted_label", *PROB_COLUMNS)


def submission(table: pd.DataFrame) -> pd.DataFrame:
    """The Kaggle submission of a table of predictions (`chunk_table`): `id,prediction` with label ids 0, 1 or 2."""
    ids = {label: i for i, label in enumerate(LABELS)}
    return pd.DataFrame({"id": table["id"], "prediction": table["predicted_label"].map(ids).astype(int)})


def write_csvs(frames: Mapping[Path, pd.DataFrame]) -> None:
    """Write every frame to its path as UTF-8 CSV: all files appear whole, or none changes.

    Each is written beside its target under a temporary name; the renames happen only once all are written.
    """
    with ExitStack() as stack:
        temporary = {path: stack.enter_context(atomic_path(path)) for path in frames}
        for path, frame in frames.items():
            frame.to_csv(temporary[path], index=False, encoding="utf-8")


def chunk_table(chunk: Mapping[str, list[str]], probs: np.ndarray) -> pd.DataFrame:
    """A chunk's rows with their predictions: the input columns, `predicted_label` (a name), the probabilities."""
    table = pd.DataFrame({column: chunk[column] for column in TABLE_COLUMNS[:5] if column in chunk})
    table["predicted_label"] = [LABELS[i] for i in probs.argmax(axis=1)]
    for j, column in enumerate(PROB_COLUMNS):
        table[column] = probs[:, j]
    return table
