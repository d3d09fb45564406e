"""Fitting runs: data splits, callbacks, checkpoints at swept epochs, resuming, summaries.

One run trains to the largest of its swept epoch counts and keeps a checkpoint
at each (sweeping epochs never retrains). A finished run is skipped; an
interrupted one resumes from the full model saved after its last epoch.
Every file is written atomically and `summary.json` last, so a killed run
never leaves anything that looks complete but is not. A run folder is locked
(`train.lock`, an OS lock the OS drops when its process dies) while one process
trains it, so two processes never write one run. See `runs` for the layout.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.model_selection import train_test_split

from .config import to_dict
from .errors import DataError, UsageError
from .features import FeatureSet
from .representations import Representation, for_feature_set
from .models import Family, build_condition, condition_dim, family_of
from .runs import CHECKPOINTS, RUNS_ROOT, Run, RunSpec, checkpoint_name, read_history, run_name
from .storage import atomic_folder, atomic_write, try_lock, write_json

SPLITS = ("train", "validation", "test")
LOCK = "train.lock"
# Keras's ONNX export checks `np.object`, which numpy 2 warns about; nothing to act on.
warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)


@dataclass
class SplitData:
    """Model inputs and labels of one split."""

    inputs: dict[str, np.ndarray]
    digits: np.ndarray
    speakers: np.ndarray


def split_data(feature_set: FeatureSet, spec: RunSpec, labels: dict[str, list],
               representation: Representation) -> dict[str, SplitData]:
    """Train / validation / test inputs (of `representation`, as
    `representations.for_feature_set` makes it); validation is a seeded, digit-stratified
    share of the training split, so the test split
    is never seen before the checkpoint's final report."""
    train_index, validation_index = _split_indices(feature_set, spec)
    splits = {}
    for name, index in zip(SPLITS, (np.sort(train_index), np.sort(validation_index),
                                    np.flatnonzero(feature_set.is_test))):
        digits, speakers = feature_set.digits[index], feature_set.speakers[index]
        inputs = family_of(spec.model).model_arrays(
            spec.model, feature_set.features[index],
            None if feature_set.phase is None else feature_set.phase[index], representation,
            digits, speakers)
        if condition_dim(spec.model, labels):
            inputs["condition"] = build_condition(spec.model, labels, digits, speakers)
        splits[name] = SplitData(inputs, digits, speakers)
    return splits


def _split_indices(feature_set: FeatureSet, spec: RunSpec) -> tuple[np.ndarray, np.ndarray]:
    """Clip indices of the training and validation splits: a seeded, digit-stratified
    `validation_fraction` of the feature set's training split is held out.

    Raises:
        UsageError: the held-out share cannot hold a clip of every digit, or leaves none.
    """
    train_index = np.flatnonzero(~feature_set.is_test)
    try:
        return train_test_split(train_index, test_size=spec.training.validation_fraction,
                                random_state=spec.training.seed,
                                stratify=feature_set.digits[train_index])
    except ValueError as error:  # scikit-learn's: too few clips of a digit, or in all
        raise UsageError(f"{len(train_index)} training clips cannot give a validation split of "
                         f"{spec.training.validation_fraction:g} with every digit in both "
                         f"parts ({error}); use more clips or another validation_fraction"
                         ) from None


def check_steps(spec: RunSpec, feature_set: FeatureSet) -> None:
    """Raise UsageError, before anything is written, unless the training split gives at
    least one training step an epoch (`Family.clips_per_step`: a GAN's step takes
    `critic_steps` whole batches)."""
    clips = len(_split_indices(feature_set, spec)[0])
    needed = family_of(spec.model).clips_per_step(spec.model, spec.training.batch_size)
    if clips < needed:
        raise UsageError(f"{clips} training clips give no training step: a step of "
                         f"{spec.model.family} takes {needed} clips (batch_size "
                         f"{spec.training.batch_size} x its steps); lower batch_size (or "
                         "critic_steps), or train on more clips")


