"""The app's API endpoints as MCP tools (Gradio's MCP server, `server.launch(mcp_server=True)`), listed and called by a
real MCP client (the `mcp` package) over streamable HTTP on the loopback, offline."""

from __future__ import annotations

import ast
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from conftest import ServedApp
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from contradiction.labels import LABELS

TOKEN = "another-t0ken-for-the-tests"
TOOLS = {"predict", "analyze", "predict_batch", "classify", "predict_file", "check_document"}  # the public endpoints
PRIVATE = {
    "check_pair",
    "describe",
    "classify_scores",
    "check_classification",
    "describe_classification",
    "load_example",
    "load_classify_example",
    "clear_file_results",
    "stop_file",
    "monitoring",
    "check_document_page",
    "check_document_input",
    "load_document_example",
}


@pytest.fixture(scope="module")
def app(serve_app) -> ServedApp:
    """The app with MCP on and the access token set."""
    return serve_app(api_token=TOKEN)


def with_session(url: str, work: Callable[[ClientSession], Awaitable[Any]], token: str | None = TOKEN) -> Any:
    """Run `work` in an initialized MCP session with the app's MCP endpoint."""
    headers = {"Authorization": f"Bearer {token}"} if token else None

    async def run() -> Any:
        async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300)) as http:
            async with streamable_http_client(f"{url}gradio_api/mcp/", http_client=http) as (read, write, _):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await work(session)

    return anyio.run(run)


@pytest.mark.slow
def test_the_tools_are_the_public_endpoints_with_their_descriptions(app) -> None:
    tools = {tool.name: tool for tool in with_session(app.url, lambda session: session.list_tools()).tools}
    assert set(tools) == TOOLS
    assert not PRIVATE & set(tools)
    analyze = tools["analyze"]
    assert set(analyze.inputSchema["required"]) == {"premise", "hypothesis"}
    assert analyze.inputSchema["properties"]["premise"]["type"] == "string"
    assert "source text" in analyze.inputSchema["properties"]["premise"]["description"]
    for name in ("predict", "analyze", "predict_batch"):
        description = tools[name].description
        assert "entailment" in description and "calibrated" in description, name
    assert "not calibrated" in tools["classify"].description
    check = tools["check_document"]
    assert set(check.inputSchema["required"]) == {"document", "claims"}
    assert "evidence" in check.description and "window" in check.description
    assert "Returns:" in analyze.description and "notes" in analyze.description


def test_analyze_is_called_through_the_app(app) -> None:
    url, monitor = app.url, app.monitor
    before = monitor.metrics.requests.labels("analyze")._value.get()

    async def call(session):
        return await session.call_tool("analyze", {"premise": "Il pleut depuis ce matin.", "hypothesis": "Il pleut."})

    result = with_session(url, call)
    assert not result.isError
    answer = ast.literal_eval(result.content[0].text)  # Gradio's MCP server sends the endpoint's value as its str()
    assert answer["label"] in LABELS
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert {"premise_language", "language_record", "calibrated", "notes"} <= set(answer)
    assert monitor.metrics.requests.labels("analyze")._value.get() == before + 1  # the same handler and monitoring


def test_a_refused_input_is_an_error_result_with_its_sentence(app) -> None:
    async def call(session):
        return await session.call_tool("analyze", {"premise": " ", "hypothesis": "Il pleut."})

    result = with_session(app.url, call)
    assert result.isError
    assert "The premise is empty" in result.content[0].text


def test_mcp_needs_the_token_when_one_is_set(app) -> None:
    client = {"name": "test", "version": "0"}
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    headers = {"Accept": "application/json, text/event-stream"}
    for authorization in (None, "Bearer wrong"):
        extra = {"Authorization": authorization} if authorization else {}
        response = httpx.post(f"{app.url}gradio_api/mcp/", json=initialize, headers={**headers, **extra})
        assert response.status_code == 401 and "error" in response.json()
    assert TOOLS <= {tool.name for tool in with_session(app.url, lambda s: s.list_tools()).tools}  # with the token


def test_mcp_is_on_unless_turned_off_and_the_token_comes_from_the_environment(monkeypatch, capsys) -> None:
    from contradiction.serving.cli import parse_args

    monkeypatch.delenv("GRADIO_MCP_SERVER", raising=False)
    monkeypatch.delenv("CONTRADICTION_API_TOKEN", raising=False)
    assert not parse_args([]).no_mcp and parse_args([]).api_token is None
    assert parse_args(["--no_mcp"]).no_mcp
    monkeypatch.setenv("GRADIO_MCP_SERVER", "false")
    monkeypatch.setenv("CONTRADICTION_API_TOKEN", TOKEN)
    args = parse_args([])
    assert args.no_mcp and args.api_token == TOKEN
    assert parse_args(["--api_token", "other"]).api_token == "other"  # the flag wins
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    printed = capsys.readouterr().out
    assert "--api_token" in printed and TOKEN not in printed


def test_a_document_check_over_the_pair_limit_is_an_error_result_with_its_sentence(app) -> None:
    document = " ".join(f"Sentence number {i} says that the town has {i} bridges." for i in range(1200))[:50_000]

    async def call(session):
        return await session.call_tool("check_document", {"document": document, "claims": "It has bridges. It rains."})

    result = with_session(app.url, call)
    assert result.isError
    assert (
        "claim sentences), over the limit of 1,024; send fewer claims or a shorter document" in result.content[0].text
    )
