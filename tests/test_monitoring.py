"""serving/monitoring/ (store, monitor, drift, prometheus, tab) and the app's monitoring: every prediction in SQLite
(WAL, nothing lost under concurrency, older databases upgraded in place), Prometheus metrics at /metrics, the training
label and language mixes, drift, and the Monitoring tab's figures (per-endpoint latency, 24-hour times)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pandas as pd
import pytest
from gradio.state_holder import SessionState
from gradio_client import Client
from gradio_client.exceptions import AppError
from local_app import CHROMIUM, CHROMIUM_ARGS, browser_tools, free_port
from prometheus_client.parser import text_string_to_metric_families

from contradiction.errors import UserError
from contradiction.labels import LABELS
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.drift import (
    MIN_DRIFT_PREDICTIONS,
    MIN_LANGUAGE_DRIFT_PREDICTIONS,
    TrainingLanguages,
    total_variation,
    training_label_mix,
    training_language_mix,
)
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.monitoring.store import SCHEMA_VERSION, PredictionLog, default_db_path
from contradiction.serving.monitoring.tab import (
    build_monitoring_tab,
    dashboard_outputs,
    latency_colors,
    time_axis_format,
)
from contradiction.serving.pairs import EXAMPLES

DATA = Path(__file__).parent / "data"
BEFORE_LANGUAGES = DATA / "monitoring-before-languages.sqlite"  # written by the app before version 2, see README

SURE = np.array([[0.9, 0.05, 0.05]], dtype=np.float32)  # entailment, confidently
UNSURE = np.array([[0.2, 0.45, 0.35]], dtype=np.float32)  # neutral, under 0.5


def rows(where: Path | PredictionLog) -> list[dict]:
    """The rows of a database file, or of a log once its writer has written what it was handed."""
    if isinstance(where, PredictionLog):
        assert where.flush()
        where = where.path
    with sqlite3.connect(where) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM predictions ORDER BY id")]


def test_a_prediction_is_recorded_without_its_texts(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "m.sqlite")
    monitor = Monitor(log)
    monitor.record("predict", 0.25, ["Il pleut."], ["Le soleil brille toute la journée."], SURE)
    (row,) = rows(log)
    assert row["endpoint"] == "predict" and row["latency_ms"] == pytest.approx(250)
    assert (row["premise_chars"], row["hypothesis_chars"]) == (9, 34)
    assert row["label"] == "entailment" and row["confidence"] == pytest.approx(0.9)
    assert [row[f"prob_{label}"] for label in LABELS] == pytest.approx([0.9, 0.05, 0.05])
    assert row["premise"] is None and row["hypothesis"] is None
    assert row["premise_language"] is None and row["hypothesis_language"] is None  # the caller detects none
    assert b"Il pleut" not in log.path.read_bytes() + Path(f"{log.path}-wal").read_bytes()
    with sqlite3.connect(log.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_texts_are_recorded_only_when_the_operator_asks(tmp_path: Path) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite", log_texts=True))
    monitor.record("predict_batch", 0.1, ["A.", "B."], ["C.", "D."], np.vstack([SURE, UNSURE]))
    recorded = rows(monitor.log)
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


def test_a_failing_database_does_not_fail_the_request(tmp_path: Path, caplog) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"))
    with monitor.log._lock:  # a database that cannot take the rows any more (here: its table is gone)
        monitor.log._db.execute("DROP TABLE predictions")
    monitor.record("predict", 0.01, ["A."], ["B."], SURE)  # no exception
    assert monitor.log.flush()
    assert monitor.metrics.db_errors._value.get() == 1 and monitor.log.dropped == 1
    assert "could not record 1 prediction(s)" in caplog.text and "no such table" in caplog.text


def test_rows_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    monitor = Monitor(PredictionLog(path, retention_days=30))
    monitor.record("predict", 0.01, ["A."], ["B."], SURE)
    assert monitor.log.flush()
    with sqlite3.connect(path) as db:  # that prediction was made a month and a day ago
        db.execute("UPDATE predictions SET time = time - 31 * 86400")
    monitor.record("predict", 0.01, ["C."], ["D."], SURE)
    assert monitor.log.flush() and monitor.log.prune() == 1  # as the writer does every hour
    assert [row["premise_chars"] for row in rows(monitor.log)] == [2] and monitor.log.count() == 1
    monitor.log.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE predictions SET time = time - 40 * 86400")
    assert PredictionLog(path, retention_days=None).count() == 1  # no retention: every row kept
    assert PredictionLog(path, retention_days=30).count() == 0  # deleted when the database opens
    with pytest.raises(UserError, match=r"^--monitor_retention_days 0 must be a positive number of days, e\.g\. 30\.$"):
        PredictionLog(path, retention_days=0)


def test_a_locked_database_does_not_slow_a_pair(serve_app, tmp_path: Path) -> None:
    """Another connection holds the database's write lock for 3 s (a sqlite3 shell, a backup, a second replica): a
    pair is answered at once all the same, and its row is written once the lock goes, or counted as dropped."""
    app = serve_app(monitor=Monitor(PredictionLog(tmp_path / "m.sqlite")))
    log = app.monitor.log
    other = sqlite3.connect(log.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        start = time.perf_counter()
        answer = httpx.post(f"{app.url}api/v1/nli", json={"premise": "Il pleut.", "hypothesis": "Il fait beau."})
        waited = time.perf_counter() - start
        time.sleep(max(0.0, 3.0 - waited))
    finally:
        other.execute("COMMIT")
        other.close()
    assert answer.status_code == 200 and waited < 1.5, f"the pair waited {waited:.2f} s for the database"
    assert log.flush() and log.count() + log.dropped == 1
    assert app.monitor.metrics.db_errors._value.get() == log.dropped


def test_the_dashboard_names_no_path_of_the_server(tmp_path: Path) -> None:
    source = "/srv/secret-models/nli/data_report.json (train split)"
    languages = TrainingLanguages({"en": 1.0}, source)
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"), training_source=source, training_languages=languages)
    monitor.record("predict", 0.01, ["A sentence in English."], ["B."], SURE, ["en"], ["en"])
    summary = monitor.dashboard(None).summary
    assert "Training mix from the model's data_report.json (train split)." in summary
    assert "training language mix of the model's data_report.json (train split)" in summary
    assert "/srv" not in summary and str(tmp_path) not in summary and "m.sqlite" not in summary


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


def test_training_mix_from_the_model_folder(tmp_path: Path, offline_hub: Path) -> None:
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
    board = monitor.dashboard(3600)
    summary, shares, latency, low, languages = board
    assert "**8 predictions** in this period" in summary
    assert "| entailment | 50.0% | 50.0% |" in summary and "| neutral | 25.0% | 50.0% |" in summary
    assert "Low confidence (top probability under 0.50): 50.0%." in summary
    assert (
        "| predict | 4 | 4 | 25.0 ms | 854 ms |" in summary and "| predict_batch | 1 | 4 | 500 ms | 500 ms |" in summary
    )

    assert set(shares["series"]) == {*LABELS, *(f"{label} (training)" for label in LABELS)}
    assert shares.set_index("series").loc["neutral", "share"] == pytest.approx(0.5)
    assert shares.set_index("series").loc["entailment (training)", "share"] == pytest.approx(0.5)
    p = latency.set_index("series")["latency_ms"]
    assert [p["predict p50"], p["predict p95"]] == pytest.approx(list(np.percentile([10, 20, 30, 1000], [50, 95])))
    assert [p["predict_batch p50"], p["predict_batch p95"]] == pytest.approx([500, 500])  # the batch counts once
    assert low["share"].tolist() == pytest.approx([0.5])
    assert languages.empty  # no languages detected, no training language mix
    assert pd.api.types.is_datetime64_any_dtype(shares["time"]) and board.latency is latency


def test_a_large_file_does_not_land_in_the_single_pairs_percentiles(tmp_path: Path) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"))
    for _ in range(20):
        monitor.record("predict", 0.05, ["A."], ["B."], SURE)
    monitor.record("predict_file", 25.0, ["A."] * 2000, ["B."] * 2000, np.repeat(SURE, 2000, axis=0))
    monitor.record("analyze", 0.2, ["A."], ["B."], SURE)
    board = monitor.dashboard(None)
    p95 = board.latency.groupby("series")["latency_ms"].max()
    assert p95["predict p95"] == pytest.approx(50) and p95["predict_file p95"] == pytest.approx(25_000)
    assert p95["analyze p50"] == pytest.approx(200)
    assert "| predict_file | 1 | 2,000 | 25,000 ms | 25,000 ms |" in board.summary
    exposition = monitor.metrics.exposition().decode()  # the Prometheus histogram: one series per endpoint
    assert 'contradiction_request_latency_seconds_count{endpoint="predict"} 20.0' in exposition
    assert 'contradiction_request_latency_seconds_count{endpoint="predict_file"} 1.0' in exposition


def test_monitoring_needs_sensible_settings() -> None:
    with pytest.raises(UserError, match=r"--drift_threshold 2.0 must be between 0 and 1"):
        Monitor(drift_threshold=2.0)
    with pytest.raises(UserError, match=r"--low_confidence -1 must be a probability"):
        Monitor(low_confidence=-1)


# --- languages


def test_languages_are_recorded_per_pair(tmp_path: Path) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"))
    probs = np.vstack([SURE, UNSURE, SURE])
    monitor.record(
        "predict_batch", 0.1, ["A.", "B.", "C."], ["D.", "E.", "F."], probs, ["fr", "TH ", None], ["fr", "", "zh"]
    )
    recorded = [(r["premise_language"], r["hypothesis_language"]) for r in rows(monitor.log)]
    assert recorded == [("fr", "fr"), ("th", None), (None, "zh")]  # lower-case codes; blank means undetected
    text = monitor.metrics.exposition().decode()
    for language in ("fr", "th", "undetected"):
        assert f'contradiction_premise_languages_total{{language="{language}"}} 1.0' in text

    with pytest.raises(ValueError, match="premise_languages has 1 entries for 2 pairs"):
        monitor.record("predict_batch", 0.1, ["A.", "B."], ["C.", "D."], np.vstack([SURE, SURE]), ["fr"])
    assert monitor.log.count() == 3  # nothing half-recorded


def copy_of_the_old_database(tmp_path: Path) -> Path:
    path = tmp_path / "monitoring.sqlite"
    shutil.copyfile(BEFORE_LANGUAGES, path)
    return path


def old_rows(path: Path) -> list[dict]:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        columns = [row[1] for row in db.execute("PRAGMA table_info(predictions)")]
    assert "premise_language" not in columns
    return rows(path)


def test_a_database_from_before_languages_is_upgraded_in_place(tmp_path: Path) -> None:
    path = copy_of_the_old_database(tmp_path)
    before = old_rows(path)
    assert len(before) == 10 and before[-1]["premise"] == "Logged premise."

    monitor = Monitor(PredictionLog(path))
    after = rows(path)
    assert [{k: r[k] for k in before[0]} for r in after] == before  # every row, every value kept
    assert all(r["premise_language"] is None and r["hypothesis_language"] is None for r in after)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2

    monitor.record("predict", 0.05, ["Il pleut."], ["Il fait beau."], SURE, ["fr"], ["fr"])
    assert rows(monitor.log)[-1]["premise_language"] == "fr" and monitor.log.count() == 11
    assert "**11 predictions** in this period" in monitor.dashboard(None).summary
    monitor.log.close()
    assert len(rows(PredictionLog(path).path)) == 11  # opening an upgraded file again changes nothing


def open_and_write_at_once(path: Path, apps: int = 8, pairs: int = 20) -> list[PredictionLog]:
    """`apps` threads open `path` at the same moment, each with its own PredictionLog, and record `pairs` each."""
    start = threading.Barrier(apps)
    logs: list[PredictionLog] = []
    errors: list[Exception] = []

    def app() -> None:
        try:
            start.wait()
            log = PredictionLog(path)
            logs.append(log)
            for _ in range(pairs):
                Monitor(log).record("predict", 0.01, ["A."], ["B."], SURE, ["en"], ["en"])
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=app) for _ in range(apps)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(logs) == apps
    return logs


@pytest.mark.parametrize("old", [False, True], ids=["new file", "version-1 file"])
def test_opening_one_database_many_times_at_once_is_safe(tmp_path: Path, old: bool) -> None:
    path = copy_of_the_old_database(tmp_path) if old else tmp_path / "monitoring.sqlite"
    logs = open_and_write_at_once(path)
    assert all(log.flush() for log in logs) and sum(log.dropped for log in logs) == 0
    assert logs[0].count() == (10 if old else 0) + 8 * 20
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(predictions)")]
    assert columns.count("premise_language") == 1 and columns.count("hypothesis_language") == 1
    for log in logs:
        log.close()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = copy_of_the_old_database(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=3")
    with pytest.raises(UserError, match=r"cannot be used \(schema version 3, this app writes version 2\)"):
        PredictionLog(path)
    assert len(rows(path)) == 10


def test_training_language_mix_from_the_data_report(tmp_path: Path, offline_hub: Path) -> None:
    report = {  # the shape train.py writes: language names per split, extra sources with codes
        "counts": {
            "train": {
                "English": {"entailment": 5, "neutral": 1},
                "Thai": {"contradiction": 2},
                "Chinese": {"neutral": 2},
            },
            "validation": {"English": {"entailment": 100}},
        },
        "extra_data": [{"source": "xnli.csv", "languages": {"th": 40, "fa": 30}}, {"source": "o.csv", "languages": {}}],
    }
    (tmp_path / "data_report.json").write_text(json.dumps(report), encoding="utf-8")
    languages = training_language_mix(tmp_path)
    assert languages.shares == pytest.approx({"en": 0.6, "th": 0.2, "zh": 0.2})  # extra rows not in the mix
    assert languages.known == {"en", "th", "zh", "fa"} and languages.source.endswith("data_report.json (train split)")

    (tmp_path / "data_report.json").unlink()
    assert training_language_mix(tmp_path) is None
    assert training_language_mix("someone/hub-model") is None


def test_language_drift_warns_once_enough_premises_depart_from_the_training_mix(tmp_path: Path) -> None:
    reference = TrainingLanguages({"en": 0.5, "fr": 0.5}, "data_report.json (train split)", frozenset({"fa"}))
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"), training_languages=reference)
    assert monitor.language_drift().n == 0 and "none of the last 1,000 predictions" in monitor.dashboard(None).summary

    def batch(n: int, language: str | None) -> None:
        monitor.record("predict_batch", 0.1, ["A."] * n, ["B."] * n, np.repeat(SURE, n, axis=0), [language] * n)

    batch(200, None)  # undetected premises count in no mix
    batch(MIN_LANGUAGE_DRIFT_PREDICTIONS - 1, "th")
    drift = monitor.language_drift()
    assert (drift.n, drift.tvd, drift.warning) == (MIN_LANGUAGE_DRIFT_PREDICTIONS - 1, 1.0, False)  # too few
    batch(1, "th")
    assert monitor.language_drift().warning
    summary = monitor.dashboard(None).summary
    assert "⚠️ **Language drift**: the premise languages of the last 500 predictions are 1.00 away" in summary
    assert "most changed: th 0% → 100%, en 50% → 0%, fr 50% → 0%" in summary
    assert "Languages the model was not trained on: th 100.0%." in summary
    assert "Known from extra training data only (not in the training mix): fa." in summary
    assert scrape_text(monitor)["contradiction_language_drift"] == pytest.approx(1.0)

    batch(1000, "en")  # the window (1,000) now holds English only
    assert monitor.language_drift().tvd == pytest.approx(0.5) and monitor.language_drift().n == 1000


def test_without_a_training_language_mix_the_gauge_says_so(tmp_path: Path) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"))
    monitor.record("predict", 0.01, ["Il pleut."], ["Il fait beau."], SURE, ["fr"], ["fr"])
    assert monitor.language_drift() is None and math.isnan(scrape_text(monitor)["contradiction_language_drift"])
    board = monitor.dashboard(None)
    assert "no training language mix is known for this model" in board.summary
    assert board.language_shares.to_dict("records") == [{"language": "fr", "share": 1.0, "series": "this period"}]


def test_language_plot_compares_the_period_with_training(tmp_path: Path) -> None:
    reference = TrainingLanguages({"en": 0.6, "fr": 0.3, "th": 0.1}, "report")
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"), training_languages=reference)
    monitor.record("predict_batch", 0.1, ["A."] * 4, ["B."] * 4, np.repeat(SURE, 4, axis=0), ["th", "th", "ja", None])
    frame = monitor.dashboard(None).language_shares
    shares = frame.pivot(index="language", columns="series", values="share")
    assert list(dict.fromkeys(frame["language"])) == ["en", "fr", "th", "ja"]  # by training share, then live
    assert shares["training"].to_dict() == pytest.approx({"en": 0.6, "fr": 0.3, "th": 0.1, "ja": 0.0})
    assert shares["this period"].to_dict() == pytest.approx({"en": 0.0, "fr": 0.0, "th": 2 / 3, "ja": 1 / 3})


def scrape_text(monitor: Monitor) -> dict[str, float]:
    """The unlabelled samples of the monitor's exposition, by name."""
    families = text_string_to_metric_families(monitor.metrics.exposition().decode())
    return {s.name: s.value for family in families for s in family.samples if not s.labels}


