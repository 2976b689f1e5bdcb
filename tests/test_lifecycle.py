"""The app's lifecycle: what `build_demo` starts (the scheduler's worker, a result folder) `close()` stops, and
Gradio's setting is changed only while Gradio reads it."""

from __future__ import annotations

import os
import threading

import pytest
from gradio_client import Client
from local_app import launch_local

from contradiction.labels import LABELS
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.page import GRADIO_SUMMARY_ENV, build_demo


def new_workers(before: set[threading.Thread]) -> list[threading.Thread]:
    """The scheduler workers ("model-scheduler" threads) started since `before` was taken."""
    return [t for t in threading.enumerate() if t not in before and t.name == "model-scheduler"]


@pytest.mark.slow
def test_closing_a_served_app_stops_its_worker_and_removes_the_folder_it_made(predictor, monkeypatch) -> None:
    monkeypatch.delenv(GRADIO_SUMMARY_ENV, raising=False)
    limits, monitor = Limits(), Monitor()
    before = set(threading.enumerate())
    demo = build_demo(predictor, limits, monitor)
    runtime, (worker,) = demo.runtime, new_workers(before)
    assert worker.is_alive() and runtime.outputs_root.is_dir()
    assert GRADIO_SUMMARY_ENV not in os.environ  # set while Gradio's queue read it, and no longer
    try:
        url = launch_local(demo, limits, monitor)
        answer = Client(url, verbose=False).predict("A man sleeps.", "Nobody sleeps.", api_name="/predict")
        assert answer["label"] in LABELS
    finally:
        demo.close()
    assert not worker.is_alive() and not runtime.outputs_root.exists()
    with pytest.raises(RuntimeError, match="closed"):
        runtime.scheduler.submit_pair("A man sleeps.", "Nobody sleeps.")
    demo.close()  # a second close does nothing


def test_an_app_closed_without_being_served_stops_too_and_keeps_a_folder_it_was_given(predictor, tmp_path) -> None:
    before = set(threading.enumerate())
    demo = build_demo(predictor, output_dir=tmp_path / "results")
    (worker,) = new_workers(before)
    demo.close()
    assert not worker.is_alive()
    assert (tmp_path / "results").is_dir()  # the caller's folder is the caller's
