"""What bounds every request before a handler sees it: the body's size, one file per upload, how many requests
a client and a route may have at once, and a JSON body that can be read.

- **Body size**, on every POST of the server, Gradio's routes included: a body that declares more than its limit is
  refused with 413 before it is read; one that streams past it is stopped there (Starlette's
  `RequestBodyLimitMiddleware`). An upload may hold `Limits.max_upload_mb` and one file; any other body
  `Limits.max_body_bytes`.
- **Rate and concurrency**, per "door" (the JSON API's routes, Gradio's queue and direct calls, uploads, MCP): a
  client (its address) may send `Limits.rate_limit` requests through a door (a moving window of the `limits`
  library), and have `Limits.max_client_in_flight` of them unanswered at once; a door holds
  `Limits.max_in_flight` at once. Past any of them: 429 with `Retry-After`. Pages, assets, `/metrics` and the
  queue's event streams are not counted: they reach no model.
- **Readable JSON**: a JSON body for Gradio's API or MCP that `json.loads` cannot read (nested too deeply, an
  integer of thousands of digits, not UTF-8) is a 400 with one sentence, never a 500; the JSON API reads its own
  bodies with the same sentences (api.py).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict

import anyio
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import RequestBodyLimitResponder
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contradiction.serving.api import too_big, unparsable
from contradiction.serving.limits import Limits

UPLOAD_PATH = "/gradio_api/upload"
MULTIPART_OVERHEAD = 2**16  # the headers and boundaries of a one-file upload, beside the file itself
CLIENTS_KEPT = 10_000  # clients whose in-flight counts are kept at most (the oldest idle one goes first)


def door(scope: Scope) -> str | None:
    """The door a request goes through, or None for one that reaches no model (pages, assets, metrics, streams)."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path = scope["path"]
    if path.startswith("/api/v1/"):
        return "api:" + path.rstrip("/").rsplit("/", 1)[-1]
    if path.startswith(("/gradio_api/queue/join", "/gradio_api/call/", "/gradio_api/run/")):
        return "queue"
    if path.startswith(UPLOAD_PATH):
        return "upload"
    if path.startswith("/gradio_api/mcp"):
        return "mcp"
    return None


def _requests(n: int) -> str:
    return f"{n} request{'' if n == 1 else 's'}"


def _refusal(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyLimits:
    """ASGI middleware: the body size of every POST, and one file per upload (see the module's docstring)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        upload = scope["path"].startswith(UPLOAD_PATH)
        limit = self.limits.max_upload_bytes + MULTIPART_OVERHEAD if upload else self.limits.max_body_bytes
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            message = (
                f"The upload is {int(declared) / 2**20:.3g} MB, over the limit of {self.limits.max_upload_mb:g} MB; "
                "split the file, or predict it with `python -m contradiction.predict`."
                if upload
                else too_big(limit)
            )
            await _refusal(413, message)(scope, receive, send)
            return
        if upload:
            receive = _one_file(receive, headers.get("content-type", ""))
        await RequestBodyLimitResponder(self.app, limit)(scope, receive, send)


def _one_file(receive: Receive, content_type: str) -> Receive:
    """`receive` that counts a multipart body's parts as it streams, and stops it at the second."""
    boundary = next(
        (p.split("=", 1)[1].strip().strip('"') for p in content_type.split(";") if p.strip().startswith("boundary=")),
        None,
    )
    if not boundary:
        return receive
    delimiter = b"--" + boundary.encode("latin-1") + b"\r\n"
    state = {"parts": 0, "tail": b""}

    async def counted() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            data = state["tail"] + message.get("body", b"")
            state["parts"] += data.count(delimiter)
            state["tail"] = data[-(len(delimiter) - 1) :]
            if state["parts"] > 1:
                raise HTTPException(413, detail="Upload one file per request.")
        return message

    return counted


class RequestLimits:
    """ASGI middleware: at most `rate_limit` requests a client through each door, `max_client_in_flight` of them
    at once, and `max_in_flight` at once through a door; 429 with Retry-After past any."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits
        self.rate = parse(limits.rate_limit)
        self.window = MovingWindowRateLimiter(MemoryStorage())
        self._doors: dict[str, anyio.CapacityLimiter] = {}
        self._clients: OrderedDict[tuple[str, str], anyio.CapacityLimiter] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = door(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        if not self.window.hit(self.rate, name, client):
            reset = self.window.get_window_stats(self.rate, name, client).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            message = (
                f"Too many requests from this client: the limit is {self.limits.rate_limit} per route; "
                f"try again in {wait} s."
            )
            await _refusal(429, message, wait)(scope, receive, send)
            return
        route = self._doors.setdefault(name, anyio.CapacityLimiter(self.limits.max_in_flight))
        own = self._client_limiter(name, client)
        token = object()
        try:
            own.acquire_on_behalf_of_nowait(token)
        except anyio.WouldBlock:
            message = (
                f"This client already waits for {_requests(self.limits.max_client_in_flight)} on this route, its "
                "limit; wait for one to be answered."
            )
            await _refusal(429, message, 1)(scope, receive, send)
            return
        try:
            try:
                route.acquire_on_behalf_of_nowait(token)
            except anyio.WouldBlock:
                message = (
                    f"This route is answering {_requests(self.limits.max_in_flight)} already, its limit; try again "
                    "in a second."
                )
                await _refusal(429, message, 1)(scope, receive, send)
                return
            try:
                await self.app(scope, receive, send)
            finally:
                route.release_on_behalf_of(token)
        finally:
            own.release_on_behalf_of(token)

    def _client_limiter(self, name: str, client: str) -> anyio.CapacityLimiter:
        key = (name, client)
        limiter = self._clients.pop(key, None) or anyio.CapacityLimiter(self.limits.max_client_in_flight)
        self._clients[key] = limiter  # the newest last
        while len(self._clients) > CLIENTS_KEPT:
            oldest, idle = next(iter(self._clients.items()))
            if idle.borrowed_tokens:
                break
            del self._clients[oldest]
        return limiter


class ReadableJson:
    """ASGI middleware: a JSON body sent to Gradio's API or to MCP is read once here (its size is already bounded by
    `BodyLimits`); one `json.loads` cannot read is refused with 400 and one sentence, the others are passed on as
    they came."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if door(scope) not in ("queue", "mcp") or "json" not in Headers(scope=scope).get("content-type", ""):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            try:
                message = await receive()
            except HTTPException as error:  # a body without Content-Length that streamed past the limit (BodyLimits)
                if error.status_code != 413:
                    raise
                await _refusal(413, too_big(self.limits.max_body_bytes))(scope, receive, send)
                return
            if message["type"] != "http.request":  # the client left while sending
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if body.strip():
            try:
                json.loads(body)
            except (RecursionError, ValueError) as err:  # ValueError: invalid JSON, UTF-8 or a too-long integer
                await _refusal(400, unparsable(err))(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` that gives `body` whole first, then what the client sends next (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