class EpochLog(keras.callbacks.Callback):
    """Adds `seconds` (wall time of the epoch) to each epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["seconds"] = time.perf_counter() - self.started


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first batch with a non-finite loss of any name (Keras's
    TerminateOnNaN looks at `loss` alone, which a GAN does not have)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if _diverged(logs):
            self.model.stop_training = True


class RunBusy(DataError):
    """Another process holds the run folder's lock: it is training that run now."""

    def __init__(self, folder: Path):
        self.folder = folder
        try:
            holder = (folder / LOCK).read_text().strip() or "unknown"
        except OSError:
            holder = "unknown"
        super().__init__(f"run {folder.name} is busy: another train.py (process {holder}) "
                         "is training it")


class HistoryLog(keras.callbacks.Callback):
    """Writes history.csv after every epoch, whole and atomically: `epoch` (0-based), then
    the epoch's logs in name order, as Keras's CSVLogger does. A kill leaves the previous
    complete file, never an empty or cut one (CSVLogger opens an empty file at the start)."""

    def __init__(self, path: Path, rows: pd.DataFrame):
        super().__init__()
        self.path, self.rows = path, rows.to_dict("records")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.rows.append({"epoch": epoch, **{key: float(value)
                                             for key, value in sorted((logs or {}).items())}})
        _write_history(self.path, pd.DataFrame(self.rows))


def _write_history(path: Path, rows: pd.DataFrame) -> None:
    with atomic_write(path, "w") as file:
        rows.to_csv(file, index=False, na_rep="nan")  # a diverged epoch's loss stays readable


def _diverged(logs: dict | None) -> bool:
    """True if the logs hold a non-finite value (or none): nothing of it is worth keeping."""
    return not logs or not np.isfinite([float(value) for value in logs.values()]).all()


