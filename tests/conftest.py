"""Shared fixtures: the project's sample data and a tiny XLM-R checkpoint built once per test session."""

from __future__ import annotations

import io
import os
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
