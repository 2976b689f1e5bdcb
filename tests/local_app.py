"""An app built by a test, served on a free loopback port (app, browser, fault and monitoring tests)."""

from __future__ import annotations

import socket

import gradio as gr

from contradiction.monitoring import Monitor
from contradiction.ui import Limits, launch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local(demo: gr.Blocks, limits: Limits, monitor: Monitor) -> str:
    """Start `demo` in this process without blocking; return its URL. The caller closes it."""
    _, url, _ = launch(
        demo, limits, monitor, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True
    )
    return url
