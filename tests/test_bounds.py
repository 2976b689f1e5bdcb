"""Every request bounded: the body's size and JSON (serving/bounds.py), requests per client and route, every text box
in every event of the page (lifecycle.App), a document check's pairs (documents.py), the scheduler's queue, the JSON
API's own threads and a request cancelled when its client goes away (api.py). Each bound answers its status and one
sentence; docs/robustness.md lists them."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from conftest import ServedApp
from gradio_client.exceptions import AppError
from local_app import call_event
from starlette.responses import PlainTextResponse

from contradiction.inference.documents import DocumentChecker
from contradiction.serving.bounds import RequestLimits
from contradiction.serving.documents import PLANNED_AT_ONCE, Documents
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.page import build_demo
from contradiction.serving.scheduler import CHUNK_SIZE

LIMITS = Limits(max_chars=300, max_document_pairs=8)
PAIR = {"premise": "A woman is reading on the train.", "hypothesis": "A woman is on a train."}
DOCUMENT = " ".join(f"Sentence number {i} says that the town has {i} bridges." for i in range(30))


@pytest.fixture(scope="module")
def app(serve_app) -> ServedApp:
    """The app with 300 characters a box and 8 pairs a document check."""
    return serve_app(limits=LIMITS)


def errors(monitor: Monitor, kind: str) -> float:
    """Calls that got no prediction, of every endpoint, of one kind ("input", "model", "busy")."""
    samples = monitor.metrics.errors.collect()[0].samples
    return sum(s.value for s in samples if s.name.endswith("_total") and s.labels["kind"] == kind)


# --- every text box, in every event of the page


def test_every_text_box_holds_its_limit_in_every_event(app) -> None:
    """Private events too (`describe` counts tokens, `describe_classification` detects languages): each refuses a
    box over its limit with one sentence before its function runs, whoever calls it."""
    config = httpx.get(f"{app.url}config", timeout=60).json()
    components = {component["id"]: component for component in config["components"]}
    fill = {"textbox": "A sentence.", "checkbox": False}
    checked = set()
    for dependency in config["dependencies"]:
        inputs = [components[i] for i in dependency["inputs"]]
        boxes = [i for i, component in enumerate(inputs) if component["type"] == "textbox"]
        if not boxes:
            continue
        event = dependency["api_name"]
        for over in boxes:
            limit = inputs[over]["props"].get("max_length")
            name = inputs[over]["props"]["label"].split(" (")[0].lower()
            assert limit, f"the {name} box of {event} has no max_length"
            data = [fill.get(component["type"]) for component in inputs]
            data[over] = "x" * (limit + 1)
            before = app.monitor.metrics.errors.labels(event, "input")._value.get()
            assert call_event(app.url, event, data) == {
                "error": {
                    "error": f"The {name} box has {limit + 1:,} characters, over the limit of {limit:,}; shorten it.",
                    "duration": 10,
                    "visible": True,
                    "title": "Error",
                }
            }, event
            assert app.monitor.metrics.errors.labels(event, "input")._value.get() == before + 1
        checked.add(event)
    assert checked == {
        "check_pair",
        "predict",
        "describe",
        "check_classification",
        "classify_scores",
        "describe_classification",
        "check_document_input",
        "check_document_page",
    }
    assert call_event(app.url, "check_pair", [7, "A sentence."])["error"]["error"] == (
        "The premise box is not text (int); send a string."
    )


# --- the body: its size, and JSON that can be read


def test_a_body_over_the_limit_is_413_before_it_is_read_or_where_it_passes_it(app) -> None:
    limit = LIMITS.max_body_bytes
    body = b'{"data": ["' + b"x" * limit + b'"]}'

    def streamed():  # no Content-Length: the body is stopped where it passes the limit
        yield from (body[i : i + 2**16] for i in range(0, len(body), 2**16))

    for path in ("/api/v1/nli", "/gradio_api/call/predict", "/gradio_api/queue/join", "/gradio_api/mcp/"):
        for content in (body, streamed()):
            response = httpx.post(app.url + path[1:], content=content, headers={"Content-Type": "application/json"})
            assert response.status_code == 413, path
            assert response.json() == {
                "error": f"The body is over the limit of {limit / 2**20:.3g} MB; send fewer or shorter texts per call."
            }, path


def test_an_upload_over_the_size_limit_is_413_from_its_length_alone(app) -> None:
    where = urlsplit(app.url)
    connection = HTTPConnection(where.hostname, where.port, timeout=60)
    connection.putrequest("POST", "/gradio_api/upload")  # the headers of a 25 MB upload, and no byte of it
    connection.putheader("Content-Type", "multipart/form-data; boundary=b")
    connection.putheader("Content-Length", str(25 * 2**20))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and json.loads(response.read()) == {
        "error": "The upload is 25 MB, over the limit of 20 MB; split the file, or predict it with "
        "`python -m contradiction.predict`."
    }
    connection.close()


def test_an_upload_holds_one_file(app, tmp_path) -> None:
    files = [("files", (f"{name}.csv", b"id,premise\n1,a\n", "text/csv")) for name in ("a", "b")]
    response = httpx.post(f"{app.url}gradio_api/upload", files=files, timeout=60)
    assert response.status_code == 413 and "Upload one file per request." in response.text


UNREADABLE = {
    "nested too deeply": (b"[" * 100_000 + b"]" * 100_000, "The body's JSON is nested too deeply to read"),
    "a 5,000-digit integer": (b"7" * 5000, "The body's JSON cannot be read (Exceeds the limit (4300 digits)"),
    "not UTF-8": (b'"caf\xe9"', "The body is not valid UTF-8"),
}


@pytest.mark.parametrize("value, words", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_json_that_cannot_be_read_is_400_on_every_door_and_no_model_error(app, value: bytes, words: str) -> None:
    bodies = {
        "/api/v1/nli": b'{"premise": ' + value + b', "hypothesis": "b"}',
        "/gradio_api/call/predict": b'{"data": [' + value + b', "b"]}',
        "/gradio_api/queue/join": b'{"fn_index": 3, "session_hash": "x", "data": [' + value + b"]}",
        "/gradio_api/mcp/": b'{"jsonrpc": "2.0", "method": "tools/list", "id": ' + value + b"}",
    }
    model_errors = errors(app.monitor, "model")
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    for path, body in bodies.items():
        response = httpx.post(app.url + path[1:], content=body, headers=headers, timeout=60)
        assert response.status_code == 400, (path, response.text[:200])
        assert list(response.json()) == ["error"] and response.json()["error"].startswith(words), path
    assert errors(app.monitor, "model") == model_errors


# --- requests per client and route (RequestLimits, as an ASGI app in front of a stand-in that waits)


class Waiting:
    """An ASGI app that answers once `release` is set; `inside` counts the requests it holds."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.inside = 0

    async def __call__(self, scope, receive, send) -> None:
        self.inside += 1
        await self.release.wait()
        await PlainTextResponse("answered")(scope, receive, send)


