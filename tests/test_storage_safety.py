"""Hostile pickles: each must fail with a clear DataError, never crash Python or allocate
what the file does not hold.

The cases are loaded in a fresh Python, so a crash (a segfault from an array of fake
object pointers) fails the test with its exit code instead of killing pytest.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, run_script
from spokendigits.errors import DataError
from spokendigits.storage import load_pickle, save_pickle

# The fresh Python may take 4 GiB at most: a memory bomb that got through fails there
# with MemoryError instead of taking the machine's memory.
LOADER = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2**32, 2**32))
from spokendigits.errors import DataError, UsageError
from spokendigits.storage import load_pickle
for path in sys.argv[1:]:
    try:
        load_pickle(path)
        outcome = "loaded"
    except (DataError, UsageError) as error:
        outcome = f"{type(error).__name__}: {error}"
    print(json.dumps([path, outcome]), flush=True)
"""


class _ObjectDType:
    """numpy's object dtype, pickled with flags 0 ("holds no references"), so that numpy
    takes raw bytes for its contents."""

    def __reduce__(self):
        return np.dtype, ("O8", False, True), (3, "|", None, None, None, -1, -1, 0)


class _PointersFromBytes:
    """An object array whose 'pointers' are the bytes AAAA...: reading it crashes Python."""

    def __reduce__(self):
        return (np.ndarray.__reduce__(np.empty(0))[0], (np.ndarray, (0,), b"b"),
                (1, (2,), _ObjectDType(), False, b"A" * 16))


class _EightGiB:
    """numpy's pickling of an 8 GiB array, in 71 bytes: it used to load."""

    def __reduce__(self):
        return np.ndarray.__reduce__(np.empty(0))[0], (np.ndarray, (2**30,), b"d")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _array(dtype, shape, data, scalar=False):
    """An array in the form `save_pickle` writes, with any fields."""
    return {"__ndarray__": (dtype, shape, data, scalar)}


def _dumps(data) -> bytes:
    return pickle.dumps(data, protocol=5)


