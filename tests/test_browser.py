"""The page in a real browser (headless Chromium): an empty box warns, two sentences give a label with the
language seen and the model's record in it, an unsure answer gets its warning, and the Monitoring tab counts it.

Needs Debian's chromium and the `playwright` package (requirements-dev.txt); skipped, with the reason, without.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from local_app import browser_page, browser_tools, launch_local

from contradiction.inference.predictor import Predictor
from contradiction.labels import LABELS
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.monitoring.store import PredictionLog
from contradiction.serving.page import build_demo

pytestmark = pytest.mark.slow  # a real browser


def test_page_warns_on_an_empty_box_then_shows_a_label(smoke_run: Path, tmp_path: Path) -> None:
    expect = browser_tools().expect
    results = json.loads((smoke_run / "eval_results.json").read_text())

    limits, monitor = Limits(), Monitor(PredictionLog(tmp_path / "monitoring.sqlite"))
    demo = build_demo(Predictor.from_pretrained(smoke_run), limits, monitor, output_dir=tmp_path / "outputs")
    try:
        with browser_page(launch_local(demo, limits, monitor)) as page:
            expect(page.get_by_text(f"Model in use: {smoke_run}")).to_be_visible(timeout=30_000)

            page.get_by_label("Premise").fill("Le musée ferme à dix-huit heures le dimanche.")
            page.get_by_role("button", name="Submit").click()
            expect(page.get_by_text("Type a hypothesis first")).to_be_visible(timeout=30_000)
            expect(page.get_by_test_id("label-output-value")).to_have_count(0)  # and no prediction

            page.get_by_label("Hypothesis").fill("Le dimanche, le musée reste ouvert toute la nuit.")
            page.get_by_role("button", name="Submit").click()
            shown = page.get_by_test_id("label-output-value")
            expect(shown).to_have_text(re.compile("|".join(LABELS)), timeout=60_000)
            assert shown.inner_text().strip() in LABELS
            # the language seen, and how often the model is right in it (from train.py's eval_results.json)
            french = results["per_language"]["fr"]
            languages = page.locator("#languages")
            expect(languages).to_contain_text("Language: French", timeout=30_000)
            expect(languages).to_contain_text(
                f"French: right {french['accuracy']:.0%} of the time on {french['rows']} validation pairs."
            )
            expect(languages).to_contain_text("Confidences are calibrated")

            page.get_by_role("tab", name="Monitoring").click()
            expect(page.get_by_text("1 prediction in this period")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Share of each predicted label")).to_be_visible()
    finally:
        demo.close()


def test_stop_or_closing_the_page_takes_a_csv_file_out_of_the_model(
    smoke_run: Path, sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")  # the server notices a closed page within a second
    predictor = Predictor.from_pretrained(smoke_run)
    passes: list[int] = []
    original = predictor.predict_proba

    def slowed(premises, hypotheses, *args, **kwargs):  # 100 passes of 0.05 s for the file below
        passes.append(len(premises))
        time.sleep(0.05)
        return original(premises, hypotheses, *args, **kwargs)

    monkeypatch.setattr(predictor, "predict_proba", slowed)
    test = pd.read_csv(sample_dir / "test.csv", dtype=str, keep_default_na=False)
    big = pd.concat([test.assign(id=test["id"] + f"-{i}") for i in range(-(-3200 // len(test)))]).head(3200)
    big.to_csv(tmp_path / "big.csv", index=False)

    def run_then(page, action: str) -> None:
        """Start the file, let 3 passes run, stop it by `action`, and check that no further pass runs."""
        start = len(passes)
        page.get_by_role("button", name="Predict the file").click()
        deadline = time.monotonic() + 60
        while len(passes) < start + 3:  # the file is in the model
            assert time.monotonic() < deadline, "the file never reached the model"
            time.sleep(0.01)
        if action == "stop":
            page.get_by_role("button", name="Stop").click()
        else:
            page.close()
        time.sleep(1.0)  # a pass already in the model ends
        settled = len(passes)
        time.sleep(1.0)
        assert len(passes) == settled, f"{action}: the file kept using the model"
        assert settled - start < 50, f"{action}: the file ran on for {settled - start} of its 100 passes"

    limits, monitor = Limits(), Monitor()
    demo = build_demo(predictor, limits, monitor, output_dir=tmp_path / "outputs")
    try:
        with browser_page(launch_local(demo, limits, monitor)) as page:
            page.get_by_role("tab", name="CSV file").click()
            page.locator("input[type=file][accept='.csv']").set_input_files(tmp_path / "big.csv")
            run_then(page, "stop")
            run_then(page, "close")
    finally:
        demo.close()


def test_the_page_warns_when_the_model_is_unsure(make_predictor, tmp_path: Path) -> None:
    """An untrained model's top probability is near a third: the note under the answer says to treat it as a guess
    (the page hands the answer's `gr.Label` to `describe` as {label: confidence})."""
    expect = browser_tools().expect
    premise, hypothesis = "The museum closes at six on Sundays.", "The museum is open all night on Sundays."
    predictor = make_predictor()
    top = max(predictor.predict(premise, hypothesis).values())
    assert top < Monitor().low_confidence
    limits, monitor = Limits(), Monitor()
    demo = build_demo(predictor, limits, monitor, output_dir=tmp_path / "outputs")
    try:
        with browser_page(launch_local(demo, limits, monitor)) as page:
            page.get_by_label("Premise").fill(premise)
            page.get_by_label("Hypothesis").fill(hypothesis)
            page.get_by_role("button", name="Submit").click()
            expect(page.locator("#languages")).to_contain_text(
                f"The top probability is only {top:.0%}: the model is unsure; treat this answer as a guess.",
                timeout=60_000,
            )
    finally:
        demo.close()
