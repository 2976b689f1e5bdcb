"""Sort a file of texts into your own labels with the NLI model (zero-shot classification), at any size.

    python -m contradiction.classify --model outputs/model --input tickets.csv --text_column text \
        --labels billing "technical problem" "account access" --output labelled.csv
    accelerate launch --multi_gpu --num_processes 2 -m contradiction.classify ... --resume

The output has one row per text: `id`, `label` (the best-scoring one) and one score column per label, in the order
the labels were given. It is written chunk by chunk like `python -m contradiction.predict`'s (`--resume` continues a
killed run; N processes write the bytes one writes). With `--label_column` (gold labels in the file) it prints
accuracy and macro-F1, overall and per language (`lang_abv`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from contradiction.data.pairs import TextColumns, check_rows, open_input
from contradiction.errors import UserError
from contradiction.inference.distributed import bar_advance, on_main_process, predict_chunk, run_distributed
from contradiction.inference.loading import ModelLoadError, resolve_model
from contradiction.inference.options import add_options_flags, cpu_threads, options_from_flags, resolve_dtype
from contradiction.inference.outputs import ChunkedOutputs, input_identity
from contradiction.inference.predictor import Predictor
from contradiction.inference.zero_shot import DEFAULT_TEMPLATE, MAX_LABELS, ZeroShotTask, label_columns, scores
from contradiction.metrics import classification_report

SCORE_DIGITS = 6  # decimals written per score: the file stays a third shorter, and 1e-6 is far below any decision


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m contradiction.classify",
        description="Zero-shot classification of a file of texts (CSV, JSON Lines or Parquet) into the labels you "
        "give, with an NLI model: each text is paired with a hypothesis per label (the template filled in). Run it "
        "under `accelerate launch` to share the texts among several processes.",
    )
    add_options_flags(parser)
    parser.add_argument("--input", required=True, help="the texts: a .csv, .jsonl or .parquet file")
    parser.add_argument("--output", required=True, help="where to write the CSV: id, label, a score per label")
    parser.add_argument("--labels", nargs="+", required=True, help="the candidate labels, e.g. --labels sport politics")
    parser.add_argument(
        "--template",
        default=DEFAULT_TEMPLATE,
        help=f"the hypothesis, {{}} for the label (default {DEFAULT_TEMPLATE!r}); write it in the texts' language "
        "for labels in that language",
    )
    parser.add_argument(
        "--multi_label",
        action="store_true",
        help="score each label on its own (entailment against contradiction), so several can fit; by default the "
        "scores are shared out among the labels and sum to one",
    )
    parser.add_argument("--text_column", default="text", help="the input column that holds the texts (default text)")
    parser.add_argument("--id_column", default="id", help="the input column that holds the ids (default id)")
    parser.add_argument(
        "--label_column", help="a column of gold labels (each one of --labels): print accuracy and macro-F1"
    )
    parser.add_argument("--max_labels", type=int, default=MAX_LABELS, help=f"most labels (default {MAX_LABELS})")
    parser.add_argument(
        "--chunk_size",
        type=int,
        default=512,
        help="texts sorted by length and written at a time (times the labels: the pairs of a chunk): what a killed "
        "run loses at most, and what --resume skips by (default 512)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run whose <output>.progress.json is there (with the same settings); else start afresh",
    )
    return parser.parse_args(argv)


def _task(args: argparse.Namespace) -> ZeroShotTask:
    task = ZeroShotTask.create(args.labels, args.template, args.multi_label, args.max_labels)
    for name in ("id", "label"):
        if name in task.labels:
            raise UserError(f"The label {name!r} would name the same output column as the {name}s; rename it.")
    if args.chunk_size < 1:
        raise UserError(f"--chunk_size {args.chunk_size} must be a positive number, e.g. 512.")
    if Path(args.output).is_dir():
        example = Path(args.output) / "labelled.csv"
        raise UserError(f"--output {args.output} is a folder; pass a file name such as {example}.")
    return task


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run_distributed(lambda state: _classify(args, state))


def _classify(args: argparse.Namespace, state) -> None:
    from tqdm.auto import tqdm

    # --- arguments and the input, checked before the model loads
    task = _task(args)
    threads = cpu_threads(args.num_threads, state.num_processes, state.device.type)
    options = options_from_flags(args, num_threads=threads, device=str(state.device))
    columns = TextColumns(args.id_column, args.text_column, args.label_column, task.labels)
    source = open_input(args.input, columns)
    total = on_main_process(state, lambda: check_rows(source))

    # --- where to start: afresh, or where the progress file says a killed run stopped
    model = resolve_model(args.model)
    options = dataclasses.replace(options, max_length=options.length_for(model))  # the model's own, unless told
    settings = {
        "input": input_identity(source.path),
        "columns": [args.id_column, args.text_column],
        "--model": str(Path(model).resolve()) if Path(model).is_dir() else model,
        "--labels": list(task.labels),
        "--template": task.template,
        "--multi_label": task.multi_label,
        "--chunk_size": args.chunk_size,
        "--batch_size": args.batch_size,
        "--max_length": options.max_length,
        "precision": resolve_dtype(options.fast, options.device),
        "--engine": args.engine,
    }
    writer = ChunkedOutputs([Path(args.output)], settings)
    done = on_main_process(state, lambda: writer.start(args.resume))

    # --- model
    try:
        predictor = Predictor.from_pretrained(model, options)
    except ModelLoadError as err:
        raise err.with_flags("--model PATH_OR_ID or MODEL_ID") from None
    entailment, contradiction = label_columns(predictor.label_index)
    n = len(task.labels)

    # --- classify, a chunk of texts (n pairs each) at a time; the main process writes each one in input order
    bar = tqdm(total=total, initial=done, desc="Classifying", unit="text", disable=not state.is_main_process)
    for chunk in source.chunks(args.chunk_size, skip_rows=done):
        start, texts = bar.n, chunk["text"]
        advance = bar_advance(bar, start, len(texts), state.num_processes)
        premises, hypotheses = task.pairs(texts)
        in_texts = lambda pairs, advance=advance: advance(pairs // n)  # noqa: E731 - the bar counts texts
        logits = predict_chunk(predictor, premises, hypotheses, state, in_texts, logits=True)
        if state.is_main_process:
            table = score_table(chunk["id"], task, scores(logits, n, entailment, contradiction, task.multi_label))
            writer.append([table], table["label"].value_counts().to_dict())
        bar.update(start + len(texts) - bar.n)
    bar.close()

    # --- finish: the final name appears once every row is written; then the score against gold labels
    if state.is_main_process:
        writer.finish()
        summary = ", ".join(f"{label}={writer.counts.get(label, 0)}" for label in task.labels)
        processes = f", {state.num_processes} processes" if state.num_processes > 1 else ""
        resumed = f", {done} of them from the run resumed" if done else ""
        print(f"wrote {total} texts to {args.output} ({summary}; {predictor.precision}{processes}{resumed})")
        if args.label_column:
            print(format_report(gold_report(source, Path(args.output), task)))
    state.wait_for_everyone()


def score_table(ids: list[str], task: ZeroShotTask, values: np.ndarray) -> pd.DataFrame:
    """One chunk's rows: id, the best label, a score column per label (in the task's order)."""
    table = pd.DataFrame({"id": ids, "label": [task.labels[i] for i in values.argmax(axis=1)]})
    for j, label in enumerate(task.labels):
        table[label] = np.round(values[:, j], SCORE_DIGITS)
    return table


def gold_report(source, output: Path, task: ZeroShotTask) -> dict:
    """Accuracy and macro-F1 of the written labels against the input's gold labels, overall and per language."""
    gold, languages = [], []
    for chunk in source.chunks(10_000):
        gold += chunk["label"]
        languages += chunk.get("lang_abv", [])
    predicted = pd.read_csv(output, usecols=["label"], dtype=str, keep_default_na=False)["label"].tolist()
    index = {label: i for i, label in enumerate(task.labels)}
    return classification_report(
        [index[g] for g in gold], [index[p] for p in predicted], languages or None, label_names=task.labels
    )


def format_report(report: dict) -> str:
    lines = [
        f"against the gold labels: accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f} "
        f"on {report['rows']} texts"
    ]
    for lang, values in report.get("per_language", {}).items():
        accuracy, f1 = values["accuracy"], values["macro_f1"]
        lines.append(f"  {lang}: accuracy {accuracy:.3f}, macro-F1 {f1:.3f} ({values['rows']} texts)")
    return "\n".join(lines)
