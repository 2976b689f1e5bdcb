"""The page: one pair, a classification, a document, a CSV file and monitoring, a tab each (`build_demo`).

    demo = build_demo(predictor)        # then server.launch(demo, ...), or demo.launch() in a notebook; demo.close()

Each tab is built by its feature's module (pairs, classification, documents, files, monitoring/tab), which also
holds the handlers its events call and its JSON route; the queue in front of the model is `scheduler.py`, started
and stopped with the page (`lifecycle.py`).
"""

from pathlib import Path

import gradio as gr

from contradiction.inference.model_folder import ModelRecord
from contradiction.inference.predictor import Predictor
from contradiction.languages import LanguageDetector, get_detector
from contradiction.serving.classification import Classification, build_classify_tab, classify_route
from contradiction.serving.common import Context
from contradiction.serving.documents import Documents, build_document_tab, document_route
from contradiction.serving.files import OUTPUT_MAX_AGE_S, Files, build_file_tab
from contradiction.serving.lifecycle import App, Runtime, env_default
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.monitoring.tab import build_monitoring_tab
from contradiction.serving.pairs import Pairs, build_pair_tab, header, nli_route
from contradiction.serving.scheduler import CHUNK_SIZE

PUBLIC_ENDPOINTS = ("predict", "analyze", "predict_batch", "predict_file", "classify", "check_document")
"""The events scripts call by name (gradio_client, MCP); each is counted under its name in /metrics."""

GRADIO_SUMMARY_ENV = "GRADIO_ANALYTICS_CACHE_FREQUENCY"
"""Events between two recomputations of Gradio's dashboard summary (Gradio's default: 1)."""


def build_demo(
    predictor: Predictor,
    limits: Limits | None = None,
    monitor: Monitor | None = None,
    max_batch_size: int = 16,
    output_dir: str | Path | None = None,
    record: ModelRecord | None = None,
    chunk_size: int = CHUNK_SIZE,
    detector: LanguageDetector | None = None,
) -> App:
    """The app around `predictor`; serve it with `cli.launch` (which adds the upload limit and `/metrics`), and
    `close()` it: that stops the server, the scheduler's worker thread, and removes the result folder it made.

    Args:
        predictor: the model; every event reaches it through one scheduler, interactive requests first.
        limits: text length, pairs per call, rows and size of an upload.
        monitor: where predictions and errors are recorded (default: metrics only, no database).
        max_batch_size: how many waiting single pairs go through the model together.
        output_dir: where CSV results are written (default: a new folder in the system temp dir, removed at close).
        record: the model's validation record per language (default: read from the model folder).
        chunk_size: pairs per forward pass of bulk work (CSV files, /predict_batch), between single pairs.
        detector: tells the language of each text (default: `languages.get_detector()`, py3langid); another
            detector needs only its `detect` and `detect_many`, answering the competition's codes (`zh`, `en`).
    """
    limits = limits or Limits()
    monitor = monitor or Monitor()
    record = record if record is not None else ModelRecord.read(predictor.name)
    runtime = Runtime(predictor, output_dir, pair_batch_size=max_batch_size, chunk_size=chunk_size)
    try:
        demo = _page(predictor, limits, monitor, max_batch_size, record, runtime, detector or get_detector())
    except BaseException:
        runtime.close()
        raise
    demo.runtime = runtime
    return demo


def _page(
    predictor: Predictor,
    limits: Limits,
    monitor: Monitor,
    max_batch_size: int,
    record: ModelRecord,
    runtime: Runtime,
    detector: LanguageDetector,
) -> App:
    context = Context(runtime.scheduler, limits, monitor, detector, record)
    pairs, classification, documents = Pairs(context), Classification(context), Documents(context)
    files = Files(context, runtime.outputs_root)
    with App(title="Contradiction detector", delete_cache=(1800, OUTPUT_MAX_AGE_S)) as demo:
        gr.Markdown(header(predictor.name, limits.max_chars))
        build_pair_tab(pairs, limits, max_batch_size)
        build_classify_tab(classification, limits, max_batch_size)
        build_document_tab(documents, limits, max_batch_size)
        build_file_tab(files, limits)
        build_monitoring_tab(monitor)
        demo.unload(files.close_session)
    demo.context = context
    demo.json_routes = [nli_route(pairs), classify_route(classification), document_route(documents)]
    # Gradio's queue recomputes the summary of its own /monitoring dashboard (pandas over up to 10,000 past events)
    # after every event: 1.3 ms of CPU per event at first, 5.4 ms after 10,000. cli.launch turns that dashboard
    # off (the Monitoring tab is ours), so the summary need not be recomputed; a value set by the user stays. The
    # queue reads the variable once, here: set only meanwhile, it changes nothing else in the process.
    with env_default(GRADIO_SUMMARY_ENV, str(2**62)):
        # api_open=False: /gradio_api/run/* is off, so every event goes through the queue and its bounds
        demo.queue(max_size=256, default_concurrency_limit=1, api_open=False)
    return demo
