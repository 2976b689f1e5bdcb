"""Predict a file of pairs: the Kaggle submission (`id,prediction`) and, optionally, the probabilities.

One process, or one per GPU (or per share of the CPU cores) with accelerate; the outputs are the same bytes:

    python -m contradiction.predict --model outputs/model --input data/sample/test.csv \
        --output outputs/submission.csv --probabilities outputs/probabilities.csv
    accelerate launch --multi_gpu --num_processes 2 -m contradiction.predict --model outputs/model \
        --input pairs.parquet --output outputs/submission.csv --resume

Rows go through in chunks (`--chunk_size`); each finished chunk is appended to `<output>.partial`, and
`<output>.progress.json` says how far the run got, so `--resume` continues a killed run (docs/serving.md).
With `--documents`, each premise is a document and each hypothesis one or more claims, checked window by window
(`inference.documents`): nothing is cut, and the probabilities file says which sentence decided.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from contradiction.data.pairs import Columns, check_rows, open_input
from contradiction.errors import UserError
from contradiction.inference.distributed import bar_advance, on_main_process, predict_chunk, run_distributed
from contradiction.inference.loading import ModelLoadError, resolve_model
from contradiction.inference.options import add_options_flags, cpu_threads, options_from_flags, resolve_dtype
from contradiction.inference.outputs import ChunkedOutputs, input_identity
from contradiction.inference.predictor import Predictor
from contradiction.inference.tables import chunk_table, submission
from contradiction.labels import LABELS

CUT_KEY = "pairs cut"  # in the progress file's counts, beside the labels

if TYPE_CHECKING:
    from accelerate import PartialState


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m contradiction.predict",
        description="Predict a file of premise/hypothesis pairs (a competition test CSV, JSON Lines or Parquet) and "
        "write the Kaggle submission (id,prediction with 0=entailment, 1=neutral, 2=contradiction). Run it under "
        "`accelerate launch` to share the rows among several processes.",
    )
    add_options_flags(parser)
    parser.add_argument(
        "--input",
        required=True,
        help="the pairs: .csv (the competition's columns unless a --*_column flag is given), .jsonl or .parquet",
    )
    parser.add_argument("--output", required=True, help="where to write the submission CSV (id,prediction)")
    parser.add_argument("--probabilities", help="also write every row with its predicted label and 3 probabilities")
    parser.add_argument("--id_column", help="the input column that holds the ids (default: id)")
    parser.add_argument("--premise_column", help="the input column that holds the premises (default: premise)")
    parser.add_argument("--hypothesis_column", help="the input column that holds the hypotheses (default: hypothesis)")
    parser.add_argument(
        "--chunk_size",
        type=int,
        default=4096,  # its pairs are sorted by length together: 1.2x faster than 1024 on test.csv (less padding)
        help="pairs sorted by length and written at a time: what a killed run loses at most, and what --resume "
        "skips by (default 4096)",
    )
    parser.add_argument(
        "--documents",
        action="store_true",
        help="read each premise as a document: split into sentences and checked in windows that fit the model, "
        "each sentence of the hypothesis on its own (nothing is cut; the probabilities file gets the evidence)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run whose <output>.progress.json is there (with the same settings); else start afresh",
    )
    return parser.parse_args(argv)


def _check_outputs(args: argparse.Namespace) -> dict[str, Path]:
    outputs = {"--output": Path(args.output)}
    if args.probabilities:
        outputs["--probabilities"] = Path(args.probabilities)
    for flag, path in outputs.items():
        if path.is_dir():
            raise UserError(f"{flag} {path} is a folder; pass a file name such as {path / 'submission.csv'}.")
    if len({p.resolve() for p in outputs.values()}) < len(outputs):
        raise UserError("--output and --probabilities name the same file; give them different names.")
    if args.chunk_size < 1:
        raise UserError(f"--chunk_size {args.chunk_size} must be a positive number, e.g. 1024.")
    return outputs


def _columns(args: argparse.Namespace) -> Columns | None:
    """The input's column names; None (no flag given) reads a CSV as a competition file."""
    if args.id_column is None and args.premise_column is None and args.hypothesis_column is None:
        return None
    return Columns(args.id_column or "id", args.premise_column or "premise", args.hypothesis_column or "hypothesis")


def main(argv: list[str] | None = None) -> None:
    # --- arguments: every check that could fail late is made here, before minutes of model loading
    args = parse_args(argv)
    run_distributed(lambda state: _predict(args, state))


