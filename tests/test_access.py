"""One rule for access (serving/access.py): with a token set, every route the app registers answers only a request
that carries it (the bearer header, or the cookie the access form sets), a person opens the page through the form,
gradio_client and MCP pass the header; odd paths are refused before they are routed; without a token the app is
open."""

from __future__ import annotations

import json
import re
from http.client import HTTPConnection
from urllib.parse import urlsplit

import httpx
import pytest
from gradio_client import Client
from starlette.routing import Mount, WebSocketRoute

from contradiction.serving import access

TOKEN = "t0ken-for-the-tests-only"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PAIR = {"premise": "A woman is reading on the train.", "hypothesis": "A woman is on a train."}


@pytest.fixture(scope="module")
def guarded(serve_app):
    return serve_app(api_token=TOKEN)


@pytest.fixture(scope="module")
def http(guarded):
    with httpx.Client(base_url=guarded.url, timeout=120) as client:
        yield client


def concrete(path: str) -> str:
    """A route's path with each parameter filled in."""
    return re.sub(r"\{[^}]+\}", "x", path) or "/"


def every_route(routes, prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every HTTP route among `routes`, those of mounts and included routers too."""
    found = []
    for route in routes:
        if isinstance(route, WebSocketRoute):
            continue
        if isinstance(route, Mount):
            found += every_route(route.routes, prefix + route.path)
        elif hasattr(route, "include_context"):  # FastAPI's included router: its routes under its prefix
            found += every_route(route.original_router.routes, prefix + route.include_context.prefix)
        else:
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method != "HEAD":
                    found.append((method, concrete(prefix + route.path)))
    return found


def test_every_route_the_app_registers_needs_the_token(guarded, http) -> None:
    routes = every_route(guarded.demo.app.routes)
    assert len(routes) > 40 and ("POST", "/gradio_api/queue/join") in routes and ("GET", "/metrics") in routes
    assert any(path.startswith("/api/v1/") for _, path in routes)
    for method, path in routes:
        if path in access.OPEN_PATHS:
            continue
        response = http.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
        assert response.json()["error"].startswith("This app needs its access token")


def test_every_event_of_the_page_needs_the_token(guarded, http) -> None:
    config = http.get("/config", headers=BEARER).json()
    names = [d["api_name"] for d in config["dependencies"] if d.get("api_name")]
    assert {"predict", "describe", "classify_scores", "check_document_page", "predict_file"} <= set(names)
    for name in names:  # public and private events alike, the way gradio_client's two steps begin
        response = http.post(f"/gradio_api/call/{name}", json={"data": []})
        assert response.status_code == 401, name
    assert http.post("/gradio_api/queue/join", json={"data": [], "fn_index": 0}).status_code == 401


def test_scripts_pass_the_token_as_a_header(guarded, http) -> None:
    answer = http.post("/api/v1/nli", json=PAIR, headers=BEARER)
    assert answer.status_code == 200 and answer.json()["label"]
    wrong = http.post("/api/v1/nli", json=PAIR, headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401 and wrong.json()["error"].startswith("The access token is wrong")
    assert wrong.headers["www-authenticate"] == "Bearer" and TOKEN not in wrong.text
    assert http.get("/metrics", headers=BEARER).text.startswith("# HELP")
    client = Client(guarded.url, verbose=False, analytics_enabled=False, headers=BEARER)
    assert client.predict(PAIR["premise"], PAIR["hypothesis"], api_name="/predict")["label"]
    with pytest.raises(Exception):  # noqa: B017 - gradio_client wraps the 401 of its first call in its own error
        Client(guarded.url, verbose=False, analytics_enabled=False)


def test_a_person_opens_the_page_once_through_the_access_form(guarded) -> None:
    with httpx.Client(base_url=guarded.url, timeout=120, follow_redirects=False) as browser:
        page = browser.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == f"{access.ACCESS_PATH}?next=%2F"
        form = browser.get(page.headers["location"])
        assert form.status_code == 200 and 'type="password"' not in form.text and "type='password'" in form.text
        refused = browser.post(access.ACCESS_PATH, data={"token": "nope", "next": "/"})
        assert refused.status_code == 401 and "not the access token of this app" in refused.text
        assert access.COOKIE not in browser.cookies
        away = browser.post(access.ACCESS_PATH, data={"token": TOKEN, "next": "https://elsewhere.example/"})
        assert away.status_code == 303 and away.headers["location"] == "/"  # never to another site
        cookie = away.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and TOKEN not in cookie
        assert browser.get("/", headers={"Accept": "text/html"}).status_code == 200
        assert browser.get("/config").status_code == 200  # the page's own calls carry the cookie


def test_odd_paths_are_refused_before_they_are_routed(guarded, serve_app) -> None:
    odd = (
        "/gradio_api/mcp/../gradio_api/mcp",
        "/gradio_api/mcp/%2e%2e/gradio_api/mcp",
        "/api/v1/./nli",
        "/api/v1%2Fnli",
    )
    for app, headers in ((guarded, BEARER), (serve_app(), {})):  # with and without a token
        where = urlsplit(app.url)
        for path in odd:
            connection = HTTPConnection(where.hostname, where.port, timeout=60)  # the path as written
            connection.request("POST", path, json.dumps(PAIR), {"Content-Type": "application/json", **headers})
            response = connection.getresponse()
            body = json.loads(response.read())
            connection.close()
            assert response.status == 400, (path, response.status)
            assert "segment" in body["error"] or "encoded slash" in body["error"]


def test_without_a_token_the_app_is_open(serve_app) -> None:
    app = serve_app()
    assert httpx.post(f"{app.url}api/v1/nli", json=PAIR, timeout=60).status_code == 200
    assert httpx.get(app.url, headers={"Accept": "text/html"}, timeout=60).status_code == 200
    assert app.client.predict(PAIR["premise"], PAIR["hypothesis"], api_name="/predict")["label"]


def test_direct_runs_outside_the_queue_are_off(serve_app) -> None:
    app = serve_app()
    response = httpx.post(f"{app.url}gradio_api/run/predict", json={"data": ["a", "b"]}, timeout=60)
    assert response.status_code == 404 and "join the queue" in response.text


def test_the_token_is_compared_in_constant_time_and_never_shown(monkeypatch) -> None:
    compared = []
    real = access.hmac.compare_digest
    monkeypatch.setattr(access.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    assert access.token_matches(b"Bearer abc", "abc") and access.token_matches(b"bearer   abc ", "abc")
    assert not access.token_matches(None, "abc") and not access.token_matches(b"Basic abc", "abc")
    assert not access.token_matches(b"Bearer ab", "abc") and not access.token_matches(b"Bearer", "abc")
    assert compared and access.cookie_value("abc") != "abc" and "abc" not in access.cookie_value("abc")
