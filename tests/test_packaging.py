"""What `pip install .` gives: the console scripts of pyproject.toml, each a command that takes no argument."""

from __future__ import annotations

import importlib
import inspect
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_console_script_names_a_function_that_takes_no_argument():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    scripts = project["scripts"]
    assert set(scripts) == {
        "contradiction-predict",
        "contradiction-calibrate",
        "contradiction-classify",
        "contradiction-app",
        "contradiction-prepare",
    }
    for target in scripts.values():
        module, name = target.split(":")
        function = getattr(importlib.import_module(module), name)
        assert not inspect.signature(function).parameters, target
    assert "pytest" not in " ".join(project["dependencies"])  # the tests' tools are dev requirements