def _hostile_files(folder) -> dict[str, tuple[bytes, str]]:
    """name: (file content, pattern of the DataError it must raise)."""
    save_pickle(folder / "valid.pkl", {"x": np.zeros(1000), "names": ["a"] * 10})
    valid = (folder / "valid.pkl").read_bytes()
    itself = []
    itself.append(itself)
    damaged = "is damaged"
    return {
        "pointers_from_bytes": (_dumps({"features": _PointersFromBytes()}),
                                "asks to load 'numpy._core.multiarray._reconstruct'"),
        "numpy_object_array": (_dumps({"x": np.array(["a", 1], dtype=object)}), "asks to load 'numpy"),
        "numpy_eight_gib": (_dumps(_EightGiB()), "asks to load 'numpy"),
        "os_system": (_dumps({"features": _RunsCode(folder / "code-ran")}), "system'.*could run code"),
        "object_dtype": (_dumps(_array("|O", (2,), bytearray(16))), "dtype '\\|O'; only bool"),
        "structured_dtype": (_dumps(_array("|V8", (2,), bytearray(16))), "dtype '\\|V8'"),
        "field_list_dtype": (_dumps(_array([("a", "<f4")], (1,), bytearray(4))), "dtype \\[\\("),
        "subarray_dtype": (_dumps(_array("(2,)<i4", (1,), bytearray(8))), "dtype '\\(2,\\)<i4'"),
        "datetime_dtype": (_dumps(_array("<M8[ns]", (1,), bytearray(8))), "dtype '<M8\\[ns\\]'"),
        "no_such_dtype": (_dumps(_array("<b9", (1,), bytearray(9))), "dtype '<b9'"),
        "eight_gib_in_a_tiny_file": (_dumps(_array("<f8", (2**30,), bytearray(8))),
                                     "declares 8589934592 bytes \\(<f8 \\(1073741824,\\)\\) but holds 8"),
        "overflowing_shape": (_dumps(_array("<f8", (2**62, 2**62), bytearray(8))), "declares"),
        "negative_size": (_dumps(_array("<f4", (-1, 2), bytearray())), "shape \\(-1, 2\\)"),
        "bool_size": (_dumps(_array("<f4", (True,), bytearray(4))), "shape \\(True,\\)"),
        "shape_as_list": (_dumps(_array("<f4", [1], bytearray(4))), "shape \\[1\\]"),
        "data_as_text": (_dumps(_array("<f4", (1,), "abcd")), "not an array as this project"),
        "scalar_with_a_shape": (_dumps(_array("<f4", (1,), bytearray(4), True)), "not an array"),
        "extra_key": (_dumps({"__ndarray__": ("<f4", (1,), bytearray(4), False), "x": 1}),
                      "not an array"),
        "text_beyond_unicode": (_dumps(_array("<U1", (1,), bytearray(b"\xff" * 4))),
                                "beyond Unicode"),
        "a_set": (_dumps({"x": {1, 2}}), "data\\['x'\\] is a set"),
        "refers_to_itself": (_dumps(itself), "refers to itself"),
        "truncated": (valid[: len(valid) // 2], damaged),
        "empty": (b"", damaged),
        "text": (b"not a pickle", damaged),
        "persistent_id": (b"\x80\x05\x8c\x01x\x94Q.", damaged),
        # 9 bytes that would make CPython's unpickler zero a 16 GiB memo
        "memo_index_bomb": (b"\x80\x05Nr" + struct.pack("<I", 2**30) + b".",
                            "LONG_BINPUT 1073741824 asks for a memo larger than the file"),
        "text_memo_index_bomb": (b"\x80\x02Np1073741824\n.", "PUT 1073741824 asks for a memo"),
        "not_an_opcode": (b"\x80\x05\xff.", "damaged \\(UnpicklingError: no pickle opcode at byte 2"),
    }


def test_hostile_pickles_fail_clearly_in_a_fresh_python(tmp_path):
    cases = _hostile_files(tmp_path)
    paths = []
    for name, (content, _) in cases.items():
        (tmp_path / f"{name}.pkl").write_bytes(content)
        paths.append(str(tmp_path / f"{name}.pkl"))
    result = subprocess.run([sys.executable, "-c", LOADER, *paths], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT / "codes")})
    outcomes = dict(json.loads(line) for line in result.stdout.splitlines())
    assert result.returncode == 0, (f"exit {result.returncode} after {len(outcomes)} files; the "
                                    f"next crashed: {paths[len(outcomes):][:1]}", result.stderr)
    for name, (_, pattern) in cases.items():
        outcome = outcomes[str(tmp_path / f"{name}.pkl")]
        assert outcome.startswith("DataError: "), (name, outcome)
        assert re.search(pattern, outcome), (name, pattern, outcome)
    assert not (tmp_path / "code-ran").exists()


def test_shared_containers_are_decoded_once(tmp_path):
    shared = [np.zeros(2)]
    for _ in range(64):  # 2**64 paths through 64 lists, if each were walked anew
        shared = [shared, shared]
    save_pickle(tmp_path / "shared.pkl", shared)
    started = time.perf_counter()
    loaded = load_pickle(tmp_path / "shared.pkl")
    assert time.perf_counter() - started < 5 and loaded[0] is loaded[1]


def test_a_deep_nesting_is_damaged_not_a_crash(tmp_path):
    depth = 100_000  # pickle's opcodes: that many empty lists, each appended to the one below
    (tmp_path / "deep.pkl").write_bytes(b"\x80\x05" + b"]" * depth + b"a" * (depth - 1) + b".")
    with pytest.raises(DataError, match="nested too deeply"):
        load_pickle(tmp_path / "deep.pkl")


@pytest.mark.parametrize("case", ["pointers_from_bytes", "eight_gib_in_a_tiny_file"])
def test_train_refuses_a_crafted_feature_set_with_exit_code_1(tmp_path, case):
    content, _ = _hostile_files(tmp_path)[case]
    crafted = tmp_path / "fsdd-crafted.pkl"
    crafted.write_bytes(content)
    result = run_script("train.py", "--features", str(crafted), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert f"error: {crafted} is not plain data" in result.stderr
    assert "make it again with `python codes/features.py`" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_train_refuses_a_folder_as_feature_set(tmp_path):
    result = run_script("train.py", "--features", str(tmp_path), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{tmp_path} is a folder; give the path of a .pkl file" in result.stderr
