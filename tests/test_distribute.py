"""Training through `tf.distribute`: every family under `mirrored` on two CPU devices, two
local workers of `multi-worker`, and the arithmetic that keeps a step correct on any
number of replicas. Each runs in its own process: TensorFlow fixes its devices when it
starts."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile

from conftest import ROOT, run_script

# One epoch of each family, small enough for a few steps on two replicas (batch 8: 4 clips
# a replica, and the GAN's 2 critic steps take 2 each).
FAMILIES = [
    {"family": "mlp-vae", "width": 16},
    {"family": "cnn-vae", "conditional": True, "width": 2, "batch_norm": True},
    {"family": "cwgan-gp", "conditional": True, "width": 2, "critic_steps": 2,
     "batch_norm": True, "ema": 0.9, "augment": True},
    {"family": "mlp-cwgan-gp", "conditional": True, "width": 8, "depth": 2, "critic_steps": 1,
     "loss": "hinge", "gradient_penalty": 0.0, "spectral_norm": True, "auxiliary_weight": 1.0},
    {"family": "wavegan", "conditional": True, "width": 2, "critic_steps": 2},  # phase shuffle
]
TRAINING = {"epochs": [1], "batch_size": 8, "learning_rate": 1e-4}


@pytest.fixture(scope="module")
def features_file(small_feature_set, tmp_path_factory):
    return small_feature_set.save(tmp_path_factory.mktemp("features"))


def write_sweep(path, runs):
    path.write_text(json.dumps({"training": TRAINING, "runs": runs}))
    return path


def train(features_file, sweep, runs_dir, *flags, env=None):
    result = run_script("train.py", "--config", str(sweep), "--features", str(features_file),
                        "--runs-dir", str(runs_dir), *flags, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return {path.name: pd.read_csv(path / "history.csv") for path in sorted(runs_dir.glob("*-*"))
            if path.is_dir()}


@pytest.mark.slow
def test_every_family_trains_under_mirrored_on_two_cpu_devices_and_speaks(features_file,
                                                                          tmp_path):
    sweep = write_sweep(tmp_path / "sweep.json", FAMILIES)
    histories = train(features_file, sweep, tmp_path / "runs", "--distribute", "mirrored",
                      "--cpu-devices", "2")
    assert sorted(name.rsplit("-", 1)[0] for name in histories) == sorted(
        run["family"] for run in FAMILIES)
    for name, history in histories.items():
        assert np.isfinite(history.drop(columns="epoch").to_numpy()).all(), name
        out = tmp_path / f"{name}.wav"
        spoken = run_script("inference.py", "407", "--run", str(tmp_path / "runs" / name),
                            "--out", str(out))
        assert spoken.returncode == 0, spoken.stderr[-2000:]
        waveform, _ = soundfile.read(out)
        assert np.isfinite(waveform).all() and np.abs(waveform).max() > 0


@pytest.mark.slow
def test_the_same_seed_gives_the_same_first_epoch_with_or_without_a_strategy(features_file,
                                                                              tmp_path):
    """On one device `mirrored` (and several steps per execution) leave the arithmetic as it
    was: the same losses, and for a GAN the same per-step rows."""
    sweep = write_sweep(tmp_path / "sweep.json", FAMILIES[1:3])
    plain = train(features_file, sweep, tmp_path / "plain")
    mirrored = train(features_file, sweep, tmp_path / "mirrored", "--distribute", "mirrored")
    batched = train(features_file, sweep, tmp_path / "batched", "--steps-per-execution", "4")
    assert sorted(plain) == sorted(mirrored) == sorted(batched)
    for name, history in plain.items():
        losses = history.drop(columns=["epoch", "seconds"])
        for other in (mirrored[name], batched[name]):
            np.testing.assert_allclose(other[losses.columns].to_numpy(), losses.to_numpy(),
                                       rtol=1e-5, err_msg=name)
    gan = next(name for name in plain if name.startswith("cwgan"))
    steps = {folder: pd.read_csv(tmp_path / folder / gan / "steps.csv")
             for folder in ("plain", "batched")}
    assert len(steps["batched"]) == int(np.ceil(len(steps["plain"]) / 4))
    every_fourth = steps["plain"]["critic_loss"].groupby(np.arange(len(steps["plain"])) // 4)
    np.testing.assert_allclose(steps["batched"]["critic_loss"], every_fourth.mean(), rtol=1e-4)


REPLICA_ARITHMETIC = """
import sys
sys.path.insert(0, "codes")
import numpy as np
from spokendigits import distribute
distribute.split_cpu(2)
import keras, tensorflow as tf

