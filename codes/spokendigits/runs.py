"""Training runs on disk: sweep files, run folders and what they hold.

This module imports no Keras: inference and evaluation read runs with it.

A run folder, `output/runs/<family>-<hash>/`, is named by its model family and
a hash of its settings and feature set, so the same settings land in the same
folder. It holds:

    config.json            model, training and feature settings, label sets, command
    history.csv            one row per epoch: losses (the family's), seconds (see `read_history`)
    train.lock             held (flock) by the train.py training the run; gone once it is finished
    state-eNNN.keras       the full model after epoch NNN (both optimizers of a GAN), to resume from
    previews/eNNN.png/.wav GANs and flows: fixed samples of each digit every few epochs

VAE checkpoints of earlier versions hold `decoder.onnx` and `latents.json` instead
of the first two; they still open and speak (`synthesis`).
    checkpoints/eNNN/      one per swept epoch count, written whole or not at all:
        generator.onnx       the generator (a VAE's decoder), for inference without TensorFlow
        sampler.json         how to draw z (`sampling.sampler_file`), naming the files below
        latents.json         VAEs: per-digit (and speaker) latent Gaussians of the training clips
        phases.npy           phase-conditional GANs: phase images of training clips per digit
        velocity.onnx        latent flows: the flow that draws z (`flow`)
        refiner.onnx         spectrogram flows: the flow that carries drafts to clips
        pitch.onnx           pitch models: voicing and f0 of the generator's spectrograms
        generator.keras, or decoder.keras and encoder.keras, velocity.keras, refiner.keras,
                             pitch.keras
                             (the family's, to reload)
        metrics.json         the losses at that epoch: train and validation (VAEs: test too)
    summary.json           written last: the run is complete
"""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import check_settings, config_hash, from_dict, non_defaults, read_json_object
from .datasets import PROJECT_ROOT
from .errors import DataError, UsageError
from .features import FEATURES_ROOT, Featurizer, FeatureSet
from .models import ModelConfig, family_of
from .representations import Representation, representation_class
from .storage import atomic_folder, read_json, store_weights_in_half

RUNS_ROOT = PROJECT_ROOT / "output" / "runs"
CHECKPOINTS = "checkpoints"
MAX_EPOCHS = 999  # checkpoint folders are eNNN
MAX_BATCH_SIZE = 2**16  # more clips than AudioMNIST holds: larger is a typo, not a setting


