"""The page in a real browser (headless Chromium): an empty box warns, two sentences give a label, and the
Monitoring tab counts it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from local_app import launch_local

from contradiction.inference import Predictor
from contradiction.labels import LABELS
from contradiction.monitoring import Monitor, PredictionLog
from contradiction.ui import Limits, build_demo

CHROMIUM = Path("/usr/bin/chromium")
# gradio 6.31's queue still passes pandas options that pandas 3 deprecates; not ours to fix
# flags for a container without a sandbox, GPU or network; they also keep Chromium from phoning home
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)
def test_page_warns_on_an_empty_box_then_shows_a_label(tiny_model_dir: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    limits, monitor = Limits(), Monitor(PredictionLog(tmp_path / "monitoring.sqlite"))
    demo = build_demo(Predictor.from_pretrained(tiny_model_dir), limits, monitor, output_dir=tmp_path / "outputs")
    url = launch_local(demo, limits, monitor)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(url)
                expect(page.get_by_text(f"Model in use: {tiny_model_dir}")).to_be_visible(timeout=30_000)

                page.get_by_label("Premise").fill("Le musée ferme à dix-huit heures le dimanche.")
                page.get_by_role("button", name="Submit").click()
                expect(page.get_by_text("Type a hypothesis first")).to_be_visible(timeout=30_000)
                expect(page.get_by_test_id("label-output-value")).to_have_count(0)  # and no prediction

                page.get_by_label("Hypothesis").fill("Le dimanche, le musée reste ouvert toute la nuit.")
                page.get_by_role("button", name="Submit").click()
                shown = page.get_by_test_id("label-output-value")
                expect(shown).to_have_text(re.compile("|".join(LABELS)), timeout=60_000)
                assert shown.inner_text().strip() in LABELS

                page.get_by_role("tab", name="Monitoring").click()
                expect(page.get_by_text("1 prediction in this period")).to_be_visible(timeout=30_000)
                expect(page.get_by_text("Share of each predicted label")).to_be_visible()
            finally:
                browser.close()
    finally:
        demo.close()
