"""Every prediction the app makes, in a local SQLite database (WAL mode: the Monitoring tab never blocks the
request path).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from contradiction.errors import UserError

logger = logging.getLogger(__name__)

HOME_ENV = "CONTRADICTION_HOME"

DB_NAME = "monitoring.sqlite"

SCHEMA_VERSION = 2  # 1: no languages; 2: premise_language and hypothesis_language

TABLE = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,                -- unix seconds
    request TEXT NOT NULL,             -- one id per API call; a batch or a CSV file shares it
    endpoint TEXT NOT NULL,            -- predict, predict_batch, predict_file, analyze
    latency_ms REAL NOT NULL,          -- the whole call's time in the app, batching wait included
    premise_chars INTEGER NOT NULL,
    hypothesis_chars INTEGER NOT NULL,
    label TEXT NOT NULL,
    confidence REAL NOT NULL,          -- probability of the predicted label
    prob_entailment REAL NOT NULL,
    prob_neutral REAL NOT NULL,
    prob_contradiction REAL NOT NULL,
    premise TEXT,                      -- NULL unless the operator turned --log_texts on
    hypothesis TEXT,
    premise_language TEXT,             -- detected code (en, th, zh); NULL when undetected or recorded by version 1
    hypothesis_language TEXT
)"""

INDEXES = ("CREATE INDEX IF NOT EXISTS predictions_time ON predictions (time)",)


# Columns newer than version 1, with their types: a version-1 database gets them, NULL in its old rows.
ADDED_COLUMNS = (("premise_language", "TEXT"), ("hypothesis_language", "TEXT"))

WRITTEN_COLUMNS = (
    "time",
    "request",
    "endpoint",
    "latency_ms",
    "premise_chars",
    "hypothesis_chars",
    "label",
    "confidence",
    "prob_entailment",
    "prob_neutral",
    "prob_contradiction",
    "premise",
    "hypothesis",
    "premise_language",
    "hypothesis_language",
)

FRAME_COLUMNS = ("time", "request", "endpoint", "latency_ms", "label", "confidence", "premise_language")  # read back


def default_db_path() -> Path:
    """`$CONTRADICTION_HOME/monitoring.sqlite`, else `outputs/monitoring.sqlite` in the working folder."""
    home = os.environ.get(HOME_ENV)
    return (Path(home) if home else Path("outputs")) / DB_NAME


class PredictionLog:
    """Predictions in a SQLite database in WAL mode: readers (the Monitoring tab) never block the writer.

    One connection, one lock, one transaction per request: cheap enough for the request path (tens of
    microseconds) and nothing is lost between a request and the database, whatever the concurrency. A database
    written by an older version is upgraded in place when opened; its rows are kept.
    """

    def __init__(self, path: str | Path, log_texts: bool = False) -> None:
        self.path = Path(path)
        self.log_texts = log_texts
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        except (OSError, sqlite3.Error) as err:
            raise self._unusable(err) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; the last commits may wait
            self._create_or_upgrade()
        except sqlite3.Error as err:
            self._db.close()
            raise self._unusable(err) from None

    def _unusable(self, err: Exception) -> UserError:
        return UserError(
            f"--monitor_db {self.path} cannot be used ({err}); pass a writable file path, set "
            f"{HOME_ENV} to a writable folder, or pass --monitor_db none."
        )

    def _create_or_upgrade(self) -> None:
        """Create the table, or add the columns an older version's table lacks (its rows are kept).

        One IMMEDIATE transaction: of two apps opening the same old file at once, one upgrades it and the other
        waits for the lock, then finds nothing left to do. SQLite's ALTER TABLE is part of the transaction.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema version {version}, this app writes version {SCHEMA_VERSION}")
            db.execute(TABLE)
            for index in INDEXES:
                db.execute(index)
            present = {row[1] for row in db.execute("PRAGMA table_info(predictions)")}
            for name, kind in ADDED_COLUMNS:
                if name not in present:
                    db.execute(f"ALTER TABLE predictions ADD COLUMN {name} {kind}")
            if version != SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.commit()
        except BaseException:
            db.rollback()
            raise

    def write(self, rows: Sequence[tuple]) -> None:
        """Insert rows (values for `WRITTEN_COLUMNS`, in that order) in one transaction."""
        sql = f"INSERT INTO predictions ({', '.join(WRITTEN_COLUMNS)}) VALUES ({', '.join('?' * len(WRITTEN_COLUMNS))})"
        with self._lock:
            with self._db:  # commits, or rolls back on error
                self._db.executemany(sql, rows)

    def _read(self, sql: str, params: Sequence = ()) -> list[tuple]:
        # a connection per read: WAL readers see the last commit and do not wait for the writer
        with sqlite3.connect(self.path, timeout=10) as db:
            return db.execute(sql, params).fetchall()

    def count(self, endpoint: str | None = None) -> int:
        """Predictions recorded (of one endpoint, when given)."""
        if endpoint is None:
            return self._read("SELECT COUNT(*) FROM predictions")[0][0]
        return self._read("SELECT COUNT(*) FROM predictions WHERE endpoint = ?", (endpoint,))[0][0]

    def recent_labels(self, n: int) -> list[str]:
        """The labels of the last `n` predictions."""
        return [row[0] for row in self._read("SELECT label FROM predictions ORDER BY id DESC LIMIT ?", (n,))]

    def recent_languages(self, n: int) -> list[str | None]:
        """The premise languages of the last `n` predictions (None where none was detected)."""
        sql = "SELECT premise_language FROM predictions ORDER BY id DESC LIMIT ?"
        return [row[0] for row in self._read(sql, (n,))]

    def frame(self, since: float | None = None, limit: int = 200_000) -> pd.DataFrame:
        """Predictions since `since` (unix seconds; all when None), the newest `limit` at most, oldest first."""
        rows = self._read(
            f"SELECT {', '.join(FRAME_COLUMNS)} FROM predictions WHERE time >= ? ORDER BY id DESC LIMIT ?",
            (since if since is not None else float("-inf"), limit),
        )
        return pd.DataFrame(rows[::-1], columns=list(FRAME_COLUMNS))

    def close(self) -> None:
        with self._lock:
            self._db.close()
