"""Runs and reports against what goes wrong: two trainers on one run, kills at any moment,
damaged files, hostile settings. Each failure is either repaired or a clear error."""

from __future__ import annotations

import json
import os
import re
import shutil

import pandas as pd
import pytest

from conftest import run_script
from spokendigits.errors import DataError, UsageError
from spokendigits.models import ModelConfig
from spokendigits.runs import Run, RunSpec, TrainConfig, read_history, run_name
from spokendigits.storage import try_lock

TINY = TrainConfig(epochs=(1,))


def test_read_history_keeps_whole_epochs_and_drops_what_two_writers_or_a_kill_left(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,kl,loss\n0,1.0,10.0\nepoch,kl,loss\n1,2.0,9.0\n0,1.5,11.0\n"
                    "not a row\n2,3.0\n3,nan,nan\n")
    rows, dropped = read_history(path)
    assert rows["epoch"].tolist() == [0, 1, 3] and rows["loss"].iloc[0] == 11.0  # last wins
    assert rows["loss"].isna().tolist() == [False, False, True]  # a diverged epoch stays
    assert dropped == 4
    path.write_text("")
    with pytest.raises(DataError, match=r"history.csv is empty.*codes/train.py"):
        read_history(path)
    path.write_text("1,2,3\n")
    with pytest.raises(DataError, match="no header naming epoch"):
        read_history(path)


def test_bad_training_settings_are_usage_errors(tmp_path):
    for settings, message in (({"epochs": (0,)}, "positive"), ({"epochs": (1000,)}, "at most 999"),
                              ({"batch_size": 0}, "1 to 65536"),
                              ({"learning_rate": float("nan")}, "positive and finite"),
                              ({"learning_rate": float("inf")}, "positive and finite")):
        with pytest.raises(UsageError, match=message):
            TrainConfig(**settings)
    for flags, message in ((["--epochs", "5000"], "at most 999"),
                           (["--learning-rate", "inf"], "finite"),
                           (["--batch-size", "0"], "batch_size must be 1 to 65536"),
                           (["--batch-size", str(10**20)], "batch_size must be 1 to 65536"),
                           (["--steps-per-execution", str(10**20)], "at most 10000"),
                           (["--width", str(10**9)], "width must be 1 to 4096"),
                           (["--latent-dim", str(10**6)], "latent_dim must be 1 to 4096"),
                           (["--depth", "100"], "depth must be 1 to 16")):
        result = run_script("train.py", "--family", "mlp-vae", *flags,
                            "--runs-dir", str(tmp_path / "runs"))
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_run_another_process_holds_is_busy_and_left_alone(small_feature_set, tmp_path):
    from spokendigits.training import LOCK, RunBusy, train_run

    spec = RunSpec(ModelConfig(family="mlp-vae", width=16), TINY)
    folder = tmp_path / run_name(spec, small_feature_set.name)
    folder.mkdir()
    lock = try_lock(folder / LOCK)
    os.write(lock, b"4242\n")
    try:
        with pytest.raises(RunBusy, match=rf"run {folder.name} is busy.*process 4242"):
            train_run(spec, small_feature_set, tmp_path, verbose=0)
    finally:
        os.close(lock)
    assert sorted(path.name for path in folder.iterdir()) == [LOCK]  # nothing written


@pytest.mark.slow
def test_train_script_goes_on_past_a_busy_run_and_says_so(small_feature_set, small_feature_file,
                                                          tmp_path):
    from spokendigits.training import LOCK

    specs = [RunSpec(ModelConfig(family="mlp-vae", width=16), TINY),
             RunSpec(ModelConfig(family="mlp-vae", width=8), TINY)]
    busy, free = (tmp_path / "runs" / run_name(spec, small_feature_set.name) for spec in specs)
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"training": {"epochs": [1]},
                                 "runs": [{"family": "mlp-vae", "width": 16},
                                          {"family": "mlp-vae", "width": 8}]}))
    busy.mkdir(parents=True)
    lock = try_lock(busy / LOCK)  # this test process plays the other train.py
    os.write(lock, f"{os.getpid()}\n".encode())
    try:
        result = run_script("train.py", "--config", str(sweep), "--features",
                            str(small_feature_file), "--runs-dir", str(tmp_path / "runs"))
    finally:
        os.close(lock)
    assert result.returncode == 1, result.stderr
    assert f"skipped: run {busy.name} is busy: another train.py (process {os.getpid()})" \
        in result.stdout
    assert "still being trained by another train.py" in result.stderr
    assert "Traceback" not in result.stderr
    assert Run.open(free).summary is not None and not (free / LOCK).exists()
    assert sorted(path.name for path in busy.iterdir()) == [LOCK]
    assert pd.read_csv(tmp_path / "runs" / "summary.csv")["run"].tolist() == [free.name]


