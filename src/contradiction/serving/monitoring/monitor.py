"""`Monitor`: what the handlers call once per request (database, metrics, drift), and the figures the Monitoring
tab shows (label and language mix against the training mixes, latency percentiles, low-confidence share).

    mix, source = training_label_mix("outputs/model")
    languages = training_language_mix("outputs/model")
    monitor = Monitor(PredictionLog("outputs/monitoring.sqlite"), mix, source, training_languages=languages)
    monitor.record("predict", 0.04, ["..."], ["..."], probs, premise_languages=["fr"], hypothesis_languages=["fr"])
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from contradiction.errors import UserError
from contradiction.labels import LABELS
from contradiction.serving.monitoring.drift import (
    MIN_DRIFT_PREDICTIONS,
    MIN_LANGUAGE_DRIFT_PREDICTIONS,
    Drift,
    TrainingLanguages,
    _mix,
    _shares,
    total_variation,
)
from contradiction.serving.monitoring.prometheus import METRIC_LANGUAGE, Metrics
from contradiction.serving.monitoring.store import FRAME_COLUMNS, PredictionLog

LATENCY_PERCENTILES = {"p50": 0.5, "p95": 0.95}


class Dashboard(NamedTuple):
    """The Monitoring tab's content for one period."""

    summary: str  # Markdown: counts, drift warnings, the label table, latency per endpoint
    label_shares: pd.DataFrame  # time, share, series (a label, or "<label> (training)")
    latency: pd.DataFrame  # time, latency_ms, series ("<endpoint> p50", "<endpoint> p95")
    low_confidence: pd.DataFrame  # time, share
    language_shares: pd.DataFrame  # language, share, series ("this period" or "training")


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
        self.metrics = Metrics()
        self.log = log  # through the setter: rows it cannot write are counted in /metrics
        self.training_mix = dict(training_mix or {label: 1 / len(LABELS) for label in LABELS})
        self.training_source = training_source
        self.training_languages = training_languages
        self.drift_threshold = drift_threshold
        self.drift_window = drift_window
        self.low_confidence = low_confidence
        self.metrics.drift.set_function(lambda: self.drift().tvd)
        self.metrics.language_drift.set_function(self._language_tvd)
        # the live mixes when there is no database
        self._recent: deque[str] = deque(maxlen=drift_window)
        self._recent_languages: deque[str | None] = deque(maxlen=drift_window)

    @property
    def log(self) -> PredictionLog | None:
        """The prediction database, or None (metrics and the live mixes only)."""
        return self._log

    @log.setter
    def log(self, log: PredictionLog | None) -> None:
        self._log = log
        if log is not None:
            log.on_dropped = self.metrics.db_errors.inc

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
            (
                now,
                request,
                endpoint,
                latency_s * 1000,
                len(p),
                len(h),
                label,
                float(c),
                *map(float, row),
                p if texts else None,
                h if texts else None,
                pl,
                hl,
            )
            for p, h, label, c, row, pl, hl in zip(
                premises, hypotheses, labels, confidence, probs, premise_languages, hypothesis_languages, strict=True
            )
        ]
        self.log.write(rows)  # handed to the writer thread: never waited for (store.py)

    def request(self, endpoint: str, latency_s: float) -> None:
        """A successful call whose pairs are not a user's own premise and hypothesis (a zero-shot classification:
        a text against hypotheses made from labels): counted and timed, but kept out of the database and of the
        label and language mix, whose drift is measured against the training pairs."""
        self.metrics.requests.labels(endpoint).inc()
        self.metrics.latency.labels(endpoint).observe(latency_s)

    def error(self, endpoint: str, kind: str) -> None:
        """An API call that got no prediction: kind "input" (refused), "model" (failed inside the model) or "busy"
        (refused: the model's queue was full)."""
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
            "in the monitoring database).",
            "",
            f"| label | training mix | last {drift.n:,} predictions |",
            "| --- | --- | --- |",
            *(f"| {label} | {self.training_mix[label]:.1%} | {drift.live[label]:.1%} |" for label in LABELS),
            "",
            f"Training mix from {public_source(self.training_source)}. Total variation distance {drift.tvd:.3f} "
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
            f"are {drift.tvd:.3f} from the training language mix of {public_source(reference.source)} (warning above "
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


def public_source(source: str) -> str:
    """Where a training mix comes from as the dashboard says it: the model's file by its name, never its path on the
    server ("/srv/models/m/data_report.json (train split)": "the model's data_report.json (train split)")."""
    where, gap, what = source.rpartition(" (")
    where, what = (where, gap + what) if gap else (source, "")
    name = re.split(r"[/\\]", where)[-1]
    return source if name == where else f"the model's {name}{what}"


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
