"""A smoke training run as the tests start it: train.py's main with configs/smoke.yaml on the sample data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")


def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def smoke_args(model_dir: Path, out: Path, sample_dir: Path, *extra: str) -> list[str]:
    return [
        SMOKE,
        "--model_name_or_path",
        str(model_dir),
        "--output_dir",
        str(out),
        "--train_file",
        str(sample_dir / "train.csv"),
        "--test_file",
        str(sample_dir / "test.csv"),
        *extra,
    ]
