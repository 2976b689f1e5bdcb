"""The package's layout: stages as subpackages whose imports go one way, and no module importing a command line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "contradiction"
STAGES = ("data", "inference", "training", "serving")
ALLOWED = {  # stage -> the stages it may import (the shared top-level modules are open to all)
    "data": set(),
    "inference": {"data"},
    "training": {"data", "inference"},
    "serving": {"data", "inference"},
}
COMMAND_LINES = ("predict_cli", "calibrate_cli", "classify_cli", "prepare_cli", "serving.cli")


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }


def _imports(path: Path) -> set[str]:
    """Every contradiction module `path` imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("contradiction"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from contradiction.x import y`
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("contradiction"))
    return names & set(_modules())


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_go_one_way(module: str) -> None:
    stage = _stage(module)
    if stage is None:  # a shared top-level module, or an entry point (`python -m contradiction.predict`)
        if module.count(".") == 1 and module not in (
            "contradiction.predict",
            "contradiction.calibrate",
            "contradiction.classify",
        ):
            assert {_stage(m) for m in _imports(_modules()[module])} <= {None}, f"{module} is shared: no stage"
        return
    for imported in _imports(_modules()[module]):
        other = _stage(imported)
        assert other in (None, stage, *ALLOWED[stage]), f"{module} ({stage}) imports {imported} ({other})"


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_imports_a_command_line(module: str) -> None:
    if module in ("contradiction.predict", "contradiction.calibrate", "contradiction.classify"):
        return  # the `python -m` entry points are each one line into their command line
    for imported in _imports(_modules()[module]):
        assert not imported.endswith(COMMAND_LINES), f"{module} imports the command line {imported}"


@pytest.mark.parametrize("stage", [*STAGES, "serving.monitoring"])
def test_every_subpackage_says_what_it_holds(stage: str) -> None:
    init = PACKAGE.joinpath(*stage.split(".")) / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert doc and len(doc.splitlines()) >= 3
    for path in init.parent.glob("*.py"):
        if path.name != "__init__.py":
            assert f"`{path.stem}`" in doc, f"{init} does not say what {path.name} holds"
