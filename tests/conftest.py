"""Shared fixtures: the project's sample data, a tiny XLM-R checkpoint built once per test session, and the
factories that every test module builds its predictors (`make_predictor`) and served apps (`serve_app`) with."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contradiction.tiny import build_tiny_model, sample_sentences

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "sample"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained tiny XLM-R classifier (random weights, our label names) with its tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", sample_sentences(SAMPLE_DIR), seed=0)


@pytest.fixture(scope="session")
def make_predictor(tiny_model_dir) -> Callable:
    """`make_predictor(model=None, **options)`: a `Predictor` of a model folder (the tiny model when None) with
    `PredictorOptions(**options)`."""
    from contradiction.inference.options import PredictorOptions
    from contradiction.inference.predictor import Predictor

    def make(model: Path | str | None = None, **options):
        return Predictor.from_pretrained(model or tiny_model_dir, PredictorOptions(**options))

    return make


@pytest.fixture(scope="module")
def predictor(make_predictor):
    """The tiny model's predictor with the default options, one per test module."""
    return make_predictor()


@dataclass
class ServedApp:
    """An app served on a free loopback port: its URL, its page (`demo.context` holds the scheduler, monitor and
    limits its handlers share) and a gradio_client `Client` of it."""

    url: str
    demo: object
    client: object

    @property
    def monitor(self):
        return self.demo.context.monitor

    @property
    def predictor(self):
        return self.demo.context.scheduler.predictor


def _serving(make_predictor, tmp_path_factory) -> Iterator[Callable[..., ServedApp]]:
    from gradio_client import Client
    from local_app import launch_local

    from contradiction.serving.limits import Limits
    from contradiction.serving.monitoring.monitor import Monitor
    from contradiction.serving.page import build_demo

    started = []

    def serve(predictor=None, limits=None, monitor=None, record=None, **launch_options) -> ServedApp:
        limits, monitor = limits or Limits(), monitor or Monitor()
        outputs = tmp_path_factory.mktemp("outputs")
        demo = build_demo(predictor or make_predictor(), limits, monitor, output_dir=outputs, record=record)
        started.append(demo)
        url = launch_local(demo, limits, monitor, **launch_options)
        token = launch_options.get("api_token")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        client = Client(
            url, verbose=False, analytics_enabled=False, download_files=str(outputs / "downloads"), headers=headers
        )
        return ServedApp(url, demo, client)

    try:
        yield serve
    finally:
        for demo in started:
            demo.close()


@pytest.fixture(scope="module")
def serve_app(make_predictor, tmp_path_factory) -> Iterator[Callable[..., ServedApp]]:
    """`serve_app(predictor=None, limits=None, monitor=None, record=None, **launch_options)`: an app built with
    `build_demo` (the tiny model's predictor, default limits, a monitor without a database unless given) and served
    by `server.launch`; a `ServedApp`. Every app it served is closed when the test module ends."""
    yield from _serving(make_predictor, tmp_path_factory)


@pytest.fixture
def serve_app_for_test(make_predictor, tmp_path_factory) -> Iterator[Callable[..., ServedApp]]:
    """`serve_app` for one test: its apps are closed when the test ends (for a test that breaks its app)."""
    yield from _serving(make_predictor, tmp_path_factory)


@pytest.fixture
def slow_model(monkeypatch: pytest.MonkeyPatch) -> Callable[[object, float], list[int]]:
    """`slow_model(predictor, seconds_per_pass)`: every forward pass of `predictor` takes that much longer, until
    the test ends; returns the list of pass sizes, as they run."""

    def slow(predictor, seconds_per_pass: float) -> list[int]:
        sizes: list[int] = []
        original = predictor.predict_proba

        def slowed(premises, hypotheses, *args, **kwargs):
            sizes.append(len(premises))
            time.sleep(seconds_per_pass)
            return original(premises, hypotheses, *args, **kwargs)

        monkeypatch.setattr(predictor, "predict_proba", slowed)
        return sizes

    return slow


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache (returned) with HF_HUB_OFFLINE=1: a Hub id is looked up there and nowhere else."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture(scope="session")
def smoke_run(tiny_model_dir, tmp_path_factory) -> Path:
    """A model trained by train.py (configs/smoke.yaml, 8 steps on the sample data): its folder has the
    results, card, plots and calibration that train.py writes. Shared by every test that reads it."""
    from training_run import load_train_script, smoke_args

    out = tmp_path_factory.mktemp("smoke") / "model"
    load_train_script().main(smoke_args(tiny_model_dir, out, SAMPLE_DIR))
    return out


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Test coverage of the package as one line (pytest-cov's table is turned off in pyproject.toml)."""
    controller = getattr(config.pluginmanager.getplugin("_cov"), "cov_controller", None)
    if controller is not None and controller.cov is not None:
        total = controller.cov.report(file=io.StringIO())
        terminalreporter.write_line(f"coverage of the contradiction package: {total:.1f}%")