@dataclass(frozen=True)
class TrainConfig:
    """How a model is fitted. `epochs` lists the swept epoch counts: one run trains to
    the largest and keeps a checkpoint at each."""

    epochs: tuple[int, ...] = field(default=(10, 30, 60), metadata={
        "help": "epoch counts to keep checkpoints at; training runs to the largest"})
    batch_size: int = field(default=64, metadata={"help": "clips per gradient step"})
    learning_rate: float = field(default=1e-3, metadata={
        "help": "Adam's learning rate (a GAN's generator's)"})
    critic_learning_rate: float | None = field(default=None, metadata={
        "help": "GANs and sharpened VAEs: the critic's learning rate; unset: the same as "
                "learning_rate"})
    validation_fraction: float = field(default=0.1, metadata={
        "help": "share of the training split held out for validation (stratified by digit)"})
    seed: int = field(default=0, metadata={
        "help": "seeds the validation split, initialisation, sampling noise and shuffling"})
    deterministic: bool = field(default=True, metadata={
        "help": "TensorFlow's op determinism: the same seed then gives the same loss curve on "
                "one machine; off may train faster"})

    def __post_init__(self) -> None:
        checks = [
            (bool(self.epochs) and min(self.epochs) >= 1, "epochs must be positive counts"),
            (not self.epochs or max(self.epochs) <= MAX_EPOCHS,
             f"epochs must be at most {MAX_EPOCHS} (checkpoint folders are named e001 to e999)"),
            (list(self.epochs) == sorted(set(self.epochs)), "epochs must be increasing"),
            (1 <= self.batch_size <= MAX_BATCH_SIZE,
             f"batch_size must be 1 to {MAX_BATCH_SIZE} (clips per step)"),
            (0 < self.learning_rate < float("inf"), "learning_rate must be positive and finite"),
            (self.critic_learning_rate is None or self.critic_learning_rate > 0,
             "critic_learning_rate must be positive"),
            (0 < self.validation_fraction < 1, "validation_fraction must be in (0, 1)"),
        ]
        check_settings("training settings", checks)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a model and how to train it."""

    model: ModelConfig
    training: TrainConfig


MAX_BASES = 8  # a chain of configs naming bases: deeper is surely a loop or a mistake


def _read_sweep(path: Path) -> dict[str, Any]:
    """The sweep file at `path`, its keys and the types of its `training` and `runs` checked."""
    sweep = read_json_object(path, "sweep file")
    unknown = sorted(set(sweep) - {"training", "runs", "description"})
    if unknown:
        raise UsageError(f"sweep file {path}: unknown key(s) {unknown}; use training, runs, "
                         "description")
    if not isinstance(sweep.get("runs"), list) or not sweep["runs"]:
        raise UsageError(f"sweep file {path} needs a non-empty \"runs\" list of model settings")
    if not isinstance(sweep.get("training", {}), dict):
        raise UsageError(f"sweep file {path}: \"training\" should be an object of training "
                         "settings, e.g. {\"epochs\": [10, 30]}")
    return sweep


def _variant(run: Any, training: dict[str, Any], path: Path, where: str,
             chain: tuple[Path, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model and training settings of one run entry of the sweep at `path` (`where` names
    it in errors), over the sweep's top-level `training`. An entry that names a `"base"`
    (a config file of one run, relative to `path`'s folder) starts from that run's settings,
    its own base's first; then the keys it gives override them."""
    if not isinstance(run, dict):
        raise UsageError(f"{where} is not an object of model settings")
    run = dict(run)
    own = run.pop("training", {})
    if not isinstance(own, dict):
        raise UsageError(f"{where}: \"training\" should be an object of training settings")
    base = run.pop("base", None)
    if base is None:
        return run, {**training, **own}
    if not isinstance(base, str) or not base:
        raise UsageError(f"{where}: \"base\" should name a config file, e.g. \"bundled_gan.json\"")
    base_path = (path.parent / base).resolve()
    if base_path in chain or len(chain) > MAX_BASES:
        raise UsageError(f"{where}: base {base} leads back to itself or goes deeper than "
                         f"{MAX_BASES} files; name a config without that loop")
    base_sweep = _read_sweep(base_path)
    if len(base_sweep["runs"]) != 1:
        raise UsageError(f"{where}: base {base_path} holds {len(base_sweep['runs'])} runs; a "
                         "base is a config of one run")
    model, inherited = _variant(base_sweep["runs"][0], base_sweep.get("training", {}),
                                base_path, f"sweep file {base_path}, run 0", (*chain, base_path))
    return {**model, **run}, {**inherited, **training, **own}


def load_sweep(path: str | Path) -> list[RunSpec]:
    """Read a sweep file: `{"training": {...}, "runs": [{model settings, "training": {...}}]}`.

    Top-level `training` settings apply to every run; a run's own override them. A run may
    name a `"base"` config of one run and give only what it changes: `{"base":
    "bundled_gan.json", "minibatch_std": true}` is the bundled GAN with minibatch std (the
    base's training settings apply too, under this file's).
    """
    path = Path(path)
    sweep = _read_sweep(path)
    specs = []
    for index, run in enumerate(sweep["runs"]):
        where = f"sweep file {path}, run {index}"
        model, training = _variant(run, sweep.get("training", {}), path, where,
                                   (path.resolve(),))
        try:
            specs.append(RunSpec(from_dict(ModelConfig, model), from_dict(TrainConfig, training)))
        except UsageError as error:
            raise UsageError(f"{where}: {error}") from None
    return specs


