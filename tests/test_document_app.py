"""`/check_document` in the app: gradio_client and the JSON route give the checker's answer, refusals are one sentence
with their status, a long document goes in chunks behind single pairs, and the Document tab highlights the
evidence in a real browser."""

from __future__ import annotations

import re
import threading
import urllib.request
from pathlib import Path

import httpx
import pytest
from conftest import ServedApp
from gradio_client.exceptions import AppError
from local_app import browser_page, browser_tools, launch_local
from test_documents import FILLER, keyword_probabilities

from contradiction.inference.documents import DocumentChecker
from contradiction.inference.predictor import Predictor
from contradiction.serving.documents import DOCUMENT_EXAMPLES
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.page import build_demo
from contradiction.serving.scheduler import INTERACTIVE_PAIRS, Priority

LIMITS = Limits(max_chars=400, max_document_chars=3000)
DOCUMENT = " ".join(FILLER) + " On Mondays the MUSEUM is CLOSED all day."
CLAIMS = "The museum is open on Mondays. A bus leaves every hour."


@pytest.fixture(scope="module")
def predictor(make_predictor) -> Predictor:
    return make_predictor(max_length=64)  # two sentences a window


@pytest.fixture(scope="module")
def app(serve_app, predictor: Predictor) -> ServedApp:
    return serve_app(predictor, LIMITS)


