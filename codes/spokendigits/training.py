"""Fitting runs: data splits, callbacks, checkpoints at swept epochs, resuming, summaries.

One run trains to the largest of its swept epoch counts and keeps a checkpoint
at each (sweeping epochs never retrains). A finished run is skipped; an
interrupted one resumes from the full model saved after its last epoch.
Every file is written atomically and `summary.json` last, so a killed run
never leaves anything that looks complete but is not. See `runs` for the layout.
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
from .errors import DataError
from .features import FeatureSet
from .latents import fit_latent_gaussians
from .models import build_condition, build_model, condition_dim
from .models.vae import VAE, KLWarmUp
from .runs import (CHECKPOINTS, RUNS_ROOT, Run, RunSpec, checkpoint_name, run_name)
from .storage import atomic_folder, atomic_write, write_json

SPLITS = ("train", "validation", "test")
# Keras's ONNX export checks `np.object`, which numpy 2 warns about; nothing to act on.
warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)


@dataclass
class SplitData:
    """Model inputs and labels of one split."""

    inputs: dict[str, np.ndarray]
    digits: np.ndarray
    speakers: np.ndarray


def split_data(feature_set: FeatureSet, spec: RunSpec, labels: dict[str, list]) -> dict[str, SplitData]:
    """Train / validation / test inputs; validation is a seeded, digit-stratified share of the
    training split, so the test split is never seen before the checkpoint's final report."""
    train_index = np.flatnonzero(~feature_set.is_test)
    train_index, validation_index = train_test_split(
        train_index, test_size=spec.training.validation_fraction, random_state=spec.training.seed,
        stratify=feature_set.digits[train_index])
    splits = {}
    for name, index in zip(SPLITS, (np.sort(train_index), np.sort(validation_index),
                                    np.flatnonzero(feature_set.is_test))):
        digits, speakers = feature_set.digits[index], feature_set.speakers[index]
        inputs = {"features": feature_set.features[index]}
        if condition_dim(spec.model, labels):
            inputs["condition"] = build_condition(spec.model, labels, digits, speakers)
        splits[name] = SplitData(inputs, digits, speakers)
    return splits


