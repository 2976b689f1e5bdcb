"""What every entry point shares: a user's mistake ends in one sentence on stderr and exit status 2, and flags made
from a dataclass's fields as transformers' `HfArgumentParser` makes them.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from contradiction.errors import UserError

USER_ERROR_STATUS = 2


def run_main(main: Callable[[], object]) -> None:
    """Call `main`; a `UserError` becomes `error: <sentence>` on stderr and exit status 2, no traceback."""
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USER_ERROR_STATUS)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def add_dataclass_flags(parser: Any, cls: type, names: Sequence[str]) -> None:
    """Add a flag to `parser` (argparse) for each field of the dataclass `cls` in `names`, as `HfArgumentParser`
    does: `--<field>` with the field's type (`X | None` read as X), its default, and its `metadata` (`help`,
    `choices`) passed to argparse; a bool that defaults to True gets `--no_<field>`, one that defaults to False
    `--<field>`. The default is added to the help.

    Not `HfArgumentParser` itself: it imports transformers, which a prediction through `inference.native` never
    needs (1.5 s of the predict CLI's 2 s start, docs/benchmarks.md).
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in names:
        spec, kind = fields[name], hints[name]
        kwargs = dict(spec.metadata)
        if kind is bool:
            flag = f"--no_{name}" if spec.default else f"--{name}"
            parser.add_argument(flag, dest=name, action="store_false" if spec.default else "store_true", **kwargs)
            continue
        if isinstance(kind, types.UnionType):  # `int | None`: an int, or nothing given
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        if spec.default is not None:
            kwargs["help"] = f"{kwargs.get('help', '')} (default {spec.default})".lstrip()
        parser.add_argument(f"--{name}", type=kind, default=spec.default, **kwargs)


def dataclass_from_flags(cls: type, args: Any, **fixed: Any) -> Any:
    """An instance of the dataclass `cls` from the parsed flags of `add_dataclass_flags`, `fixed` values on top."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**given, **fixed})
