"""The Gradio app: one pair on the page, a whole test CSV in a second tab, and both as an API.

    python app.py --model outputs/model            # or MODEL_ID=... python app.py

API (gradio_client): `/predict` (premise, hypothesis -> label with three confidences; concurrent calls
share one forward pass) and `/predict_batch` (lists of premises and hypotheses -> one {label: prob} each).
"""

# No `from __future__ import annotations`: gr.api reads predict_batch's return annotation as an object.
import argparse
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import gradio as gr
import pandas as pd

from contradiction.data import DataError, load_csv
from contradiction.errors import UserError
from contradiction.inference import ModelLoadError, Predictor, PredictorOptions, resolve_model
from contradiction.labels import LABELS
from contradiction.predict import PROB_COLUMNS, predict_table, submission, write_csvs

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
MAX_API_PAIRS = 256  # pairs per /predict_batch call; larger jobs belong in the CSV tab or the CLI
OUTPUT_MAX_AGE_S = 3600  # result files older than this are removed when the next file comes in


def _as_dict(row: Iterable[float]) -> dict[str, float]:
    return {label: float(p) for label, p in zip(LABELS, row, strict=True)}


def _header(predictor: Predictor, max_chars: int) -> str:
    meanings = "\n".join(f"- **{label}**: {LABEL_MEANINGS[label]}" for label in LABELS)
    name = predictor.name
    model = f"[`{name}`](https://huggingface.co/{name})" if not Path(name).exists() else f"`{name}`"
    return (
        "# Contradiction detector: multilingual natural language inference\n"
        "Does the **hypothesis** follow from the **premise**? Write both in any of the model's languages "
        f"(up to {max_chars} characters each). The model answers with one of three labels:\n"
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
    max_chars: int = 2000,
    max_batch_size: int = 16,
    output_dir: str | Path | None = None,
) -> gr.Blocks:
    """The app around `predictor`.

    Args:
        predictor: the model; shared by every event (it serialises its own forward passes).
        max_chars: length limit of each text box (longer API inputs are cut to it).
        max_batch_size: how many waiting `/predict` requests go through the model together.
        output_dir: where CSV results are written (default: a new folder in the system temp dir).
    """
    if max_chars < 1:
        raise UserError(f"--max_chars {max_chars} must be a positive number of characters, e.g. 2000.")
    outputs_root = Path(output_dir or tempfile.mkdtemp(prefix="contradiction-app-"))
    outputs_root.mkdir(parents=True, exist_ok=True)

    def check_pair(premise: str, hypothesis: str) -> None:
        """Stop the prediction with a friendly warning when a box is empty."""
        missing = [name for name, text in (("premise", premise), ("hypothesis", hypothesis)) if not text.strip()]
        if missing:
            message = f"Type a {' and a '.join(missing)} first, or click one of the examples."
            gr.Warning(message)
            # invisible: the warning says it all; raising is what stops the chained prediction
            raise gr.Error(message, visible=False, print_exception=False)

    def predict(premise: list[str], hypothesis: list[str]) -> tuple[list[dict[str, float] | None]]:
        """Probabilities of entailment, neutral and contradiction for one premise and one hypothesis.

        Batched by Gradio: each argument is a list holding the texts of the requests waiting in the queue.
        A pair with an empty text gets no prediction (an empty label).
        """
        valid = [i for i, pair in enumerate(zip(premise, hypothesis, strict=True)) if all(t.strip() for t in pair)]
        probs = predictor.predict_proba(
            [premise[i][:max_chars] for i in valid], [hypothesis[i][:max_chars] for i in valid]
        )
        results: list[dict[str, float] | None] = [None] * len(premise)
        for i, row in zip(valid, probs, strict=True):
            results[i] = _as_dict(row)
        return (results,)

    def predict_batch(premises: list[str], hypotheses: list[str]) -> list[dict[str, float]]:
        """Probabilities of entailment, neutral and contradiction for each (premise, hypothesis) pair."""
        if len(premises) != len(hypotheses):
            raise gr.Error(
                f"Got {len(premises)} premises and {len(hypotheses)} hypotheses; send one of each per pair.",
                print_exception=False,
            )
        if len(premises) > MAX_API_PAIRS:
            raise gr.Error(
                f"Got {len(premises)} pairs; send at most {MAX_API_PAIRS} per call, or upload a CSV file.",
                print_exception=False,
            )
        for i, pair in enumerate(zip(premises, hypotheses, strict=True)):
            for name, text in zip(("premise", "hypothesis"), pair, strict=True):
                if not isinstance(text, str) or not text.strip():
                    raise gr.Error(
                        f"Pair {i} has an empty {name}; fill it in or leave the pair out.",
                        print_exception=False,
                    )
        probs = predictor.predict_proba([p[:max_chars] for p in premises], [h[:max_chars] for h in hypotheses])
        return [_as_dict(row) for row in probs]

    def predict_file(
        path: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects its progress bar
    ) -> tuple[pd.DataFrame | dict, str | dict, str | dict]:
        """Predict a competition test CSV: a preview, the predictions with probabilities, the submission."""
        if path is None:
            gr.Warning("Upload a CSV file first (columns id, premise, hypothesis, lang_abv, language).")
            return gr.skip(), gr.skip(), gr.skip()
        try:
            ds = load_csv(path, labelled=False)
        except DataError as err:
            # the upload's temporary path means nothing to the user; name the file they chose
            raise gr.Error(str(err).replace(str(path), Path(path).name), print_exception=False) from None
        progress((0, len(ds)), desc="Predicting", unit="pairs")
        table = predict_table(
            predictor,
            ds,
            progress=lambda done, total: progress((done, total), desc="Predicting", unit="pairs"),
        )
        _prune(outputs_root, OUTPUT_MAX_AGE_S)
        folder = Path(tempfile.mkdtemp(dir=outputs_root))
        predictions_file, submission_file = folder / "predictions.csv", folder / "submission.csv"
        write_csvs({predictions_file: table, submission_file: submission(table)})
        preview = table.head(PREVIEW_ROWS).astype({c: float for c in PROB_COLUMNS}).round(3)
        columns = ["id", "language", "predicted_label", *PROB_COLUMNS, "premise", "hypothesis"]
        return preview[columns], str(predictions_file), str(submission_file)

    with gr.Blocks(title="Contradiction detector", delete_cache=(1800, OUTPUT_MAX_AGE_S)) as demo:
        gr.Markdown(_header(predictor, max_chars))
        with gr.Tab("One pair"):
            with gr.Row():
                with gr.Column():
                    premise = gr.Textbox(
                        label="Premise",
                        placeholder="A statement taken as true, e.g. The shop is closed on Sundays.",
                        lines=3,
                        max_length=max_chars,
                    )
                    hypothesis = gr.Textbox(
                        label="Hypothesis",
                        placeholder="A statement to check against it, e.g. The shop opens every day.",
                        lines=2,
                        max_length=max_chars,
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
                "Upload a test CSV in the competition format (`id,premise,hypothesis,lang_abv,language`). "
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

        submit.click(check_pair, [premise, hypothesis], None, api_name="check_pair", api_visibility="private").success(
            predict,
            [premise, hypothesis],
            label,
            api_name="predict",
            batch=True,
            max_batch_size=max_batch_size,
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
    demo.queue(max_size=256, default_concurrency_limit=1)
    return demo


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
    parser.add_argument("--max_chars", type=int, default=2000, help="length limit of each text (default 2000)")
    parser.add_argument("--max_length", type=int, default=256, help="tokens per pair; longer are cut (default 256)")
    parser.add_argument("--num_threads", type=int, help="CPU threads for torch (default: torch's choice)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Load the model (one sentence and exit status 2 when it cannot be loaded), then serve it."""
    args = parse_args(argv)
    model = resolve_model(args.model)
    print(f"loading {model}", flush=True)
    try:
        predictor = Predictor.from_pretrained(
            model, PredictorOptions(max_length=args.max_length, num_threads=args.num_threads)
        )
    except ModelLoadError as err:
        raise err.with_flags("--model PATH_OR_ID or MODEL_ID") from None
    build_demo(predictor, max_chars=args.max_chars).launch(
        server_name=args.host, server_port=args.port, max_file_size="100mb"
    )
