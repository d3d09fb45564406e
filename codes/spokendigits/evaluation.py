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
from .classifier import CLASSIFIERS_ROOT, Judge, heard
from .config import check_settings, config_hash, from_dict, to_dict
from .features import FeatureSet
from .latents import encode
from .models import build_condition, condition_dim
from .runs import Run, labels
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

    test = feature_set.split_mask("test")
    features, digits, speakers = (feature_set.features[test], feature_set.digits[test],
                                  feature_set.speakers[test])
    z_mean = encode(run, epoch, features, digits, speakers)
    inputs = [z_mean]
    if condition_dim(run.model, run.config["labels"]):
        inputs.append(build_condition(run.model, run.config["labels"], digits, speakers))
    reconstruction = keras.saving.load_model(checkpoint / "decoder.keras").predict(inputs, verbose=0)
    featurizer = feature_set.featurizer
    return metrics.spectral_convergence(featurizer.magnitude(features),
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
    """One row per reference and per checkpoint of each run: the `TABLE_COLUMNS` first,
    then `label` and the per-digit metrics (dicts)."""
    import pandas as pd

    rows = [{"family": "real", "conditioning": "", "regularization": "", "label": row["run"], **row}
            for row in references]
    named = labels([run for run, _ in runs])
    for run, results in runs:
        described = {"run": run.name, "label": named[run.name], "family": run.model.family,
                     "conditioning": run.model.conditioning,
                     "regularization": run.model.regularization}
        rows += [{**described, **checkpoint} for checkpoint in results["checkpoints"].values()]
    table = pd.DataFrame(rows)
    return table[list(TABLE_COLUMNS) + [column for column in table if column not in TABLE_COLUMNS]]


def load_results(runs: list[Run], feature_set: FeatureSet, classifiers_dir: Path = CLASSIFIERS_ROOT):
    """The results table of runs already judged by `codes/evaluate.py`, read from their
    metrics.json, with the real-data rows made again by the judge those files name.

    Returns:
        The table (as `results_table`), the judge and the evaluation settings.

    Raises:
        UsageError: a run not evaluated (or evaluated before its last checkpoint), runs
            judged with different settings, or a judge missing from `classifiers_dir`.
    """
    evaluations = []
    for run in runs:
        path = run.folder / "metrics.json"
        done = read_json(path) if path.is_file() else {}
        if sorted(map(int, done.get("checkpoints", {}))) != run.checkpoints:
            raise UsageError(f"run {run.name} has no evaluation of all its checkpoints; "
                             "run codes/evaluate.py first")
        evaluations.append(done)
    settings = evaluations[0]["settings"]
    if any(done["settings"] != settings for done in evaluations):
        raise UsageError("these runs were judged with different settings or judges; evaluate "
                         "them together with codes/evaluate.py")
    if settings["feature_set"] != feature_set.name:
        raise UsageError(f"the runs were judged on {settings['feature_set']}, not {feature_set.name}")
    folder = Path(classifiers_dir) / settings["judge"]
    if not folder.is_dir():
        raise UsageError(f"the judge {settings['judge']} is not in {classifiers_dir}; point "
                         "--classifiers-dir at it, or run codes/evaluate.py to train it")
    judge = Judge(folder)
    config = from_dict(EvaluationConfig, settings["evaluation"])
    real = RealData.judge(feature_set, judge, config)
    return results_table(real_rows(real, config), list(zip(runs, evaluations))), judge, config


def checkpoint_rows(results, summaries):
    """The model rows of a results table, with each checkpoint's test loss and its run's
    seconds per epoch from `runs.collect_summaries`."""
    return results[results["family"] != "real"].astype({"epochs": int}).merge(
        summaries[["run", "epochs", "test_loss", "seconds_per_epoch"]], on=["run", "epochs"])


def last_checkpoints(results, summaries):
    """The real-data rows of a results table, then each run's last checkpoint (as
    `checkpoint_rows`), best accuracy first."""
    import pandas as pd

    models = checkpoint_rows(results, summaries)
    last = models[models["epochs"] == models.groupby("run")["epochs"].transform("max")]
    return pd.concat([results[results["family"] == "real"],
                      last.sort_values("accuracy", ascending=False)], ignore_index=True)


def accuracy_per_digit(rows):
    """`[row, digit]` judge accuracies of results rows (e.g. `last_checkpoints`), indexed
    by model label and epochs."""
    import pandas as pd

    names = [label if pd.isna(epochs) else f"{label}, {epochs:.0f} epochs"
             for label, epochs in zip(rows["label"], rows["epochs"])]
    table = pd.DataFrame([{int(digit): value for digit, value in row.items()}
                          for row in rows["accuracy_per_digit"]], index=names)
    return table[sorted(table.columns)]