def run_name(spec: RunSpec, feature_set_name: str) -> str:
    """`<family>-<hash>`: the hash covers the model and training settings that differ from
    their defaults, and the feature set."""
    return f"{spec.model.family}-" + config_hash(
        [non_defaults(spec.model), non_defaults(spec.training), feature_set_name])


def checkpoint_name(epoch: int) -> str:
    return f"e{epoch:03d}"


RUN_FORMAT = 1  # a config.json with a higher "format" comes from a newer version
RUN_KEYS = ("model", "training", "featurizer", "feature_set", "labels")  # and "command",
# "representation" (what decodes the generator's arrays; older runs lack it)


def _config_problem(config: Any) -> str | None:
    """What makes a run's config.json unusable, or None: a newer format, missing, unknown
    or mistyped settings, label sets other than digits 0-9 and distinct speaker names, or
    scaling statistics that are not one finite value per frequency bin."""
    if not isinstance(config, dict):
        return "it holds no JSON object"
    version = config.get("format", RUN_FORMAT)
    if not isinstance(version, int) or version > RUN_FORMAT:
        return f"format {version!r} is newer than this version reads ({RUN_FORMAT})"
    missing = [key for key in RUN_KEYS if key not in config]
    unknown = sorted(set(config) - {*RUN_KEYS, "command", "format", "representation"})
    if missing or unknown:
        return f"missing key(s) {missing}" if missing else f"unknown key(s) {unknown}"
    for key in ("model", "training", "featurizer", "labels"):
        if not isinstance(config[key], dict):
            return f"{key} is not an object of settings"
    featurizer = config["featurizer"]
    if set(featurizer) != {"config", "scaling"} or not isinstance(featurizer["scaling"], dict) \
            or set(featurizer["scaling"]) != {"mean", "std"}:
        return "featurizer should hold config and scaling (mean and std)"
    try:
        from_dict(ModelConfig, config["model"])
        from_dict(TrainConfig, config["training"])
        featurizer = Featurizer.from_dict(featurizer)
    except (UsageError, DataError, TypeError, ValueError) as error:
        return str(error)
    n_freq, mean, std = featurizer.config.n_freq, featurizer.scaling.mean, featurizer.scaling.std
    if mean.shape != (n_freq,) or std.shape != (n_freq,) or not np.isfinite([mean, std]).all() \
            or (std <= 0).any():
        return f"the scaling statistics should be {n_freq} finite values (std positive) each"
    labels = config["labels"]
    speakers = labels.get("speakers")
    if set(labels) != {"digits", "speakers"} or labels["digits"] != list(range(10)):
        return "labels should hold digits [0, 1, ..., 9] and speakers"
    if not (isinstance(speakers, list) and speakers and all(
            isinstance(name, str) and name for name in speakers) and
            len(set(speakers)) == len(speakers)):
        return "labels should hold a list of distinct speaker names"
    if not isinstance(config["feature_set"], str):
        return "feature_set should be the feature set's name"
    return None