x = np.arange(16, dtype="float32").reshape(8, 2)

def gradient_step(strategy):
    with strategy.scope():
        dense = keras.layers.Dense(1, kernel_initializer="ones")
        dense.build((None, 2))
        optimizer = keras.optimizers.SGD(1.0)
        optimizer.build(dense.trainable_variables)
    def step(batch):
        with tf.GradientTape() as tape:
            share = distribute.replica_share(tf.reduce_mean(tf.square(dense(batch))))
        optimizer.apply(tape.gradient(share, dense.trainable_variables), dense.trainable_variables)
    data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(8))
    strategy.run(tf.function(step), (next(iter(data)),))
    return dense.kernel.numpy()

def draws(strategy):
    with strategy.scope():
        seeds = distribute.ReplicaSeedGenerator(7)
    values = strategy.run(tf.function(lambda: keras.random.normal((3,), seed=seeds)))
    return [value.numpy() for value in strategy.experimental_local_results(values)]

one, two = tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert two.num_replicas_in_sync == 2
np.testing.assert_allclose(gradient_step(two), gradient_step(one), rtol=1e-6)
first, second = draws(two)
assert not np.allclose(first, second), "the replicas drew the same noise"
np.testing.assert_array_equal(draws(one)[0],
                              keras.random.normal((3,), seed=keras.random.SeedGenerator(7)))
print("ok")
"""


def test_replicas_share_the_global_batch_mean_and_draw_their_own_noise():
    result = subprocess.run([sys.executable, "-c", REPLICA_ARITHMETIC], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_local_workers_train_together_and_stop(features_file, tmp_path):
    sweep = write_sweep(tmp_path / "sweep.json", FAMILIES[1:3])
    workers = [f"localhost:{free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, str(ROOT / "codes" / "train.py"), "--config", str(sweep),
             "--features", str(features_file), "--runs-dir", str(tmp_path / f"runs{index}"),
             "--distribute", "multi-worker"], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CONFIG": json.dumps(config)}))
    try:
        outputs = [process.communicate(timeout=600) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stdout[-2000:] + stderr[-3000:]
    chief = sorted(path for path in (tmp_path / "runs0").glob("*-*") if path.is_dir())
    assert len(chief) == 2 and all((path / "summary.json").is_file() for path in chief)
    assert not (tmp_path / "runs1").exists()  # only the chief keeps runs
    for path in chief:
        history = pd.read_csv(path / "history.csv")
        assert np.isfinite(history.drop(columns="epoch").to_numpy()).all()
    # Both workers log the same losses each epoch: they took part in the same steps.
    logged = [[{name: value for name, value in re.findall(r"(\w+): (\S+)", line)
                if name != "seconds"} for line in stdout.splitlines() if "/step" in line]
              for stdout, _ in outputs]
    assert len(logged[0]) == 2 and logged[0] == logged[1]


@pytest.mark.slow
def test_distribution_flags_are_checked_before_training(features_file, tmp_path):
    sweep = write_sweep(tmp_path / "sweep.json", FAMILIES[:1])
    common = ["--config", str(sweep), "--features", str(features_file), "--runs-dir",
              str(tmp_path / "runs")]
    for flags, message in ((["--distribute", "mirrored", "--steps-per-execution", "2"],
                            "use one or the other"),
                           (["--steps-per-execution", "0"], "at least 1"),
                           (["--distribute", "multi-worker"], "TF_CONFIG")):
        result = run_script("train.py", *common, *flags,
                            env={"TF_CONFIG": ""} if "multi-worker" in flags else None)
        assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    uneven = run_script("train.py", *common, "--distribute", "mirrored", "--cpu-devices", "3")
    assert uneven.returncode == 2 and "multiple of 3" in uneven.stderr, uneven.stderr[-2000:]
    assert not any((tmp_path / "runs").glob("*/summary.json"))