class SaveState(keras.callbacks.Callback):
    """Saves the full model (weights and optimizer) after every epoch, to resume from."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if _diverged(logs):
            return
        path = self.folder / f"state-{checkpoint_name(epoch + 1)}.keras"
        temporary = self.folder / f".{path.stem}.part.keras"
        self.model.save(temporary)
        os.replace(temporary, path)
        for older in self.folder.glob("state-e*.keras"):
            if older != path:
                older.unlink()


class SaveCheckpoints(keras.callbacks.Callback):
    """At each swept epoch count, one folder of what the family saves (`Family.export`:
    the generator as ONNX, how to sample it, the losses), written whole or not at all."""

    def __init__(self, folder: Path, epochs: tuple[int, ...], data: dict[str, SplitData],
                 batch_size: int, family: Family):
        super().__init__()
        self.folder, self.epochs, self.data, self.batch_size = folder, set(epochs), data, batch_size
        self.family = family

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        count = epoch + 1
        if count not in self.epochs or _diverged(logs):
            return
        destination = self.folder / CHECKPOINTS / checkpoint_name(count)
        if destination.exists():  # left by a run killed before it saved this epoch's state
            shutil.rmtree(destination)
        with atomic_folder(destination) as staging:
            self.family.export(self.model, staging, count, logs, self.data, self.batch_size)


def _resume(folder: Path, family: Family) -> tuple[keras.Model | None, int, pd.DataFrame]:
    """The model of `family` saved after the last finished epoch, that epoch count and the
    history of those epochs (or None, 0 and no rows)."""
    for leftover in folder.glob(".state-*"):  # a save cut short by the interruption
        leftover.unlink()
    for leftover in (folder / CHECKPOINTS).glob(".*"):
        shutil.rmtree(leftover)
    states = sorted(folder.glob("state-e*.keras"))
    if not states:
        return None, 0, pd.DataFrame()
    epoch = int(states[-1].stem.split("-e")[1])
    family.network()  # imported: its saved classes are registered with Keras
    return keras.saving.load_model(states[-1]), epoch, _history_until(folder, epoch)


def _history_until(folder: Path, epoch: int) -> pd.DataFrame:
    """The history rows of the `epoch` epochs a saved state holds, written back repaired: rows
    past the state (logged before a kill stopped the state's save) and damaged lines (see
    `read_history`) are dropped. A history that lacks one of those epochs raises DataError."""
    path = folder / "history.csv"
    fix = f"delete {folder} and train the run again"
    try:
        rows, damaged = read_history(path)
    except (FileNotFoundError, DataError) as error:
        raise DataError(f"cannot resume {folder.name}: its state holds {epoch} epochs but its "
                        f"history cannot be read ({error}); {fix}") from None
    rows = rows[rows["epoch"] < epoch]
    if rows["epoch"].tolist() != list(range(epoch)):
        missing = sorted(set(range(epoch)) - set(rows["epoch"]))
        raise DataError(f"cannot resume {folder.name}: {path} lacks the rows of epochs "
                        f"{missing}, which its saved state holds; {fix}")
    if damaged:
        warnings.warn(f"{path}: dropped {damaged} damaged or repeated lines; kept the rows of "
                      f"the {epoch} saved epochs")
    _write_history(path, rows)
    return rows


def _check_folder_holds(folder: Path) -> None:
    """A run folder's config.json, once written, must give the folder's name: else the
    folder holds another run (copied or renamed), and training or skipping it would mix
    two runs."""
    path = folder / "config.json"
    if not path.is_file():
        return
    try:
        run = Run.open(folder)  # checks config.json whole
        described = run_name(RunSpec(run.model, run.training), run.config["feature_set"])
    except DataError as error:
        described = f"unreadable settings ({error})"
    if described != folder.name:
        raise DataError(f"{folder} holds another run: its config.json describes {described}; "
                        "move the folder away or delete it, then train again")


def train_run(spec: RunSpec, feature_set: FeatureSet, runs_root: Path = RUNS_ROOT,
              tensorboard: bool = False, command: str = "", verbose: int | str = "auto",
              strategy: tf.distribute.Strategy | None = None, steps_per_execution: int = 1
              ) -> tuple[Run, str]:
    """Train one run (or skip or resume it). Returns the run and "trained", "resumed" or
    "skipped".

    `strategy` (`distribute.make_strategy`; default: TensorFlow's default, one device)
    builds the model on its replicas, and `fit` splits each batch across them.
    `steps_per_execution` steps run in one call of the compiled step (fewer round trips to
    Python; the batch callbacks then see every few steps). Neither changes the run's
    name: they change where it trains, not what it learns.

    Raises:
        RunBusy: another process is training the run (it holds the folder's lock).
        DataError: the run diverged, or its folder holds another run or an unusable history.
    """
    strategy = strategy or tf.distribute.get_strategy()
    check_replicas(spec, strategy)
    check_steps(spec, feature_set)
    folder = runs_root / run_name(spec, feature_set.name)
    _check_folder_holds(folder)
    if (folder / "summary.json").exists():
        return Run.open(folder), "skipped"
    folder.mkdir(parents=True, exist_ok=True)
    lock = try_lock(folder / LOCK)
    if lock is None:
        raise RunBusy(folder)
    try:
        os.ftruncate(lock, 0)
        os.write(lock, f"{os.getpid()}\n".encode())  # named by a second process that finds it busy
        if (folder / "summary.json").exists():  # finished by the process that held the lock
            return Run.open(folder), "skipped"
        run, status = _train(folder, spec, feature_set, tensorboard, command, verbose,
                             strategy, steps_per_execution)
        (folder / LOCK).unlink()  # a finished run is only ever read: no lock needed
        return run, status
    finally:
        os.close(lock)


def check_replicas(spec: RunSpec, strategy: tf.distribute.Strategy) -> None:
    """Raises UsageError unless the run's batch splits evenly over the strategy's replicas."""
    replicas = strategy.num_replicas_in_sync
    if spec.training.batch_size % replicas:
        raise UsageError(f"batch size {spec.training.batch_size} does not split evenly over "
                         f"{replicas} replicas; use a multiple of {replicas}")


def label_sets(feature_set: FeatureSet, spec: RunSpec) -> dict[str, list]:
    """`{"digits": [0..9], "speakers": [...]}`: the labels a run knows, from the training split
    only, so a model never claims a voice it was not trained on.

    Raises:
        UsageError: a speaker-conditional model, and test clips whose speakers are not in the
            training split (a split by speakers): no condition could say who speaks them.
    """
    train_speakers = sorted(set(feature_set.speakers[~feature_set.is_test].tolist()))
    unseen = sorted(set(feature_set.speakers[feature_set.is_test].tolist()) - set(train_speakers))
    if spec.model.speaker_conditional and unseen:
        raise UsageError(f"a speaker-conditional model needs every test speaker in the training "
                         f"split, but feature set {feature_set.name} tests {len(unseen)} unseen "
                         f"speaker(s) ({', '.join(unseen[:5])}); make it with --split takes or "
                         "random, or drop --speaker-conditional")
    return {"digits": list(range(10)), "speakers": train_speakers}


def _train(folder: Path, spec: RunSpec, feature_set: FeatureSet, tensorboard: bool,
           command: str, verbose: int | str, strategy: tf.distribute.Strategy,
           steps_per_execution: int) -> tuple[Run, str]:
    """`train_run` in a folder whose lock this process holds."""
    labels = label_sets(feature_set, spec)
    representation = for_feature_set(spec.model.decoded_representation, feature_set)
    write_json(folder / "config.json", {
        "model": to_dict(spec.model), "training": to_dict(spec.training),
        "feature_set": feature_set.name, "featurizer": feature_set.featurizer.to_dict(),
        "representation": representation.to_dict(), "labels": labels, "command": command})
    data = split_data(feature_set, spec, labels, representation)

    # Same seed, same split, initialisation, noise and shuffling; with op determinism (the
    # config's `deterministic`, which the caller switches on for the process:
    # `distribute.set_determinism`) also the same arithmetic, so the same loss curve on the
    # same machine.
    keras.utils.set_random_seed(spec.training.seed)
    family = family_of(spec.model)
    with strategy.scope():  # variables and optimizers live on every replica
        model, initial_epoch, history = _resume(folder, family)
        if model is None:
            (folder / "history.csv").unlink(missing_ok=True)
            model = family.build(spec.model, data["train"].inputs["features"].shape[1:],
                                 condition_dim(spec.model, labels), spec.training.seed,
                                 spec.training, representation)
    model.steps_per_execution = steps_per_execution
    callbacks = [StopOnNonFinite(), EpochLog(),
                 *family.callbacks(spec.model, folder, data, tensorboard, representation),
                 SaveCheckpoints(folder, spec.training.epochs, data, spec.training.batch_size,
                                 family),
                 HistoryLog(folder / "history.csv", history),
                 SaveState(folder)]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(folder / "tensorboard")))
    train, fit_options = family.fit_data(spec.model, data["train"].inputs,
                                         spec.training.batch_size, spec.training.seed)
    validation, _ = family.fit_data(spec.model, data["validation"].inputs,
                                    spec.training.batch_size, spec.training.seed, training=False)
    fitted = model.fit(train, validation_data=validation, epochs=max(spec.training.epochs),
                       initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose,
                       **fit_options)

    if model.stop_training:  # StopOnNonFinite: the loss diverged
        raise DataError(f"run {folder.name} diverged (loss NaN in epoch "
                        f"{len(read_history(folder / 'history.csv')[0])}); lower the learning "
                        "rate or regularize, then train it again")
    history = read_history(folder / "history.csv")[0]
    run = Run.open(folder)
    write_json(folder / "summary.json", {
        "run": run.name, "family": spec.model.family, "conditioning": spec.model.conditioning,
        "regularization": spec.model.regularization, "latent_dim": spec.model.latent_dim,
        "representation": spec.model.representation, **family.summary(model),
        "seconds_per_epoch": float(history["seconds"].median()),
        # a GAN's step is one generator update (and critic_steps critic updates); with the
        # epoch's validation and callbacks
        "seconds_per_step": float(history["seconds"].median()) / fitted.params["steps"],
        "checkpoints": [summary_row(run, epoch, history, family.losses)
                        for epoch in run.checkpoints]})
    for state in folder.glob("state-e*.keras"):  # the checkpoints hold what inference needs
        state.unlink()
    return run, "resumed" if initial_epoch else "trained"


def summary_row(run: Run, epoch: int, history: pd.DataFrame, losses: tuple[str, ...]
                ) -> dict[str, Any]:
    """The losses (those named in `losses`, of every split the checkpoint has) and the
    timing of one checkpoint, as a row of the sweep's table."""
    metrics = run.losses(epoch)
    return {"epochs": epoch,
            **{f"{split}_{key}": metrics[split][key] for split in SPLITS if split in metrics
               for key in losses if key in metrics[split]},
            "seconds": float(history.loc[history["epoch"] < epoch, "seconds"].sum())}
