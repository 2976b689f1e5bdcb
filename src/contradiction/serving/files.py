"""A whole CSV file in the competition's test format: the handlers and the CSV tab (`/predict_file`).

The file goes after waiting single pairs and batch calls, chunk by chunk, and stops using the model when the
page's Stop button is pressed, the page is closed or a gradio_client job is cancelled. Its results (a preview, a
file of probabilities, a Kaggle submission) are written to one folder per file, deleted after an hour.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from concurrent.futures import CancelledError
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from contradiction.data.competition import DataError, load_csv
from contradiction.data.pairs import TooManyRows
from contradiction.inference.tables import PROB_COLUMNS, TABLE_COLUMNS, chunk_table, submission, write_csvs
from contradiction.labels import LABELS
from contradiction.serving.common import Context, Refused
from contradiction.serving.limits import Limits
from contradiction.serving.pairs import record_many
from contradiction.serving.scheduler import Priority

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 20

OUTPUT_MAX_AGE_S = 3600  # uploads and result files older than this are deleted (and all of them at shutdown)

PROGRESS_EVERY_S = 0.5  # how often a CSV job's progress bar moves


def forget_upload(path: str) -> None:
    """Delete an upload from Gradio's upload folder (and its folder there, when empty); a file elsewhere, such as a
    path a script named on this machine, is left alone."""
    from gradio.utils import get_upload_folder

    uploads, file = Path(get_upload_folder()).resolve(), Path(path).resolve()
    if uploads not in file.parents:
        return
    file.unlink(missing_ok=True)
    if file.parent != uploads and not any(file.parent.iterdir()):
        file.parent.rmdir()
    logger.info("deleted the refused upload %s", file.name)


def _prune(root: Path, max_age_s: float) -> None:
    """Remove result folders older than `max_age_s`: one per CSV file processed."""
    cutoff = time.time() - max_age_s
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


class Files:
    """The handlers of a whole CSV file, on the app's `Context`; results go to `outputs_root`, one folder a file."""

    def __init__(self, context: Context, outputs_root: Path) -> None:
        self.context = context
        self.outputs_root = outputs_root

    async def predict_file(
        self,
        path: str | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects its progress bar
    ) -> tuple[pd.DataFrame | dict, str | dict, str | dict]:
        """Natural language inference on a whole CSV file in the competition's test format (columns id, premise,
        hypothesis, lang_abv, language): every row gets a label and the probabilities of entailment, neutral and
        contradiction. The file goes after waiting single pairs and batch calls; it stops using the model when the
        page's Stop button is pressed, the page is closed or a gradio_client job is cancelled.

        Args:
            path: the CSV file (an upload, or an http(s) URL of one)

        Returns:
            a preview table of the first rows with their labels and probabilities
            predictions.csv: every row with predicted_label, prob_entailment, prob_neutral and prob_contradiction
            submission.csv: id,prediction with 0=entailment, 1=neutral, 2=contradiction
        """
        start = time.perf_counter()
        if path is None:
            gr.Warning("Upload a CSV file first (columns id, premise, hypothesis, lang_abv, language).")
            return gr.skip(), gr.skip(), gr.skip()
        ds = await asyncio.to_thread(self._load_file, path)  # off the event loop: other users keep being served
        logger.debug("read %s: %d rows in %.3f s", Path(path).name, len(ds), time.perf_counter() - start)
        progress((0, len(ds)), desc="Predicting", unit="pairs")
        session = getattr(request, "session_hash", None)
        # the worker counts the file's tokens a chunk at a time, between single pairs, then predicts it
        job = self.context.scheduler.submit(ds["premise"], ds["hypothesis"], Priority.FILE, owner=session)
        waiting = asyncio.wrap_future(job.future)
        scheduler, name = self.context.scheduler, Path(path).name
        with self.context.model_call("predict_file", f"predicting {name} ({len(ds)} rows)"):
            try:
                while not waiting.done():
                    await asyncio.wait({waiting}, timeout=PROGRESS_EVERY_S)
                    progress((job.done, job.total), desc="Predicting", unit="pairs")
                probs = waiting.result()
            except (asyncio.CancelledError, CancelledError):  # Stop pressed, page closed or client cancelled
                scheduler.cancel(job)
                logger.info("prediction of %s stopped after %d of %d rows", name, job.done, job.total)
                raise
        return await asyncio.to_thread(self._finish_file, ds, probs, start)

    def _load_file(self, path: str):
        """The upload, checked and read (its rows counted as they are read: reading stops past `max_rows`); a
        refused upload is deleted from the server at once."""
        try:
            return self._read_file(path)
        except Refused:
            forget_upload(path)
            raise

    def _read_file(self, path: str):
        limits = self.context.limits
        name = Path(path).name  # the upload's temporary path means nothing to the user; name the file they chose
        size = Path(path).stat().st_size
        if size > limits.max_upload_bytes:  # launch() stops these at upload; this covers other ways in
            raise self.context.refuse(
                "predict_file",
                f"{name} is {size / 2**20:.3g} MB, over the {limits.max_upload_mb:g} MB limit; split it, or "
                "predict it with `python -m contradiction.predict`.",
                413,
            )
        try:
            return load_csv(path, labelled=False, max_rows=limits.max_rows)
        except TooManyRows:
            raise self.context.refuse(
                "predict_file",
                f"{name} has more than {limits.max_rows:,} rows, the limit; split it, or predict it with "
                "`python -m contradiction.predict`.",
                413,
            ) from None
        except DataError as err:
            raise self.context.refuse("predict_file", str(err).replace(str(path), name), 422) from None

    def _finish_file(self, ds, probs: np.ndarray, start: float) -> tuple[pd.DataFrame, str, str]:
        table = chunk_table(ds.select_columns(list(TABLE_COLUMNS[:5])).to_dict(), probs)
        _prune(self.outputs_root, OUTPUT_MAX_AGE_S)
        folder = Path(tempfile.mkdtemp(dir=self.outputs_root))
        predictions_file, submission_file = folder / "predictions.csv", folder / "submission.csv"
        write_csvs({predictions_file: table, submission_file: submission(table)})
        record_many(self.context, "predict_file", time.perf_counter() - start, ds["premise"], ds["hypothesis"], probs)
        preview = table.head(PREVIEW_ROWS).astype({c: float for c in PROB_COLUMNS}).round(3)
        columns = ["id", "language", "predicted_label", *PROB_COLUMNS, "premise", "hypothesis"]
        return preview[columns], str(predictions_file), str(submission_file)

    def close_session(self, request: gr.Request) -> None:
        """The page was closed: its CSV jobs stop using the model."""
        session = getattr(request, "session_hash", None)
        if session and (n := self.context.scheduler.cancel_owner(session)):
            logger.info("page closed: %d CSV job(s) cancelled", n)


