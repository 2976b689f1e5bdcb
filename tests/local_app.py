"""An app built by a test, served on a free loopback port, its page's events called as a script can call them, and
the browser that reads it (app, bounds, browser, fault and monitoring tests)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import httpx
import pytest

from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.server import launch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local(demo: gr.Blocks, limits: Limits, monitor: Monitor, **kwargs) -> str:
    """Start `demo` in this process without blocking; return its URL. The caller closes it. `kwargs` go to
    `server.launch` (api_token, mcp_server)."""
    _, url, _ = launch(
        demo,
        limits,
        monitor,
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        server_port=free_port(),
        quiet=True,
        **kwargs,
    )
    return url


def call_event(url: str, event: str, data: list) -> dict:
    """An event of the page called as gradio_client's two steps call an endpoint, a private one too: {"complete":
    its outputs} or {"error": Gradio's error payload, whose "error" is the sentence}."""
    start = httpx.post(f"{url}gradio_api/call/{event}", json={"data": data}, timeout=60)
    assert start.status_code == 200, (event, start.text)
    stream = httpx.get(f"{url}gradio_api/call/{event}/{start.json()['event_id']}", timeout=120).text
    kind = stream.split("event: ", 1)[1].split("\n", 1)[0]
    return {kind: json.loads(stream.split("data:", 1)[1].strip().splitlines()[0])}


@contextmanager
def served(demo: gr.Blocks, limits: Limits, monitor: Monitor, **kwargs) -> Iterator[str]:
    """`launch_local` for the length of a `with` block: its URL, and the app closed at the end."""
    url = launch_local(demo, limits, monitor, **kwargs)
    try:
        yield url
    finally:
        demo.close()


CHROMIUM = Path("/usr/bin/chromium")
# flags for a container without a sandbox, GPU or network; they also keep Chromium from phoning home
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_tools():
    """Playwright's sync API, or a skip that says what is missing."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    return pytest.importorskip(
        "playwright.sync_api", reason="needs the playwright package: pip install -r requirements-dev.txt"
    )


@contextmanager
def browser_page(url: str) -> Iterator:
    """A headless Chromium page open at `url` (skips the test when the browser or playwright is missing)."""
    sync_playwright = browser_tools().sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            yield page
        finally:
            browser.close()
