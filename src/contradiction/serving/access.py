"""The optional access token (`--api_token`, `CONTRADICTION_API_TOKEN`) and one rule for every route: with a token
set, a request reaches nothing of the app (the page, Gradio's API and queue, uploads, the JSON API, MCP, /metrics)
unless it carries the token; without one the app is open, as a public Space is.

- Scripts send `Authorization: Bearer <token>` (curl, an MCP client, `gradio_client.Client(url, headers=...)`).
- A person opens the page once through `/access`, a form that asks for the token and, when it is right, sets a
  cookie (HttpOnly, SameSite=Strict) holding an HMAC of the token, not the token; the page's own calls then carry
  the cookie. A browser sent to any other route without it is redirected there.
- Deny by default: only `OPEN_PATHS` are open, so a route added later (ours or Gradio's) cannot forget the token.

Whether or not a token is set, a path with a dot segment (`/a/../b`, `%2e%2e` included) or an encoded slash is
refused with 400 before it is routed, so that what is checked is what Starlette routes. Tokens are compared in
constant time and never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from urllib.parse import parse_qs, quote, urlsplit

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_ENV = "CONTRADICTION_API_TOKEN"

ACCESS_PATH = "/access"
"""The page's form that asks for the token."""

OPEN_PATHS = (ACCESS_PATH, "/gradio_api/startup-events")
"""The routes open without the token: the access form, and the call with which Gradio's `launch` checks that its
own server has started (it runs the page's start-up events once; it reaches no handler, model or data)."""

OWN_MCP_CLIENT = ("/config", "/gradio_api/info", "/gradio_api/queue/data", "/gradio_api/heartbeat/")
"""What Gradio's MCP server asks of its own app through a gradio_client of its own that carries no token: the page's
description before it runs a tool, and the stream of a tool's result (the tool's call itself, `queue/join`, carries
the MCP client's token, and a stream only ever holds the results of calls that joined with it). No handler, model or
data: open only to that client, from this machine's loopback, marked `x-gradio-user: mcp`, not through a proxy."""

COOKIE = "contradiction_access"

MAX_FORM_BYTES = 4096  # the access form's body: a token and where to go next


def token_matches(authorization: bytes | None, token: str) -> bool:
    """Whether an `Authorization` header value is `Bearer <token>`; the token compared in constant time."""
    scheme, _, given = (authorization or b"").strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token.encode("utf-8"))


def cookie_value(token: str) -> str:
    """What the page's cookie holds: an HMAC of the token (the token itself never leaves in a cookie)."""
    return hmac.new(token.encode("utf-8"), b"contradiction page access", hashlib.sha256).hexdigest()


def path_problem(scope: Scope) -> str | None:
    """Why a request path is refused before routing (a dot segment, an encoded slash), or None."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    if b"%2f" in raw.lower() or b"%5c" in raw.lower():
        return "The path holds an encoded slash; send the path as it is, with plain slashes."
    if any(segment in (".", "..") for segment in scope["path"].split("/")):
        return "The path holds a '.' or '..' segment; send the path itself, without them."
    return None


class AccessGuard:
    """ASGI middleware: refuses odd paths (400), and with a token, every request that carries neither the bearer
    token nor the page's cookie (401, or a redirect to `/access` for a browser asking for a page)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_value(token) if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if problem := path_problem(scope):
            await self._refuse(scope, receive, send, JSONResponse({"error": problem}, status_code=400))
            return
        if self.token is None or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        path = scope["path"][len(scope.get("root_path", "")) :] if scope.get("root_path") else scope["path"]
        if path == ACCESS_PATH and scope["type"] == "http":
            await self._access_form(scope, receive, send)
            return
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and (path in OPEN_PATHS or _own_mcp_client(scope, path))
        ):
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, receive, send, self._unauthorised(scope))

    def _allowed(self, scope: Scope) -> bool:
        headers = Headers(scope=scope)
        authorization = headers.get("authorization")
        if authorization is not None and token_matches(authorization.encode("latin-1"), self.token):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value.encode("latin-1"), self.cookie.encode()):
                return True
        return False

    def _unauthorised(self, scope: Scope) -> Response:
        headers = Headers(scope=scope)
        if scope["type"] == "http" and scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
            target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
            return RedirectResponse(f"{ACCESS_PATH}?next={quote(target, safe='')}", status_code=303)
        if headers.get("authorization") is None:
            message = "This app needs its access token; send the header Authorization: Bearer <token>."
        else:
            message = "The access token is wrong; send the header Authorization: Bearer <token> with the app's token."
        return JSONResponse({"error": message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await response(scope, receive, send)

    async def _access_form(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET: the form; POST: the token checked, the cookie set and the browser sent on (303), or the form again
        with a sentence (401)."""
        query = parse_qs(scope["query_string"].decode("latin-1"))
        target = _local(query.get("next", ["/"])[0])
        if scope["method"] != "POST":
            await _form(target)(scope, receive, send)
            return
        body = b""
        while True:
            message: Message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                await JSONResponse({"error": "The form is too large."}, status_code=413)(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        fields = parse_qs(body.decode("utf-8", "replace"))
        given = fields.get("token", [""])[0].strip().encode("utf-8")
        target = _local(fields.get("next", [target])[0])
        if not hmac.compare_digest(given, self.token.encode("utf-8")):
            await _form(target, "That is not the access token of this app; try again.", 401)(scope, receive, send)
            return
        secure = scope.get("scheme") == "https" or Headers(scope=scope).get("x-forwarded-proto") == "https"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, self.cookie, httponly=True, samesite="strict", secure=secure, path="/")
        await response(scope, receive, send)


def _own_mcp_client(scope: Scope, path: str) -> bool:
    """Whether a request is Gradio's MCP server reading its own app's description (see `OWN_MCP_CLIENT`)."""
    headers = Headers(scope=scope)
    return (
        (path in OWN_MCP_CLIENT or path.startswith(OWN_MCP_CLIENT[-1]))
        and (scope.get("client") or ("",))[0] in ("127.0.0.1", "::1")
        and headers.get("x-gradio-user") == "mcp"
        and "x-forwarded-for" not in headers
        and "forwarded" not in headers
    )


def _local(target: str) -> str:
    """`target` when it is a path of this app, else "/": the form never sends a browser to another site."""
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else "/"


def _form(target: str, message: str = "", status: int = 200) -> HTMLResponse:
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Access token</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        "<body style='font-family: sans-serif; max-width: 28rem; margin: 4rem auto'>"
        "<h1>Contradiction detector</h1><p>This app asks for its access token. Ask its operator for it.</p>"
        f"{note}<form method='post' action='{ACCESS_PATH}'>"
        f"<input type='hidden' name='next' value='{html.escape(target, quote=True)}'>"
        "<label>Access token <input type='password' name='token' autocomplete='current-password' required "
        "autofocus></label> <button type='submit'>Open the app</button></form></body></html>",
        status_code=status,
    )
