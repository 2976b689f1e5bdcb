"""Outputs written as they go: each chunk appended to `<output>.partial`, and `<output>.progress.json` recording
how many bytes of each are whole, which is where `--resume` continues after a kill. The final names appear only
when every row is written.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from contradiction.errors import UserError
from contradiction.files import write_json


def partial_path(path: Path) -> Path:
    """Where an output grows while a run is going: the final name plus `.partial`, so it never looks complete."""
    return path.with_name(path.name + ".partial")


def progress_path(path: Path) -> Path:
    return path.with_name(path.name + ".progress.json")


class ChunkedOutputs:
    """CSV outputs appended a chunk at a time; a progress file beside the first says how much of each is whole.

    `start(resume=True)` cuts each partial file back to its last recorded size (a chunk written but not recorded
    when the run was killed goes), so the finished files are the bytes an uninterrupted run writes.
    """

    def __init__(self, targets: list[Path], settings: dict[str, Any]) -> None:
        self.targets = targets
        self.progress = progress_path(targets[0])
        self.settings = settings  # what must not change between a run and its resumption
        self.sizes = dict.fromkeys(targets, 0)
        self.rows_done = 0
        self.chunks_done = 0
        self.counts: dict[str, int] = {}  # a tally the caller keeps with the rows (labels predicted), resumed too

    def start(self, resume: bool) -> int:
        """Continue from the progress file when `resume` and one exists, else start afresh; return rows done.

        Raises:
            UserError: the progress file was written with other settings, or its partial files are gone.
        """
        if resume and self.progress.is_file():
            self._continue(json.loads(self.progress.read_text(encoding="utf-8")))
            return self.rows_done
        if self.progress.is_file():
            print(f"{self.progress} is from an unfinished run; starting over (--resume continues it)", file=sys.stderr)
        for target in self.targets:
            partial_path(target).parent.mkdir(parents=True, exist_ok=True)
            partial_path(target).write_bytes(b"")
        self._record()
        return 0

    def _continue(self, saved: dict[str, Any]) -> None:
        fix = "or run without --resume to start over"
        for key, value in self.settings.items():
            if saved["settings"].get(key) != value:
                if key == "input":
                    raise UserError(
                        f"--resume: {self.settings['input']['path']} is not the file {self.progress} was "
                        f"written for (or it changed since); pass that file, {fix}."
                    )
                raise UserError(
                    f"--resume: {self.progress} was written with {key} {saved['settings'].get(key)}, not {value}; "
                    f"pass the same value, {fix}."
                )
        for target in self.targets:
            size = saved["bytes"][str(target.resolve())]
            partial = partial_path(target)
            if not partial.is_file() or partial.stat().st_size < size:
                raise UserError(f"--resume: {partial} is missing or shorter than {self.progress} records; {fix}.")
            with open(partial, "r+b") as f:
                f.truncate(size)
            self.sizes[target] = size
        self.rows_done, self.chunks_done, self.counts = saved["rows_done"], saved["chunks_done"], saved["counts"]

    def append(self, frames: list[pd.DataFrame], counts: dict[str, int] | None = None) -> None:
        """Append one chunk's frame to each output (the header with the first), then record the new sizes and
        add `counts` to the tally."""
        for target, frame in zip(self.targets, frames, strict=True):
            data = frame.to_csv(index=False, header=self.sizes[target] == 0).encode("utf-8")
            with open(partial_path(target), "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # on disk before the progress file says so
            self.sizes[target] += len(data)
        self.rows_done += len(frames[0])
        self.chunks_done += 1
        for key, count in (counts or {}).items():
            self.counts[key] = self.counts.get(key, 0) + int(count)
        self._record()

    def _record(self) -> None:
        write_json(
            self.progress,
            {
                "rows_done": self.rows_done,
                "chunks_done": self.chunks_done,
                "bytes": {str(target.resolve()): size for target, size in self.sizes.items()},
                "counts": self.counts,
                "settings": self.settings,
            },
        )

    def finish(self) -> None:
        """Give every output its final name, then drop the progress file."""
        for target in self.targets:
            os.replace(partial_path(target), target)
        self.progress.unlink()


def input_identity(path: Path) -> dict[str, Any]:
    """What tells a resumed run that its input is the file it started on: path, size, modification time."""
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "modified_ns": stat.st_mtime_ns}
