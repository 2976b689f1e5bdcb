"""What the served model does, recorded: every prediction in a local SQLite database, Prometheus metrics for
`/metrics`, and the summaries the app's Monitoring tab plots (label mix against the training mix, latency
percentiles, low-confidence share, drift).

    monitor = Monitor(PredictionLog("outputs/monitoring.sqlite"), training_mix=training_label_mix("outputs/model"))
    monitor.record("predict", latency_s=0.04, premises=["..."], hypotheses=["..."], probs=probs)
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from contradiction.errors import UserError
from contradiction.labels import LABELS

logger = logging.getLogger(__name__)

HOME_ENV = "CONTRADICTION_HOME"
DB_NAME = "monitoring.sqlite"
SCHEMA_VERSION = 1
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
MIN_DRIFT_PREDICTIONS = 100  # fewer recent predictions than this say too little about the label mix to warn

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,                -- unix seconds
    request TEXT NOT NULL,             -- one id per API call; a batch or a CSV file shares it
    endpoint TEXT NOT NULL,            -- predict, predict_batch or predict_file
    latency_ms REAL NOT NULL,          -- the whole call's time in the app, batching wait included
    premise_chars INTEGER NOT NULL,
    hypothesis_chars INTEGER NOT NULL,
    label TEXT NOT NULL,
    confidence REAL NOT NULL,          -- probability of the predicted label
    prob_entailment REAL NOT NULL,
    prob_neutral REAL NOT NULL,
    prob_contradiction REAL NOT NULL,
    premise TEXT,                      -- NULL unless the operator turned --log_texts on
    hypothesis TEXT
);
CREATE INDEX IF NOT EXISTS predictions_time ON predictions (time);
"""


def default_db_path() -> Path:
    """`$CONTRADICTION_HOME/monitoring.sqlite`, else `outputs/monitoring.sqlite` in the working folder."""
    home = os.environ.get(HOME_ENV)
    return (Path(home) if home else Path("outputs")) / DB_NAME


