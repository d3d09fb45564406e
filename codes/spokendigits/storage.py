"""Writing files so that nothing is ever left half written, and reading pickles safely.

Every file the project writes goes through `atomic_write`: the data lands in a
temporary file beside the target and is renamed over it only once complete,
so an interrupted run leaves either the old file or the new one, never a
truncated file that looks complete.

Pickles hold only builtins: `save_pickle` writes each numpy array as raw bytes,
a dtype from a short list (bool, integers, floats, fixed-width text) and a
shape. `load_pickle` refuses every global (a pickle can otherwise run any
code) and memo indices beyond the file's size, and rebuilds each array only
after checking that its bytes are exactly what its dtype and shape declare, so
nothing loaded takes more memory than the file holds. numpy's own pickles are
not accepted: they rebuild dtypes from pickled state, and a crafted state turns
raw bytes into an array of object pointers that crashes Python when read.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import pickletools
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from .errors import DataError, UsageError

# How `save_pickle` writes an array: {_ARRAY_KEY: (dtype, shape, raw bytes, is a numpy scalar)}.
_ARRAY_KEY = "__ndarray__"
# The dtypes an array may have in a pickle: bool, integers, floats and fixed-width text,
# as numpy spells them ("<f4", "|b1", "<U8"). None holds pointers or fields.
_PLAIN_DTYPE = re.compile(r"[<>|][biufU][0-9]{1,6}")
_MAX_CODE_POINT = 0x10FFFF  # text arrays: anything above is not a character
_PLAIN_LEAVES = (type(None), bool, int, float, str, bytes)
# Temporary files of `atomic_write`: `.<name>.<writer's pid>.<random>.part`.
_PART = re.compile(r"\.(?P<name>.+?)\.(?:(?P<pid>[0-9]+)\.)?[a-z0-9_]+\.part")
_LEGACY_PART_SECONDS = 600  # a temporary file named without its writer: stale after this
# Opcodes that store into the unpickler's memo at an index the file chooses. CPython
# grows (and zeroes) the memo to twice that index: 9 bytes could take 16 GiB. A real
# pickle's indices stay below its size, since each entry takes at least one opcode.
_MEMO_AT_INDEX = {"PUT", "BINPUT", "LONG_BINPUT"}
_TEMPORARIES: set[str] = set()  # what is being written now, for `remove_temporaries`


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; rename it to `path` only if the block succeeds.
    The file keeps the permissions of the one it replaces; a new one gets what the umask
    leaves of 0666, as `open` would give it.

    Example:
        with atomic_write("out.pkl") as f:
            pickle.dump(data, f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid in the name lets `remove_stale_parts` tell a dead writer's file.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                             suffix=".part")
    _TEMPORARIES.add(temporary)
    try:
        with os.fdopen(descriptor, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    finally:
        _TEMPORARIES.discard(temporary)


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read by setting it, and set it back at once
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """Permission bits for a file written at `path`: those of the file there, else 0666 less
    the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def remove_temporaries() -> None:
    """Remove the temporary files and folders `atomic_write` and `atomic_folder` are filling
    now: for a signal handler that ends the process at once, so no block cleans up."""
    for temporary in list(_TEMPORARIES):
        if os.path.isdir(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


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
        _TEMPORARIES.add(temporary)
        try:
            yield staging
        finally:  # not during the swap below, when the old folder may be inside `temporary`
            _TEMPORARIES.discard(temporary)
        replaced = Path(temporary) / "replaced"
        if replace and destination.exists():
            os.replace(destination, replaced)
        try:
            os.replace(staging, destination)
        except BaseException:
            if replaced.exists():  # put the old folder back before the error surfaces
                os.replace(replaced, destination)
            raise


# The largest JSON file the project writes is a few MB (a VAE checkpoint's latents.json of a
# 64-d latent); anything far larger is not one of its files, and is not read into memory.
MAX_JSON_BYTES = 64 * 2**20


def parse_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON in `path`, read only if it is at most `max_bytes`. OSErrors pass through;
    every other failure is a ValueError that says what is wrong: too large, nested too deep
    to parse, a number too long, or not JSON."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"it holds {size:,} bytes, more than the {max_bytes:,} it may")
    try:
        return json.loads(path.read_text())
    except RecursionError:
        raise ValueError("it nests lists or objects deeper than can be read") from None


def read_json(path: str | Path) -> Any:
    """JSON written by the project; a missing or damaged file raises DataError naming it."""
    path = Path(path)
    try:
        return parse_json(path)
    except FileNotFoundError:
        raise DataError(f"{path} is missing") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError among them
        raise DataError(f"{path} is damaged ({error}); make it again") from None


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically, indented for people to read."""
    with atomic_write(path, "w") as file:
        json.dump(data, file, indent=2, sort_keys=True)
        file.write("\n")


def save_pickle(path: str | Path, data: Any) -> None:
    """Pickle plain data (dicts, lists, tuples, numbers, strings, numpy arrays and scalars of
    bool, integer, float or text dtypes) atomically, with nothing but builtins in the file.

    Raises:
        ValueError: `data` holds something else (an object array, a class instance).
    """
    encoded = _encode(data, "data", {})
    with atomic_write(path) as file:
        pickle.dump(encoded, file, protocol=5)


def _encode(value: Any, where: str, done: dict[int, Any]) -> Any:
    """`value` with every numpy array or scalar replaced by its `_ARRAY_KEY` form; `done`
    holds containers already encoded, by id, so a shared one is encoded (and written) once."""
    if type(value) in _PLAIN_LEAVES:
        return value
    if id(value) in done:
        return done[id(value)]
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if _plain_dtype(array.dtype.str) is None:
            raise ValueError(f"{where}: dtype {array.dtype} is not bool, integer, float or text")
        if not (array.flags.c_contiguous and array.flags.writeable):
            array = array.copy()  # a writable buffer pickles as a bytearray, loaded writable
        # PickleBuffer writes the array's memory as it is: no copy of large features.
        encoded = {_ARRAY_KEY: (array.dtype.str, array.shape, pickle.PickleBuffer(array),
                                isinstance(value, np.generic))}
    elif isinstance(value, dict):
        if _ARRAY_KEY in value:
            raise ValueError(f"{where}: the key {_ARRAY_KEY!r} is reserved for arrays")
        keys = [key for key in value if type(key) not in _PLAIN_LEAVES]
        if keys:
            raise ValueError(f"{where}: key {keys[0]!r} is a {type(keys[0]).__name__}, not plain data")
        encoded = {key: _encode(item, f"{where}[{key!r}]", done) for key, item in value.items()}
    elif isinstance(value, (list, tuple)):
        items = (_encode(item, f"{where}[{i}]", done) for i, item in enumerate(value))
        encoded = list(items) if isinstance(value, list) else tuple(items)
    else:
        raise ValueError(f"{where}: {type(value).__name__} is not plain data")
    done[id(value)] = encoded
    return encoded


class _ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global: code, a class, or numpy's own array pickling."""


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Builds only builtins: every global, numpy's included, is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise _ForbiddenGlobal(f"{module}.{name}")


class _Unplain(Exception):
    """Something in a loaded pickle that `save_pickle` never writes; the message says what."""


def load_pickle(path: str | Path, remake: str = "create it again") -> Any:
    """Load a pickle written by `save_pickle`, refusing anything but plain data.

    Every array is rebuilt from raw bytes after checking its dtype against the
    allowed list and its byte count against its shape, so an array never
    declares more memory than the file holds, and none holds pointers. The
    opcodes are walked first, so a memo index cannot ask for more either.

    Args:
        remake: how to make the file again, for error messages ("make it again
            with `python codes/features.py`").

    Raises:
        UsageError: the path does not exist or is not a readable file.
        DataError: the file is damaged, or is not plain data (a crafted pickle, or
            one from numpy's own pickling, as this project wrote before).
    """
    path = Path(path)
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder; give the path of a .pkl file") from None
    except PermissionError:
        raise UsageError(f"{path} cannot be read (permission denied); fix its permissions") from None
    try:
        with file:
            _check_memo_indices(file, os.fstat(file.fileno()).st_size)
            file.seek(0)
            return _decode(_NoGlobalsUnpickler(file).load(), "data", {})
    except _ForbiddenGlobal as error:
        older = (" Files from older versions of this project store numpy arrays this way and "
                 "are no longer read, since a crafted one can crash Python." if
                 str(error).startswith("numpy") else "")
        raise DataError(f"{path} is not plain data: it asks to load '{error}', which could run "
                        f"code, so it was not loaded.{older} Only load files this project wrote; "
                        f"{remake}.") from None
    except _Unplain as error:
        raise DataError(f"{path} is not plain data ({error}), so it was not loaded; "
                        f"{remake}.") from None
    except RecursionError:
        raise DataError(f"{path} is damaged (nested too deeply, or refers to itself); "
                        f"{remake}.") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OverflowError) as error:
        raise DataError(f"{path} is damaged ({type(error).__name__}: {error}); "
                        f"delete it and {remake}.") from None


