"""What the app runs besides its page, started when the page is built and stopped when it is closed.

`build_demo` returns an `App`: Gradio's `Blocks` whose `close()` also stops the scheduler's worker thread and
removes the result folder the app made for itself, and which holds every event to its text boxes' limits
(`App.validate_inputs`). Gradio's setting the app changes is set only while Gradio reads it (`env_default`), so
nothing of the app outlives `close()` in the process.

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

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        """Gradio's check of an event's inputs, then ours: each text box's text within the box's `max_length`, and
        text at all, whoever sends it (the page, gradio_client, a call of a private event such as `describe`),
        before the event's function runs; refused in one sentence that names the box, counted under the event's
        name. An empty box is the function's to handle. Gradio calls this before it preprocesses any input
        (tests/test_bounds.py fails the day it stops)."""
        super().validate_inputs(block_fn, inputs)
        if self.context is None:
            return
        for block, value in zip(block_fn.inputs, inputs, strict=False):
            if isinstance(block, gr.Textbox) and block.max_length:
                name = (block.label or "text").split(" (")[0].lower()  # "Claims (one or more sentences)": claims
                event = block_fn.api_name or block_fn.name
                self.context.check_texts(event, [(f"{name} box", value)], block.max_length, blank_ok=True)

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
