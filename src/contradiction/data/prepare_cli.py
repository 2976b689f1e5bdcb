"""`python data_prep.py`: validate the competition CSV files, split them and save a DatasetDict."""

from __future__ import annotations

import argparse
import time

from contradiction.cli import run_main
from contradiction.data.competition import check_output_dir, format_report, prepare, save_prepared


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="data_prep.py",
        description="Validate the Kaggle 'Contradictory, My Dear Watson' CSV files, split train into train "
        "and validation stratified by language and label, and save a DatasetDict with a data report.",
    )
    parser.add_argument(
        "--train_file", required=True, help="labelled CSV: id,premise,hypothesis,lang_abv,language,label"
    )
    parser.add_argument("--test_file", help="unlabelled CSV in the same schema without label (saved as the test split)")
    parser.add_argument("--output_dir", required=True, help="folder for the dataset (replaced whole when it exists)")
    parser.add_argument("--validation_size", type=float, default=0.1, help="share of train held out (default 0.1)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the split; the same seed gives the same split")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    check_output_dir(args.output_dir)  # before the files are read, not after
    start = time.perf_counter()
    splits, report = prepare(args.train_file, args.test_file, args.validation_size, args.seed)
    save_prepared(splits, report, args.output_dir)
    print(format_report(report))
    print(f"saved to {args.output_dir} in {time.perf_counter() - start:.1f} s")


def run() -> None:
    """The `contradiction-prepare` command: `main` with a user's mistake as one sentence and exit status 2."""
    run_main(main)