# --- the tab


def test_time_axes_are_24_hour_and_show_the_day_over_longer_spans() -> None:
    at = pd.Timestamp("2026-05-01 13:25")
    assert time_axis_format(pd.Series([at - pd.Timedelta(minutes=30), at])) == "%H:%M"
    assert time_axis_format(pd.Series([at - pd.Timedelta(days=3), at])) == "%d %b %H:%M"
    assert time_axis_format(pd.Series([at - pd.Timedelta(days=40), at])) == "%d %b %Y"
    assert time_axis_format(pd.Series([], dtype="datetime64[ns]")) == "%H:%M"
    for fmt in ("%H:%M", "%d %b %H:%M"):
        assert "%I" not in fmt and at.strftime(fmt).endswith("13:25")  # d3 and strftime share these directives


def test_the_tab_refreshes_its_plots_with_24_hour_axes(tmp_path: Path) -> None:
    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"))
    for endpoint in ("predict", "predict_file", "analyze", "compare"):  # "compare": an endpoint added later
        monitor.record(endpoint, 0.1, ["A."], ["B."], SURE, ["en"], ["en"])
    with gr.Blocks() as demo:
        build_monitoring_tab(monitor)
    config = demo.get_config_file()
    plots = [c["props"] for c in config["components"] if c["type"] == "nativeplot"]
    assert [p["x"] for p in plots] == ["time", "language", "time", "time"]
    assert all(p["x_axis_format"] == "%H:%M" for p in plots if p["x"] == "time")  # before the first refresh too
    (event,) = [d for d in config["dependencies"] if d["api_name"] == "monitoring"]
    assert event["api_visibility"] == "private" and {t[1] for t in event["targets"]} == {"click", "change", "select"}

    summary, shares, languages, latency, low = dashboard_outputs(monitor, 0)
    assert "**4 predictions** in this period" in summary
    assert shares.x_axis_format == latency.x_axis_format == low.x_axis_format == "%H:%M"
    series = set(monitor.dashboard(None).latency["series"])
    assert len(series) == 8 and set(latency.color_map) == series  # every series coloured, "compare" too
    assert latency_colors(["predict p50", "predict p95"]) == {"predict p50": "#93c5fd", "predict p95": "#2563eb"}
    assert languages.sort == ["en"]

    output = asyncio.run(demo.process_api(block_fn=event["id"], inputs=[86400], state=SessionState(demo)))
    assert output["data"][1]["x_axis_format"] == "%H:%M"  # as the page receives it
    assert output["data"][1]["value"]["datatypes"]["time"] == "temporal"


