"""The one-step JSON API under /api/v1/ (serving/api.py and each feature's route), called over HTTP on the loopback
the way curl or JavaScript calls them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from conftest import ServedApp
from gradio_client import Client
from recorded_api import CASES, RECORD, answers, contract, same

from contradiction.inference.predictor import Predictor
from contradiction.labels import LABELS
from contradiction.serving.common import MODEL_FAILED
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.monitoring.store import PredictionLog
from contradiction.serving.scheduler import Priority

LIMITS = Limits(max_chars=300, max_pairs=4, max_labels=5)
PAIR = {"premise": "A woman is reading on the train.", "hypothesis": "A woman is on a train."}


@pytest.fixture(scope="module")
def app(serve_app, predictor: Predictor, tmp_path_factory: pytest.TempPathFactory) -> ServedApp:
    """The app with small limits (300 characters, 4 pairs, 5 labels) and a prediction database."""
    monitor = Monitor(PredictionLog(tmp_path_factory.mktemp("db") / "monitoring.sqlite"))
    return serve_app(predictor, LIMITS, monitor, mcp_server=False)


@pytest.fixture(scope="module")
def http(app) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.url, timeout=120) as client:
        yield client


def assert_error(response: httpx.Response, status: int, words: str) -> None:
    """A refusal as the API promises it: the status, JSON with one key, one sentence naming the problem."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    assert words in body["error"]
    assert body["error"].endswith(".") and "Traceback" not in body["error"]


def test_one_pair_answers_the_label_and_probabilities(http, predictor) -> None:
    response = http.post("/api/v1/nli", json=PAIR)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"label", "probabilities"}
    assert list(answer["probabilities"]) == list(LABELS)
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)
    assert answer["probabilities"] == pytest.approx(predictor.predict(PAIR["premise"], PAIR["hypothesis"]), abs=1e-5)


def test_a_list_of_pairs_answers_a_list_in_order(http, predictor) -> None:
    pairs = [["Il pleut.", "Le soleil brille."], ["Der Laden ist zu.", "Der Laden ist geschlossen."], ["A", "B"]]
    response = http.post("/api/v1/nli", json={"pairs": pairs})
    assert response.status_code == 200
    answers = response.json()
    assert len(answers) == len(pairs)
    for answer, (premise, hypothesis) in zip(answers, pairs, strict=True):
        assert answer["probabilities"] == pytest.approx(predictor.predict(premise, hypothesis), abs=1e-5)
    assert http.post("/api/v1/nli", json={"pairs": []}).json() == []