@dataclass
class Run:
    """A run folder read back: its settings and its complete checkpoints."""

    folder: Path
    config: dict[str, Any]

    @classmethod
    def open(cls, folder: str | Path) -> "Run":
        """Read `folder/config.json`; say what is missing if it is not a usable run."""
        folder = Path(folder)
        if not folder.is_dir():
            state = "is a file, not a folder" if folder.exists() else "does not exist"
            raise UsageError(f"run folder {folder} {state}; train one with codes/train.py "
                             f"or name one under {RUNS_ROOT}")
        path = folder / "config.json"
        if not path.is_file():
            raise DataError(f"{folder} is not a run: config.json is missing")
        config = read_json(path)
        problem = _config_problem(config)  # so a damaged config fails here and says so
        if problem:
            raise DataError(f"{path} cannot be used: {problem}. It is damaged or was written by "
                            "a newer version; train or export the run again")
        return cls(folder, config)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def model(self) -> ModelConfig:
        return from_dict(ModelConfig, self.config["model"])

    @property
    def training(self) -> TrainConfig:
        return from_dict(TrainConfig, self.config["training"])

    @property
    def featurizer(self) -> Featurizer:
        return Featurizer.from_dict(self.config["featurizer"])

    @property
    def representation(self) -> Representation:
        """What turns the generator's arrays into waveforms (`ModelConfig.decoded_representation`),
        with the settings and statistics config.json keeps; runs of older versions, which
        kept none, made log-magnitudes or magnitude and phase scaled by their featurizer."""
        if "representation" in self.config:
            return Representation.from_dict(self.config["representation"])
        featurizer = self.featurizer
        return representation_class(self.model.decoded_representation).from_feature_config(
            featurizer.config, featurizer.scaling)

    @property
    def label(self) -> str:
        """A short name for legends: family (and size, where not the family's default),
        conditioning, a learned decoder sigma, "regularized" for dropout, L2 or batch
        norm, and KL warm-up or free bits, e.g. "CNN, digit+speaker", "MLP, unconditional,
        regularized" or "CNN w16 d4 z32, unconditional, σ per-bin, KL warm-up 20"; for
        GANs the representation, the loss where it is not the default WGAN-GP, batch norm
        and consistency, e.g. "CWGAN-GP, digit, magnitude-phase"."""
        model = self.model
        default = ModelConfig(family=model.family)
        family = family_of(model)
        resized = (model.width, model.depth, model.latent_dim, model.residual_blocks) != \
            (default.width, default.depth, default.latent_dim, default.residual_blocks)
        parts = [f"{family.label} {model.size}" if resized else family.label,
                 model.conditioning if model.conditioning != "none" else "unconditional"]
        parts += [model.representation] if model.representation != default.representation else []
        parts += family.label_parts(model)
        return ", ".join(parts)

    @property
    def digits(self) -> list[int]:
        return self.config["labels"]["digits"]

    @property
    def speakers(self) -> list[str]:
        return self.config["labels"]["speakers"]

    @property
    def checkpoints(self) -> list[int]:
        """Epochs with a complete checkpoint folder, ascending."""
        folder = self.folder / CHECKPOINTS
        return sorted(int(path.name[1:]) for path in folder.glob("e[0-9][0-9][0-9]")
                      if path.is_dir()) if folder.is_dir() else []

    def checkpoint(self, epoch: int | None = None) -> Path:
        """The folder of checkpoint `epoch` (default: the last one)."""
        epochs = self.checkpoints
        if not epochs:
            raise DataError(f"run {self.folder} has no complete checkpoint yet; let its "
                            "training reach the first swept epoch count")
        epoch = epochs[-1] if epoch is None else epoch
        if epoch not in epochs:
            raise UsageError(f"run {self.name} has no checkpoint at epoch {epoch}; it has {epochs}")
        return self.folder / CHECKPOINTS / checkpoint_name(epoch)

    def has_encoder(self, epoch: int | None = None) -> bool:
        """True if checkpoint `epoch` (default: the last) keeps a VAE's Keras encoder, which
        placing clips in latent space and reconstructing them need; a GAN has none, and an
        inference-only copy (`export_inference`) keeps none."""
        return (self.checkpoint(epoch) / "encoder.keras").is_file()

    @property
    def summary(self) -> dict[str, Any] | None:
        """The summary written when training finished, or None for an unfinished run."""
        path = self.folder / "summary.json"
        if not path.is_file():
            return None
        try:
            summary = read_json(path)
        except DataError:  # not JSON: said below
            summary = None
        if not isinstance(summary, dict) or not isinstance(summary.get("checkpoints"), list):
            raise DataError(f"{path} is damaged (not a summary of checkpoints); delete it and "
                            "run the command in the run's config.json again, which trains the "
                            "run again and rewrites it")
        return summary

    def losses(self, epoch: int) -> dict[str, Any]:
        """Train / validation / test losses of checkpoint `epoch` (its metrics.json)."""
        return read_json(self.checkpoint(epoch) / "metrics.json")

    @property
    def history(self):
        """history.csv as a pandas DataFrame: one row per epoch (0-based `epoch`)."""
        path = self.folder / "history.csv"
        if not path.is_file():
            raise DataError(f"run {self.folder} has no history.csv; train it with codes/train.py")
        return read_history(path)[0]


