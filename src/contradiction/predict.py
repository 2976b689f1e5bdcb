"""Predict a competition test CSV: the Kaggle submission (`id,prediction`) and, optionally, the probabilities.

    python -m contradiction.predict --model outputs/model --input data/sample/test.csv \
        --output outputs/submission.csv --probabilities outputs/probabilities.csv
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
from datasets import Dataset

from contradiction.cli import run_main
from contradiction.data import load_csv
from contradiction.errors import UserError
from contradiction.files import atomic_path
from contradiction.inference import (
    ModelLoadError,
    Predictor,
    PredictorOptions,
    ProgressCallback,
    resolve_model,
)
from contradiction.labels import LABELS

PROB_COLUMNS = tuple(f"prob_{label}" for label in LABELS)
TABLE_COLUMNS = ("id", "premise", "hypothesis", "lang_abv", "language", "predicted_label", *PROB_COLUMNS)
SUBMISSION_COLUMNS = ("id", "prediction")


def predict_table(
    predictor: Predictor,
    ds: Dataset,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    chunk_size: int = 1024,
) -> pd.DataFrame:
    """Predict every row of a test set loaded by `data.load_csv(path, labelled=False)`.

    Rows go to the model `chunk_size` at a time, so a served app can fit single requests in between.

    Returns:
        One row per input row, in input order: the input columns, `predicted_label` (a name) and one
        `prob_<label>` column per label.
    """
    total = len(ds)
    chunks = []
    for start in range(0, total, chunk_size):
        rows = ds[start : start + chunk_size]

        def report(done: int, _chunk_total: int, start: int = start) -> None:
            if progress is not None:
                progress(start + done, total)

        chunks.append(predictor.predict_proba(rows["premise"], rows["hypothesis"], batch_size, report))
    probs = np.concatenate(chunks) if chunks else np.zeros((0, len(LABELS)), dtype=np.float32)
    table = ds.select_columns(list(TABLE_COLUMNS[:5])).to_pandas()
    table["predicted_label"] = [LABELS[i] for i in probs.argmax(axis=1)]
    for j, column in enumerate(PROB_COLUMNS):
        table[column] = probs[:, j]
    return table


def submission(table: pd.DataFrame) -> pd.DataFrame:
    """The Kaggle submission of a `predict_table` result: `id,prediction` with label ids 0, 1 or 2."""
    ids = {label: i for i, label in enumerate(LABELS)}
    return pd.DataFrame({"id": table["id"], "prediction": table["predicted_label"].map(ids).astype(int)})


def write_csvs(frames: Mapping[Path, pd.DataFrame]) -> None:
    """Write every frame to its path as UTF-8 CSV: all files appear whole, or none changes.

    Each is written beside its target under a temporary name; the renames happen only once all are written.
    """
    with ExitStack() as stack:
        temporary = {path: stack.enter_context(atomic_path(path)) for path in frames}
        for path, frame in frames.items():
            frame.to_csv(temporary[path], index=False, encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m contradiction.predict",
        description="Predict a competition test CSV (id,premise,hypothesis,lang_abv,language) and write the "
        "Kaggle submission (id,prediction with 0=entailment, 1=neutral, 2=contradiction).",
    )
    parser.add_argument("--model", help="local model folder or Hub id (default: $MODEL_ID, else a public NLI model)")
    parser.add_argument("--input", required=True, help="test CSV in the competition format")
    parser.add_argument("--output", required=True, help="where to write the submission CSV (id,prediction)")
    parser.add_argument("--probabilities", help="also write every row with its predicted label and 3 probabilities")
    parser.add_argument("--batch_size", type=int, default=64, help="pairs per forward pass (default 64)")
    parser.add_argument(
        "--max_length", type=int, default=256, help="tokens per pair; longer pairs are cut (default 256)"
    )
    parser.add_argument("--num_threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument(
        "--no_fast",
        action="store_true",
        help="run in float32 even where bfloat16 is native (the fast default; see docs/benchmarks.md)",
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
    return outputs


def main(argv: list[str] | None = None) -> None:
    from tqdm.auto import tqdm

    args = parse_args(argv)
    options = PredictorOptions(
        max_length=args.max_length, batch_size=args.batch_size, num_threads=args.num_threads, fast=not args.no_fast
    )
    outputs = _check_outputs(args)
    ds = load_csv(args.input, labelled=False)  # a bad file fails here, before minutes of model loading
    model = resolve_model(args.model)
    try:
        predictor = Predictor.from_pretrained(model, options)
    except ModelLoadError as err:
        raise err.with_flags("--model PATH_OR_ID or MODEL_ID") from None

    with tqdm(total=len(ds), desc="Predicting", unit="pair") as bar:
        table = predict_table(predictor, ds, progress=lambda done, _total: bar.update(done - bar.n))
    frames = {outputs["--output"]: submission(table)}
    if "--probabilities" in outputs:
        frames[outputs["--probabilities"]] = table
    write_csvs(frames)
    counts = table["predicted_label"].value_counts()
    summary = ", ".join(f"{label}={counts.get(label, 0)}" for label in LABELS)
    print(f"wrote {len(table)} predictions to {args.output} ({summary}; {predictor.precision})")
    if args.probabilities:
        print(f"wrote probabilities to {args.probabilities}")


if __name__ == "__main__":
    run_main(main)