def _kill_after(monkeypatch, callback, epochs: int) -> None:
    """Make `callback.on_epoch_end` raise KeyboardInterrupt (a kill) once `epochs` epochs end,
    after doing its work."""
    original = callback.on_epoch_end

    def killed(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == epochs:
            raise KeyboardInterrupt

    monkeypatch.setattr(callback, "on_epoch_end", killed)


@pytest.mark.slow
def test_resume_repairs_a_damaged_history_or_says_why_it_cannot(small_feature_set, tmp_path,
                                                                monkeypatch):
    from spokendigits import training

    spec = RunSpec(ModelConfig(family="mlp-vae", width=16), TrainConfig(epochs=(3,)))
    _kill_after(monkeypatch, training.SaveState, 2)
    with pytest.raises(KeyboardInterrupt):
        training.train_run(spec, small_feature_set, tmp_path / "a", verbose=0)
    monkeypatch.undo()
    folder = tmp_path / "a" / run_name(spec, small_feature_set.name)
    lines = (folder / "history.csv").read_text().splitlines()
    assert len(lines) == 3 and (folder / "state-e002.keras").exists()
    broken = shutil.copytree(folder, tmp_path / "b" / folder.name)
    # What two writers and a kill leave: repeated headers, a repeated epoch, a garbled and a
    # cut row, and a row past the saved state.
    (folder / "history.csv").write_text("\n".join(
        [lines[0], lines[1], lines[0], lines[2], "garbage", lines[2],
         lines[2].replace("1,", "2,", 1), lines[1][:9]]) + "\n")
    with pytest.warns(UserWarning, match="dropped 4 damaged or repeated lines"):
        run, status = training.train_run(spec, small_feature_set, tmp_path / "a", verbose=0)
    history = pd.read_csv(folder / "history.csv")
    assert status == "resumed" and history["epoch"].tolist() == [0, 1, 2]
    assert history["loss"].iloc[0] == pd.read_csv(broken / "history.csv")["loss"].iloc[0]
    assert run.summary["checkpoints"][0]["epochs"] == 3

    (broken / "history.csv").write_text("\n".join([lines[0], lines[2]]) + "\n")  # epoch 0 lost
    with pytest.raises(DataError, match=r"history.csv lacks the rows of epochs \[0\].*"
                                        + re.escape(f"delete {broken}")):
        training.train_run(spec, small_feature_set, tmp_path / "b", verbose=0)


@pytest.mark.slow
def test_a_kill_in_the_first_epoch_leaves_no_history_and_readers_skip_the_run(
        small_feature_set, trained_runs, tmp_path, monkeypatch):
    from spokendigits import training
    from spokendigits.runs import finished_runs

    spec = RunSpec(ModelConfig(family="mlp-vae", width=16), TINY)
    _kill_after(monkeypatch, training.SaveCheckpoints, 1)  # before the epoch's history row
    with pytest.raises(KeyboardInterrupt):
        training.train_run(spec, small_feature_set, tmp_path, verbose=0)
    monkeypatch.undo()
    folder = tmp_path / run_name(spec, small_feature_set.name)
    assert not (folder / "history.csv").exists() and not (folder / "summary.json").exists()
    (folder / "history.csv").write_text("")  # what Keras's CSVLogger used to leave
    finished = shutil.copytree(trained_runs["mlp"].folder, tmp_path / trained_runs["mlp"].name)
    assert [run.folder for run in finished_runs(root=tmp_path)] == [finished]
    with pytest.raises(DataError, match="history.csv is empty"):
        Run.open(folder).history
    run, status = training.train_run(spec, small_feature_set, tmp_path, verbose=0)
    assert status == "trained" and pd.read_csv(folder / "history.csv")["epoch"].tolist() == [0]


def test_a_folder_holding_another_run_is_refused(trained_runs, small_feature_set, tmp_path):
    from spokendigits.training import train_run

    spec = RunSpec(ModelConfig(family="mlp-vae", width=16), TINY)
    folder = tmp_path / run_name(spec, small_feature_set.name)
    shutil.copytree(trained_runs["mlp"].folder, folder)  # a finished run, renamed
    other = trained_runs["mlp"].name
    with pytest.raises(DataError, match=re.escape(f"{folder} holds another run: its "
                                                  f"config.json describes {other}")):
        train_run(spec, small_feature_set, tmp_path, verbose=0)
    (folder / "config.json").write_text("{")
    with pytest.raises(DataError, match="unreadable settings"):
        train_run(spec, small_feature_set, tmp_path, verbose=0)


def test_a_damaged_summary_is_named_with_its_fix(trained_runs, tmp_path):
    from spokendigits.runs import finished_runs

    folder = shutil.copytree(trained_runs["mlp"].folder, tmp_path / trained_runs["mlp"].name)
    for text in ('{"run": ', "[1, 2]", '{"checkpoints": 3}'):
        (folder / "summary.json").write_text(text)
        with pytest.raises(DataError, match=r"summary.json is damaged .*delete it and run the "
                                            r"command in the run's config.json again"):
            finished_runs(root=tmp_path)


def test_settings_that_give_no_training_step_are_refused_before_anything_is_written(
        small_feature_set, tmp_path):
    from spokendigits.training import train_run

    gan = RunSpec(ModelConfig(family="cwgan-gp", conditional=True, width=4),
                  TrainConfig(epochs=(1,)))  # 5 critic batches of 64 a step; 270 clips
    with pytest.raises(UsageError, match=r"270 training clips give no training step: a step of "
                                         r"cwgan-gp takes 320 clips .* lower batch_size"):
        train_run(gan, small_feature_set, tmp_path, verbose=0)
    takes = small_feature_set.takes
    one_take = small_feature_set.subset((takes == 0) | (takes == 5))  # 60 training clips
    vae = RunSpec(ModelConfig(family="mlp-vae", width=8), TrainConfig(epochs=(1,)))
    with pytest.raises(UsageError, match="60 training clips cannot give a validation split of "
                                         "0.1 with every digit"):
        train_run(vae, one_take, tmp_path, verbose=0)
    assert list(tmp_path.iterdir()) == []
