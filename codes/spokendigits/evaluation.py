"""Judging runs: generate a fixed set of clips per checkpoint and compute every metric.

Each checkpoint speaks `per_digit` clips of every digit through the same path
as `inference.py` (latent sample, ONNX decoder, Griffin-Lim), and the judge
hears them as waveforms analysed again. Real data is judged the same way: the
test split against the training split, plain and through Griffin-Lim. Those
rows are the reference every model row sits beside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .classifier import Judge, heard
from .config import check_settings, config_hash, to_dict
from .features import FeatureSet
from .models import build_condition, condition_dim
from .runs import Run
from .errors import UsageError
from .storage import read_json, write_json
from .synthesis import Synthesizer


@dataclass(frozen=True)
class EvaluationConfig:
    """The fixed sample every model is judged on."""

    per_digit: int = field(default=100, metadata={"help": "clips generated per digit"})
    seed: int = field(default=0, metadata={"help": "seeds latent samples, speakers and phase"})
    temperature: float = field(default=1.0, metadata={"help": "spread of latent samples"})
    griffin_lim_iterations: int = field(default=64, metadata={"help": "as in inference"})
    splits: int = field(default=10, metadata={"help": "Inception Score splits"})

    def __post_init__(self) -> None:
        check_settings("evaluation settings", [
            (self.per_digit >= 2, "per_digit must be at least 2"),
            (self.temperature >= 0, "temperature must not be negative"),
            (self.splits >= 1, "splits must be at least 1"),
        ])


@dataclass
class RealData:
    """The judge's view of the real clips: probabilities and embeddings per split."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    test_heard: tuple[np.ndarray, np.ndarray]
    train_digits: np.ndarray
    test_digits: np.ndarray

    @classmethod
    def judge(cls, feature_set: FeatureSet, judge: Judge, config: EvaluationConfig) -> "RealData":
        train, test = feature_set.split_mask("train"), feature_set.split_mask("test")
        test_features = feature_set.features[test]
        return cls(judge.run(feature_set.features[train]), judge.run(test_features),
                   judge.run(heard(feature_set.featurizer, test_features,
                                   config.griffin_lim_iterations, config.seed)),
                   feature_set.digits[train], feature_set.digits[test])


def score(probabilities: np.ndarray, embeddings: np.ndarray, digits: np.ndarray, real: RealData,
          config: EvaluationConfig) -> dict[str, Any]:
    """Every distribution metric of one set of judged clips against the real ones."""
    train_embeddings, test_embeddings = real.train[1], real.test[1]
    diversity = metrics.diversity(embeddings, digits)
    inception, inception_std = metrics.inception_score(probabilities, config.splits, config.seed)
    return {
        "accuracy": metrics.accuracy(probabilities.argmax(1), digits),
        "accuracy_per_digit": metrics.per_class_accuracy(probabilities.argmax(1), digits),
        "inception_score": inception, "inception_score_std": inception_std,
        "fd_train": metrics.frechet_distance(embeddings, train_embeddings),
        "fd_test": metrics.frechet_distance(embeddings, test_embeddings),
        "kid_train": metrics.kernel_distance(embeddings, train_embeddings),
        "kid_test": metrics.kernel_distance(embeddings, test_embeddings),
        "fd_train_per_digit": {int(d): metrics.frechet_distance(
            embeddings[digits == d], train_embeddings[real.train_digits == d]) for d in range(10)},
        "kid_train_per_digit": {int(d): metrics.kernel_distance(
            embeddings[digits == d], train_embeddings[real.train_digits == d]) for d in range(10)},
        "diversity": float(np.mean(list(diversity.values()))),
        "diversity_per_digit": diversity,
    }


def real_rows(real: RealData, config: EvaluationConfig) -> list[dict[str, Any]]:
    """The reference rows: real test clips against the training split, plain and as heard.

    Their distances to the test split would compare the split with itself (or with a
    resynthesised copy of itself), which says nothing: they are left empty.
    """
    rows = []
    for name, judged in (("real test clips", real.test),
                         ("real test clips, Griffin-Lim", real.test_heard)):
        row = {"run": name, **score(*judged, real.test_digits, real, config)}
        rows.append({**row, "fd_test": None, "kid_test": None})
    return rows