def test_classify_answers_as_the_gradio_endpoint(app, http) -> None:
    body = {"text": "The match ended in a draw.", "labels": ["sports", "politics", "health"]}
    response = http.post("/api/v1/classify", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["sequence"] == body["text"] and sorted(answer["labels"]) == sorted(body["labels"])
    assert sum(answer["scores"]) == pytest.approx(1.0, abs=1e-5)
    client = Client(app.url, verbose=False)
    gradio = client.predict(body["text"], "sports, politics, health", api_name="/classify")
    assert answer["labels"] == gradio["labels"] and answer["scores"] == pytest.approx(gradio["scores"], abs=1e-6)
    multi = http.post("/api/v1/classify", json={**body, "template": "It is about {}.", "multi_label": True}).json()
    gradio = client.predict(body["text"], "sports, politics, health", "It is about {}.", True, api_name="/classify")
    assert multi["labels"] == gradio["labels"] and multi["scores"] == pytest.approx(gradio["scores"], abs=1e-6)


BAD_NLI = {
    "not JSON": (b"premise=a&hypothesis=b", 400, "not valid JSON"),
    "invalid UTF-8": (b'{"premise": "caf\xe9", "hypothesis": "b"}', 400, "not valid UTF-8"),
    "an empty body": (b"", 400, "The body is empty"),
    "an array": (b'[["a", "b"]]', 400, "JSON array, not an object"),
    "a missing hypothesis": ({"premise": "a"}, 400, 'no "hypothesis"'),
    "no fields": ({}, 400, 'no "premise" and no "hypothesis"'),
    "a number for a text": ({"premise": 5, "hypothesis": "b"}, 400, "The premise is not text (int)"),
    "a list for a text": ({"premise": "a", "hypothesis": ["b"]}, 400, "The hypothesis is not text (list)"),
    "an unknown field": ({**PAIR, "hypotesis": "b"}, 400, 'Unknown field "hypotesis"'),
    "a pair and pairs": ({**PAIR, "pairs": []}, 400, 'Unknown field "premise"'),
    "pairs not a list": ({"pairs": "a, b"}, 400, '"pairs" must be a list'),
    "a pair of one text": ({"pairs": [["a"]]}, 400, '"pairs" must be a list'),
    "a number in a pair": ({"pairs": [["a", 1]]}, 400, "Pair 0: the hypothesis is not text (int)"),
    "pairs over the limit": ({"pairs": [["a", "b"]] * 5}, 413, "at most 4 per call"),
    "a text over the limit": ({"premise": "x" * 301, "hypothesis": "b"}, 413, "over the limit of 300"),
    "a 10 MB body": (json.dumps({"premise": "x" * 10 * 2**20, "hypothesis": "b"}).encode(), 413, "The body is over"),
    "an empty premise": ({"premise": " \n", "hypothesis": "b"}, 422, "The premise is empty"),
    "an invisible hypothesis": ({"premise": "a", "hypothesis": "\u200b"}, 422, "The hypothesis is empty"),
    "a null premise": ({"premise": None, "hypothesis": "b"}, 422, "The premise is empty"),
    "an empty text in a pair": ({"pairs": [["a", "b"], ["c", ""]]}, 422, "Pair 1: the hypothesis is empty"),
    "a lone surrogate": (b'{"premise": "a\\ud800", "hypothesis": "b"}', 422, "not valid Unicode"),
}


@pytest.mark.parametrize("body, status, words", BAD_NLI.values(), ids=BAD_NLI.keys())
def test_bad_nli_bodies_get_a_4xx_and_one_sentence(http, body, status, words) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert_error(http.post("/api/v1/nli", content=content, headers={"content-type": "application/json"}), status, words)


BAD_CLASSIFY = {
    "no labels": ({"text": "a"}, 400, 'no "labels"'),
    "labels a number": ({"text": "a", "labels": 5}, 400, '"labels" must be a list'),
    "a label a number": ({"text": "a", "labels": ["b", 3]}, 400, "Candidate label 2 is a int"),
    "a template a number": ({"text": "a", "labels": ["b", "c"], "template": 1}, 400, '"template" must be a string'),
    "multi_label a string": ({"text": "a", "labels": ["b", "c"], "multi_label": "yes"}, 400, "true or false"),
    "labels over the limit": ({"text": "a", "labels": list("bcdefg")}, 413, "over the limit of 5"),
    "a text over the limit": ({"text": "x" * 301, "labels": ["b", "c"]}, 413, "The text has 301 characters"),
    "an empty text": ({"text": "", "labels": ["b", "c"]}, 422, "The text is empty"),
    "a repeated label": ({"text": "a", "labels": ["b", "B"]}, 422, "given twice"),
    "an empty label": ({"text": "a", "labels": "b,,c"}, 422, "Candidate label 2 is empty"),
    "a template without {}": ({"text": "a", "labels": ["b", "c"], "template": "About it."}, 422, "exactly one {}"),
}


@pytest.mark.parametrize("body, status, words", BAD_CLASSIFY.values(), ids=BAD_CLASSIFY.keys())
def test_bad_classify_bodies_get_a_4xx_and_one_sentence(http, body, status, words) -> None:
    assert_error(http.post("/api/v1/classify", json=body), status, words)


def test_every_route_answers_as_recorded(app, http) -> None:
    """The answers of tests/recorded_api.py's requests, as the app gave them when they were recorded: the same
    status and body, numbers within 1e-4; the description promises the same paths, fields and statuses."""
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    got = answers(app.url)
    differences = {name: d for name, *_ in CASES if (d := same(recorded[name], got[name]))}
    assert not differences, json.dumps(differences, indent=1, ensure_ascii=False)
    description = contract(http.get("/api/v1/openapi.json").json())
    promised = contract(recorded["the description"]["body"])
    for route, fields in ADDED_SINCE_RECORDED.items():  # what was added on purpose, and only that
        assert not set(fields) & set(promised[route]["answer"]) and set(fields) <= set(description[route]["answer"])
        promised[route]["answer"] = sorted({*promised[route]["answer"], *fields})
    assert description == promised


ADDED_SINCE_RECORDED = {
    # the consistency score of a document and of each claim (issue 28)
    "POST /api/v1/check_document": ["score", "claims.[]score"],
}


def test_other_paths_and_methods_get_json_too(http) -> None:
    assert_error(http.get("/api/v1/nli"), 405, "answers POST only")
    assert_error(http.post("/api/v1/documents", json={}), 404, "There is no /api/v1/documents")  # check_document
    assert http.post("/api/v1/nli/", json=PAIR).status_code == 200  # a trailing slash is the same route


def resolved(document: dict, schema: dict) -> dict:
    """A schema of an OpenAPI `document` with its $ref followed."""
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_openapi_describes_the_routes_with_the_limits(http) -> None:
    document = http.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {"/api/v1/nli", "/api/v1/classify", "/api/v1/check_document"}
    check = document["paths"]["/api/v1/check_document"]["post"]["requestBody"]["content"]["application/json"]
    assert resolved(document, check["schema"])["properties"]["document"]["maxLength"] == LIMITS.max_document_chars
    nli = document["paths"]["/api/v1/nli"]["post"]
    assert {"200", "400", "413", "422"} <= set(nli["responses"]) and "401" not in nli["responses"]
    single, pairs = (
        resolved(document, s) for s in nli["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    )
    assert single["properties"]["premise"]["maxLength"] == 300 and pairs["properties"]["pairs"]["maxItems"] == 4


def test_calls_go_through_the_scheduler_and_monitoring_under_their_own_names(app, http) -> None:
    url, demo = app.url, app.demo
    log, scheduler = demo.context.monitor.log, demo.runtime.scheduler
    before = {name: log.count(name) for name in ("api_v1_nli", "api_v1_nli_pairs")}
    passes = dict(scheduler.passes)
    assert http.post("/api/v1/nli", json=PAIR).status_code == 200
    assert scheduler.passes[Priority.PAIR] == passes[Priority.PAIR] + 1  # with the single pairs
    assert http.post("/api/v1/nli", json={"pairs": [["a", "b"], ["c", "d"]]}).status_code == 200
    assert scheduler.passes[Priority.BATCH] == passes[Priority.BATCH] + 1  # a bulk call, after them
    assert http.post("/api/v1/nli", json={"premise": "", "hypothesis": "b"}).status_code == 422
    assert log.count("api_v1_nli") == before["api_v1_nli"] + 1  # once per prediction, refusals not
    assert log.count("api_v1_nli_pairs") == before["api_v1_nli_pairs"] + 2
    metrics = httpx.get(f"{url}metrics").text
    assert 'contradiction_request_latency_seconds_count{endpoint="api_v1_nli"}' in metrics
    assert 'contradiction_errors_total{endpoint="api_v1_nli",kind="input"}' in metrics
    assert 'contradiction_requests_total{endpoint="api_v1_classify"}' in metrics


def test_a_model_failure_is_503_and_one_sentence(http, predictor, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("the model broke")

    monkeypatch.setattr(predictor, "predict_proba", broken)
    response = http.post("/api/v1/nli", json=PAIR)
    assert response.status_code == 503 and response.json() == {"error": MODEL_FAILED}
