"""The Gradio app: one pair on the page, a whole test CSV in a second tab, monitoring in a third, and an API.

    python app.py --model outputs/model            # or MODEL_ID=... python app.py

API (gradio_client): `/predict` (premise, hypothesis -> label with three confidences; concurrent calls
share one forward pass) and `/predict_batch` (lists of premises and hypotheses -> one {label: prob} each).
Prometheus metrics at `/metrics`; every prediction recorded in a SQLite database (see monitoring.py).
"""

# No `from __future__ import annotations`: gr.api reads predict_batch's return annotation as an object.
import argparse
import atexit
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from contradiction.data import DataError, load_csv
from contradiction.errors import UserError
from contradiction.inference import ModelLoadError, Predictor, PredictorOptions, resolve_model
from contradiction.labels import LABELS
from contradiction.monitoring import HOME_ENV, Monitor, PredictionLog, default_db_path, training_label_mix
from contradiction.predict import PROB_COLUMNS, predict_table, submission, write_csvs

logger = logging.getLogger(__name__)

LABEL_MEANINGS = {
    "entailment": "if the premise is true, the hypothesis is true too.",
    "neutral": "the premise neither confirms nor rules out the hypothesis.",
    "contradiction": "if the premise is true, the hypothesis is false.",
}

# Written for this app: (language, expected label, premise, hypothesis); every label in several languages.
EXAMPLES: list[tuple[str, str, str, str]] = [
    (
        "English",
        "entailment",
        "A woman is reading a newspaper on the morning train.",
        "A woman is on a train.",
    ),
    (
        "French",
        "contradiction",
        "Le musée ferme ses portes à dix-huit heures le dimanche.",
        "Le dimanche, le musée reste ouvert toute la nuit.",
    ),
    (
        "Spanish",
        "neutral",
        "Mi hermana compró una bicicleta roja la semana pasada.",
        "Mi hermana va al trabajo en bicicleta.",
    ),
    (
        "German",
        "contradiction",
        "Der Zug nach Hamburg hatte heute Morgen zwanzig Minuten Verspätung.",
        "Der Zug nach Hamburg kam heute Morgen pünktlich an.",
    ),
    ("Russian", "entailment", "Дети построили во дворе большую снежную крепость.", "Во дворе лежит снег."),
    ("Arabic", "neutral", "اشترى أحمد سيارة جديدة في الشهر الماضي.", "يحب أحمد السفر بالسيارة في العطلات."),
    ("Chinese", "contradiction", "这家面包店每天早上七点开门。", "这家面包店只在晚上营业。"),
    ("Hindi", "entailment", "सीता हर सुबह पार्क में दौड़ने जाती है।", "सीता सुबह व्यायाम करती है।"),
    ("Thai", "neutral", "ร้านกาแฟนี้เพิ่งเปิดเมื่อเดือนที่แล้ว", "ร้านกาแฟนี้ขายขนมเค้กด้วย"),
    (
        "Swahili",
        "contradiction",
        "Mvua kubwa ilinyesha jana usiku katika mji wa Mombasa.",
        "Hakukuwa na mvua Mombasa jana usiku.",
    ),
    ("Vietnamese", "entailment", "Nam đã tốt nghiệp đại học vào năm ngoái.", "Nam từng học đại học."),
    ("Turkish", "neutral", "Ayşe bu sabah otobüsü kaçırdı.", "Ayşe işe geç kaldı."),
]

PREVIEW_ROWS = 20
OUTPUT_MAX_AGE_S = 3600  # uploads and result files older than this are deleted (and all of them at shutdown)
MODEL_FAILED = "The model failed on this request; try again, and tell the operator if it keeps failing."
SERIES_COLORS = {  # a label's training share in a pale shade of its live colour
    "entailment": "#2563eb",
    "entailment (training)": "#93c5fd",
    "neutral": "#d97706",
    "neutral (training)": "#fcd34d",
    "contradiction": "#dc2626",
    "contradiction (training)": "#fca5a5",
}
PERIODS = [("Last hour", 3600), ("Last day", 86400), ("Last week", 7 * 86400), ("Everything", 0)]