def reconstruction_convergence(run: Run, epoch: int, feature_set: FeatureSet) -> float | None:
    """Spectral convergence of the VAE's reconstructions of the test split (linear
    magnitudes), or None where the checkpoint has no Keras encoder (an exported copy)."""
    checkpoint = run.checkpoint(epoch)
    if not (checkpoint / "encoder.keras").is_file():
        return None
    import keras

    encoder = keras.saving.load_model(checkpoint / "encoder.keras")
    decoder = keras.saving.load_model(checkpoint / "decoder.keras")
    test = feature_set.split_mask("test")
    inputs = [feature_set.features[test]]
    if condition_dim(run.model, run.config["labels"]):
        inputs.append(build_condition(run.model, run.config["labels"], feature_set.digits[test],
                                      feature_set.speakers[test]))
    z_mean, _ = encoder.predict(inputs, verbose=0)
    reconstruction = decoder.predict([z_mean, *inputs[1:]], verbose=0)
    featurizer = feature_set.featurizer
    return metrics.spectral_convergence(featurizer.magnitude(feature_set.features[test]),
                                        featurizer.magnitude(reconstruction))


def evaluate_checkpoint(run: Run, epoch: int, judge: Judge, feature_set: FeatureSet,
                        real: RealData, config: EvaluationConfig) -> dict[str, Any]:
    """Generate `per_digit` clips of each digit with one checkpoint and score them."""
    synthesizer = Synthesizer(run, epoch)
    rng = np.random.default_rng(config.seed)
    digits = np.repeat(np.arange(10), config.per_digit)
    speakers = rng.choice(run.config["labels"]["speakers"], len(digits)).tolist() \
        if run.model.speaker_conditional else None
    features = synthesizer.features(digits.tolist(), speakers, config.seed, config.temperature)
    probabilities, embeddings = judge.run(heard(run.featurizer, features,
                                                config.griffin_lim_iterations, config.seed))
    return {"epochs": epoch, **score(probabilities, embeddings, digits, real, config),
            "test_reconstruction": run.losses(epoch)["test"]["reconstruction"],
            "test_spectral_convergence": reconstruction_convergence(run, epoch, feature_set)}


def evaluate_run(run: Run, judge: Judge, feature_set: FeatureSet, real: RealData,
                 config: EvaluationConfig) -> tuple[dict[str, Any], bool]:
    """Every checkpoint of `run`, written to `<run>/metrics.json`; reused when that file
    holds the same settings and judge. Returns the results and whether they were reused."""
    judge.check_features(run.featurizer)
    if not run.checkpoints:
        raise UsageError(f"run {run.name} has no checkpoint yet; train it first")
    settings = {"evaluation": to_dict(config), "judge": judge.name, "feature_set": feature_set.name}
    path = run.folder / "metrics.json"
    if path.is_file():
        done = read_json(path)
        if done.get("settings") == settings and \
                sorted(map(int, done["checkpoints"])) == run.checkpoints:
            return done, True
    results = {"settings": settings, "settings_hash": config_hash(settings),
               "checkpoints": {str(epoch): evaluate_checkpoint(run, epoch, judge, feature_set,
                                                               real, config)
                               for epoch in run.checkpoints}}
    write_json(path, results)
    return results, False


TABLE_COLUMNS = {
    "run": "run", "family": "family", "conditioning": "conditioning",
    "regularization": "regularization", "epochs": "epochs", "accuracy": "accuracy",
    "inception_score": "IS", "fd_train": "FD train", "fd_test": "FD test",
    "kid_train": "KID train", "kid_test": "KID test", "diversity": "diversity",
    "test_reconstruction": "test recon.", "test_spectral_convergence": "test SC"}


def results_table(references: list[dict], runs: list[tuple[Run, dict]]):
    """One row per reference and per checkpoint of each run, in `TABLE_COLUMNS` order."""
    import pandas as pd

    rows = [{"family": "real", "conditioning": "", "regularization": "", **row} for row in references]
    for run, results in runs:
        described = {"run": run.name, "family": run.model.family,
                     "conditioning": run.model.conditioning,
                     "regularization": run.model.regularization}
        rows += [{**described, **checkpoint} for checkpoint in results["checkpoints"].values()]
    table = pd.DataFrame(rows)
    return table.reindex(columns=list(TABLE_COLUMNS))