def read_history(path: str | Path):
    """A history.csv as a pandas DataFrame of whole epochs, sorted by `epoch` (0-based), and
    the number of lines dropped from it.

    Dropped lines are those that are not a row of numbers under the file's header: the
    repeated headers and interleaved rows of two writers at once (older versions), or a row
    cut short by a kill. An epoch written twice keeps its last row.

    Raises:
        DataError: the file is empty (its run was stopped before its first epoch ended) or
            its first line is not a header naming `epoch`.
    """
    import csv

    import pandas as pd

    path = Path(path)
    lines = list(csv.reader(path.read_text(errors="replace").replace("\0", "").splitlines()))
    if not lines or "epoch" not in lines[0]:
        problem = "empty" if not lines else "damaged (its first line is no header naming epoch)"
        raise DataError(f"{path} is {problem}, so it records no epoch; train its run again "
                        "with codes/train.py (delete the run folder first if it is finished)")
    header, rows = lines[0], []
    for line in lines[1:]:
        try:
            rows.append([float(value) for value in line] if len(line) == len(header) else None)
        except ValueError:
            rows.append(None)
    frame = pd.DataFrame([row for row in rows if row is not None], columns=header)
    frame = frame[frame["epoch"].between(0, MAX_EPOCHS) & (frame["epoch"] % 1 == 0)]
    frame = (frame.astype({"epoch": int}).drop_duplicates("epoch", keep="last")
             .sort_values("epoch", kind="stable").reset_index(drop=True))
    return frame, len(lines) - 1 - len(frame)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags a script uses to choose runs and their feature set (see `open_runs`)."""
    parser.add_argument("runs", nargs="*", type=Path,
                        help="run folders (default: every finished run under --runs-dir)")
    parser.add_argument("--runs-dir", type=Path, default=RUNS_ROOT,
                        help="where runs are kept (default: output/runs)")
    parser.add_argument("--features", type=Path,
                        help="the runs' feature set (default: the one their config names, "
                             "in dataset/features/)")


def open_runs(args: argparse.Namespace) -> tuple[list[Run], FeatureSet]:
    """The finished runs and their one feature set, as `add_run_arguments` chose them."""
    runs = finished_runs(args.runs, args.runs_dir)
    return runs, load_feature_set(runs, args.features)


def finished_runs(folders: list[Path] | None = None, root: Path = RUNS_ROOT) -> list[Run]:
    """The runs in `folders`, or else every finished run (with a summary.json) under `root`."""
    folders = folders or sorted(path.parent for path in Path(root).glob("*/summary.json"))
    if not folders:
        raise UsageError(f"no finished run under {root}; train some with codes/train.py")
    runs = [Run.open(folder) for folder in folders]
    for run in runs:
        if run.summary is None:
            raise UsageError(f"run {run.folder} is not finished (no summary.json); let "
                             "codes/train.py finish it")
    return runs


def labels(runs: list[Run]) -> dict[str, str]:
    """`{run name: label}`, with the run's name added where two runs share a label."""
    counts = Counter(run.label for run in runs)
    return {run.name: run.label if counts[run.label] == 1 else f"{run.label} ({run.name})"
            for run in runs}