def build_file_tab(files: Files, limits: Limits) -> None:
    """The CSV tab and its events (`/predict_file` for scripts)."""
    with gr.Tab("CSV file"):
        gr.Markdown(
            "Upload a test CSV in the competition format (`id,premise,hypothesis,lang_abv,language`), "
            f"up to {limits.max_upload_mb:g} MB and {limits.max_rows:,} rows. "
            f"You get a preview of the first {PREVIEW_ROWS} rows and two files: every row with its label "
            "and three probabilities, and a Kaggle submission (`id,prediction`, "
            + ", ".join(f"{i}={name}" for i, name in enumerate(LABELS))
            + "). Single pairs from other users go first; your file continues between them."
        )
        csv_file = gr.File(label="Test CSV", file_types=[".csv"], type="filepath")
        with gr.Row():
            run_file = gr.Button("Predict the file", variant="primary")
            stop_file = gr.Button("Stop", variant="stop")
        preview = gr.Dataframe(label=f"Preview (first {PREVIEW_ROWS} rows)", interactive=False, wrap=True)
        with gr.Row():
            predictions_out = gr.File(label="Predictions with probabilities", interactive=False)
            submission_out = gr.File(label="Kaggle submission", interactive=False)
    csv_file.change(
        lambda: (None, None, None),  # results of the previous file must not pass for this one's
        None,
        [preview, predictions_out, submission_out],
        api_name="clear_file_results",
        api_visibility="private",
        queue=False,
    )
    file_job = run_file.click(
        files.predict_file,
        csv_file,
        [preview, predictions_out, submission_out],
        api_name="predict_file",
        concurrency_limit=4,  # files share the model chunk by chunk in the scheduler
    )
    stop_file.click(None, None, None, cancels=[file_job], api_name="stop_file", api_visibility="private")
