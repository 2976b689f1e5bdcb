"""`python -m contradiction.calibrate`: calibrate a model trained elsewhere (the command line is
`training.calibrate_cli`)."""

from contradiction.cli import run_main
from contradiction.training.calibrate_cli import main


def run() -> None:
    """The `contradiction-calibrate` command."""
    run_main(main)


if __name__ == "__main__":
    run()