class PredictionLog:
    """Predictions in a SQLite database in WAL mode: readers (the Monitoring tab) never block the writer.

    One connection, one lock, one transaction per request: cheap enough for the request path (tens of
    microseconds) and nothing is lost between a request and the database, whatever the concurrency.
    """

    def __init__(self, path: str | Path, log_texts: bool = False) -> None:
        self.path = Path(path)
        self.log_texts = log_texts
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; the last commits may wait
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}, this app writes version {SCHEMA_VERSION}")
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._db.commit()
        except (OSError, sqlite3.Error) as err:
            raise UserError(
                f"--monitor_db {self.path} cannot be used ({err}); pass a writable file path, set "
                f"{HOME_ENV} to a writable folder, or pass --monitor_db none."
            ) from None

    def write(self, rows: Sequence[tuple]) -> None:
        """Insert rows (the columns after `id`, in schema order) in one transaction."""
        with self._lock:
            with self._db:  # commits, or rolls back on error
                self._db.executemany(
                    "INSERT INTO predictions (time, request, endpoint, latency_ms, premise_chars, hypothesis_chars, "
                    "label, confidence, prob_entailment, prob_neutral, prob_contradiction, premise, hypothesis) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

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

    def frame(self, since: float | None = None, limit: int = 200_000) -> pd.DataFrame:
        """Predictions since `since` (unix seconds; all when None), the newest `limit` at most, oldest first."""
        columns = ["time", "request", "endpoint", "latency_ms", "label", "confidence"]
        rows = self._read(
            f"SELECT {', '.join(columns)} FROM predictions WHERE time >= ? ORDER BY id DESC LIMIT ?",
            (since if since is not None else float("-inf"), limit),
        )
        return pd.DataFrame(rows[::-1], columns=columns)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def training_label_mix(model: str | Path | None) -> tuple[dict[str, float], str]:
    """The label mix the model was trained on, and where it comes from.

    Read from the model folder's `data_report.json` (train split, written by train.py), else from the
    validation labels in `eval_results.json` (its confusion matrix), else uniform.
    """
    folder = Path(model) if model is not None else None
    if folder is not None and folder.is_dir():
        try:
            report = json.loads((folder / "data_report.json").read_text(encoding="utf-8"))
            counts = {label: 0 for label in LABELS}
            for per_label in report["counts"]["train"].values():
                for label, n in per_label.items():
                    if label in counts:
                        counts[label] += int(n)
            if sum(counts.values()) > 0:
                return _shares(counts), f"{folder / 'data_report.json'} (train split)"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        try:
            results = json.loads((folder / "eval_results.json").read_text(encoding="utf-8"))
            rows = np.asarray(results["confusion_matrix"], dtype=float).sum(axis=1)
            if rows.shape == (len(LABELS),) and rows.sum() > 0:
                return _shares(dict(zip(LABELS, rows, strict=True))), f"{folder / 'eval_results.json'} (validation)"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return {label: 1 / len(LABELS) for label in LABELS}, "uniform (the model folder has no data report)"


def _shares(counts: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(counts.values()))
    return {label: float(counts.get(label, 0)) / total for label in LABELS}


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Half the L1 distance between two label mixes: 0 when equal, 1 when they share nothing."""
    return 0.5 * sum(abs(p.get(label, 0.0) - q.get(label, 0.0)) for label in LABELS)


@dataclass(frozen=True)
class Drift:
    """The live label mix (last `n` predictions) against the training mix."""

    live: dict[str, float]
    n: int
    tvd: float
    threshold: float

    @property
    def warning(self) -> bool:
        return self.n >= MIN_DRIFT_PREDICTIONS and self.tvd > self.threshold


class Metrics:
    """Prometheus metrics in their own registry, so that two apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "contradiction_requests", "API calls received, by endpoint.", ["endpoint"], registry=self.registry
        )
        self.errors = Counter(
            "contradiction_errors",
            "API calls that got no prediction: kind=input (refused with a message) or kind=model (failed inside).",
            ["endpoint", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "contradiction_request_latency_seconds",
            "Time of a successful API call in the app, batching wait included.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.predictions = Counter(
            "contradiction_predictions", "Pairs predicted, by predicted label.", ["label"], registry=self.registry
        )
        self.low_confidence = Counter(
            "contradiction_low_confidence_predictions",
            "Pairs whose top probability was under the low-confidence threshold.",
            registry=self.registry,
        )
        self.db_errors = Counter(
            "contradiction_monitor_write_errors",
            "Predictions that could not be written to the monitoring database.",
            registry=self.registry,
        )
        self.drift = Gauge(
            "contradiction_label_drift",
            "Total variation distance between the recent label mix and the training mix.",
            registry=self.registry,
        )
        for label in LABELS:
            self.predictions.labels(label)  # present at zero from the first scrape

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Monitor:
    """What the app calls after each API call: metrics always, a database row per prediction when there is one.

    Args:
        log: the prediction database, or None to keep metrics only.
        training_mix: label shares the model was trained on (see `training_label_mix`).
        drift_threshold: total variation distance above which the Monitoring tab warns of drift.
        drift_window: how many recent predictions make up the live label mix.
        low_confidence: a prediction whose top probability is under this counts as low-confidence.
    """

    def __init__(
        self,
        log: PredictionLog | None = None,
        training_mix: Mapping[str, float] | None = None,
        training_source: str = "uniform",
        drift_threshold: float = 0.15,
        drift_window: int = 1000,
        low_confidence: float = 0.5,
    ) -> None:
        if not 0 < drift_threshold <= 1:
            raise UserError(f"--drift_threshold {drift_threshold} must be between 0 and 1, e.g. 0.15.")
        if drift_window < 1:
            raise UserError(f"--drift_window {drift_window} must be a positive number of predictions, e.g. 1000.")
        if not 0 <= low_confidence <= 1:
            raise UserError(f"--low_confidence {low_confidence} must be a probability between 0 and 1, e.g. 0.5.")
        self.log = log
        self.training_mix = dict(training_mix or {label: 1 / len(LABELS) for label in LABELS})
        self.training_source = training_source
        self.drift_threshold = drift_threshold
        self.drift_window = drift_window
        self.low_confidence = low_confidence
        self.metrics = Metrics()
        self.metrics.drift.set_function(lambda: self.drift().tvd)
        self._recent: deque[str] = deque(maxlen=drift_window)  # the live mix when there is no database

    def record(
        self,
        endpoint: str,
        latency_s: float,
        premises: Sequence[str],
        hypotheses: Sequence[str],
        probs: np.ndarray,
    ) -> None:
        """One successful API call: its latency once, each of its pairs' label and confidence."""
        now = time.time()
        m = self.metrics
        m.requests.labels(endpoint).inc()
        m.latency.labels(endpoint).observe(latency_s)
        top = probs.argmax(axis=1)
        labels = [LABELS[i] for i in top]
        confidence = probs.max(axis=1)
        for label in LABELS:
            n = labels.count(label)
            if n:
                m.predictions.labels(label).inc(n)
        low = int((confidence < self.low_confidence).sum())
        if low:
            m.low_confidence.inc(low)
        self._recent.extend(labels)
        if self.log is None:
            return
        request = uuid.uuid4().hex[:16]
        texts = self.log.log_texts
        rows = [
            (now, request, endpoint, latency_s * 1000, len(p), len(h), label, float(c), *map(float, row),
             p if texts else None, h if texts else None)
            for p, h, label, c, row in zip(premises, hypotheses, labels, confidence, probs, strict=True)
        ]  # fmt: skip
        try:
            self.log.write(rows)
        except sqlite3.Error as err:  # a full disk must not cost the user their answer
            m.db_errors.inc(len(rows))
            logger.warning("could not record %d prediction(s) in %s: %s", len(rows), self.log.path, err)

    def error(self, endpoint: str, kind: str) -> None:
        """An API call that got no prediction: kind "input" (refused) or "model" (failed inside the model)."""
        self.metrics.requests.labels(endpoint).inc()
        self.metrics.errors.labels(endpoint, kind).inc()

    def drift(self) -> Drift:
        """The last `drift_window` predictions' label mix against the training mix."""
        labels = self.log.recent_labels(self.drift_window) if self.log is not None else list(self._recent)
        if not labels:
            return Drift(live={label: 0.0 for label in LABELS}, n=0, tvd=0.0, threshold=self.drift_threshold)
        live = _shares({label: labels.count(label) for label in LABELS})
        return Drift(live, len(labels), total_variation(live, self.training_mix), self.drift_threshold)

    def dashboard(self, period_s: float | None) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The Monitoring tab's content over the last `period_s` seconds (all when None).

        Returns:
            A Markdown summary (with the drift warning), then frames for three line plots: label shares over
            time with the training shares (`time, share, series`), latency percentiles (`time, latency_ms,
            percentile`) and the low-confidence share (`time, share`).
        """
        if self.log is None:
            summary = "The prediction database is off (`--monitor_db none`); `/metrics` still counts requests."
            return summary, *_plots(pd.DataFrame(), self.training_mix, self.low_confidence)
        since = time.time() - period_s if period_s else None
        df = self.log.frame(since)
        return self._summary(df), *_plots(df, self.training_mix, self.low_confidence)

    def _summary(self, df: pd.DataFrame) -> str:
        drift = self.drift()
        lines = [
            f"**{len(df):,} prediction{'' if len(df) == 1 else 's'}** in this period ({self.log.count():,} recorded "
            f"in `{self.log.path}`).",
            "",
            f"| label | training mix | last {drift.n:,} predictions |",
            "| --- | --- | --- |",
            *(f"| {label} | {self.training_mix[label]:.1%} | {drift.live[label]:.1%} |" for label in LABELS),
            "",
            f"Training mix from {self.training_source}. Total variation distance {drift.tvd:.3f} "
            f"(warning above {drift.threshold:.2f}, from {MIN_DRIFT_PREDICTIONS} predictions on).",
        ]
        if drift.warning:
            lines.insert(
                0,
                f"⚠️ **Drift**: the last {drift.n:,} predictions' label mix is {drift.tvd:.2f} away from the training "
                f"mix (threshold {drift.threshold:.2f}); the inputs may have changed. Check recent requests.\n",
            )
        if len(df):
            low = float((df["confidence"] < self.low_confidence).mean())
            lines.append(f"Low confidence (top probability under {self.low_confidence:.2f}): {low:.1%}.")
        return "\n".join(lines)


def _bucket_seconds(span_s: float) -> int:
    """A round time step that gives a plot of at most about 60 points."""
    for step in (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400):
        if span_s / step <= 60:
            return step
    return 30 * 86400


def _plots(
    df: pd.DataFrame, training_mix: Mapping[str, float], low_confidence: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    if df.empty:
        empty = pd.DataFrame({"time": pd.Series(dtype="datetime64[ns]")})
        return empty.assign(share=[], series=[]), empty.assign(latency_ms=[], percentile=[]), empty.assign(share=[])
    step = _bucket_seconds(float(df["time"].max() - df["time"].min()))
    df = df.assign(bucket=pd.to_datetime((df["time"] // step) * step, unit="s"))

    per_label = df.groupby("bucket")["label"].value_counts(normalize=True).unstack(fill_value=0.0)
    per_label = per_label.reindex(columns=list(LABELS), fill_value=0.0)
    shares = [
        pd.DataFrame({"time": per_label.index, "share": per_label[label].to_numpy(), "series": label})
        for label in LABELS
    ]
    shares += [
        pd.DataFrame({"time": per_label.index, "share": training_mix[label], "series": f"{label} (training)"})
        for label in LABELS
    ]

    requests = df.drop_duplicates("request")  # a batch or a file is one call: its latency counts once
    latency = requests.groupby("bucket")["latency_ms"].quantile([0.5, 0.95, 0.99]).unstack()
    latency_frames = [
        pd.DataFrame({"time": latency.index, "latency_ms": latency[q].to_numpy(), "percentile": name})
        for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))
    ]
    low = (df["confidence"] < low_confidence).groupby(df["bucket"]).mean()
    return (
        pd.concat(shares, ignore_index=True),
        pd.concat(latency_frames, ignore_index=True),
        pd.DataFrame({"time": low.index, "share": low.to_numpy()}),
    )
