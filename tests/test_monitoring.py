"""monitoring.py and the app's monitoring: every prediction in SQLite (WAL, nothing lost under concurrency),
Prometheus metrics at /metrics, the training label mix, drift, and the Monitoring tab's figures."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from local_app import launch_local
from prometheus_client.parser import text_string_to_metric_families

from contradiction.errors import UserError
from contradiction.inference import Predictor
from contradiction.labels import LABELS
from contradiction.monitoring import (
    MIN_DRIFT_PREDICTIONS,
    Monitor,
    PredictionLog,
    default_db_path,
    total_variation,
    training_label_mix,
)
from contradiction.ui import EXAMPLES, Limits, build_demo

SURE = np.array([[0.9, 0.05, 0.05]], dtype=np.float32)  # entailment, confidently
UNSURE = np.array([[0.2, 0.45, 0.35]], dtype=np.float32)  # neutral, under 0.5


def rows(path: Path) -> list[dict]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM predictions ORDER BY id")]


def test_a_prediction_is_recorded_without_its_texts(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "m.sqlite")
    monitor = Monitor(log)
    monitor.record("predict", 0.25, ["Il pleut."], ["Le soleil brille toute la journée."], SURE)
    (row,) = rows(log.path)
    assert row["endpoint"] == "predict" and row["latency_ms"] == pytest.approx(250)
    assert (row["premise_chars"], row["hypothesis_chars"]) == (9, 34)
    assert row["label"] == "entailment" and row["confidence"] == pytest.approx(0.9)
    assert [row[f"prob_{label}"] for label in LABELS] == pytest.approx([0.9, 0.05, 0.05])
    assert row["premise"] is None and row["hypothesis"] is None
    assert b"Il pleut" not in log.path.read_bytes() + Path(f"{log.path}-wal").read_bytes()
    with sqlite3.connect(log.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_texts_are_recorded_only_when_the_operator_asks(tmp_path: Path) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite", log_texts=True))
    monitor.record("predict_batch", 0.1, ["A.", "B."], ["C.", "D."], np.vstack([SURE, UNSURE]))
    recorded = rows(tmp_path / "m.sqlite")
    assert [(r["premise"], r["hypothesis"], r["label"]) for r in recorded] == [
        ("A.", "C.", "entailment"),
        ("B.", "D.", "neutral"),
    ]
    assert recorded[0]["request"] == recorded[1]["request"]  # one call


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"))

    def client() -> None:
        for _ in range(50):
            monitor.record("predict", 0.01, ["A."], ["B."], SURE)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert monitor.log.count() == 16 * 50


def test_a_failing_database_does_not_fail_the_request(tmp_path: Path, monkeypatch, caplog) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"))

    def full(rows):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(monitor.log, "write", full)
    monitor.record("predict", 0.01, ["A."], ["B."], SURE)  # no exception
    assert monitor.metrics.db_errors._value.get() == 1
    assert "database or disk is full" in caplog.text


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database " * 100, encoding="utf-8")
    with pytest.raises(UserError, match=r"--monitor_db .*notes.sqlite cannot be used \(file is not a database\)"):
        PredictionLog(path)


def test_database_path_defaults_to_the_data_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CONTRADICTION_HOME", raising=False)
    assert default_db_path() == Path("outputs") / "monitoring.sqlite"
    monkeypatch.setenv("CONTRADICTION_HOME", str(tmp_path))
    assert default_db_path() == tmp_path / "monitoring.sqlite"


def test_training_mix_from_the_model_folder(tmp_path: Path) -> None:
    report = {"counts": {"train": {"English": {"entailment": 6, "neutral": 2}, "French": {"contradiction": 2}}}}
    (tmp_path / "data_report.json").write_text(json.dumps(report), encoding="utf-8")
    mix, source = training_label_mix(tmp_path)
    assert mix == pytest.approx({"entailment": 0.6, "neutral": 0.2, "contradiction": 0.2})
    assert source.endswith("data_report.json (train split)")

    (tmp_path / "data_report.json").unlink()
    results = {"confusion_matrix": [[1, 0, 0], [1, 1, 1], [0, 0, 1]]}  # rows: the true labels
    (tmp_path / "eval_results.json").write_text(json.dumps(results), encoding="utf-8")
    mix, source = training_label_mix(tmp_path)
    assert mix == pytest.approx({"entailment": 0.2, "neutral": 0.6, "contradiction": 0.2})
    assert "eval_results.json" in source

    mix, source = training_label_mix("someone/hub-model")
    assert mix == pytest.approx(dict.fromkeys(LABELS, 1 / 3)) and source.startswith("uniform")


def test_drift_warns_once_enough_predictions_depart_from_the_training_mix(tmp_path: Path) -> None:
    assert total_variation({"entailment": 1.0}, dict.fromkeys(LABELS, 1 / 3)) == pytest.approx(2 / 3)
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"), dict.fromkeys(LABELS, 1 / 3), drift_threshold=0.15)
    for _ in range(MIN_DRIFT_PREDICTIONS - 1):
        monitor.record("predict", 0.01, ["A."], ["B."], SURE)
    assert monitor.drift().tvd == pytest.approx(2 / 3) and not monitor.drift().warning  # too few to tell
    monitor.record("predict", 0.01, ["A."], ["B."], SURE)
    assert monitor.drift().warning
    summary = monitor.dashboard(None)[0]
    assert summary.startswith("⚠️ **Drift**: the last 100 predictions' label mix is 0.67 away from the training mix")

    balanced = Monitor(PredictionLog(tmp_path / "b.sqlite"), dict.fromkeys(LABELS, 1 / 3))
    for i in range(150):
        balanced.record("predict", 0.01, ["A."], ["B."], np.roll(SURE, i % 3, axis=1))
    assert balanced.drift().tvd < 0.01 and "Drift" not in balanced.dashboard(None)[0]


def test_dashboard_figures(tmp_path: Path) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"), {"entailment": 0.5, "neutral": 0.25, "contradiction": 0.25})
    for latency in (0.01, 0.02, 0.03, 1.0):
        monitor.record("predict", latency, ["A."], ["B."], SURE)
    monitor.record("predict_batch", 0.5, ["A."] * 4, ["B."] * 4, np.vstack([UNSURE] * 4))  # one call, 4 rows
    summary, shares, latency, low = monitor.dashboard(3600)
    assert "**8 predictions** in this period" in summary
    assert "| entailment | 50.0% | 50.0% |" in summary and "| neutral | 25.0% | 50.0% |" in summary
    assert "Low confidence (top probability under 0.50): 50.0%." in summary

    assert set(shares["series"]) == {*LABELS, *(f"{label} (training)" for label in LABELS)}
    assert shares.set_index("series").loc["neutral", "share"] == pytest.approx(0.5)
    assert shares.set_index("series").loc["entailment (training)", "share"] == pytest.approx(0.5)
    p = latency.set_index("percentile")["latency_ms"]
    expected = np.percentile([10, 20, 30, 1000, 500], [50, 95, 99])  # the batch counts once
    assert [p["p50"], p["p95"], p["p99"]] == pytest.approx(list(expected))
    assert low["share"].tolist() == pytest.approx([0.5])
    assert pd.api.types.is_datetime64_any_dtype(shares["time"])


def test_monitoring_needs_sensible_settings() -> None:
    with pytest.raises(UserError, match=r"--drift_threshold 2.0 must be between 0 and 1"):
        Monitor(drift_threshold=2.0)
    with pytest.raises(UserError, match=r"--low_confidence -1 must be a probability"):
        Monitor(low_confidence=-1)


# --- in the app


@pytest.fixture(scope="module")
def served(tiny_model_dir: Path, tmp_path_factory) -> Iterator[tuple[Client, str, Monitor]]:
    monitor = Monitor(PredictionLog(tmp_path_factory.mktemp("db") / "monitoring.sqlite"))
    limits = Limits()
    demo = build_demo(
        Predictor.from_pretrained(tiny_model_dir), limits, monitor, output_dir=tmp_path_factory.mktemp("o")
    )
    url = launch_local(demo, limits, monitor)
    try:
        yield Client(url, verbose=False), url, monitor
    finally:
        demo.close()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}; parsing it is the scrape test."""
    response = httpx.get(f"{url}metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_every_request_is_recorded_and_counted(served) -> None:
    client, url, monitor = served
    pairs = [(p, h) for _, _, p, h in EXAMPLES] * 3  # 36 concurrent calls
    jobs = [client.submit(p, h, api_name="/predict") for p, h in pairs]
    results = [job.result(timeout=120) for job in jobs]
    client.predict(["A.", "B.", "C."], ["D.", "E.", "F."], api_name="/predict_batch")
    with pytest.raises(AppError):
        client.predict("", "Refused.", api_name="/predict")

    assert monitor.log.count("predict") == len(pairs) and monitor.log.count("predict_batch") == 3
    metrics = scrape(url)
    assert metrics[("contradiction_requests_total", (("endpoint", "predict"),))] == len(pairs) + 1
    assert metrics[("contradiction_errors_total", (("endpoint", "predict"), ("kind", "input")))] == 1
    assert metrics[("contradiction_request_latency_seconds_count", (("endpoint", "predict"),))] == len(pairs)
    assert metrics[("contradiction_request_latency_seconds_count", (("endpoint", "predict_batch"),))] == 1
    per_label = {label: metrics[("contradiction_predictions_total", (("label", label),))] for label in LABELS}
    assert sum(per_label.values()) == len(pairs) + 3
    assert per_label[results[0]["label"]] >= 1
    assert 0 <= metrics[("contradiction_label_drift", ())] <= 1


def test_metrics_exist_before_the_first_request() -> None:
    text = Monitor().metrics.exposition().decode()
    for line in (
        "# TYPE contradiction_requests_total counter",
        "# TYPE contradiction_errors_total counter",
        "# TYPE contradiction_request_latency_seconds histogram",
        'contradiction_predictions_total{label="contradiction"} 0.0',
    ):
        assert line in text
