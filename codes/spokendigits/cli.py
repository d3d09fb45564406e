"""What every script in `codes/` shares: error reporting, exit codes, and checked
argument types.

The types reject bad values while the command line is parsed, before any work,
with argparse's usage message and exit code 2: `finite_float` refuses NaN and
infinities (which `float("nan")` accepts), `int_in` bounds counts, and `seed`
takes what every random generator of the project accepts.
"""

from __future__ import annotations

import argparse
import errno
import math
import sys
from typing import Callable

from .errors import DataError, UsageError

# numpy's default_rng refuses negative seeds, and np.random.seed (which Keras'
# set_random_seed calls) seeds above 2**32 - 1.
MAX_SEED = 2**32 - 1
# Where a run trains (`train.py --distribute`, `distribute.make_strategy`): not a setting of
# the run, which learns the same on any of them.
STRATEGIES = ("none", "mirrored", "multi-worker")


def run(main: Callable[[], None]) -> None:
    """Run a script's `main`, turning the project's errors into a message and an exit code.

    Usage errors exit with 2 (as argparse does), data errors with 1, Ctrl-C with 130. An
    error of the machine (a full disk, a folder made read-only while the command ran) exits
    with 1 and a line naming it: every file is written whole or not at all, so nothing
    half-written is left to clean up.
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
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        full = " (the disk is full: free some space)" if error.errno == errno.ENOSPC else ""
        print(f"error: {error.strerror or error}{where}{full}; nothing half-written was kept, "
              "run the command again once this is fixed", file=sys.stderr)
        sys.exit(1)


def finite_float(text: str) -> float:
    """argparse type: a float that is neither NaN nor infinite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer from `low` to `high`, both included."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high}")
        return value
    return parse


seed = int_in(0, MAX_SEED)  # the type of every seed flag

