"""`/classify` in the app, called as gradio_client users call it: the pipeline's answer shape, the classifier's scores,
one interactive pass per text, one-sentence refusals, counted in /metrics but kept out of the drift; the page's tab
in a real browser."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from conftest import ServedApp
from gradio_client.exceptions import AppError
from local_app import browser_page, browser_tools, launch_local

from contradiction.inference.predictor import Predictor
from contradiction.inference.zero_shot import DEFAULT_TEMPLATE, ZeroShotClassifier, ZeroShotTask
from contradiction.serving.classification import CLASSIFY_EXAMPLES
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.page import build_demo

TEXT = "Le match s'est terminé sur un score nul après les prolongations."
LABELS = "sport, politique, santé, voyage"


@pytest.fixture(scope="module")
def predictor(make_predictor, smoke_run: Path) -> Predictor:
    return make_predictor(smoke_run)


@pytest.fixture(scope="module")
def app(serve_app, predictor: Predictor) -> ServedApp:
    return serve_app(predictor, Limits(max_labels=8))


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.slow
def test_classify_answers_as_the_transformers_pipeline_does(app, predictor: Predictor, multi_label: bool) -> None:
    client = app.client
    template = "Ce texte parle de {}."
    answer = client.predict(TEXT, LABELS, template, multi_label, api_name="/classify")
    assert set(answer) == {"sequence", "labels", "scores"}
    assert answer["sequence"] == TEXT
    expected = ZeroShotClassifier.from_predictor(predictor)([TEXT], ZeroShotTask.create(LABELS, template, multi_label))
    assert answer["labels"] == expected[0]["labels"]
    assert answer["scores"] == pytest.approx(expected[0]["scores"], abs=1e-6)
    assert answer["scores"] == sorted(answer["scores"], reverse=True)
    if not multi_label:
        assert sum(answer["scores"]) == pytest.approx(1.0, abs=1e-6)


def test_the_template_and_multi_label_may_be_left_out(app) -> None:
    client = app.client
    answer = client.predict(TEXT, "sports\npolitics", api_name="/classify")
    assert sorted(answer["labels"]) == ["politics", "sports"]
    assert sum(answer["scores"]) == pytest.approx(1.0, abs=1e-6)


def test_one_text_with_its_labels_is_one_forward_pass(app, predictor: Predictor, monkeypatch) -> None:
    client = app.client
    calls: list[int] = []
    original = predictor.logits

    def recording(premises, hypotheses, *args, **kwargs):
        calls.append(len(premises))
        return original(premises, hypotheses, *args, **kwargs)

    monkeypatch.setattr(predictor, "logits", recording)
    client.predict(TEXT, "a, b, c, d, e", DEFAULT_TEMPLATE, False, api_name="/classify")
    assert calls == [5]


@pytest.mark.parametrize(
    ("text", "labels", "template", "message"),
    [
        ("   ", LABELS, DEFAULT_TEMPLATE, "The text is empty; send a sentence."),
        (TEXT, " , ", DEFAULT_TEMPLATE, "No candidate labels were given; pass two or more"),
        (TEXT, "sport, , santé", DEFAULT_TEMPLATE, "Candidate label 2 is empty; remove the extra comma or fill"),
        (TEXT, "sport, Sport", DEFAULT_TEMPLATE, "The label 'Sport' is given twice (as 'sport' too); give each"),
        (TEXT, ",".join(f"l{i}" for i in range(9)), DEFAULT_TEMPLATE, "9 candidate labels is over the limit of 8;"),
        (TEXT, LABELS, "About sports.", "The template 'About sports.' needs exactly one {} where the label goes"),
        ("x" * 2001, LABELS, DEFAULT_TEMPLATE, "The text has 2,001 characters, over the limit of 2,000; shorten it."),
    ],
)
def test_bad_requests_get_one_sentence(app, text: str, labels: str, template: str, message: str) -> None:
    client = app.client
    with pytest.raises(AppError) as caught:
        client.predict(text, labels, template, False, api_name="/classify")
    assert message in str(caught.value)


def test_classify_is_counted_but_kept_out_of_the_drift(app) -> None:
    client, url, monitor = app.client, app.url, app.monitor
    before = len(monitor._recent)
    client.predict(TEXT, LABELS, DEFAULT_TEMPLATE, False, api_name="/classify")
    assert len(monitor._recent) == before  # its pairs are not users' premises and hypotheses
    metrics = urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=30).read().decode()
    count = re.search(r'^contradiction_requests_total\{endpoint="classify"\} (\S+)$', metrics, re.M)
    assert count is not None and float(count.group(1)) >= 1


def test_the_api_lists_classify_and_not_the_page_s_helpers(app) -> None:
    client = app.client
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/classify" in endpoints
    assert [p["parameter_name"] for p in endpoints["/classify"]["parameters"]] == [
        "text",
        "labels",
        "template",
        "multi_label",
    ]
    assert not {"/classify_scores", "/check_classification", "/describe_classification"} & set(endpoints)


@pytest.mark.slow
def test_the_classify_tab_shows_every_label_s_score_and_the_language(smoke_run: Path, tmp_path: Path) -> None:
    expect = browser_tools().expect
    limits, monitor = Limits(), Monitor()
    demo = build_demo(Predictor.from_pretrained(smoke_run), limits, monitor, output_dir=tmp_path / "outputs")
    text, labels, template, _ = CLASSIFY_EXAMPLES[1]  # French text, French labels and template
    try:
        with browser_page(launch_local(demo, limits, monitor)) as page:
            page.get_by_role("tab", name="Classify").click()
            page.get_by_role("button", name="Classify", exact=True).click()
            expect(page.get_by_text("Type a text and a few labels first")).to_be_visible(timeout=30_000)

            page.get_by_text(text[:30]).click()  # the example fills the four boxes
            expect(page.get_by_label("Template ({} is where a label goes)")).to_have_value(template)
            page.get_by_role("button", name="Classify", exact=True).click()
            scores = page.locator("#classify-scores")
            for label in labels.split(", "):
                expect(scores).to_contain_text(label, timeout=60_000)
            languages = page.locator("#classify-languages")
            expect(languages).to_contain_text("Language: French", timeout=30_000)
            expect(languages).to_contain_text("not calibrated probabilities")
    finally:
        demo.close()
