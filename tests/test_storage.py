"""Atomic writes, stale temporary files, writable folders and the restricted unpickler.
Hostile pickles that could crash Python are tested in test_storage_safety.py."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

from spokendigits.errors import DataError, UsageError
from spokendigits.storage import (atomic_write, check_writable_folder, load_pickle,
                                  remove_stale_parts, save_pickle, write_json)


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


def test_numpy_pickles_of_arrays_are_refused_with_the_fix(tmp_path):
    (tmp_path / "huge.pkl").write_bytes(pickle.dumps(_Huge()))
    with pytest.raises(DataError, match="_reconstruct.*older versions.*create it again"):
        load_pickle(tmp_path / "huge.pkl")
    (tmp_path / "old.pkl").write_bytes(pickle.dumps({"x": np.zeros(3)}, protocol=5))
    with pytest.raises(DataError, match="older versions.*make it anew"):
        load_pickle(tmp_path / "old.pkl", remake="make it anew")


def test_arrays_are_written_as_raw_bytes_without_numpy_globals(tmp_path):
    save_pickle(tmp_path / "data.pkl", {"x": np.arange(3, dtype=np.int16), "s": np.float32(1.5)})
    raw = (tmp_path / "data.pkl").read_bytes()
    assert b"numpy" not in raw and b"\x00\x00\x01\x00\x02\x00" in raw
    loaded = load_pickle(tmp_path / "data.pkl")
    assert loaded["x"].flags.writeable and type(loaded["s"]) is np.float32
    with pytest.raises(ValueError, match=r"data\['x'\]: dtype object"):
        save_pickle(tmp_path / "object.pkl", {"x": np.array([None])})
    with pytest.raises(ValueError, match="set is not plain data"):
        save_pickle(tmp_path / "set.pkl", {1, 2})
    with pytest.raises(ValueError, match=r"key np.int64\(3\) is a int64, not plain data"):
        save_pickle(tmp_path / "key.pkl", {np.int64(3): 1})  # it would not load again
    assert sorted(os.listdir(tmp_path)) == ["data.pkl"]


def test_a_folder_or_unreadable_path_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is a folder; give the path of a .pkl file"):
        load_pickle(tmp_path)


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


def _dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_atomic_write_names_its_writer_and_stale_parts_are_removed(tmp_path):
    with atomic_write(tmp_path / "a.pkl") as file:
        (part,) = tmp_path.glob(".a.pkl.*.part")
        assert part.name.startswith(f".a.pkl.{os.getpid()}.")  # the writer, for the rule below
        file.write(b"x")
    dead, live = _dead_pid(), os.getpid()
    for name in (f".fsdd-1.pkl.{dead}.abc_123.part", f".fsdd-2.pkl.{live}.abc_123.part",
                 ".fsdd-3.pkl.abc_123.part", ".fsdd-4.pkl.abc_123.part", f".note.txt.{dead}.x.part",
                 "fsdd-5.pkl"):
        (tmp_path / name).write_bytes(b"")
    hour_ago = time.time() - 3600
    os.utime(tmp_path / ".fsdd-3.pkl.abc_123.part", (hour_ago, hour_ago))  # an older version's
    removed = remove_stale_parts(tmp_path, "*.pkl")
    assert sorted(path.name for path in removed) == [f".fsdd-1.pkl.{dead}.abc_123.part",
                                                      ".fsdd-3.pkl.abc_123.part"]
    assert sorted(os.listdir(tmp_path)) == sorted([
        ".fsdd-4.pkl.abc_123.part", f".fsdd-2.pkl.{live}.abc_123.part", f".note.txt.{dead}.x.part",
        "a.pkl", "fsdd-5.pkl"])  # a live writer's, a recent one, another kind, finished files


def test_a_folder_that_cannot_be_written_is_found_without_creating_it(tmp_path, monkeypatch):
    check_writable_folder(tmp_path / "new" / "deeper", "--out-dir")
    assert os.listdir(tmp_path) == []
    (tmp_path / "file").write_text("")
    for folder in (tmp_path / "file", tmp_path / "file" / "features"):
        with pytest.raises(UsageError, match=f"--out-dir {folder} cannot be a folder: "
                                             f"{tmp_path / 'file'} is a file"):
            check_writable_folder(folder, "--out-dir")
    (tmp_path / "locked").mkdir(mode=0o555)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as a user, not root, sees it
    with pytest.raises(UsageError, match=f"{tmp_path / 'locked'} is read-only for this user; "
                                         "give --out-dir a folder you can write in"):
        check_writable_folder(tmp_path / "locked" / "features", "--out-dir")


def test_remove_temporaries_clears_what_is_being_written(tmp_path):
    from spokendigits.storage import atomic_folder, remove_temporaries

    (tmp_path / "old").mkdir()
    with pytest.raises(FileNotFoundError):  # the rename finds its file gone, as after a signal
        with atomic_write(tmp_path / "a.pkl") as file, atomic_folder(tmp_path / "data") as staging:
            file.write(b"half")
            (staging / "clip.wav").write_bytes(b"half")
            remove_temporaries()  # what a signal handler calls before os._exit
            assert sorted(os.listdir(tmp_path)) == ["old"]
    assert sorted(os.listdir(tmp_path)) == ["old"]


def test_a_written_file_keeps_the_mode_it_had_and_a_new_one_follows_the_umask(tmp_path):
    import stat
    import subprocess
    import sys

    from conftest import ROOT

    existing = tmp_path / "private.wav"
    existing.write_bytes(b"old")
    existing.chmod(0o600)
    new = tmp_path / "new.wav"
    script = f"import os; os.umask(0o077); import runpy, sys; sys.argv = ['inference.py', '12', " \
             f"'--out', sys.argv[1]]; runpy.run_path({str(ROOT / 'codes' / 'inference.py')!r}, " \
             "run_name='__main__')"
    for out in (existing, new):
        result = subprocess.run([sys.executable, "-c", script, str(out)], cwd=ROOT,
                                capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT / "codes")})
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o600, out  # 0600 kept; 0666 less 077
    mask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "shared.txt", "w") as file:
            file.write("x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644
