"""What the served model does, recorded: every prediction in a local SQLite database, Prometheus metrics for
`/metrics`, and the figures the app's Monitoring tab shows (label mix and premise-language mix against the
training mixes, latency percentiles per endpoint, low-confidence share, drift).

    mix, source = training_label_mix("outputs/model")
    languages = training_language_mix("outputs/model")
    monitor = Monitor(PredictionLog("outputs/monitoring.sqlite"), mix, source, training_languages=languages)
    monitor.record("predict", 0.04, ["..."], ["..."], probs, premise_languages=["fr"], hypothesis_languages=["fr"])
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter

from contradiction.errors import UserError
from contradiction.labels import LABELS
from contradiction.languages import COMPETITION_LANGUAGES, OTHER_LANGUAGES

logger = logging.getLogger(__name__)

HOME_ENV = "CONTRADICTION_HOME"
DB_NAME = "monitoring.sqlite"
SCHEMA_VERSION = 2  # 1: no languages; 2: premise_language and hypothesis_language
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
LATENCY_PERCENTILES = {"p50": 0.5, "p95": 0.95}
MIN_DRIFT_PREDICTIONS = 100  # fewer recent predictions than this say too little about the label mix to warn
# Sampling alone puts n pairs about 1.2/sqrt(n) from the competition's 15-language mix (0.12 at 100, 0.05 at
# 500), so the language warning waits for more predictions than the three-label one.
MIN_LANGUAGE_DRIFT_PREDICTIONS = 500
METRIC_LANGUAGE = re.compile(r"[a-z]{2,3}")  # codes that get their own Prometheus series; others count as "other"

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
    "time", "request", "endpoint", "latency_ms", "premise_chars", "hypothesis_chars", "label", "confidence",
    "prob_entailment", "prob_neutral", "prob_contradiction", "premise", "hypothesis", "premise_language",
    "hypothesis_language",
)  # fmt: skip
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


@dataclass(frozen=True)
class TrainingLanguages:
    """The languages a model was trained on, as lower-case codes (en, th, zh).

    `shares` is the competition train split's language mix, the reference for language drift: it is the
    traffic the model was built for. Rows from `--extra_train_data` are left out of it, since their mix only
    reflects per-source sampling caps; their languages are listed in `extra`, so that they count as known.
    """

    shares: dict[str, float]
    source: str
    extra: frozenset[str] = frozenset()

    @property
    def known(self) -> frozenset[str]:
        """Every language the model saw in training."""
        return frozenset(self.shares) | self.extra


_CODES = {name.lower(): code for code, name in {**OTHER_LANGUAGES, **COMPETITION_LANGUAGES}.items()}


def language_code(language: str) -> str:
    """A language as the competition's `lang_abv` spells it: "Thai" -> "th"; a code stays as it is."""
    key = language.strip().lower()
    return _CODES.get(key, key)


def training_language_mix(model: str | Path | None) -> TrainingLanguages | None:
    """The language mix of the model's training data (train split, from `data_report.json`), or None where the
    model has no data report (a Hub model, or one trained elsewhere)."""
    folder = Path(model) if model is not None else None
    if folder is None or not folder.is_dir():
        return None
    path = folder / "data_report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        counts: Counter[str] = Counter()
        for language, per_label in report["counts"]["train"].items():
            counts[language_code(language)] += sum(int(n) for n in per_label.values())
        extra = {language_code(code) for source in report.get("extra_data", []) for code in source.get("languages", {})}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if sum(counts.values()) <= 0:
        return None
    return TrainingLanguages(_mix(counts), f"{path} (train split)", frozenset(extra))


def _shares(counts: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(counts.values()))
    return {label: float(counts.get(label, 0)) / total for label in LABELS}


def _mix(counts: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(counts.values()))
    return {key: float(n) / total for key, n in counts.items()}


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Half the L1 distance between two mixes (of labels or languages): 0 when equal, 1 when they share nothing."""
    return 0.5 * sum(abs(p.get(key, 0.0) - q.get(key, 0.0)) for key in p.keys() | q.keys())


@dataclass(frozen=True)
class Drift:
    """A live mix (of the last `n` predictions) against the training mix."""

    live: dict[str, float]
    n: int
    tvd: float
    threshold: float
    min_n: int = MIN_DRIFT_PREDICTIONS  # fewer predictions than this never warn

    @property
    def warning(self) -> bool:
        return self.n >= self.min_n and self.tvd > self.threshold


class Dashboard(NamedTuple):
    """The Monitoring tab's content for one period."""

    summary: str  # Markdown: counts, drift warnings, the label table, latency per endpoint
    label_shares: pd.DataFrame  # time, share, series (a label, or "<label> (training)")
    latency: pd.DataFrame  # time, latency_ms, series ("<endpoint> p50", "<endpoint> p95")
    low_confidence: pd.DataFrame  # time, share
    language_shares: pd.DataFrame  # language, share, series ("this period" or "training")


