"""The one-step JSON API under /api/v1/: a FastAPI app, mounted beside the Gradio page on the same server.

    curl -s http://127.0.0.1:7860/api/v1/nli -H 'Content-Type: application/json' \\
        -d '{"premise": "The museum closes at six.", "hypothesis": "The museum is open all night."}'
    # {"label": "contradiction", "probabilities": {"entailment": 0.01, "neutral": 0.03, "contradiction": 0.96}}

Each feature declares its routes as `JsonRoute`s: the pydantic models of the body and the answer, and the
handler that answers (the same one its Gradio endpoint calls, with the same checks, limits, scheduler and
monitoring, under the route's own endpoint name). FastAPI validates each body against its model and writes
`/api/v1/openapi.json` from the models, with the app's limits filled in (`LIMIT_KEY`). Every refusal is a 4xx and
`{"error": "<one sentence>"}`: FastAPI's own errors are turned into the sentence of `refusal` (400 a body that is not
JSON or a field missing, unknown or of the wrong type), the handlers' into theirs (413 over a limit, 422 a text the
model cannot use); 503 a failure inside the model, or a queue too full to take the request (with Retry-After), 500
one of the app. Each body is read as JSON whatever its Content-Type says (curl's `-d` sends form encoding), up to
`Limits.max_body_bytes`.

The handlers run in the API's own worker threads (`API_THREADS`, not anyio's shared 40), so that a saturated JSON API
leaves Gradio's events and /metrics theirs. A request whose client goes away is cancelled: its bulk jobs leave the
scheduler's queue before their next chunk (`scheduler.Caller`).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import Any

import anyio
import gradio as gr
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from contradiction.serving.common import MODEL_FAILED, Refused
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.scheduler import CALLER, Caller

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"

APP_FAILED = "The app failed on this request; try again, and tell the operator if it keeps failing."

API_THREADS = 16
"""Worker threads for the handlers (each waits for the scheduler), per kind of body (one pair, a list of pairs, a
classification, a document): the API's own, not anyio's shared 40, so that a full JSON API leaves threads for
Gradio's events and /metrics, and many lists or documents never keep a single pair waiting for a thread."""

DISCONNECT_POLL_S = 0.25  # how often a request being answered looks whether its client is still there

LIMIT_KEY = "x-limit"
"""In a model's JSON schema, {"x-limit": {"maxLength": "max_chars"}}: the description says maxLength with the app's
`Limits.max_chars`."""

JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}

ERROR_STATUSES = {
    400: "a body that is not JSON, or a field missing, unknown or of the wrong type",
    413: "over a limit (the body, characters per text or document, pairs or labels per call)",
    422: "an empty text or label, a repeated label, a template without one {}, a claim too long for a window",
    503: "the model failed on this request",
}


class ErrorAnswer(BaseModel):
    """Every refusal's body."""

    error: str


@dataclass(frozen=True)
class BodyShape:
    """What a refusal of a malformed body of one shape says: the monitoring name it is counted under, the body
    to send instead, and per field the sentence for a value of the wrong type or shape."""

    endpoint: str
    example: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JsonRoute:
    """One POST route: `path` under /api/v1, its body and answer models, and `answer`, the handler that answers
    a validated body (it runs in a worker thread). `shapes` are the body's shapes by the tag of a union of models
    (`pydantic.Tag`), or one under "" for a single model."""

    path: str
    summary: str
    body: Any
    answer_model: Any
    answer: Callable[[Any], Any]
    shapes: dict[str, BodyShape]

    def shape(self, tag: str) -> BodyShape:
        """The shape of `tag`, else the first: the one a body that is no shape at all is counted under."""
        return self.shapes.get(tag) or next(iter(self.shapes.values()))