@pytest.mark.slow
def test_check_document_answers_what_the_checker_answers(app, predictor: Predictor) -> None:
    client, url = app.client, app.url
    answer = client.predict(DOCUMENT, CLAIMS, api_name="/check_document")
    expected = DocumentChecker(predictor).check(DOCUMENT, CLAIMS, "en").to_dict()
    assert answer["label"] == expected["label"] and answer["score"] == pytest.approx(expected["score"], abs=1e-5)
    assert [c["claim"] for c in answer["claims"]] == ["The museum is open on Mondays.", "A bus leaves every hour."]
    for got, want in zip(answer["claims"], expected["claims"], strict=True):
        assert got["label"] == want["label"] and got["evidence"] == want["evidence"]
        assert 0 <= got["score"] <= 1 and got["score"] == pytest.approx(want["score"], abs=1e-5)
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-5)
        assert sum(got["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        if got["evidence"] is not None:
            assert DOCUMENT[got["evidence"]["start"] : got["evidence"]["end"]] == got["evidence"]["text"]
    assert answer["windows"] > 1 and answer["sentences"] == len(FILLER) + 1
    # the JSON route gives the same answer
    body = httpx.post(
        f"{url.rstrip('/')}/api/v1/check_document", json={"document": DOCUMENT, "claims": CLAIMS}, timeout=120
    ).json()
    assert body["label"] == answer["label"] and body["claims"][0]["evidence"] == answer["claims"][0]["evidence"]
    assert body["score"] == pytest.approx(answer["score"])
    assert body["claims"][1]["score"] == pytest.approx(answer["claims"][1]["score"])


@pytest.mark.parametrize(
    ("document", "claims", "status", "message"),
    [
        ("  ", CLAIMS, 422, "The document is empty; send a sentence."),
        (DOCUMENT, "", 422, "The claims text is empty; send a sentence."),
        ("x " * 1600, CLAIMS, 413, "The document has 3,200 characters, over the limit of 3,000; shorten it."),
        (DOCUMENT, "y" * 401, 413, "The claims text has 401 characters, over the limit of 400; shorten it."),
        (DOCUMENT, " ".join(["word"] * 79) + ".", 422, "leaves the document no room; split it into shorter"),
    ],
)
def test_bad_requests_get_one_sentence(app, document: str, claims: str, status: int, message: str) -> None:
    client, url = app.client, app.url
    with pytest.raises(AppError) as caught:
        client.predict(document, claims, api_name="/check_document")
    assert message in str(caught.value)
    response = httpx.post(
        f"{url.rstrip('/')}/api/v1/check_document", json={"document": document, "claims": claims}, timeout=120
    )
    assert response.status_code == status and message in response.json()["error"]


def test_a_body_without_claims_is_refused(app) -> None:
    url = app.url
    response = httpx.post(f"{url.rstrip('/')}/api/v1/check_document", json={"document": DOCUMENT}, timeout=60)
    assert response.status_code == 400 and 'The body has no "claims"' in response.json()["error"]


def test_a_long_document_goes_in_chunks_and_single_pairs_go_first(app) -> None:
    client, demo = app.client, app.demo
    scheduler = demo.context.scheduler
    long_document = " ".join(FILLER * 6)  # 54 sentences: more windows than one interactive pass takes
    before = scheduler.passes[Priority.BATCH]
    gate, started = threading.Event(), threading.Event()
    original = scheduler.predictor.predict_proba
    order: list[str] = []

    def slow(premises, hypotheses, *args, **kwargs):  # each chunk of the document waits for the gate once
        order.append("pair" if premises == ["A bus leaves every hour."] else "chunk")
        if order[-1] == "chunk" and not started.is_set():
            started.set()
            gate.wait(30)
        return original(premises, hypotheses, *args, **kwargs)

    scheduler.predictor.predict_proba = slow
    try:
        answers: dict = {}
        worker = threading.Thread(
            target=lambda: answers.update(doc=client.predict(long_document, CLAIMS, api_name="/check_document"))
        )
        worker.start()
        assert started.wait(60)  # the document's first chunk is in the model
        pair = threading.Thread(
            target=lambda: answers.update(
                pair=client.predict("A bus leaves every hour.", "A bus leaves every hour.", api_name="/predict")
            )
        )
        pair.start()
        while scheduler.pending()["pairs"] == 0:  # the single pair is queued behind the running chunk ...
            threading.Event().wait(0.05)
        gate.set()
        pair.join(60)
        worker.join(120)
    finally:
        scheduler.predictor.predict_proba = original
    assert "doc" in answers and "pair" in answers
    # ... and answered right after it, with most of the document still to come
    assert order.index("pair") == 1 and order.count("chunk") > 2
    assert scheduler.passes[Priority.BATCH] - before >= 2 * INTERACTIVE_PAIRS // scheduler.chunk_size
    assert answers["doc"]["windows"] * 2 > INTERACTIVE_PAIRS


def test_check_document_is_counted_and_listed(app) -> None:
    client, url = app.client, app.url
    client.predict(DOCUMENT, CLAIMS, api_name="/check_document")
    metrics = urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=30).read().decode()
    count = re.search(r'^contradiction_requests_total\{endpoint="check_document"\} (\S+)$', metrics, re.M)
    assert count is not None and float(count.group(1)) >= 1
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/check_document"]["parameters"]] == ["document", "claims"]
    assert not {"/check_document_page", "/check_document_input"} & set(endpoints)


@pytest.mark.slow
def test_the_document_tab_highlights_the_evidence(tiny_model_dir: Path, tmp_path: Path) -> None:
    expect = browser_tools().expect
    limits, monitor = Limits(), Monitor()
    demo = build_demo(Predictor.from_pretrained(tiny_model_dir), limits, monitor, output_dir=tmp_path / "outputs")
    demo.context.scheduler.probabilities = keyword_probabilities  # a stand-in that reads MUSEUM ... CLOSED
    document = DOCUMENT_EXAMPLES[1][0].replace("The reading room is", "The reading room of the MUSEUM is CLOSED and")
    try:
        with browser_page(launch_local(demo, limits, monitor)) as page:
            page.get_by_role("tab", name="Document").click()
            page.get_by_role("button", name="Check the claims").click()
            expect(page.get_by_text("Type a document and a claim first")).to_be_visible(timeout=30_000)

            page.get_by_label("Document").fill(document)
            page.get_by_label("Claims (one or more sentences)").fill("The museum is open on Mondays.")
            page.get_by_role("button", name="Check the claims").click()
            expect(page.locator("#document-label")).to_contain_text("contradiction", timeout=60_000)
            evidence = page.locator("#document-evidence")
            marked = evidence.locator(".token.highlighted")
            expect(marked).to_have_count(1, timeout=30_000)
            expect(marked.first).to_have_text("The reading room of the MUSEUM is CLOSED and closed on Mondays.")
            # in the colour the legend gives contradiction
            legend = evidence.locator(".legend-item", has_text="contradiction")
            colour = legend.evaluate("e => getComputedStyle(e).backgroundColor")
            assert marked.first.evaluate("e => getComputedStyle(e).backgroundColor") == colour
            expect(evidence).to_contain_text("Children under twelve")  # the rest of the document, unmarked
            expect(page.locator("#document-reading")).to_contain_text("window")
            expect(page.locator("#document-reading")).to_contain_text("Consistency score 0.")  # under the bar
    finally:
        demo.close()
