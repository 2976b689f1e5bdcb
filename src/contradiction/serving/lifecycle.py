"""What the app runs besides its page, started when the page is built and stopped when it is closed.

`build_demo` returns an `App`: Gradio's `Blocks` whose `close()` also stops the scheduler's worker thread and
removes the result folder the app made for itself. Gradio's setting the app changes is set only while Gradio
reads it (`env_default`), so nothing of the app outlives `close()` in the process.

    demo = build_demo(predictor)
    try:
        launch(demo, limits, monitor)   # server.launch: blocks until Ctrl-C (python app.py)
    finally:
        demo.close()                    # the server, then the scheduler and the result folder
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from contradiction.serving.scheduler import Scheduler

if TYPE_CHECKING:
    from contradiction.serving.api import JsonRoute
    from contradiction.serving.common import Context


class Runtime:
    """The scheduler's worker thread in front of `predictor` and the folder of result files; `close()` stops both.

    Args:
        output_dir: where CSV results are written; None: a new folder in the system temp dir, removed at close
            (or at exit, for a process that ends without closing the app).
        pair_batch_size, chunk_size: the scheduler's (see `Scheduler`).
    """

    def __init__(self, predictor: Any, output_dir: str | Path | None, pair_batch_size: int, chunk_size: int) -> None:
        self._owns_outputs = output_dir is None
        self.outputs_root = Path(tempfile.mkdtemp(prefix="contradiction-app-") if output_dir is None else output_dir)
        self.outputs_root.mkdir(parents=True, exist_ok=True)
        if self._owns_outputs:
            atexit.register(self._remove_outputs)
        self.scheduler = Scheduler(predictor, pair_batch_size=pair_batch_size, chunk_size=chunk_size)

    def _remove_outputs(self) -> None:
        shutil.rmtree(self.outputs_root, ignore_errors=True)

    def close(self) -> None:
        """Stop the worker (queued work is cancelled) and remove the result folder the app made; idempotent."""
        self.scheduler.close()
        if self._owns_outputs:
            atexit.unregister(self._remove_outputs)
            self._remove_outputs()


class App(gr.Blocks):
    """The page (`build_demo`) and its `Runtime`: `close()` stops the server when it runs, then the runtime.
    `context` is what its handlers share; `json_routes` the JSON API that `server.launch` serves beside it."""

    runtime: Runtime | None = None
    context: Context | None = None
    json_routes: list[JsonRoute] | None = None

    def close(self, verbose: bool = True) -> None:
        try:
            super().close(verbose)
        finally:
            if self.runtime is not None:
                self.runtime.close()


@contextmanager
def env_default(name: str, value: str) -> Iterator[None]:
    """`name` set to `value` inside the block unless the user set it; afterwards as it was."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)