def _predict(args: argparse.Namespace, state: PartialState) -> None:
    from tqdm.auto import tqdm

    threads = cpu_threads(args.num_threads, state.num_processes, state.device.type)
    options = options_from_flags(args, num_threads=threads, device=str(state.device))
    outputs = _check_outputs(args)
    source = open_input(args.input, _columns(args))
    total = on_main_process(state, lambda: check_rows(source))  # a bad row fails here, before the model loads

    # --- where to start: afresh, or where the progress file says a killed run stopped
    model = resolve_model(args.model)
    options = dataclasses.replace(options, max_length=options.length_for(model))  # the model's own, unless told
    settings = {
        "input": input_identity(source.path),
        "columns": [source.columns.id, source.columns.premise, source.columns.hypothesis],
        "--model": str(Path(model).resolve()) if Path(model).is_dir() else model,
        "--chunk_size": args.chunk_size,
        "--batch_size": args.batch_size,
        "--max_length": options.max_length,
        "precision": resolve_dtype(options.fast, options.device),
        "--engine": args.engine,
        "--probabilities": str(outputs["--probabilities"].resolve()) if "--probabilities" in outputs else None,
        "--documents": args.documents,
    }
    writer = ChunkedOutputs(list(outputs.values()), settings)
    done = on_main_process(state, lambda: writer.start(args.resume))

    # --- model: one copy per process, on the process's own device
    try:
        predictor = Predictor.from_pretrained(model, options)
    except ModelLoadError as err:
        raise err.with_flags("--model PATH_OR_ID or MODEL_ID") from None

    # --- predict, a chunk at a time; the main process writes each one in input order
    bar = tqdm(total=total, initial=done, desc="Predicting", unit="pair", disable=not state.is_main_process)
    for chunk in source.chunks(args.chunk_size, skip_rows=done):
        start = bar.n
        advance = bar_advance(bar, start, len(chunk["id"]), state.num_processes)
        if args.documents:
            table = _documents_table(predictor, chunk, state)
        else:
            table = chunk_table(chunk, predict_chunk(predictor, chunk["premise"], chunk["hypothesis"], state, advance))
        if state.is_main_process:
            frames = [submission(table), table] if "--probabilities" in outputs else [submission(table)]
            # pairs longer than the window: counted (and kept over --resume) so that the summary says how many
            cut = (
                0
                if args.documents
                else sum(total > read for read, total in predictor.token_counts(chunk["premise"], chunk["hypothesis"]))
            )
            writer.append(frames, {**table["predicted_label"].value_counts().to_dict(), CUT_KEY: cut})
        bar.update(start + len(chunk["id"]) - bar.n)
    bar.close()

    # --- finish: the final names appear once every row is written
    if state.is_main_process:
        writer.finish()
        summary = ", ".join(f"{label}={writer.counts.get(label, 0)}" for label in LABELS)
        processes = f", {state.num_processes} processes" if state.num_processes > 1 else ""
        resumed = f", {done} of them from the run resumed" if done else ""
        print(f"wrote {total} predictions to {args.output} ({summary}; {predictor.precision}{processes}{resumed})")
        if writer.counts.get(CUT_KEY):
            cut, window = writer.counts[CUT_KEY], predictor.max_length
            print(
                f"{cut} of the {total} pairs were longer than {window} tokens: the end of their longer text was cut "
                "and never read (--max_length, or shorter texts)"
            )
        if args.probabilities:
            print(f"wrote probabilities to {args.probabilities}")
    state.wait_for_everyone()


def _documents_table(predictor: Predictor, chunk: dict, state: PartialState):
    """A chunk's rows read as documents: the rule's label, the document's consistency score, the deciding window's
    probabilities, the evidence."""
    import numpy as np

    from contradiction.inference.documents import DocumentChecker
    from contradiction.languages import get_detector

    checker = DocumentChecker(predictor, lambda p, h: predict_chunk(predictor, p, h, state))
    languages = get_detector().detect_many(chunk["premise"])
    try:
        results = checker.check_many(chunk["premise"], chunk["hypothesis"], languages)
    except UserError:  # name the row: the first one the checker refuses
        for i, (document, claims) in enumerate(zip(chunk["premise"], chunk["hypothesis"], strict=True)):
            try:
                checker.plan(document, claims, languages[i])
            except UserError as err:
                raise UserError(f"Row with id {chunk['id'][i]!r}: {err}") from None
        raise
    probs = np.array([[r.probabilities[label] for label in LABELS] for r in results], dtype=np.float32)
    table = chunk_table(chunk, probs)
    table["predicted_label"] = [r.label for r in results]
    table["score"] = [round(r.score, 6) for r in results]
    deciding = [next((c for c in r.claims if c.label == r.label), r.claims[0]) for r in results]
    table["evidence"] = [c.evidence.text if c.evidence else "" for c in deciding]
    table["evidence_start"] = [c.evidence.start if c.evidence else -1 for c in deciding]
    table["evidence_end"] = [c.evidence.end if c.evidence else -1 for c in deciding]
    table["windows"] = [r.windows for r in results]
    return table