@dataclass(frozen=True)
class Limits:
    """What one request may hold. Each is a flag of app.py and an environment variable (see `LIMIT_ENV`)."""

    max_chars: int = 2000  # characters per text (premise or hypothesis), in the boxes and in the API
    max_pairs: int = 256  # pairs per /predict_batch call; larger jobs belong in the CSV tab or the CLI
    max_rows: int = 20_000  # rows per uploaded CSV file
    max_upload_mb: float = 20.0  # size of an uploaded file, in MB (2^20 bytes)

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_pairs", "max_rows", "max_upload_mb"):
            if not getattr(self, name) > 0:
                raise UserError(f"--{name} {getattr(self, name)} must be a positive number.")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)  # binary megabytes, as Gradio's messages count them


LIMIT_ENV = {
    "max_chars": "CONTRADICTION_MAX_CHARS",
    "max_pairs": "CONTRADICTION_MAX_PAIRS",
    "max_rows": "CONTRADICTION_MAX_ROWS",
    "max_upload_mb": "CONTRADICTION_MAX_UPLOAD_MB",
}


def text_problem(text: object, max_chars: int) -> tuple[str, str] | None:
    """What is wrong with one text of a pair and the fix, as sentence parts ("is empty", "send a sentence")."""
    if not isinstance(text, str) or not text.strip():
        return "is empty", "send a sentence"
    if len(text) > max_chars:
        return f"has {len(text):,} characters, over the limit of {max_chars:,}", "shorten it"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800" arrives fine in JSON but breaks the tokenizer
        return "is not valid Unicode (it holds an unpaired surrogate)", "send UTF-8 text"
    return None


def _as_dict(row: Iterable[float]) -> dict[str, float]:
    return {label: float(p) for label, p in zip(LABELS, row, strict=True)}


class PairBatcher:
    """Runs single-pair requests that arrive together through the model in one forward pass.

    Each request waits on its own future, so each can be checked (and refused) on its own, and a failure
    inside the model reaches only the requests of that batch. While one batch runs, the next gathers.
    """

    def __init__(self, predictor: Predictor, max_batch_size: int) -> None:
        self.predictor = predictor
        self.max_batch_size = max_batch_size
        self._jobs: queue.SimpleQueue[tuple[str, str, Future]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="pair-batcher", daemon=True).start()

    def predict(self, premise: str, hypothesis: str) -> np.ndarray:
        """The pair's probabilities in `LABELS` order; raises what the model raised."""
        future: Future = Future()
        self._jobs.put((premise, hypothesis, future))
        return future.result()

    def _run(self) -> None:
        while True:
            jobs = [self._jobs.get()]
            while len(jobs) < self.max_batch_size:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                probs = self.predictor.predict_proba([j[0] for j in jobs], [j[1] for j in jobs])
                if len(probs) != len(jobs):
                    raise RuntimeError(f"the model answered {len(probs)} rows for {len(jobs)} pairs")
            except Exception as err:  # the operator gets the traceback, each user one sentence; the loop goes on
                logger.exception("prediction failed for a batch of %d pair(s)", len(jobs))
                for _, _, future in jobs:
                    future.set_exception(err)
                continue
            for (_, _, future), row in zip(jobs, probs, strict=True):
                future.set_result(row)


def _header(predictor: Predictor, max_chars: int) -> str:
    meanings = "\n".join(f"- **{label}**: {LABEL_MEANINGS[label]}" for label in LABELS)
    name = predictor.name
    model = f"[`{name}`](https://huggingface.co/{name})" if not Path(name).exists() else f"`{name}`"
    return (
        "# Contradiction detector: multilingual natural language inference\n"
        "Does the **hypothesis** follow from the **premise**? Write both in any of the model's languages "
        f"(up to {max_chars:,} characters each). The model answers with one of three labels:\n"
        f"{meanings}\n\n"
        f"Model in use: {model}"
    )


