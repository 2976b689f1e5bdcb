"""Prepare the competition data: validate, split stratified by language and label, save.

    python data_prep.py --train_file data/sample/train.csv --test_file data/sample/test.csv \
        --output_dir outputs/data/sample
"""

from contradiction.cli import run_main
from contradiction.data.prepare_cli import main

if __name__ == "__main__":
    run_main(main)
