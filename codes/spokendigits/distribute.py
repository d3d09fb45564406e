"""Training on one device or many, through TensorFlow's own `tf.distribute`.

`train.py --distribute` picks a strategy (`make_strategy`); models and their
optimizers are built under its scope, and Keras's `fit` splits each batch of
the input pipeline (`pipeline`: cache, seeded shuffle, batch, prefetch) across
the replicas. What the families' own `train_step`s need to stay correct on
any number of replicas is here too:

- `replica_share`: the optimizer sums the replicas' gradients, so each
  replica's loss (a mean over its share of the batch) is divided by their
  number: the gradient of the mean over the global batch.
- `ReplicaSeedGenerator`: noise drawn in a step differs between replicas
  (Keras's own seed generator would give each the same draws).
- `step_logs`: what a step returns, in the form Keras can reduce across
  workers.
- `BuiltAtConstruction`: a model built whole in its constructor, which Keras
  need not build again from a first batch.

On one replica every one of them leaves the arithmetic as it was, so a seed
gives the same losses with or without a strategy.
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from .errors import UsageError
from .cli import STRATEGIES


def split_cpu(devices: int) -> None:
    """Split the CPU into `devices` logical devices, to try multi-device training without
    GPUs. Must run before TensorFlow starts its runtime (before any op)."""
    if devices < 1:
        raise UsageError(f"--cpu-devices must be at least 1, not {devices}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)])
    except RuntimeError:
        raise UsageError("--cpu-devices must be set before TensorFlow has started; set it "
                         "first thing in the process") from None


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy `name` (one of STRATEGIES): TensorFlow's default one (this process's
    first device), `MirroredStrategy` over every visible GPU (else the CPU's logical
    devices), or `MultiWorkerMirroredStrategy` over the workers of `$TF_CONFIG`.

    Raises:
        UsageError: an unknown name, or multi-worker without a usable `$TF_CONFIG`.
    """
    if name not in STRATEGIES:
        raise UsageError(f"unknown --distribute '{name}'; choose one of {list(STRATEGIES)}")
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    workers, _ = cluster()
    if not workers:
        raise UsageError("--distribute multi-worker reads the cluster from $TF_CONFIG, which "
                         "is not set or names no workers; set it on every worker, e.g. "
                         '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}}')
    return tf.distribute.MultiWorkerMirroredStrategy()


def cluster() -> tuple[list[str], int]:
    """The workers of `$TF_CONFIG` and this process's index among them (`[]`, 0 if unset).

    Raises:
        UsageError: `$TF_CONFIG` is not JSON of that form.
    """
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return [], 0
    try:
        config = json.loads(text)
        workers = [str(worker) for worker in config["cluster"]["worker"]]
        index = int(config["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise UsageError("$TF_CONFIG must be JSON like {\"cluster\": {\"worker\": [...]}, "
                         "\"task\": {\"type\": \"worker\", \"index\": 0}}") from None
    if not 0 <= index < len(workers):
        raise UsageError(f"$TF_CONFIG's task index {index} names no worker of its "
                         f"{len(workers)}")
    return workers, index


def is_chief() -> bool:
    """Whether this process writes the run: worker 0 of a cluster, or a lone process."""
    return cluster()[1] == 0


def set_determinism(on: bool) -> None:
    """TensorFlow's op determinism, for the whole process (TensorFlow cannot switch it off
    again): the same seed then gives the same losses on one machine. Called by the
    scripts, never by the library."""
    if on:
        tf.config.experimental.enable_op_determinism()


def replicas() -> int:
    """Replicas the current step is split over (1 outside a strategy)."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def replica_share(loss):
    """A replica's loss (its clips' mean) as its share of the global batch's mean: the
    optimizer sums the replicas' gradients."""
    return loss / replicas()


def step_logs(values: dict[str, Any]) -> dict[str, Any]:
    """A step's scalar results, as Keras reduces them across workers: with a batch axis
    under `MultiWorkerMirroredStrategy`, whose reduction averages along it (Keras 3.15
    fails on scalars there, keras-team/keras#20585). Unchanged elsewhere."""
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return {name: ops.reshape(value, (1,)) for name, value in values.items()}
    return values


class BuiltAtConstruction:
    """Mixin for a `keras.Model` whose networks and optimizers are all built in its
    constructor: `fit` has nothing to build from a first batch. (Keras 3.15 would first
    average that batch across the workers of a `MultiWorkerMirroredStrategy`, which fails
    for batches that are dicts: keras-team/keras#20585.)"""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        return None


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A `SeedGenerator` whose seeds differ between replicas: the seed drawn is folded with
    the replica's index. Under a strategy every replica runs the same step with the same
    generator state, so without the fold every replica would draw the same noise for its
    share of the batch. On one replica the seeds are Keras's own."""

    def next(self, ordered: bool = True):
        seed = super().next(ordered=ordered)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        folded = tf.random.experimental.stateless_fold_in(
            tf.cast(seed, "int64"), context.replica_id_in_sync_group)
        return tf.cast(folded, seed.dtype)


def pipeline(inputs: dict[str, np.ndarray], batch_size: int, seed: int, training: bool,
             drop_remainder: bool = False) -> tf.data.Dataset:
    """A `tf.data` pipeline of `inputs` (arrays of one length): cached, and for training
    shuffled (seeded, again each epoch); `batch_size` is the global batch, which `fit`
    splits across the replicas; prefetched so the next batch is ready when a step ends."""
    dataset = tf.data.Dataset.from_tensor_slices(inputs).cache()
    if training:
        dataset = dataset.shuffle(len(next(iter(inputs.values()))), seed=seed,
                                  reshuffle_each_iteration=True)
    options = tf.data.Options()
    # Workers each read every clip and keep their share of each batch: the arrays are in
    # memory, not in files to share out.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(
        tf.data.AUTOTUNE).with_options(options)
