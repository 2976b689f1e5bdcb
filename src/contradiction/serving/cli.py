"""The command line of the app (`python app.py`): flags, the model, monitoring, then the server.

    python app.py --model outputs/model --port 7860    # or MODEL_ID=outputs/model python app.py

What is served beside the page (metrics, the JSON API, MCP tools unless `--no_mcp`, the access token) is in
server.py; every prediction is recorded in a SQLite database (see monitoring/).
"""

import argparse
import dataclasses
import importlib.util
import os
from collections.abc import Callable

from contradiction.cli import run_main
from contradiction.errors import UserError
from contradiction.inference.loading import ModelLoadError, resolve_model
from contradiction.inference.model_folder import ModelFolder
from contradiction.inference.options import COMMAND_LINE_OPTIONS, add_options_flags, cpu_threads, options_from_flags
from contradiction.inference.predictor import Predictor
from contradiction.serving.access import TOKEN_ENV
from contradiction.serving.limits import LIMIT_ENV, Limits
from contradiction.serving.monitoring.drift import training_label_mix, training_language_mix
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.monitoring.store import DEFAULT_RETENTION_DAYS, HOME_ENV, PredictionLog, default_db_path
from contradiction.serving.page import build_demo
from contradiction.serving.scheduler import CHUNK_SIZE
from contradiction.serving.server import launch

MCP_ENV = "GRADIO_MCP_SERVER"
"""Gradio's own switch for its MCP server; here it is on unless this says false (or --no_mcp)."""


APP_OPTIONS = tuple(name for name in COMMAND_LINE_OPTIONS if name != "batch_size")
"""The app's batches are the scheduler's (single pairs together, `--chunk_size` for bulk work), not `--batch_size`."""


def _env_default(name: str, fallback: str) -> str:
    return os.environ.get(name) or fallback