def _check_memo_indices(file: IO[bytes], size: int) -> None:
    """Walk a pickle's opcodes, building nothing, and raise `_Unplain` at a memo index
    beyond the file's `size` bytes. Long strings and arrays are skipped, not read."""
    while True:
        code = file.read(1)
        opcode = pickletools.code2op.get(code.decode("latin-1")) if code else None
        if opcode is None:
            raise pickle.UnpicklingError(f"no pickle opcode at byte {file.tell() - 1}")
        argument = None
        if opcode.arg is not None and opcode.arg.n == pickletools.TAKEN_FROM_ARGUMENT8U:
            file.seek(pickletools.read_uint8(file), os.SEEK_CUR)  # bytes8, bytearray8, unicode8
        elif opcode.arg is not None:
            argument = opcode.arg.reader(file)
        if opcode.name in _MEMO_AT_INDEX and argument >= size:
            raise _Unplain(f"{opcode.name} {argument} asks for a memo larger than the file")
        if opcode.name == "STOP":
            return


def _decode(value: Any, where: str, done: dict[int, Any]) -> Any:
    """`value` with every `_ARRAY_KEY` form rebuilt as an array; anything that is not plain
    data raises `_Unplain`. `done` holds containers already decoded, by id: a pickle can
    share one container many times over, and walking each share anew would take
    exponential time."""
    if type(value) in _PLAIN_LEAVES:
        return value
    if id(value) in done:
        return done[id(value)]
    if type(value) is dict and _ARRAY_KEY in value:
        result = _decode_array(value, where)
    elif type(value) is dict:
        result = {key: _decode(item, f"{where}[{key!r}]", done) for key, item in value.items()}
    elif type(value) in (list, tuple):
        result = type(value)(_decode(item, f"{where}[{i}]", done) for i, item in enumerate(value))
    else:
        raise _Unplain(f"{where} is a {type(value).__name__}")
    done[id(value)] = result
    return result