class JsonBodies:
    """ASGI middleware: every request body is read as JSON, whatever its Content-Type says, and one that declares
    more than `max_body_size` bytes is refused before it is read (a body that streams past it is refused by
    Starlette's `RequestBodyLimitMiddleware`, inside this one)."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_size:
            await JSONResponse({"error": too_big(self.max_body_size)}, status_code=413)(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        await self.app({**scope, "headers": [*headers, (b"content-type", b"application/json")]}, receive, send)


def too_big(max_body_size: int) -> str:
    return f"The body is over the limit of {max_body_size / 2**20:.3g} MB; send fewer or shorter texts per call."


def build_api(routes: list[JsonRoute], limits: Limits, monitor: Monitor, token: bool = False) -> FastAPI:
    """The API app of `routes`, to mount at `PREFIX` (`server.launch` does); refusals counted in `monitor` under
    each body shape's endpoint; `token`: its description says that the routes need a bearer token."""
    api = FastAPI(
        title="contradiction: multilingual NLI",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        middleware=[
            Middleware(JsonBodies, max_body_size=limits.max_body_bytes),
            Middleware(RequestBodyLimitMiddleware, max_body_size=limits.max_body_bytes),
        ],
    )
    by_path: dict[str, JsonRoute] = {}
    threads: dict[type, anyio.CapacityLimiter] = {}  # per kind of body; made in the event loop that serves the app

    for route in routes:
        by_path[PREFIX + route.path] = route
        endpoint = _endpoint(route, threads)
        responses = {status: {"model": ErrorAnswer, "description": why} for status, why in ERROR_STATUSES.items()}
        if token:
            responses[401] = {"model": ErrorAnswer, "description": "no or a wrong access token"}
        for path, shown in ((route.path, True), (route.path + "/", False)):  # a trailing slash is the same route
            api.add_api_route(
                path,
                endpoint,
                methods=["POST"],
                response_model=route.answer_model,
                summary=route.summary,
                responses=responses,
                include_in_schema=shown,
            )

    def refused(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    def route_of(request: Request) -> JsonRoute | None:
        return by_path.get(request.url.path.rstrip("/"))

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        route = route_of(request)
        status, message, shape = refusal(error.errors(), error.body, route)
        if route is not None:
            monitor.error((shape or route.shape("")).endpoint, "input")
        return refused(status, message)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        path = request.url.path.rstrip("/")
        if error.status_code == 404:
            known = ", ".join([*by_path, f"{PREFIX}/openapi.json"])
            return refused(404, f"There is no {path}; the JSON API has {known}.")
        if error.status_code == 405:
            allowed = "GET" if path == f"{PREFIX}/openapi.json" else "POST"
            return refused(405, f"{path} answers {allowed} only.", {"Allow": allowed})
        if error.status_code == 413:  # a body that streamed past the limit
            message = too_big(limits.max_body_bytes)
        else:  # 400: a body FastAPI could not read
            message = unparsable(error.__cause__)
        if (route := route_of(request)) is not None:
            monitor.error(route.shape("").endpoint, "input")
        return refused(error.status_code, message)

    @api.exception_handler(Refused)  # the handlers' refusals, already counted
    async def refused_by_handler(request: Request, error: Refused) -> JSONResponse:
        wait = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
        return refused(error.status, error.message, wait)

    @api.exception_handler(gr.Error)  # a failure inside the model, already counted by the handler
    async def model_failed(request: Request, error: gr.Error) -> JSONResponse:
        return refused(503, error.message or MODEL_FAILED)

    @api.exception_handler(ClientDisconnect)
    async def gone(request: Request, error: ClientDisconnect) -> JSONResponse:
        return refused(400, "The client closed the connection before the body was read.")

    @api.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        logger.error("the JSON API failed on a request to %s", request.url.path, exc_info=error)
        if (route := route_of(request)) is not None:
            monitor.error(route.shape("").endpoint, "model")
        return refused(500, APP_FAILED)

    def openapi() -> dict:
        if api.openapi_schema is None:
            document = get_openapi(title=api.title, version=api.version, routes=api.routes)
            document["paths"] = {PREFIX + path: item for path, item in document["paths"].items()}
            document.pop("servers", None)
            if token:
                document.setdefault("components", {})["securitySchemes"] = {
                    "token": {"type": "http", "scheme": "bearer"}
                }
                document["security"] = [{"token": []}]
            api.openapi_schema = _fill_limits(document, limits)
        return api.openapi_schema

    api.openapi = openapi
    return api


def _endpoint(route: JsonRoute, threads: dict[type, anyio.CapacityLimiter]) -> Callable:
    """The FastAPI endpoint of `route`: its validated body answered in one of the API's worker threads for its kind
    of body, as a `Caller` that leaves when the client disconnects."""

    async def endpoint(request: Request, body: Any) -> Any:
        limiter = threads.get(type(body)) or threads.setdefault(type(body), anyio.CapacityLimiter(API_THREADS))
        caller = Caller()
        serving = CALLER.set(caller)  # the worker thread gets a copy of this task's context
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as watching:
                watching.start_soon(_leave_when_gone, request, caller)
                try:
                    answer = await anyio.to_thread.run_sync(route.answer, body, limiter=limiter)
                except Exception as error:  # raised below as it is: out of the task group, which would wrap it
                    failure = error
                watching.cancel_scope.cancel()
        finally:
            CALLER.reset(serving)
        if isinstance(failure, CancelledError) and caller.left:  # its jobs were cancelled: nobody reads this
            return JSONResponse({"error": "The client closed the connection; the request was cancelled."}, 499)
        if failure is not None:
            raise failure
        return answer

    # FastAPI reads the body's model from the signature, and passes the request to a parameter typed `Request`
    endpoint.__signature__ = inspect.Signature(
        [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=route.body),
        ]
    )
    return endpoint


