"""`python -m contradiction.classify`: zero-shot classification of a file of texts (the command line is
`inference.classify_cli`)."""

import gc

from contradiction.cli import run_main
from contradiction.inference.classify_cli import main


def run() -> None:
    """The `contradiction-classify` command."""
    run_main(main)
    gc.freeze()  # as `contradiction.predict` does: no last garbage collection over torch's modules at exit


if __name__ == "__main__":
    run()
