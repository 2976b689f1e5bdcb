"""The Prometheus metrics the app exports at `/metrics`: requests, errors, latency, labels, languages, drift."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter

from contradiction.labels import LABELS

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

ERROR_KINDS = ("input", "model", "busy")  # refused with a message; failed inside the model; the model's queue full

METRIC_LANGUAGE = re.compile(r"[a-z]{2,3}")  # codes that get their own Prometheus series; others count as "other"


class Metrics:
    """Prometheus metrics in their own registry, so that two apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = PromCounter(
            "contradiction_requests", "API calls received, by endpoint.", ["endpoint"], registry=self.registry
        )
        self.errors = PromCounter(
            "contradiction_errors",
            "API calls that got no prediction: kind=input (refused with a message), kind=model (failed inside) or "
            "kind=busy (refused: the model's queue was full).",
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

    def declare(self, endpoints: Iterable[str]) -> None:
        """Each endpoint's request and error series, at zero from the first scrape: a series that first appears at
        1 has no earlier sample, so Prometheus's `increase()` (the alerting rules) would miss that first error."""
        for endpoint in endpoints:
            self.requests.labels(endpoint)
            for kind in ERROR_KINDS:
                self.errors.labels(endpoint, kind)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
