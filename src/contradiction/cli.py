"""What every entry point shares: a user's mistake ends in one sentence on stderr and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

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
