"""The optional access token (`--api_token`, `CONTRADICTION_API_TOKEN`): when set, the JSON API under /api/v1/ and the
MCP endpoint answer only requests that carry `Authorization: Bearer <token>`, 401 otherwise.

The page and Gradio's own API stay as they are (the page calls that API; a Space's visibility settings guard both).
The token is compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
import posixpath
import re

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_ENV = "CONTRADICTION_API_TOKEN"

GUARDED = ("/api/v1", "/gradio_api/mcp")
"""The path prefixes the token guards: the JSON API and Gradio's MCP server (its streamable HTTP and SSE transports)."""


def token_matches(authorization: bytes | None, token: str) -> bool:
    """Whether an `Authorization` header value is `Bearer <token>`; the token compared in constant time."""
    scheme, _, given = (authorization or b"").strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token.encode("utf-8"))


def guarded(path: str, root_path: str = "") -> bool:
    """Whether a request path falls under one of `GUARDED`, however its slashes and dot segments are written."""
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    path = posixpath.normpath(re.sub(r"/+", "/", "/" + path))
    return any(path == prefix or path.startswith(prefix + "/") for prefix in GUARDED)


class TokenGuard:
    """ASGI middleware: a request to a guarded path without the right bearer token gets 401 and a JSON sentence."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not guarded(scope["path"], scope.get("root_path", "")):
            await self.app(scope, receive, send)
            return
        authorization = next((value for key, value in scope["headers"] if key == b"authorization"), None)
        if token_matches(authorization, self.token):
            await self.app(scope, receive, send)
            return
        if authorization is None:
            message = "This route needs the app's access token; send the header Authorization: Bearer <token>."
        else:
            message = "The access token is wrong; send the header Authorization: Bearer <token> with the app's token."
        response = JSONResponse({"error": message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)