class Metrics:
    """Prometheus metrics in their own registry, so that two apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = PromCounter(
            "contradiction_requests", "API calls received, by endpoint.", ["endpoint"], registry=self.registry
        )
        self.errors = PromCounter(
            "contradiction_errors",
            "API calls that got no prediction: kind=input (refused with a message) or kind=model (failed inside).",
            ["endpoint", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "contradiction_request_latency_seconds",
            "Time of a successful API call in the app, batching wait included, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.predictions = PromCounter(
            "contradiction_predictions", "Pairs predicted, by predicted label.", ["label"], registry=self.registry
        )
        self.languages = PromCounter(
            "contradiction_premise_languages",
            "Pairs predicted, by the premise's detected language (undetected, or other for an unusual code).",
            ["language"],
            registry=self.registry,
        )
        self.low_confidence = PromCounter(
            "contradiction_low_confidence_predictions",
            "Pairs whose top probability was under the low-confidence threshold.",
            registry=self.registry,
        )
        self.db_errors = PromCounter(
            "contradiction_monitor_write_errors",
            "Predictions that could not be written to the monitoring database.",
            registry=self.registry,
        )
        self.drift = Gauge(
            "contradiction_label_drift",
            "Total variation distance between the recent label mix and the training mix.",
            registry=self.registry,
        )
        self.language_drift = Gauge(
            "contradiction_language_drift",
            "Total variation distance between the recent premise-language mix and the training language mix; "
            "NaN when the model has no training language mix (no data_report.json).",
            registry=self.registry,
        )
        for label in LABELS:
            self.predictions.labels(label)  # present at zero from the first scrape

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _languages(codes: Sequence[str | None] | None, n: int, name: str) -> list[str | None]:
    """Detected languages as stored: lower-case codes, None where undetected; one per pair."""
    if codes is None:
        return [None] * n
    cleaned = [(code.strip().lower() or None) if code is not None else None for code in codes]
    if len(cleaned) != n:
        raise ValueError(f"{name} has {len(cleaned)} entries for {n} pairs; pass one language (or None) per pair.")
    return cleaned


class Monitor:
    """What the app calls after each API call: metrics always, a database row per prediction when there is one.

    Args:
        log: the prediction database, or None to keep metrics only.
        training_mix: label shares the model was trained on (see `training_label_mix`).
        training_source: where `training_mix` comes from, for the Monitoring tab.
        drift_threshold: total variation distance above which the Monitoring tab warns of drift (labels and
            languages alike).
        drift_window: how many recent predictions make up the live label and language mixes.
        low_confidence: a prediction whose top probability is under this counts as low-confidence.
        training_languages: the training language mix (see `training_language_mix`); None when unknown, and
            then there is no language drift to measure.
    """

    def __init__(
        self,
        log: PredictionLog | None = None,
        training_mix: Mapping[str, float] | None = None,
        training_source: str = "uniform",
        drift_threshold: float = 0.15,
        drift_window: int = 1000,
        low_confidence: float = 0.5,
        training_languages: TrainingLanguages | None = None,
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
        self.training_languages = training_languages
        self.drift_threshold = drift_threshold
        self.drift_window = drift_window
        self.low_confidence = low_confidence
        self.metrics = Metrics()
        self.metrics.drift.set_function(lambda: self.drift().tvd)
        self.metrics.language_drift.set_function(self._language_tvd)
        # the live mixes when there is no database
        self._recent: deque[str] = deque(maxlen=drift_window)
        self._recent_languages: deque[str | None] = deque(maxlen=drift_window)

    def record(
        self,
        endpoint: str,
        latency_s: float,
        premises: Sequence[str],
        hypotheses: Sequence[str],
        probs: np.ndarray,
        premise_languages: Sequence[str | None] | None = None,
        hypothesis_languages: Sequence[str | None] | None = None,
    ) -> None:
        """One successful API call: its latency once, each of its pairs' label, confidence and languages.

        Languages are lower-case ISO 639-1 codes as the competition's `lang_abv` spells them ("en", "th", "zh"),
        one per pair, None where none was detected; leave them out when the caller does not detect languages.
        """
        now = time.time()
        premise_languages = _languages(premise_languages, len(probs), "premise_languages")
        hypothesis_languages = _languages(hypothesis_languages, len(probs), "hypothesis_languages")
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
        for language, n in Counter(premise_languages).items():
            series = "undetected" if language is None else language if METRIC_LANGUAGE.fullmatch(language) else "other"
            m.languages.labels(series).inc(n)
        low = int((confidence < self.low_confidence).sum())
        if low:
            m.low_confidence.inc(low)
        self._recent.extend(labels)
        self._recent_languages.extend(premise_languages)
        if self.log is None:
            return
        request = uuid.uuid4().hex[:16]
        texts = self.log.log_texts
        rows = [
            (now, request, endpoint, latency_s * 1000, len(p), len(h), label, float(c), *map(float, row),
             p if texts else None, h if texts else None, pl, hl)
            for p, h, label, c, row, pl, hl in zip(
                premises, hypotheses, labels, confidence, probs, premise_languages, hypothesis_languages, strict=True
            )
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

    def language_drift(self) -> Drift | None:
        """The premise languages of the last `drift_window` predictions (those with one detected) against the
        training language mix; None when that mix is unknown."""
        if self.training_languages is None:
            return None
        recent = self.log.recent_languages(self.drift_window) if self.log is not None else self._recent_languages
        detected = Counter(language for language in recent if language is not None)
        n = sum(detected.values())
        live = _mix(detected) if n else {}
        tvd = total_variation(live, self.training_languages.shares) if n else 0.0
        return Drift(live, n, tvd, self.drift_threshold, MIN_LANGUAGE_DRIFT_PREDICTIONS)

    def _language_tvd(self) -> float:
        drift = self.language_drift()
        return math.nan if drift is None else drift.tvd

    def dashboard(self, period_s: float | None) -> Dashboard:
        """The Monitoring tab's content over the last `period_s` seconds (all when None)."""
        if self.log is None:
            summary = "The prediction database is off (`--monitor_db none`); `/metrics` still counts requests."
            return Dashboard(summary, *_figures(pd.DataFrame(columns=list(FRAME_COLUMNS)), self))
        since = time.time() - period_s if period_s else None
        df = self.log.frame(since)
        return Dashboard(self._summary(df), *_figures(df, self))

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
            "",
            *self._language_lines(),
        ]
        warnings = []
        if drift.warning:
            warnings.append(
                f"⚠️ **Drift**: the last {drift.n:,} predictions' label mix is {drift.tvd:.2f} away from the training "
                f"mix (threshold {drift.threshold:.2f}); the inputs may have changed. Check recent requests.\n"
            )
        languages = self.language_drift()
        if languages is not None and languages.warning:
            warnings.append(
                f"⚠️ **Language drift**: the premise languages of the last {languages.n:,} predictions are "
                f"{languages.tvd:.2f} away from the training language mix (threshold {languages.threshold:.2f}); "
                f"most changed: {self._biggest_changes(languages.live)}. The users' languages may have changed.\n"
            )
        if len(df):
            low = float((df["confidence"] < self.low_confidence).mean())
            lines += ["", f"Low confidence (top probability under {self.low_confidence:.2f}): {low:.1%}."]
            lines += ["", *_latency_table(df)]
        return "\n".join([*warnings, *lines])

    def _language_lines(self) -> list[str]:
        reference = self.training_languages
        if reference is None:
            return [
                "Language drift: no training language mix is known for this model (its folder has no "
                "`data_report.json`, e.g. a model from the Hub), so the plot shows this period's languages alone "
                "and `contradiction_language_drift` is NaN."
            ]
        drift = self.language_drift()
        if drift.n == 0:
            return [f"Language drift: none of the last {self.drift_window:,} predictions has a detected language."]
        lines = [
            f"Language drift: the premise languages of the last {drift.n:,} predictions with a detected language "
            f"are {drift.tvd:.3f} from the training language mix of {reference.source} (warning above "
            f"{drift.threshold:.2f}, from {drift.min_n} predictions on)."
        ]
        unknown = sorted(set(drift.live) - reference.known, key=lambda code: -drift.live[code])
        if unknown:
            shares = ", ".join(f"{code} {drift.live[code]:.1%}" for code in unknown)
            lines.append(f"Languages the model was not trained on: {shares}.")
        extra = sorted(reference.extra - set(reference.shares))
        if extra:
            lines.append(f"Known from extra training data only (not in the training mix): {', '.join(extra)}.")
        return [" ".join(lines)]

    def _biggest_changes(self, live: Mapping[str, float], top: int = 3) -> str:
        training = self.training_languages.shares
        change = {c: abs(live.get(c, 0.0) - training.get(c, 0.0)) for c in live.keys() | training.keys()}
        changes = sorted(change, key=lambda c: (-change[c], c))
        return ", ".join(f"{c} {training.get(c, 0.0):.0%} → {live.get(c, 0.0):.0%}" for c in changes[:top])


