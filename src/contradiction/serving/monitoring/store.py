"""Every prediction the app makes, in a local SQLite database, written off the request path.

A request hands its rows to a bounded queue and goes on; one writer thread writes them, a transaction per batch of
waiting requests, with a short busy timeout. While another process holds the database's write lock (a `sqlite3`
shell, a backup, a second replica on the same volume) rows wait in the queue, and what the queue cannot hold, or
what cannot be written, is counted (`on_dropped`, /metrics' `contradiction_monitor_write_errors_total`), never
waited for. Readers (the Monitoring tab, drift) see the last commit (WAL mode). Rows older than
`retention_days` are deleted when the database opens and every hour.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
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


QUEUE_REQUESTS = 10_000  # requests' rows waiting for the writer at most; a request past it is dropped and counted
BUSY_TIMEOUT_S = 0.5  # how long the writer waits for another process's write lock before it tries the next batch
RETRIES = 3  # attempts at one batch before its rows are dropped and counted
PRUNE_EVERY_S = 3600
READ_WAITS_S = 2.0  # how long a read waits for the rows handed to the writer before it reads what is written
DEFAULT_RETENTION_DAYS = 30.0


def default_db_path() -> Path:
    """`$CONTRADICTION_HOME/monitoring.sqlite`, else `outputs/monitoring.sqlite` in the working folder."""
    home = os.environ.get(HOME_ENV)
    return (Path(home) if home else Path("outputs")) / DB_NAME


class PredictionLog:
    """Predictions in a SQLite database in WAL mode, written by one thread of its own (see the module's docstring).

    A database written by an older version is upgraded in place when opened; its rows are kept.

    Args:
        path: the database file (created with its folder when missing).
        log_texts: also write the premise and hypothesis texts.
        retention_days: rows older than this are deleted (None keeps every row).
        on_dropped: called with the number of rows that could not be written (the app counts them in /metrics).
    """

    def __init__(
        self,
        path: str | Path,
        log_texts: bool = False,
        retention_days: float | None = DEFAULT_RETENTION_DAYS,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        if retention_days is not None and not retention_days > 0:
            raise UserError(f"--monitor_retention_days {retention_days} must be a positive number of days, e.g. 30.")
        self.path = Path(path)
        self.log_texts = log_texts
        self.retention_days = retention_days
        self.on_dropped = on_dropped
        self.dropped = 0
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
            self.prune()
            self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # the writer's: short
        except sqlite3.Error as err:
            self._db.close()
            raise self._unusable(err) from None
        self._queue: queue.Queue[list[tuple] | None] = queue.Queue(maxsize=QUEUE_REQUESTS)
        self._writer = threading.Thread(target=self._write_loop, name="monitoring-writer", daemon=True)
        self._writer.start()

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
        """Hand rows (values for `WRITTEN_COLUMNS`, in that order) to the writer; returns at once. Rows the queue
        cannot hold are dropped and counted."""
        try:
            self._queue.put_nowait(list(rows))
        except queue.Full:
            self._drop(len(rows), "the queue of rows to write is full")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row handed to `write` so far is written or dropped (at most `timeout` seconds); whether
        it was."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def prune(self) -> int:
        """Delete the rows older than `retention_days`; how many."""
        if self.retention_days is None:
            return 0
        cutoff = time.time() - self.retention_days * 86400
        with self._lock, self._db:
            return self._db.execute("DELETE FROM predictions WHERE time < ?", (cutoff,)).rowcount

    def _write_loop(self) -> None:
        sql = f"INSERT INTO predictions ({', '.join(WRITTEN_COLUMNS)}) VALUES ({', '.join('?' * len(WRITTEN_COLUMNS))})"
        pruned = time.monotonic()
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not None:  # every request waiting now, in one transaction
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = batch[-1] is None
            rows = [row for rows in batch if rows is not None for row in rows]
            for attempt in range(RETRIES):
                try:
                    with self._lock, self._db:  # commits, or rolls back on error
                        self._db.executemany(sql, rows)
                    break
                except sqlite3.Error as err:
                    if attempt == RETRIES - 1:
                        self._drop(len(rows), str(err))
            if time.monotonic() - pruned > PRUNE_EVERY_S:
                pruned = time.monotonic()
                try:
                    self.prune()
                except sqlite3.Error as err:
                    logger.warning("could not delete old rows of %s: %s", self.path, err)
            for _ in batch:
                self._queue.task_done()
            if closing:
                return

    def _drop(self, n: int, why: str) -> None:
        self.dropped += n
        logger.warning("could not record %d prediction(s) in %s: %s", n, self.path, why)
        if self.on_dropped is not None:
            self.on_dropped(n)

    def _read(self, sql: str, params: Sequence = ()) -> list[tuple]:
        # what was handed to `write` first (a reader is never on the request path), then a connection per read:
        # WAL readers see the last commit and do not wait for the writer
        self.flush(READ_WAITS_S)
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
        """Write what is waiting, stop the writer, close the database."""
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        with self._lock:
            self._db.close()
