"""`python -m contradiction.predict`: predict a file of pairs (the command line is `inference.predict_cli`)."""

import gc

from contradiction.cli import run_main
from contradiction.inference.predict_cli import main


def run() -> None:
    """The `contradiction-predict` command."""
    run_main(main)
    # done, every file closed: spare Python's last garbage collection over the objects of the ~3,000 modules torch
    # and transformers import, a second on 2 cores (docs/benchmarks.md); exit still runs atexit and closes streams
    gc.freeze()


if __name__ == "__main__":
    run()