def _format_ms(ms: float) -> str:
    return f"{ms:,.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


def _latency_table(df: pd.DataFrame) -> list[str]:
    """Calls, pairs and latency percentiles per endpoint over the period, as Markdown table lines."""
    requests = df.drop_duplicates("request")  # a batch or a file is one call: its latency counts once
    pairs = df.groupby("endpoint").size()
    lines = ["| endpoint | calls | pairs | " + " | ".join(LATENCY_PERCENTILES) + " |", "| --- |" + " --- |" * 4]
    for endpoint, latency in requests.groupby("endpoint")["latency_ms"]:
        cells = [_format_ms(float(latency.quantile(q))) for q in LATENCY_PERCENTILES.values()]
        lines.append(f"| {endpoint} | {len(latency):,} | {pairs[endpoint]:,} | {' | '.join(cells)} |")
    return lines


def _bucket_seconds(span_s: float) -> int:
    """A round time step that gives a plot of at most about 60 points."""
    for step in (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400):
        if span_s / step <= 60:
            return step
    return 30 * 86400


def _figures(df: pd.DataFrame, monitor: Monitor) -> tuple[pd.DataFrame, ...]:
    """The frames of `Dashboard` after the summary, from the period's predictions (`PredictionLog.frame`)."""
    languages = _language_frame(df, monitor.training_languages)
    if df.empty:
        empty = pd.DataFrame({"time": pd.Series(dtype="datetime64[ns]")})
        return (
            empty.assign(share=[], series=[]),
            empty.assign(latency_ms=[], series=[]),
            empty.assign(share=[]),
            languages,
        )
    step = _bucket_seconds(float(df["time"].max() - df["time"].min()))
    df = df.assign(bucket=pd.to_datetime((df["time"] // step) * step, unit="s"))

    per_label = df.groupby("bucket")["label"].value_counts(normalize=True).unstack(fill_value=0.0)
    per_label = per_label.reindex(columns=list(LABELS), fill_value=0.0)
    shares = [
        pd.DataFrame({"time": per_label.index, "share": per_label[label].to_numpy(), "series": label})
        for label in LABELS
    ]
    shares += [
        pd.DataFrame({"time": per_label.index, "share": monitor.training_mix[label], "series": f"{label} (training)"})
        for label in LABELS
    ]

    requests = df.drop_duplicates("request")  # a batch or a file is one call: its latency counts once
    latency = requests.groupby(["endpoint", "bucket"])["latency_ms"].quantile(list(LATENCY_PERCENTILES.values()))
    latency = latency.unstack()  # rows (endpoint, bucket), one column per percentile
    latency_frames = [
        pd.DataFrame(
            {"time": per_endpoint.index.get_level_values("bucket"), "latency_ms": per_endpoint[q].to_numpy()}
        ).assign(series=f"{endpoint} {name}")
        for endpoint, per_endpoint in latency.groupby(level="endpoint")
        for name, q in LATENCY_PERCENTILES.items()
    ]
    low = (df["confidence"] < monitor.low_confidence).groupby(df["bucket"]).mean()
    return (
        pd.concat(shares, ignore_index=True),
        pd.concat(latency_frames, ignore_index=True),
        pd.DataFrame({"time": low.index, "share": low.to_numpy()}),
        languages,
    )


def _language_frame(df: pd.DataFrame, reference: TrainingLanguages | None) -> pd.DataFrame:
    """Each language's share of training and of the period's pairs with a detected premise language (0 where
    absent), languages ordered by training share, then by share in the period."""
    live = df["premise_language"].dropna().value_counts(normalize=True).to_dict() if len(df) else {}
    training = reference.shares if reference is not None else {}
    order = sorted(training.keys() | live.keys(), key=lambda code: (-training.get(code, 0.0), -live.get(code, 0.0)))
    mixes = [(name, mix) for name, mix in (("training", training), ("this period", live)) if mix]
    rows = [(code, float(mix.get(code, 0.0)), name) for name, mix in mixes for code in order]
    return pd.DataFrame(rows, columns=["language", "share", "series"]).astype({"language": str, "share": float})