def load_feature_set(runs: list[Run], path: Path | None = None,
                     root: Path = FEATURES_ROOT) -> FeatureSet:
    """The one feature set `runs` were trained on: `path`, or the file their configs name
    under `root`. Runs of several feature sets, or a different file, raise UsageError."""
    names = {run.config["feature_set"] for run in runs}
    if len(names) > 1:
        raise UsageError(f"these runs use {len(names)} feature sets ({sorted(names)}); "
                         "take the runs of one feature set at a time")
    name = names.pop()
    path = Path(path) if path else Path(root) / f"{name}.pkl"
    if not path.is_file():
        raise UsageError(f"feature set {path} does not exist; make it with codes/features.py "
                         "(the same settings give the same name) or pass its path")
    feature_set = FeatureSet.load(path)
    if feature_set.name != name:
        raise UsageError(f"{path} is {feature_set.name}, not the feature set {name} the runs "
                         "were trained on")
    return feature_set


def collect_summaries(runs: list[Run]):
    """One row per checkpoint of every finished run in `runs`, as a pandas DataFrame."""
    import pandas as pd

    rows, named = [], labels(runs)
    for run in runs:
        summary = run.summary or {}
        fixed = {**{key: value for key, value in summary.items() if key != "checkpoints"},
                 "run": run.name, "label": named[run.name]}  # a copied run keeps its folder's name
        rows += [{**fixed, **checkpoint} for checkpoint in summary.get("checkpoints", [])]
    return pd.DataFrame(rows)


def histories(runs: list[Run]):
    """Every run's history.csv in one long DataFrame, with `run` and `label` columns and
    `epochs` counted from 1 (an epoch's row describes the model after it)."""
    import pandas as pd

    named = labels(runs)
    return pd.concat([run.history.assign(run=run.name, label=named[run.name],
                                         epochs=lambda h: h.epoch + 1)
                      for run in runs], ignore_index=True)


# See `synthesis`: the contract (the generator, its sampler and the files it names), a
# legacy VAE checkpoint's decoder, and the losses.
INFERENCE_FILES = ("generator.onnx", "sampler.json", "phases.npy", "latents.json", "velocity.onnx",
                   "refiner.onnx", "pitch.onnx", "decoder.onnx", "metrics.json")
RAW_GENERATOR = "generator-raw.onnx"  # a GAN's own weights, beside their moving average


def export_inference(run: Run, destination: Path, epoch: int | None = None,
                     half: bool = False, raw: bool = False) -> Path:
    """Copy what inference needs from one checkpoint of `run` into a new run folder
    `destination`: its settings, history and summary, and that checkpoint's ONNX decoder,
    latent Gaussians and losses (no Keras models, no training state); with `half`, the
    ONNX files' weights stored in float16 (`storage.store_weights_in_half`); with `raw`,
    a GAN's own generator weights (`RAW_GENERATOR`) as its generator, not their average."""
    if destination.exists():
        raise UsageError(f"{destination} exists; remove it or choose another folder")
    if destination.resolve().is_relative_to(run.folder.resolve()):
        raise UsageError(f"{destination} is inside the run {run.folder} it would copy; "
                         "choose a folder outside it")
    checkpoint = run.checkpoint(epoch)
    if raw and not (checkpoint / RAW_GENERATOR).is_file():
        raise UsageError(f"{checkpoint} keeps no {RAW_GENERATOR}: only GAN checkpoints "
                         "trained with --ema do; export it without --raw")
    with atomic_folder(destination) as staging:
        for name in ("config.json", "history.csv", "summary.json"):
            if (run.folder / name).is_file():
                shutil.copy2(run.folder / name, staging / name)
        target = staging / CHECKPOINTS / checkpoint.name
        target.mkdir(parents=True)
        for name in INFERENCE_FILES:
            source = checkpoint / (RAW_GENERATOR if raw and name == "generator.onnx" else name)
            if half and name.endswith(".onnx") and source.is_file():
                store_weights_in_half(source, target / name)
            elif source.is_file():
                shutil.copy2(source, target / name)
    return destination
