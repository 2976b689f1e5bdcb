"""A Hugging Face cache built by hand, in the layout huggingface_hub keeps downloads in, for offline Hub tests."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path


def fake_hub_cache(cache: Path, repo_id: str, files: Mapping[str, str | Path]) -> Path:
    """Put `files` (name -> a file to copy, or the text itself) in `cache` as `repo_id`'s main revision; return
    the snapshot folder they land in."""
    revision = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision, encoding="utf-8")
    for name, content in files.items():
        if isinstance(content, Path):
            shutil.copy(content, snapshot / name)
        else:
            (snapshot / name).write_text(content, encoding="utf-8")
    return snapshot
