"""The one-step JSON API under /api/v1/, beside the Gradio app on the same server: one POST, one JSON answer.

    curl -s http://127.0.0.1:7860/api/v1/nli -H 'Content-Type: application/json' \\
        -d '{"premise": "The museum closes at six.", "hypothesis": "The museum is open all night."}'
    # {"label": "contradiction", "probabilities": {"entailment": 0.01, "neutral": 0.03, "contradiction": 0.96}}

Each route reads and shape-checks its body here, then calls the same `Handlers` method as its Gradio endpoint: the
same checks and limits, the same scheduler (one pair with the single pairs, first; a list of pairs as a bulk call)
and the same monitoring, under the route's own endpoint name (`ENDPOINTS`). Bad input gets a 4xx and
`{"error": "<one sentence>"}`: 400 a body that is not JSON or a field missing or of the wrong type, 413 over a limit,
422 an empty text; a failure inside the model gets 503. `/api/v1/openapi.json` describes the routes.

Another route is one function like `nli`, one entry in `ROUTES` and `ENDPOINTS`, and its schemas in `openapi`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import gradio as gr
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contradiction.inference.zero_shot import DEFAULT_TEMPLATE
from contradiction.labels import LABELS
from contradiction.serving.handlers import MODEL_FAILED, Handlers, Refused, as_dict

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"

ENDPOINTS = {  # the monitoring names (latency panel, /metrics), apart from the Gradio endpoints' own
    "nli": "api_v1_nli",  # one pair, with the single pairs
    "nli_pairs": "api_v1_nli_pairs",  # a list of pairs, a bulk call (as /predict_batch)
    "classify": "api_v1_classify",
    "check_document": "api_v1_check_document",
}

JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}

READING_THE_PROBABILITIES = (
    "The three probabilities sum to 1; they are calibrated only when the app's /analyze says calibrated: true (else "
    "read them as a ranking). Trust them less for a language the model was not trained on, for a premise and a "
    "hypothesis in different languages, and when the top probability is low: /analyze names each case in its notes."
)
"""How to read the probabilities, in the OpenAPI description (the tools' docstrings say it in their own words)."""

APP_FAILED = "The app failed on this request; try again, and tell the operator if it keeps failing."


def _answer(row) -> dict:
    return {"label": LABELS[int(row.argmax())], "probabilities": as_dict(row)}


def _fields(on: Handlers, endpoint: str, body: dict, allowed: tuple[str, ...], example: str) -> None:
    """Refuse (400) a body with fields the route does not know, naming them and what it takes."""
    unknown = [name for name in body if name not in allowed]
    if unknown:
        names = ", ".join(json.dumps(name) for name in unknown[:3])
        raise on.refuse(endpoint, f"Unknown field {names} in the body; send {example}.")


def nli(on: Handlers, body: dict) -> dict | list[dict]:
    """`{"premise", "hypothesis"}` -> `{"label", "probabilities"}`; `{"pairs": [[p, h], ...]}` -> a list of them."""
    single = '{"premise": "...", "hypothesis": "..."} or {"pairs": [["premise", "hypothesis"], ...]}'
    if "pairs" not in body:
        _fields(on, ENDPOINTS["nli"], body, ("premise", "hypothesis"), single)
        missing = [name for name in ("premise", "hypothesis") if name not in body]
        if missing:
            raise on.refuse(
                ENDPOINTS["nli"], f"The body has no {' and no '.join(map(json.dumps, missing))}; send {single}."
            )
        row, _, _ = on.one_pair(ENDPOINTS["nli"], body["premise"], body["hypothesis"])
        return _answer(row)
    endpoint = ENDPOINTS["nli_pairs"]
    _fields(on, endpoint, body, ("pairs",), '{"pairs": [["premise", "hypothesis"], ...]} alone')
    pairs = body["pairs"]
    if not isinstance(pairs, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
        raise on.refuse(
            endpoint, '"pairs" must be a list of [premise, hypothesis] lists, e.g. [["It rains.", "It is dry."]].'
        )
    probs = on.many_pairs(endpoint, [pair[0] for pair in pairs], [pair[1] for pair in pairs])
    return [_answer(row) for row in probs]


def classify(on: Handlers, body: dict) -> dict:
    """`{"text", "labels", "template"?, "multi_label"?}` -> `{"sequence", "labels", "scores"}`, as `/classify`."""
    endpoint = ENDPOINTS["classify"]
    example = '{"text": "...", "labels": ["a", "b"], "template": "This text is about {}.", "multi_label": false}'
    _fields(on, endpoint, body, ("text", "labels", "template", "multi_label"), example)
    missing = [name for name in ("text", "labels") if name not in body]
    if missing:
        raise on.refuse(endpoint, f"The body has no {' and no '.join(map(json.dumps, missing))}; send {example}.")
    labels, template, multi_label = body["labels"], body.get("template"), body.get("multi_label", False)
    if not isinstance(labels, str | list):
        raise on.refuse(endpoint, '"labels" must be a list of strings, or one string of comma-separated labels.')
    if template is not None and not isinstance(template, str):
        raise on.refuse(
            endpoint, f'"template" must be a string with one {{}} for the label, e.g. "{DEFAULT_TEMPLATE}".'
        )
    if not isinstance(multi_label, bool):
        raise on.refuse(endpoint, '"multi_label" must be true or false.')
    return on.classification(endpoint, body["text"], labels, template, multi_label)


def check_document(on: Handlers, body: dict) -> dict:
    """`{"document", "claims"}` -> the overall label and each claim's label, probabilities and evidence, as
    `/check_document`."""
    endpoint = ENDPOINTS["check_document"]
    example = '{"document": "...", "claims": "One or more sentences."}'
    _fields(on, endpoint, body, ("document", "claims"), example)
    missing = [name for name in ("document", "claims") if name not in body]
    if missing:
        raise on.refuse(endpoint, f"The body has no {' and no '.join(map(json.dumps, missing))}; send {example}.")
    return on.document_check(endpoint, body["document"], body["claims"]).to_dict()


ROUTES: dict[str, tuple[str, Callable[[Handlers, dict], Any]]] = {
    f"{PREFIX}/nli": ("nli", nli),
    f"{PREFIX}/classify": ("classify", classify),
    f"{PREFIX}/check_document": ("check_document", check_document),
}
"""Path -> (its key in `ENDPOINTS`, whose name counts a body that is not JSON; the function that answers the body)."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, read no further than `limit` bytes; raises `Refused` (413) beyond it."""
    too_big = f"The body is over the limit of {limit / 2**20:.3g} MB; send fewer or shorter texts per call."
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(too_big, 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(too_big, 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw: bytes) -> dict:
    """The JSON object of a body; raises `Refused` (400) for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Refused(f"The body is not valid UTF-8 (byte {err.start}); send JSON encoded as UTF-8.", 400) from None
    if not text.strip():
        raise Refused('The body is empty; send a JSON object, e.g. {"premise": "...", "hypothesis": "..."}.', 400)
    try:
        body = json.loads(text)
    except json.JSONDecodeError as err:
        raise Refused(
            f"The body is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}).", 400
        ) from None
    if not isinstance(body, dict):
        kind = JSON_TYPES.get(type(body), "value")
        raise Refused(f"The body is a JSON {kind}, not an object; send a JSON object with named fields.", 400)
    return body


def endpoint_route(on: Handlers, path: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The Starlette endpoint of `path` in `ROUTES`: read, parse, answer in a worker thread, errors as JSON."""
    name, answer = ROUTES[path]
    endpoint = ENDPOINTS[name]

    async def respond(request: Request) -> JSONResponse:
        try:
            try:
                raw = await _body(request, on.limits.max_body_bytes)
                body = await run_in_threadpool(_parse, raw)  # megabytes of JSON: off the event loop
            except Refused as err:
                raise on.refuse(endpoint, err.message, err.status) from None
            # the handlers block until the scheduler answers: off the event loop too, as Gradio runs them
            return JSONResponse(await run_in_threadpool(answer, on, body))
        except Refused as err:
            return _error(err.status, err.message)
        except gr.Error as err:  # the handlers' one sentence for a failure inside the model, already counted
            return _error(503, err.message if err.message else MODEL_FAILED)
        except ClientDisconnect:
            return _error(400, "The client closed the connection before the body was read.")
        except Exception:
            logger.exception("the JSON API failed on a request to %s", path)
            on.monitor.error(endpoint, "model")
            return _error(500, APP_FAILED)

    return respond


def openapi(on: Handlers, token: bool) -> dict:
    """The OpenAPI 3.1 description of the routes, with this app's limits."""
    limits = on.limits
    text = {"type": "string", "minLength": 1, "maxLength": limits.max_chars}
    probabilities = {
        "type": "object",
        "properties": {label: {"type": "number", "minimum": 0, "maximum": 1} for label in LABELS},
        "required": list(LABELS),
        "description": READING_THE_PROBABILITIES,
    }
    label = {"type": "object", "properties": {"label": {"enum": list(LABELS)}, "probabilities": probabilities}}
    error = {"type": "object", "properties": {"error": {"type": "string", "description": "one sentence"}}}
    errors = {
        "400": "a body that is not JSON, or a field missing or of the wrong type",
        "413": "over a limit (the body, characters per text or document, pairs or labels per call)",
        "422": "an empty text or label, a repeated label, a template without one {}, a claim too long for a window",
        "503": "the model failed on this request",
        **({"401": "no or a wrong access token (Authorization: Bearer <token>)"} if token else {}),
    }
    responses = {code: {"description": why, "content": {"application/json": {"schema": error}}}
                 for code, why in errors.items()}  # fmt: skip

    def post(summary: str, request: dict, answer: dict) -> dict:
        return {"post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
            "responses": {"200": {"description": "the answer", "content": {"application/json": {"schema": answer}}},
                          **responses},
        }}  # fmt: skip

    pair = {
        "type": "object",
        "properties": {"premise": text, "hypothesis": text},
        "required": ["premise", "hypothesis"],
    }
    pairs = {
        "type": "object",
        "properties": {"pairs": {"type": "array", "maxItems": limits.max_pairs, "items": {
            "type": "array", "prefixItems": [text, text], "minItems": 2, "maxItems": 2}}},
        "required": ["pairs"],
    }  # fmt: skip
    classification = {
        "type": "object",
        "properties": {
            "text": text,
            "labels": {"oneOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1,
                                  "maxItems": limits.max_labels}, {"type": "string"}]},
            "template": {"type": "string", "default": DEFAULT_TEMPLATE},
            "multi_label": {"type": "boolean", "default": False},
        },
        "required": ["text", "labels"],
    }  # fmt: skip
    ranked = {
        "type": "object",
        "properties": {"sequence": {"type": "string"}, "labels": {"type": "array", "items": {"type": "string"}},
                       "scores": {"type": "array", "items": {"type": "number"}}},
        "description": "the labels sorted by score, highest first; the scores rank them, not calibrated",
    }  # fmt: skip
    span = {"type": "object", "properties": {"text": {"type": "string"}, "start": {"type": "integer"},
                                             "end": {"type": "integer"}}}  # fmt: skip
    claims_request = {
        "type": "object",
        "properties": {"document": {"type": "string", "minLength": 1, "maxLength": limits.max_document_chars},
                       "claims": {**text, "description": "one or more sentences, each checked on its own"}},
        "required": ["document", "claims"],
    }  # fmt: skip
    checked = {
        "type": "object",
        "properties": {
            "label": {"enum": list(LABELS), "description": "contradiction if any claim is contradicted, "
                      "entailment if all are entailed, else neutral"},
            "claims": {"type": "array", "items": {"type": "object", "properties": {
                "claim": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"},
                "label": {"enum": list(LABELS)},
                "probabilities": {**probabilities, "description": "those of the window that decides the claim"},
                "evidence": {"oneOf": [span, {"type": "null"}], "description": "the deciding sentence and its "
                             "character offsets in the document; null for a neutral claim"},
                "window": {"type": "object", "properties": {"start": {"type": "integer"},
                                                            "end": {"type": "integer"}}}}}},
            "sentences": {"type": "integer"}, "windows": {"type": "integer"}, "pairs": {"type": "integer"},
        },
    }  # fmt: skip
    document = {
        "openapi": "3.1.0",
        "info": {"title": "contradiction: multilingual NLI", "version": "1"},
        "paths": {
            f"{PREFIX}/nli": post(
                "Does the hypothesis follow from the premise (entailment), contradict it, or neither (neutral)? "
                "One pair, or a list of pairs (answered as a list, in order).",
                {"oneOf": [pair, pairs]},
                {"oneOf": [label, {"type": "array", "items": label}]},
            ),
            f"{PREFIX}/classify": post(
                "Zero-shot classification: which of your labels fits the text (one NLI pair per label).",
                classification,
                ranked,
            ),
            f"{PREFIX}/check_document": post(
                "Check claims against a whole document: each claim's label, probabilities and the sentence that "
                "decides it (the document is read in overlapping windows, nothing cut).",
                claims_request,
                checked,
            ),
        },
    }
    if token:
        document["components"] = {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}}
        document["security"] = [{"token": []}]
    return document


def routes(on: Handlers, token: bool = False) -> list[Route]:
    """The /api/v1/ routes for `launch`'s `app_kwargs`: `ROUTES` (POST), the OpenAPI description, and a JSON 404
    or 405 for every other path and method under the prefix."""
    description = openapi(on, token)
    responders = {path: endpoint_route(on, path) for path in ROUTES}

    def describe(_: Request) -> JSONResponse:
        return JSONResponse(description)

    async def elsewhere(request: Request) -> JSONResponse:
        path = request.url.path.rstrip("/")
        if path in responders and request.method == "POST":  # the route with a trailing slash
            return await responders[path](request)
        if path in responders or path == f"{PREFIX}/openapi.json":
            allowed = "POST" if path in responders else "GET"
            return JSONResponse({"error": f"{path} answers {allowed} only."}, 405, headers={"Allow": allowed})
        known = ", ".join([*ROUTES, f"{PREFIX}/openapi.json"])
        return _error(404, f"There is no {path}; the JSON API has {known}.")

    return [
        *(Route(path, responder, methods=["POST"]) for path, responder in responders.items()),
        Route(f"{PREFIX}/openapi.json", describe, methods=["GET"]),
        Route(PREFIX + "/{rest:path}", elsewhere, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    ]
