"""What every script in `codes/` shares: error reporting and exit codes."""

from __future__ import annotations

import sys
from typing import Callable

from .errors import DataError, UsageError


def run(main: Callable[[], None]) -> None:
    """Run a script's `main`, turning the project's errors into a message and an exit code.

    Usage errors exit with 2 (as argparse does), data errors with 1, Ctrl-C with 130.
    """
    try:
        main()
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