def _decode_array(value: dict, where: str) -> np.ndarray | np.generic:
    """The array `_encode` wrote, after checking dtype, shape and byte count."""
    form = value[_ARRAY_KEY]
    if len(value) != 1 or type(form) is not tuple or len(form) != 4:
        raise _Unplain(f"{where} is not an array as this project writes them")
    name, shape, data, scalar = form
    dtype = _plain_dtype(name)
    if dtype is None:
        raise _Unplain(f"{where} has dtype {name!r}; only bool, integer, float and text arrays "
                       "are read")
    if type(shape) is not tuple or len(shape) > 32 or \
            not all(type(size) is int and size >= 0 for size in shape):
        raise _Unplain(f"{where} has shape {shape!r}, not a tuple of sizes")
    if type(data) not in (bytes, bytearray) or type(scalar) is not bool or (scalar and shape):
        raise _Unplain(f"{where} is not an array as this project writes them")
    declared = math.prod(shape) * dtype.itemsize
    if declared != len(data):  # also what keeps a tiny file from declaring a huge array
        raise _Unplain(f"{where} declares {declared} bytes ({name} {shape}) but holds {len(data)}")
    array = np.frombuffer(data, dtype)
    if type(data) is bytes:  # read-only memory: copy, so the array can be written like any other
        array = array.copy()
    if dtype.kind == "U" and array.size and \
            array.view(array.dtype.byteorder + "u4").max() > _MAX_CODE_POINT:
        raise _Unplain(f"{where} is text with code points beyond Unicode")
    array = array.reshape(shape)
    if array.dtype.hasobject or array.dtype.fields is not None or array.dtype.kind not in "biufU":
        raise _Unplain(f"{where} has dtype {array.dtype}")  # the pattern rules it out; made sure
    return array[()] if scalar else array