async def _leave_when_gone(request: Request, caller: Caller) -> None:
    """Until cancelled: look every `DISCONNECT_POLL_S` whether the client is still there; when not, `caller` leaves."""
    while not await request.is_disconnected():
        await anyio.sleep(DISCONNECT_POLL_S)
    caller.leave()


def refusal(errors: list[dict], body: object, route: JsonRoute | None) -> tuple[int, str, BodyShape | None]:
    """The status and sentence for FastAPI's validation `errors` of a body sent to `route`, and the shape of body
    it was taken for: the first of a body that is not JSON, empty or not an object, then unknown fields, then
    missing ones, then a field of the wrong type or shape (in the order of the model's fields)."""
    first = errors[0]
    if first["type"] == "json_invalid":
        position = first["loc"][-1]
        text = body if isinstance(body, str) else ""
        line = text.count("\n", 0, position) + 1
        column = position - text.rfind("\n", 0, position)
        return 400, f"The body is not valid JSON ({first['ctx']['error']} at line {line}, column {column}).", None
    if first["type"] == "missing" and tuple(first["loc"]) == ("body",):
        return 400, 'The body is empty; send a JSON object, e.g. {"premise": "...", "hypothesis": "..."}.', None
    places = [tuple(error["loc"][1:]) for error in errors]  # inside the body
    shape = None
    if route is not None:
        tag = ""
        if "" not in route.shapes and places[0]:  # a union of models: its tag comes first
            tag, places = str(places[0][0]), [place[1:] for place in places]
        shape = route.shapes.get(tag)
    example = shape.example if shape else "a JSON object"
    for error, place in zip(errors, places, strict=True):
        if error["type"] in ("model_attributes_type", "dict_type") and not place:
            kind = JSON_KINDS.get(type(error["input"]), "value")
            return 400, f"The body is a JSON {kind}, not an object; send a JSON object with named fields.", shape
    unknown = [
        str(place[-1]) for error, place in zip(errors, places, strict=True) if error["type"] == "extra_forbidden"
    ]
    if unknown:
        names = ", ".join(json.dumps(name) for name in unknown[:3])
        return 400, f"Unknown field {names} in the body; send {example}.", shape
    missing = [
        str(place[0])
        for error, place in zip(errors, places, strict=True)
        if error["type"] == "missing" and len(place) == 1
    ]
    if missing:
        return 400, f"The body has no {' and no '.join(map(json.dumps, missing))}; send {example}.", shape
    for place in places:
        if shape is not None and place and place[0] in shape.fields:
            return 400, shape.fields[place[0]], shape
    return 400, f"The body does not fit the route; send {example}.", shape


def unparsable(cause: BaseException | None) -> str:
    """The sentence for a body that `json.loads` could not read (FastAPI and Gradio say only "There was an error
    parsing the body"), from what it raised."""
    if isinstance(cause, json.JSONDecodeError):
        return f"The body is not valid JSON ({cause.msg} at line {cause.lineno}, column {cause.colno})."
    if isinstance(cause, UnicodeDecodeError):
        return f"The body is not valid UTF-8 (byte {cause.start}); send JSON encoded as UTF-8."
    if isinstance(cause, RecursionError):
        return "The body's JSON is nested too deeply to read; send a flat JSON object."
    if isinstance(cause, ValueError):  # e.g. an integer of thousands of digits
        return f"The body's JSON cannot be read ({str(cause).split(';')[0].strip()}); send ordinary numbers."
    return "The body could not be read as JSON; send a JSON object."


def _fill_limits(document: object, limits: Limits) -> object:
    """The description with every `LIMIT_KEY` replaced by the limit it names."""
    if isinstance(document, list):
        return [_fill_limits(item, limits) for item in document]
    if not isinstance(document, dict):
        return document
    filled = {key: _fill_limits(value, limits) for key, value in document.items() if key != LIMIT_KEY}
    for key, name in document.get(LIMIT_KEY, {}).items():
        filled[key] = getattr(limits, name)
    return filled