def latest_afternoon_utc() -> dt.datetime:
    """The latest 13:25 or 15:25 UTC whose half hour before it lies wholly in the last day, the tab's default period
    (between 12:55 and 13:25 yesterday's 13:25 is out of it and today's still to come: then 15:25 is taken)."""
    now = dt.datetime.now(dt.UTC)
    times = []
    for hour in (13, 15):
        at = now.replace(hour=hour, minute=25, second=0, microsecond=0)
        at = at if at <= now else at - dt.timedelta(days=1)
        if now - (at - dt.timedelta(minutes=30)) < dt.timedelta(hours=23, minutes=50):
            times.append(at)
    return max(times)


@pytest.mark.slow
def test_the_page_shows_afternoon_times_in_24_hour_form(tmp_path: Path) -> None:
    """What a viewer reads on the time axis: 24-hour labels (13:25, not 01:25), in the browser's time zone."""
    sync_playwright = browser_tools().sync_playwright

    monitor = Monitor(PredictionLog(tmp_path / "m.sqlite"))
    at = latest_afternoon_utc()
    end = at.timestamp()  # within the tab's default period, the last day
    monitor.log.write(
        [
            (end - 60 * i, f"r{i}", "predict", 40.0, 2, 2, "entailment", 0.9, 0.9, 0.05, 0.05, None, None, "en", "en")
            for i in range(31)
        ]
    )
    with gr.Blocks() as demo:
        with gr.Tab("Other"):
            gr.Markdown("Another tab, so that choosing Monitoring selects it.")
        build_monitoring_tab(monitor)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    labels = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                for zone in ("UTC", "Asia/Bangkok"):  # Bangkok: UTC+7 all year
                    page = browser.new_context(timezone_id=zone).new_page()
                    page.goto(demo.local_url)
                    page.get_by_role("tab", name="Monitoring").click()
                    axis = page.locator("svg g.role-axis[aria-label^='X-axis titled \\'time']").first
                    axis.wait_for(timeout=30_000)
                    labels[zone] = axis.locator("g.role-axis-label text").evaluate_all(
                        "texts => texts.filter(t => t.getAttribute('opacity') !== '0').map(t => t.textContent)"
                    )
            finally:
                browser.close()
    finally:
        demo.close()
    first, bangkok = at - dt.timedelta(minutes=30), dt.timedelta(hours=7)
    # 13:25 (or 15:25), where Vega-Lite's default said 01:25
    assert labels["UTC"][0] == f"{first:%H:%M}" and labels["UTC"][-1] == f"{at:%H:%M}"
    in_bangkok = labels["Asia/Bangkok"]
    assert in_bangkok[0] == f"{first + bangkok:%H:%M}" and in_bangkok[-1] == f"{at + bangkok:%H:%M}"