def _positive(kind: type) -> Callable[[str], float]:
    """An argparse type: a positive int or float, with a message that says so."""

    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if not number > 0:
            raise argparse.ArgumentTypeError(f"{value!r} is not a positive {'whole ' if kind is int else ''}number")
        return number

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="app.py", description="Serve a multilingual NLI model as a web page and an API (Gradio)."
    )
    add_options_flags(parser, APP_OPTIONS)
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument(
        "--chunk_size",
        type=_positive(int),
        default=CHUNK_SIZE,
        help="pairs per forward pass of CSV files and /predict_batch calls: the longest a single pair waits "
        f"behind them (default {CHUNK_SIZE}, docs/benchmarks.md)",
    )
    access = parser.add_argument_group("access: the page, Gradio's API, the JSON API (/api/v1/) and MCP")
    access.add_argument(
        "--api_token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"require the token on every route: Authorization: Bearer <token> from scripts, the access form's "
        f"cookie on the page (default: ${TOKEN_ENV}, else none: the app is open; prefer the variable: a flag shows "
        "in the process list)",
    )
    access.add_argument(
        "--no_mcp",
        action="store_true",
        default=os.environ.get(MCP_ENV, "").strip().lower() in ("false", "0", "no"),
        help=f"do not serve the API endpoints as MCP tools (default: served, unless ${MCP_ENV}=false)",
    )
    limits = parser.add_argument_group("limits (a request over a limit is refused with one sentence)")
    defaults = Limits()
    helps = {
        "max_chars": "characters per premise or hypothesis, in the boxes and the API",
        "max_pairs": "pairs per /predict_batch call",
        "max_labels": "candidate labels per /classify call",
        "max_document_chars": "characters per document of /check_document",
        "max_rows": "rows per uploaded CSV file",
        "max_upload_mb": "size of an uploaded file in MB (one file per upload)",
        "max_document_pairs": "model passes (windows x claim sentences) of one /check_document call",
        "max_in_flight": "requests at once through one route (the JSON API's, Gradio's queue, uploads, MCP)",
        "max_client_in_flight": "requests at once of one client (its address) through one route",
        "rate_limit": "requests of one client through one route, as N/second, N/minute or N/hour",
    }
    for name, env in LIMIT_ENV.items():
        default = getattr(defaults, name)
        limits.add_argument(
            f"--{name}",
            type=str if isinstance(default, str) else _positive(type(default)),
            default=_env_default(env, str(default)),
            help=f"{helps[name]} (default: ${env}, else {default if isinstance(default, str) else f'{default:g}'})",
        )
    monitoring = parser.add_argument_group("monitoring")
    monitoring.add_argument(
        "--monitor_db",
        default=str(default_db_path()),
        help=f"SQLite file that records every prediction, or 'none' (default: ${HOME_ENV}/monitoring.sqlite, "
        "else outputs/monitoring.sqlite)",
    )
    monitoring.add_argument(
        "--monitor_retention_days",
        type=_positive(float),
        default=DEFAULT_RETENTION_DAYS,
        help=f"delete recorded predictions older than this many days (default {DEFAULT_RETENTION_DAYS:g})",
    )
    monitoring.add_argument(
        "--log_texts", action="store_true", help="also record the premise and hypothesis texts (off by default)"
    )
    monitoring.add_argument(
        "--drift_threshold",
        type=float,
        default=0.15,
        help="warn when the recent label mix is further than this from the training mix (total variation "
        "distance, default 0.15)",
    )
    monitoring.add_argument(
        "--drift_window", type=int, default=1000, help="recent predictions that make up the live mix (default 1000)"
    )
    monitoring.add_argument(
        "--low_confidence",
        type=float,
        default=0.5,
        help="a top probability under this counts as a low-confidence prediction (default 0.5)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Check the flags, open the monitoring database, load the model (one sentence and exit status 2 when any
    of these fails), then serve."""
    args = parse_args(argv)
    if not args.no_mcp and importlib.util.find_spec("mcp") is None:
        raise UserError("MCP needs the mcp package: pip install 'gradio[mcp]' (pyproject.toml pins it), or --no_mcp.")
    api_token = (args.api_token or "").strip() or None
    limits = Limits(**{name: getattr(args, name) for name in LIMIT_ENV})
    options = options_from_flags(args, num_threads=cpu_threads(args.num_threads))
    model = resolve_model(args.model)
    folder = ModelFolder(model)  # what train.py wrote beside the model: read once for monitoring, page and length
    options = dataclasses.replace(options, max_length=options.length_for(folder))
    mix, source = training_label_mix(folder)
    # settings are checked before the database file is created
    monitor = Monitor(
        None,
        mix,
        source,
        args.drift_threshold,
        args.drift_window,
        args.low_confidence,
        training_languages=training_language_mix(folder),
    )
    if args.monitor_db.lower() != "none":
        monitor.log = PredictionLog(args.monitor_db, args.log_texts, args.monitor_retention_days)
    log = monitor.log
    print(f"loading {model}", flush=True)
    try:
        predictor = Predictor.from_pretrained(model, options)
    except ModelLoadError as err:
        raise err.with_flags("--model PATH_OR_ID or MODEL_ID") from None
    if log is not None:
        texts = "with" if args.log_texts else "without"
        print(f"recording predictions ({texts} their texts) in {log.path}", flush=True)
    print(f"serving at {predictor.max_length} tokens per pair (--max_length)", flush=True)
    if api_token:  # that there is one, never the token
        print(
            f"every route requires the access token (--api_token or ${TOKEN_ENV}); the page asks for it once",
            flush=True,
        )
    demo = build_demo(predictor, limits, monitor, chunk_size=args.chunk_size, record=folder.record)
    try:
        launch(  # until Ctrl-C
            demo, limits, monitor, api_token, not args.no_mcp, server_name=args.host, server_port=args.port
        )
    except OSError as err:  # the port is taken, or the address is not this machine's
        host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
        port = args.port or os.environ.get("GRADIO_SERVER_PORT") or 7860
        reason = str(err).split(". ")[0].strip().rstrip(".")
        raise UserError(f"cannot listen on {host}:{port} ({reason}); pass a free --port or another --host.") from None
    finally:
        demo.close()  # the server, the scheduler's worker, the result folder


def run() -> None:
    """The `contradiction-app` command: `main` with a user's mistake as one sentence and exit status 2."""
    run_main(main)