def _plain_dtype(name: Any) -> np.dtype | None:
    """The dtype spelled `name` ("<f4") if it is in `_PLAIN_DTYPE`'s list, else None."""
    if type(name) is not str or not _PLAIN_DTYPE.fullmatch(name):
        return None
    try:
        dtype = np.dtype(name)
    except TypeError:  # "<b9": the right letters, no such type
        return None
    return dtype if dtype.str == name and dtype.itemsize > 0 else None


def remove_stale_parts(folder: str | Path, pattern: str = "*") -> list[Path]:
    """Remove the temporary files `atomic_write` left in `folder` for targets named like
    `pattern` (a glob: "*.pkl") when their writer is gone: killed before it could clean up.

    A file names its writer's pid; one whose process no longer runs is stale.
    One named without a pid (by an older version) is stale once it is
    `_LEGACY_PART_SECONDS` old. Returns the paths removed.
    """
    removed = []
    for path in Path(folder).glob(f".{pattern}.*.part"):
        match = _PART.fullmatch(path.name)
        if not match:
            continue
        with contextlib.suppress(FileNotFoundError):  # another run may remove it first
            if match["pid"] is not None:
                stale = not _process_exists(int(match["pid"]))
            else:
                stale = time.time() - path.stat().st_mtime > _LEGACY_PART_SECONDS
            if stale:
                path.unlink()
                removed.append(path)
    return removed


def _process_exists(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (zombies included)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none, or a pid beyond any there can be
        return False
    except PermissionError:  # another user's
        return True
    return True


def check_writable_folder(folder: str | Path, flag: str) -> None:
    """Raise UsageError unless `folder` is, or can be created as, a folder this process may
    write in; `flag` names the option it came from ("--out-dir"). Nothing is created."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {folder} cannot be a folder: {existing} is a file; "
                         f"give {flag} a folder path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {folder} cannot be written: {existing} is read-only for this "
                         f"user; give {flag} a folder you can write in, or fix its permissions")


def try_lock(path: str | Path) -> int | None:
    """Take an exclusive OS lock (`flock`) on `path` without waiting: a lock file, created if
    missing, or a folder.

    Returns the open descriptor that holds the lock (`os.close` it to release the lock), or
    None when another process holds it. The OS drops the lock when its holder exits, however
    it ends, so a killed process never leaves a stale lock behind.
    """
    import fcntl  # POSIX only, like the rest of the project's tooling

    path = Path(path)
    flags = os.O_RDONLY if path.is_dir() else os.O_RDWR | os.O_CREAT
    descriptor = os.open(path, flags, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def store_weights_in_half(source: Path, target: Path, smallest: int = 1024) -> None:
    """Copy the ONNX model at `source` to `target` with each float32 weight of at least
    `smallest` values stored in float16 and cast back to float32 where the graph reads it:
    half the file, the same arithmetic on weights rounded to 11 significant bits. Needs the
    `onnx` package (training's requirements), not at inference."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise UsageError("storing weights in half needs the onnx package: pip install -r "
                         "requirements.txt") from None
    model = onnx.load(str(source))
    graph, casts = model.graph, []
    for weight in list(graph.initializer):
        if weight.data_type != onnx.TensorProto.FLOAT or math.prod(weight.dims) < smallest:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(weight).astype("float16"),
                                       f"{weight.name}/half")
        graph.initializer.remove(weight)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [weight.name],
                                      to=onnx.TensorProto.FLOAT))
    nodes = casts + list(graph.node)  # the casts first: the graph stays in order
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    with atomic_write(target) as stream:
        stream.write(model.SerializeToString())


def onnx_session(path: Path) -> Any:
    """An ONNX Runtime session of the model file at `path`, on the CPU, quiet.

    Raises:
        DataError: naming the file, where ONNX Runtime cannot read it.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own classes for bad files
        raise DataError(f"{path} is damaged ({error}); train the run again") from None

