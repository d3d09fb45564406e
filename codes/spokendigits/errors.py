"""The two kinds of error the project reports to people.

Both carry a message that names the problem and the fix; the scripts print it
without a traceback (see `cli.run`).
"""


class UsageError(ValueError):
    """Bad input from the user: a wrong option, path or value. Exit code 2."""


class DataError(RuntimeError):
    """Data that cannot be used: a failed download, a damaged or unsafe file. Exit code 1."""