def _prune(root: Path, max_age_s: float) -> None:
    """Remove result folders older than `max_age_s`: one per CSV file processed."""
    cutoff = time.time() - max_age_s
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def build_demo(
    predictor: Predictor,
    limits: Limits | None = None,
    monitor: Monitor | None = None,
    max_batch_size: int = 16,
    output_dir: str | Path | None = None,
) -> gr.Blocks:
    """The app around `predictor`; serve it with `launch` (which adds the upload limit and `/metrics`).

    Args:
        predictor: the model; shared by every event (it serialises its own forward passes).
        limits: text length, pairs per call, rows and size of an upload.
        monitor: where predictions and errors are recorded (default: metrics only, no database).
        max_batch_size: how many waiting `/predict` requests go through the model together.
        output_dir: where CSV results are written (default: a new folder in the system temp dir, removed at exit).
    """
    limits = limits or Limits()
    monitor = monitor or Monitor()
    if output_dir is None:
        output_dir = tempfile.mkdtemp(prefix="contradiction-app-")
        atexit.register(shutil.rmtree, output_dir, ignore_errors=True)
    outputs_root = Path(output_dir)
    outputs_root.mkdir(parents=True, exist_ok=True)
    batcher = PairBatcher(predictor, max_batch_size)

    def refuse(endpoint: str, message: str) -> gr.Error:
        monitor.error(endpoint, "input")
        return gr.Error(message, print_exception=False)

    def check_pair(premise: str, hypothesis: str) -> None:
        """Stop the prediction with a friendly warning when a box is empty."""
        missing = [name for name, text in (("premise", premise), ("hypothesis", hypothesis)) if not text.strip()]
        if missing:
            message = f"Type a {' and a '.join(missing)} first, or click one of the examples."
            gr.Warning(message)
            # invisible: the warning says it all; raising is what stops the chained prediction
            raise gr.Error(message, visible=False, print_exception=False)

    def predict(premise: str, hypothesis: str) -> dict[str, float]:
        """Probabilities of entailment, neutral and contradiction for one premise and one hypothesis.

        Requests that arrive together share a forward pass. An empty, over-long or broken text is refused with
        one sentence, alone; a failure inside the model gets one sentence too, for each request of its batch.
        """
        start = time.perf_counter()
        for name, text in (("premise", premise), ("hypothesis", hypothesis)):
            if problem := text_problem(text, limits.max_chars):
                raise refuse("predict", f"The {name} {problem[0]}; {problem[1]}.")
        try:
            row = batcher.predict(premise, hypothesis)
        except Exception:
            monitor.error("predict", "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        monitor.record("predict", time.perf_counter() - start, [premise], [hypothesis], row[None])
        return _as_dict(row)

    def predict_batch(premises: list[str], hypotheses: list[str]) -> list[dict[str, float]]:
        """Probabilities of entailment, neutral and contradiction for each (premise, hypothesis) pair."""
        start = time.perf_counter()
        if not isinstance(premises, list) or not isinstance(hypotheses, list):
            raise refuse("predict_batch", "Send two lists of strings: the premises and the hypotheses.")
        if len(premises) != len(hypotheses):
            raise refuse(
                "predict_batch",
                f"Got {len(premises)} premises and {len(hypotheses)} hypotheses; send one of each per pair.",
            )
        if len(premises) > limits.max_pairs:
            raise refuse(
                "predict_batch",
                f"Got {len(premises)} pairs; send at most {limits.max_pairs} per call, or upload a CSV file.",
            )
        for i, pair in enumerate(zip(premises, hypotheses, strict=True)):
            for name, text in zip(("premise", "hypothesis"), pair, strict=True):
                if problem := text_problem(text, limits.max_chars):
                    fix = "fill it in or leave the pair out" if problem[0] == "is empty" else problem[1]
                    raise refuse("predict_batch", f"Pair {i}: the {name} {problem[0]}; {fix}.")
        try:
            probs = predictor.predict_proba(premises, hypotheses)
        except Exception:
            logger.exception("prediction failed for a /predict_batch call of %d pair(s)", len(premises))
            monitor.error("predict_batch", "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        monitor.record("predict_batch", time.perf_counter() - start, premises, hypotheses, probs)
        return [_as_dict(row) for row in probs]

    def predict_file(
        path: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects its progress bar
    ) -> tuple[pd.DataFrame | dict, str | dict, str | dict]:
        """Predict a competition test CSV: a preview, the predictions with probabilities, the submission."""
        start = time.perf_counter()
        if path is None:
            gr.Warning("Upload a CSV file first (columns id, premise, hypothesis, lang_abv, language).")
            return gr.skip(), gr.skip(), gr.skip()
        name = Path(path).name  # the upload's temporary path means nothing to the user; name the file they chose
        size = Path(path).stat().st_size
        if size > limits.max_upload_bytes:  # launch() stops these at upload; this covers other ways in
            raise refuse(
                "predict_file",
                f"{name} is {size / 2**20:.3g} MB, over the {limits.max_upload_mb:g} MB limit; split it, or predict "
                "it with `python -m contradiction.predict`.",
            )
        try:
            ds = load_csv(path, labelled=False)
        except DataError as err:
            raise refuse("predict_file", str(err).replace(str(path), name)) from None
        if len(ds) > limits.max_rows:
            raise refuse(
                "predict_file",
                f"{name} has {len(ds):,} rows, over the limit of {limits.max_rows:,}; split it, or predict it "
                "with `python -m contradiction.predict`.",
            )
        progress((0, len(ds)), desc="Predicting", unit="pairs")
        try:
            table = predict_table(
                predictor,
                ds,
                progress=lambda done, total: progress((done, total), desc="Predicting", unit="pairs"),
            )
        except Exception:
            logger.exception("prediction failed for %s (%d rows)", name, len(ds))
            monitor.error("predict_file", "model")
            raise gr.Error(MODEL_FAILED, print_exception=False) from None
        _prune(outputs_root, OUTPUT_MAX_AGE_S)
        folder = Path(tempfile.mkdtemp(dir=outputs_root))
        predictions_file, submission_file = folder / "predictions.csv", folder / "submission.csv"
        write_csvs({predictions_file: table, submission_file: submission(table)})
        probs = table[list(PROB_COLUMNS)].to_numpy()
        monitor.record("predict_file", time.perf_counter() - start, ds["premise"], ds["hypothesis"], probs)
        preview = table.head(PREVIEW_ROWS).astype({c: float for c in PROB_COLUMNS}).round(3)
        columns = ["id", "language", "predicted_label", *PROB_COLUMNS, "premise", "hypothesis"]
        return preview[columns], str(predictions_file), str(submission_file)

    def dashboard(period_s: int) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The Monitoring tab: summary and drift warning, label mix, latency, low-confidence share."""
        return monitor.dashboard(period_s or None)

    with gr.Blocks(title="Contradiction detector", delete_cache=(1800, OUTPUT_MAX_AGE_S)) as demo:
        gr.Markdown(_header(predictor, limits.max_chars))
        with gr.Tab("One pair"):
            with gr.Row():
                with gr.Column():
                    premise = gr.Textbox(
                        label="Premise",
                        placeholder="A statement taken as true, e.g. The shop is closed on Sundays.",
                        lines=3,
                        max_length=limits.max_chars,
                    )
                    hypothesis = gr.Textbox(
                        label="Hypothesis",
                        placeholder="A statement to check against it, e.g. The shop opens every day.",
                        lines=2,
                        max_length=limits.max_chars,
                    )
                    with gr.Row():
                        clear = gr.ClearButton(value="Clear", api_name="clear")
                        submit = gr.Button("Submit", variant="primary")
                label = gr.Label(num_top_classes=len(LABELS), label="Prediction")
            clear.add([premise, hypothesis, label])
            gr.Examples(
                [[p, h] for _, _, p, h in EXAMPLES],
                inputs=[premise, hypothesis],
                label=f"Examples in {len(EXAMPLES)} languages",
                examples_per_page=len(EXAMPLES),
                cache_examples=False,
                api_name="load_example",
                api_visibility="private",
            )
        with gr.Tab("CSV file"):
            gr.Markdown(
                "Upload a test CSV in the competition format (`id,premise,hypothesis,lang_abv,language`), "
                f"up to {limits.max_upload_mb:g} MB and {limits.max_rows:,} rows. "
                f"You get a preview of the first {PREVIEW_ROWS} rows and two files: every row with its label "
                "and three probabilities, and a Kaggle submission (`id,prediction`, "
                + ", ".join(f"{i}={name}" for i, name in enumerate(LABELS))
                + ")."
            )
            csv_file = gr.File(label="Test CSV", file_types=[".csv"], type="filepath")
            run_file = gr.Button("Predict the file", variant="primary")
            preview = gr.Dataframe(label=f"Preview (first {PREVIEW_ROWS} rows)", interactive=False, wrap=True)
            with gr.Row():
                predictions_out = gr.File(label="Predictions with probabilities", interactive=False)
                submission_out = gr.File(label="Kaggle submission", interactive=False)
        with gr.Tab("Monitoring") as monitoring_tab:
            gr.Markdown(
                "What the model has predicted here: the label mix against the training mix (a drift warning "
                f"appears when they are more than {monitor.drift_threshold:g} apart), latency percentiles, and "
                f"the share of predictions whose top probability is under {monitor.low_confidence:g}. "
                "Texts are never shown. Metrics for Prometheus: `/metrics`."
            )
            with gr.Row():
                period = gr.Dropdown(PERIODS, value=86400, label="Period", scale=3)
                refresh = gr.Button("Refresh", scale=1)
            summary = gr.Markdown()
            share_plot = gr.LinePlot(
                x="time",
                y="share",
                color="series",
                color_map=SERIES_COLORS,
                y_lim=[0, 1],
                title="Share of each predicted label (pale: the training mix)",
            )
            latency_plot = gr.LinePlot(x="time", y="latency_ms", color="percentile", title="Latency (ms)")
            low_plot = gr.LinePlot(x="time", y="share", y_lim=[0, 1], title="Share of low-confidence predictions")

        submit.click(check_pair, [premise, hypothesis], None, api_name="check_pair", api_visibility="private").success(
            predict,
            [premise, hypothesis],
            label,
            api_name="predict",
            concurrency_limit=2 * max_batch_size,  # one batch runs while the next gathers
        )
        csv_file.change(
            lambda: (None, None, None),  # results of the previous file must not pass for this one's
            None,
            [preview, predictions_out, submission_out],
            api_name="clear_file_results",
            api_visibility="private",
            queue=False,
        )
        run_file.click(
            predict_file,
            csv_file,
            [preview, predictions_out, submission_out],
            api_name="predict_file",
        )
        gr.api(predict_batch, api_name="predict_batch")
        plots = [summary, share_plot, latency_plot, low_plot]
        gr.on(
            [refresh.click, period.change, monitoring_tab.select],
            dashboard,
            period,
            plots,
            api_name="monitoring",
            api_visibility="private",
        )
    demo.queue(max_size=256, default_concurrency_limit=1)
    return demo


def launch(demo: gr.Blocks, limits: Limits, monitor: Monitor, **kwargs) -> tuple:
    """Serve `demo` with the upload size limit, Prometheus metrics at `/metrics`, and Gradio's own
    analytics dashboard off; `kwargs` go to `Blocks.launch` (server_name, server_port, ...)."""
    from prometheus_client import CONTENT_TYPE_LATEST
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    def metrics(_: Request) -> Response:  # sync: Starlette runs it in a thread, off the event loop
        return Response(monitor.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return demo.launch(
        max_file_size=limits.max_upload_bytes,
        enable_monitoring=False,
        app_kwargs={"routes": [Route("/metrics", metrics)]},
        **kwargs,
    )


def _env_default(name: str, fallback: str) -> str:
    return os.environ.get(name) or fallback


def _positive(kind: type) -> Callable[[str], float]:
    """An argparse type: a positive int or float, with a message that says so."""

    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if not number > 0:
            raise argparse.ArgumentTypeError(f"{value!r} is not a positive {'whole ' if kind is int else ''}number")
        return number

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="app.py", description="Serve a multilingual NLI model as a web page and an API (Gradio)."
    )
    parser.add_argument(
        "--model",
        help="local model folder or Hub id (default: $MODEL_ID, else a public multilingual NLI model)",
    )
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--max_length", type=int, default=256, help="tokens per pair; longer are cut (default 256)")
    parser.add_argument("--num_threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument(
        "--no_fast",
        action="store_true",
        help="run in float32 even where bfloat16 is native (the fast default; see docs/benchmarks.md)",
    )
    limits = parser.add_argument_group("limits (a request over a limit is refused with one sentence)")
    defaults = Limits()
    helps = {
        "max_chars": "characters per premise or hypothesis, in the boxes and the API",
        "max_pairs": "pairs per /predict_batch call",
        "max_rows": "rows per uploaded CSV file",
        "max_upload_mb": "size of an uploaded file in MB",
    }
    for name, env in LIMIT_ENV.items():
        default = getattr(defaults, name)
        limits.add_argument(
            f"--{name}",
            type=_positive(type(default)),
            default=_env_default(env, str(default)),
            help=f"{helps[name]} (default: ${env}, else {default:g})",
        )
    monitoring = parser.add_argument_group("monitoring")
    monitoring.add_argument(
        "--monitor_db",
        default=str(default_db_path()),
        help=f"SQLite file that records every prediction, or 'none' (default: ${HOME_ENV}/monitoring.sqlite, "
        "else outputs/monitoring.sqlite)",
    )
    monitoring.add_argument(
        "--log_texts", action="store_true", help="also record the premise and hypothesis texts (off by default)"
    )
    monitoring.add_argument(
        "--drift_threshold",
        type=float,
        default=0.15,
        help="warn when the recent label mix is further than this from the training mix (total variation "
        "distance, default 0.15)",
    )
    monitoring.add_argument(
        "--drift_window", type=int, default=1000, help="recent predictions that make up the live mix (default 1000)"
    )
    monitoring.add_argument(
        "--low_confidence",
        type=float,
        default=0.5,
        help="a top probability under this counts as a low-confidence prediction (default 0.5)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Check the flags, open the monitoring database, load the model (one sentence and exit status 2 when any
    of these fails), then serve."""
    args = parse_args(argv)
    limits = Limits(args.max_chars, args.max_pairs, args.max_rows, args.max_upload_mb)
    model = resolve_model(args.model)
    mix, source = training_label_mix(model)
    # settings are checked before the database file is created
    monitor = Monitor(None, mix, source, args.drift_threshold, args.drift_window, args.low_confidence)
    if args.monitor_db.lower() != "none":
        monitor.log = PredictionLog(args.monitor_db, log_texts=args.log_texts)
    log = monitor.log
    print(f"loading {model}", flush=True)
    try:
        predictor = Predictor.from_pretrained(
            model, PredictorOptions(max_length=args.max_length, num_threads=args.num_threads, fast=not args.no_fast)
        )
    except ModelLoadError as err:
        raise err.with_flags("--model PATH_OR_ID or MODEL_ID") from None
    if log is not None:
        texts = "with" if args.log_texts else "without"
        print(f"recording predictions ({texts} their texts) in {log.path}", flush=True)
    demo = build_demo(predictor, limits, monitor)
    try:
        launch(demo, limits, monitor, server_name=args.host, server_port=args.port)
    except OSError as err:  # the port is taken, or the address is not this machine's
        host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
        port = args.port or os.environ.get("GRADIO_SERVER_PORT") or 7860
        reason = str(err).split(". ")[0].strip().rstrip(".")
        raise UserError(f"cannot listen on {host}:{port} ({reason}); pass a free --port or another --host.") from None