class EpochLog(keras.callbacks.Callback):
    """Adds `seconds` (wall time of the epoch) and `kl_weight` to each epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["seconds"] = time.perf_counter() - self.started
        logs["kl_weight"] = float(self.model.kl_weight.numpy())


def _diverged(logs: dict | None) -> bool:
    """True if the epoch ended on a non-finite loss: nothing of it is worth keeping."""
    return not np.isfinite((logs or {}).get("loss", np.nan))


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
    """At each swept epoch count: encoder, decoder (Keras and ONNX), the latent Gaussians
    of the training clips (every model) and the losses of every split, as one folder."""

    def __init__(self, folder: Path, epochs: tuple[int, ...], data: dict[str, SplitData],
                 batch_size: int):
        super().__init__()
        self.folder, self.epochs, self.data, self.batch_size = folder, set(epochs), data, batch_size

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        count = epoch + 1
        if count not in self.epochs or _diverged(logs):
            return
        model: VAE = self.model
        destination = self.folder / CHECKPOINTS / checkpoint_name(count)
        if destination.exists():  # left by a run killed before it saved this epoch's state
            shutil.rmtree(destination)
        with atomic_folder(destination) as staging:
            model.encoder.save(staging / "encoder.keras")
            model.decoder.save(staging / "decoder.keras")
            model.decoder.export(str(staging / "decoder.onnx"), format="onnx", verbose=False)
            test = model.evaluate(self.data["test"].inputs, batch_size=self.batch_size, verbose=0,
                                  return_dict=True)
            losses = {"train": {key: float(logs[key]) for key in ("loss", "reconstruction", "kl")},
                      "validation": {key: float(logs[f"val_{key}"])
                                     for key in ("loss", "reconstruction", "kl")},
                      "test": {key: float(value) for key, value in test.items()}}
            write_json(staging / "metrics.json", {"epoch": count, **losses})
            train = self.data["train"]
            z_mean, z_log_var = model.encoder.predict(
                [train.inputs["features"], *model._condition(train.inputs)],
                batch_size=self.batch_size, verbose=0)
            write_json(staging / "latents.json",
                       fit_latent_gaussians(z_mean, z_log_var, train.digits, train.speakers))


def _resume(folder: Path) -> tuple[VAE | None, int]:
    """The model saved after the last finished epoch, and that epoch count (or None, 0)."""
    for leftover in folder.glob(".state-*"):  # a save cut short by the interruption
        leftover.unlink()
    for leftover in (folder / CHECKPOINTS).glob(".*"):
        shutil.rmtree(leftover)
    states = sorted(folder.glob("state-e*.keras"))
    if not states:
        return None, 0
    epoch = int(states[-1].stem.split("-e")[1])
    history = folder / "history.csv"
    if history.exists():  # keep the rows of the epochs the state holds
        rows = pd.read_csv(history)
        with atomic_write(history, "w") as file:
            rows[rows["epoch"] < epoch].to_csv(file, index=False)
    return keras.saving.load_model(states[-1]), epoch


def train_run(spec: RunSpec, feature_set: FeatureSet, runs_root: Path = RUNS_ROOT,
              tensorboard: bool = False, command: str = "", verbose: int | str = "auto"
              ) -> tuple[Run, str]:
    """Train one run (or skip or resume it). Returns the run and "trained", "resumed" or
    "skipped"."""
    folder = runs_root / run_name(spec, feature_set.name)
    if (folder / "summary.json").exists():
        return Run.open(folder), "skipped"
    folder.mkdir(parents=True, exist_ok=True)
    labels = {"digits": list(range(10)), "speakers": sorted(set(feature_set.speakers.tolist()))}
    write_json(folder / "config.json", {
        "model": to_dict(spec.model), "training": to_dict(spec.training),
        "feature_set": feature_set.name, "featurizer": feature_set.featurizer.to_dict(),
        "labels": labels, "command": command})
    data = split_data(feature_set, spec, labels)

    # Same seed, same split, initialisation, noise and shuffling (on the same machine).
    keras.utils.set_random_seed(spec.training.seed)
    tf.config.experimental.enable_op_determinism()
    model, initial_epoch = _resume(folder)
    if model is None:
        (folder / "history.csv").unlink(missing_ok=True)
        model = build_model(spec.model, feature_set.features.shape[1:],
                            condition_dim(spec.model, labels), spec.training.seed)
        model.compile(optimizer=keras.optimizers.Adam(spec.training.learning_rate))
    callbacks = [keras.callbacks.TerminateOnNaN(), EpochLog(),
                 KLWarmUp(spec.model.beta, spec.model.kl_warmup_epochs),
                 SaveCheckpoints(folder, spec.training.epochs, data, spec.training.batch_size),
                 keras.callbacks.CSVLogger(str(folder / "history.csv"), append=True),
                 SaveState(folder)]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(folder / "tensorboard")))
    model.fit(data["train"].inputs, validation_data=(data["validation"].inputs,),
              epochs=max(spec.training.epochs), initial_epoch=initial_epoch,
              batch_size=spec.training.batch_size, shuffle=True, callbacks=callbacks,
              verbose=verbose)

    if model.stop_training:  # TerminateOnNaN: the loss diverged
        raise DataError(f"run {folder.name} diverged (loss NaN in epoch "
                        f"{len(pd.read_csv(folder / 'history.csv'))}); lower the learning "
                        "rate or regularize, then train it again")
    history = pd.read_csv(folder / "history.csv")
    run = Run.open(folder)
    write_json(folder / "summary.json", {
        "run": run.name, "family": spec.model.family, "conditioning": spec.model.conditioning,
        "regularization": spec.model.regularization, "latent_dim": spec.model.latent_dim,
        "parameters": int(model.encoder.count_params() + model.decoder.count_params()),
        "decoder_parameters": int(model.decoder.count_params()),
        "seconds_per_epoch": float(history["seconds"].median()),
        "checkpoints": [summary_row(run, epoch, history) for epoch in run.checkpoints]})
    for state in folder.glob("state-e*.keras"):  # the checkpoints hold what inference needs
        state.unlink()
    return run, "resumed" if initial_epoch else "trained"


def summary_row(run: Run, epoch: int, history: pd.DataFrame) -> dict[str, Any]:
    """The losses and timing of one checkpoint, as a row of the sweep's table."""
    metrics = run.losses(epoch)
    return {"epochs": epoch,
            **{f"{split}_{key}": metrics[split][key] for split in ("train", "validation", "test")
               for key in ("loss", "reconstruction", "kl")},
            "seconds": float(history.loc[history["epoch"] < epoch, "seconds"].sum())}
