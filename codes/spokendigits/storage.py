"""Writing files so that nothing is ever left half written, and reading pickles safely.

Every file the project writes goes through `atomic_write`: the data lands in a
temporary file beside the target and is renamed over it only once complete,
so an interrupted run leaves either the old file or the new one, never a
truncated file that looks complete.

Pickles are read with `load_pickle`, whose unpickler accepts only plain data
(builtins and numpy arrays): a pickle can otherwise run any code when loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from .errors import DataError, UsageError

# What a plain-data pickle of numpy arrays needs (numpy 2 names, then numpy 1 aliases).
# Nothing here can run code beyond building an array or a dtype.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
}


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; rename it to `path` only if the block succeeds.

    Example:
        with atomic_write("out.pkl") as f:
            pickle.dump(data, f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_folder(destination: str | Path, replace: bool = False) -> Iterator[Path]:
    """A fresh temporary folder beside `destination`, renamed to it only if the block succeeds.

    The staging folder's parent is private and removed afterwards too: a place
    for scratch files such as a downloaded archive. With `replace`, an existing
    `destination` is moved aside at the end and removed with that parent.

    Example:
        with atomic_folder("dataset/fsdd") as staging:
            download_into(staging)
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=f".{destination.name}.") as temporary:
        staging = Path(temporary) / destination.name
        staging.mkdir()
        yield staging
        replaced = Path(temporary) / "replaced"
        if replace and destination.exists():
            os.replace(destination, replaced)
        try:
            os.replace(staging, destination)
        except BaseException:
            if replaced.exists():  # put the old folder back before the error surfaces
                os.replace(replaced, destination)
            raise


def read_json(path: str | Path) -> Any:
    """JSON written by the project; a missing or damaged file raises DataError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is damaged ({error}); make it again") from None


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically, indented for people to read."""
    with atomic_write(path, "w") as file:
        json.dump(data, file, indent=2, sort_keys=True)
        file.write("\n")


def save_pickle(path: str | Path, data: Any) -> None:
    """Pickle plain data (dicts, lists, numbers, strings, numpy arrays) atomically."""
    with atomic_write(path) as file:
        pickle.dump(data, file, protocol=5)


class _ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global outside `_ALLOWED_GLOBALS`."""


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise _ForbiddenGlobal(f"{module}.{name}")


def load_pickle(path: str | Path) -> Any:
    """Load a pickle written by `save_pickle`, refusing anything but plain data.

    Raises:
        UsageError: the file does not exist.
        DataError: the file is damaged, or asks to load code (a crafted pickle).
    """
    path = Path(path)
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    try:
        with file:
            return _PlainDataUnpickler(file).load()
    except _ForbiddenGlobal as error:
        raise DataError(
            f"{path} is not plain data: it asks to load '{error}', which could run code, so it "
            "was not loaded. Only load files this project wrote; re-create it if in doubt."
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError) as error:
        raise DataError(f"{path} is damaged ({type(error).__name__}: {error}); "
                        "delete it and create it again") from None
