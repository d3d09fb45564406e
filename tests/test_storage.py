"""Atomic writes and the restricted unpickler."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from spokendigits.errors import DataError, UsageError
from spokendigits.storage import atomic_write, load_pickle, save_pickle, write_json


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "result.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as file:
            file.write("half of the new")
            raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["result.txt"]  # no temporary file left behind


def test_atomic_write_replaces_and_json_is_readable(tmp_path):
    write_json(tmp_path / "a" / "config.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "a" / "config.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


def test_plain_data_round_trips(tmp_path):
    data = {"floats": np.random.default_rng(0).random((3, 4), dtype=np.float32),
            "flags": np.array([True, False]), "names": np.array(["theo", "jackson"]),
            "scalar": np.float64(2.5), "nested": [{"a": (1, 2.0, "x", None)}], "strided": np.arange(10)[::2]}
    save_pickle(tmp_path / "data.pkl", data)
    loaded = load_pickle(tmp_path / "data.pkl")
    for key in ("floats", "flags", "names", "strided"):
        np.testing.assert_array_equal(loaded[key], data[key])
        assert loaded[key].dtype == data[key].dtype
    assert loaded["scalar"] == 2.5 and loaded["nested"] == [{"a": (1, 2.0, "x", None)}]


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "code-ran"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"features": _RunsCode(marker)}))
    with pytest.raises(DataError, match="could run code") as error:
        load_pickle(tmp_path / "evil.pkl")
    assert "posix.system" in str(error.value) or "os.system" in str(error.value)
    assert not marker.exists()


class _Foreign:
    pass


def test_a_pickle_of_a_foreign_class_is_refused(tmp_path):
    (tmp_path / "object.pkl").write_bytes(pickle.dumps(_Foreign()))
    with pytest.raises(DataError, match="test_storage._Foreign"):
        load_pickle(tmp_path / "object.pkl")


class _ExecutesThroughNumpy:
    def __reduce__(self):
        from numpy.testing._private.utils import runstring
        return runstring, ("open('numpy-ran', 'w')", {})


def test_numpy_globals_outside_the_allow_list_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "numpy.pkl").write_bytes(pickle.dumps(_ExecutesThroughNumpy()))
    with pytest.raises(DataError, match="numpy.testing._private.utils.runstring"):
        load_pickle(tmp_path / "numpy.pkl")
    assert not (tmp_path / "numpy-ran").exists()


class _Huge:
    def __reduce__(self):
        return np.ndarray.__reduce__(np.empty(0))[0], (np.ndarray, (9 * 2**40,), b"b")


def test_a_pickle_asking_for_terabytes_is_refused_as_damaged(tmp_path):
    (tmp_path / "huge.pkl").write_bytes(pickle.dumps(_Huge()))
    with pytest.raises(DataError, match="damaged"):
        load_pickle(tmp_path / "huge.pkl")


def test_damaged_and_missing_files_say_so(tmp_path):
    save_pickle(tmp_path / "data.pkl", {"x": np.zeros(1000)})
    raw = (tmp_path / "data.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="damaged"):
        load_pickle(tmp_path / "cut.pkl")
    (tmp_path / "text.pkl").write_text("not a pickle")
    with pytest.raises(DataError, match="damaged"):
        load_pickle(tmp_path / "text.pkl")
    with pytest.raises(UsageError, match="does not exist"):
        load_pickle(tmp_path / "missing.pkl")