def requests_to(limits: Limits, work) -> None:
    """Run `work(post, app)` where `post(client_address)` sends a POST through `RequestLimits`."""

    async def run() -> None:
        app = Waiting()
        guarded = RequestLimits(app, limits)

        async def post(address: str) -> httpx.Response:
            transport = httpx.ASGITransport(app=guarded, client=(address, 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return await client.post("/api/v1/nli", json=PAIR)

        await work(post, app)

    anyio.run(run)


def test_a_client_past_the_rate_limit_gets_429_with_retry_after() -> None:
    async def work(post, app) -> None:
        app.release.set()
        assert [(await post("10.0.0.1")).status_code for _ in range(3)] == [200] * 3
        refused = await post("10.0.0.1")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"] == (
            f"Too many requests from this client: the limit is 3/minute per route; try again in "
            f"{refused.headers['retry-after']} s."
        )
        assert (await post("10.0.0.2")).status_code == 200  # another client has its own window

    requests_to(Limits(rate_limit="3/minute"), work)


def test_requests_in_flight_are_bounded_per_client_and_per_route() -> None:
    async def work(post, app) -> None:
        answered = []

        async def held(address: str) -> None:
            answered.append((await post(address)).status_code)

        async def until(inside: int) -> None:
            while app.inside < inside:
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(held, "10.0.0.1")
            await until(1)
            mine = await post("10.0.0.1")
            assert mine.status_code == 429 and mine.headers["retry-after"] == "1"
            assert mine.json()["error"] == (
                "This client already waits for 1 request on this route, its limit; wait for one to be answered."
            )
            tasks.start_soon(held, "10.0.0.2")
            await until(2)
            theirs = await post("10.0.0.3")
            assert theirs.status_code == 429 and theirs.headers["retry-after"] == "1"
            assert (
                theirs.json()["error"]
                == "This route is answering 2 requests already, its limit; try again in a second."
            )
            app.release.set()
        assert answered == [200, 200]  # the held requests were answered

    requests_to(Limits(max_in_flight=2, max_client_in_flight=1), work)


# --- a document check's pairs


def test_a_document_check_over_the_pair_limit_is_refused_before_the_model_runs(app) -> None:
    claims = "The town has bridges. The town has no river."
    passes = dict(app.demo.context.scheduler.passes)
    response = httpx.post(f"{app.url}api/v1/check_document", json={"document": DOCUMENT, "claims": claims}, timeout=120)
    assert response.status_code == 413
    sentence = response.json()["error"]
    assert sentence.startswith(
        "The document and its claims make "
    ) and " x 2 claim sentences), over the limit of 8; " in (sentence)
    assert sentence.endswith(
        "send fewer claims or a shorter document, or check it with `python -m contradiction.predict --documents`, "
        "which has no such limit."
    )
    with pytest.raises(AppError) as script:  # gradio_client, as MCP calls it
        app.client.predict(DOCUMENT, claims, api_name="/check_document")
    assert str(script.value) == sentence
    assert call_event(app.url, "check_document_page", [DOCUMENT, claims])["error"]["error"] == sentence  # the page
    assert app.demo.context.scheduler.passes == passes  # the model never ran
    small = httpx.post(
        f"{app.url}api/v1/check_document", json={"document": "The town has one bridge.", "claims": "It has a bridge."}
    )
    assert small.status_code == 200 and small.json()["pairs"] >= 1


# --- the scheduler's queue, the JSON API's threads, a client that goes away


def test_a_full_queue_is_503_with_retry_after_and_counted_apart(app, monkeypatch) -> None:
    monkeypatch.setattr(app.demo.context.scheduler, "max_waiting", 0)
    model, busy = errors(app.monitor, "model"), errors(app.monitor, "busy")
    response = httpx.post(f"{app.url}api/v1/nli", json=PAIR, timeout=60)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json() == {
        "error": "The app is busy: 0 requests are waiting for the model; try again in a few seconds."
    }
    with pytest.raises(AppError, match=r"^The app is busy: "):
        app.client.predict(PAIR["premise"], PAIR["hypothesis"], api_name="/predict")
    assert errors(app.monitor, "busy") == busy + 2 and errors(app.monitor, "model") == model


@pytest.mark.slow
def test_a_document_check_stops_using_the_model_when_its_client_goes_away(
    serve_app_for_test, make_predictor, slow_model
) -> None:
    app = serve_app_for_test(make_predictor(), Limits(max_document_pairs=10_000))
    document = " ".join(f"Sentence number {i} says that the town has {i} bridges." for i in range(400))
    claims = "The town has bridges."
    windows = len(DocumentChecker(app.predictor).plan(document, claims).window_spans)
    chunks = -(-windows // CHUNK_SIZE)  # the passes of the whole check (one claim sentence), evidence aside
    passes = slow_model(app.predictor, 0.2)
    with pytest.raises(httpx.ReadTimeout):  # the client gives up, and its connection closes
        body = {"document": document, "claims": claims}
        httpx.post(f"{app.url}api/v1/check_document", json=body, timeout=httpx.Timeout(60, read=1.5))
    deadline = time.monotonic() + 10
    while not passes:  # the check is in the model (it may still have been planning when the client left)
        assert time.monotonic() < deadline, "the document never reached the model"
        time.sleep(0.05)
    time.sleep(1.0)  # the client's departure is seen within a poll, and the pass in the model ends
    settled = len(passes)
    time.sleep(1.0)
    assert len(passes) == settled, "the document kept using the model after its client left"
    assert settled < chunks - 5, f"the check ran on for {settled} of its {chunks} passes"
    assert errors(app.monitor, "model") == 0


@pytest.mark.slow
def test_a_saturated_json_api_leaves_metrics_and_the_page_answering(
    serve_app_for_test, make_predictor, slow_model
) -> None:
    """48 requests hold the JSON API (its own 16 threads, then waiting without a thread); /metrics and the page's
    config, served from anyio's shared threads, answer at once."""
    app = serve_app_for_test(make_predictor(), Limits(max_in_flight=64, max_client_in_flight=64))
    passes = slow_model(app.predictor, 2.0)
    with ThreadPoolExecutor(48) as pool:
        answers = [pool.submit(httpx.post, f"{app.url}api/v1/nli", json=PAIR, timeout=120) for _ in range(48)]
        deadline = time.monotonic() + 30
        while not passes:
            assert time.monotonic() < deadline, "the requests never reached the model"
            time.sleep(0.05)
        for path in ("metrics", "config"):
            start = time.perf_counter()
            assert httpx.get(f"{app.url}{path}", timeout=30).status_code == 200
            assert time.perf_counter() - start < 1.0, f"/{path} waited behind the JSON API"
        assert all(answer.result().status_code == 200 for answer in answers)


def test_a_document_is_planned_once_and_two_at_a_time(predictor, tmp_path) -> None:
    """Planning a long document is Python holding the GIL: once per check, and two checks of the process at once."""
    demo = build_demo(predictor, LIMITS, output_dir=tmp_path)
    try:
        documents = Documents(demo.context)
        planned, inside, most = [], [0], [0]
        real = documents.checker.plan
        lock = threading.Lock()

        def counted(*args, **kwargs):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.2)
            with lock:
                inside[0] -= 1
            planned.append(1)
            return real(*args, **kwargs)

        documents.checker.plan = counted
        claims = "The town has bridges."
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: documents.run("check_document", DOCUMENT[:400], claims), range(4)))
        assert len(planned) == 4 and most[0] == PLANNED_AT_ONCE
        language = demo.context.detector.detect(DOCUMENT[:400])
        expected = DocumentChecker(predictor).check(DOCUMENT[:400], claims, language)
        assert all(result.to_dict()["claims"][0]["label"] == expected.claims[0].label for result in results)
    finally:
        demo.close()