# --- in the app


@pytest.fixture(scope="module")
def served(serve_app, tmp_path_factory) -> tuple[Client, str, Monitor]:
    """An app with a database, taking 36 calls at once from this one address (the default takes 8 a client)."""
    limits = Limits(max_client_in_flight=64)
    app = serve_app(limits=limits, monitor=Monitor(PredictionLog(tmp_path_factory.mktemp("db") / "monitoring.sqlite")))
    return app.client, app.url, app.monitor


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}; parsing it is the scrape test."""
    response = httpx.get(f"{url}metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


@pytest.mark.slow
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
    assert math.isnan(metrics[("contradiction_language_drift", ())])  # this monitor has no training language mix


def test_metrics_exist_before_the_first_request() -> None:
    text = Monitor().metrics.exposition().decode()
    for line in (
        "# TYPE contradiction_requests_total counter",
        "# TYPE contradiction_errors_total counter",
        "# TYPE contradiction_request_latency_seconds histogram",
        'contradiction_predictions_total{label="contradiction"} 0.0',
    ):
        assert line in text


def test_every_endpoint_s_error_series_is_there_at_zero(served) -> None:
    """An error series that first appears at 1 has no earlier sample, and the alerting rules' increase() would miss
    that first error after a restart: each public endpoint's series are exported from the start."""
    from contradiction.serving.page import PUBLIC_ENDPOINTS

    client, url, _ = served
    named = {name.strip("/") for name in client.view_api(print_info=False, return_format="dict")["named_endpoints"]}
    assert set(PUBLIC_ENDPOINTS) <= named  # the list names what scripts can call
    metrics = scrape(url)
    for endpoint in (*PUBLIC_ENDPOINTS, "api_v1_nli", "api_v1_nli_pairs", "api_v1_classify", "api_v1_check_document"):
        assert metrics[("contradiction_errors_total", (("endpoint", endpoint), ("kind", "model")))] == 0
        assert ("contradiction_errors_total", (("endpoint", endpoint), ("kind", "input"))) in metrics
        assert ("contradiction_requests_total", (("endpoint", endpoint),)) in metrics
