"""`python -m contradiction.classify`: zero-shot classification of a file of texts (the command line is
`inference.classify_cli`)."""

from contradiction.cli import run_main
from contradiction.inference.classify_cli import main

if __name__ == "__main__":
    run_main(main)
