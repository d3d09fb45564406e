"""The digit classifier that judges generated audio, and whose embedding the metrics use.

A small CNN over the features: convolution blocks with average pooling, a
dense embedding (the penultimate layer) and a softmax over the ten digits. It
is trained on the training split only. Each training clip is also seen after
a magnitude-only Griffin-Lim round trip, the path every generated clip takes,
so the judge hears generated and real audio alike. A seeded, digit-stratified
part of the training split is held out: the judge kept is the epoch that
scores best on it, so the test split chooses nothing and its accuracy is
measured once, after training.

Saved like a run, in `output/classifiers/digits-<hash>/`: `config.json`
(settings, feature settings, label set), `classifier.keras`, `classifier.onnx`
(outputs: probabilities and embedding), `history.csv`, and `metrics.json`
(validation accuracy and the epoch chosen by it; test accuracy per digit and speaker,
plain and through Griffin-Lim).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import check_settings, config_hash, to_dict
from .datasets import PROJECT_ROOT
from .errors import DataError, UsageError
from .features import FeatureSet, Featurizer
from .metrics import accuracy, per_class_accuracy
from .representations import LogMagnitude
from .storage import onnx_session, read_json

CLASSIFIERS_ROOT = PROJECT_ROOT / "output" / "classifiers"
# Part of the folder's hash: raise it when `build_classifier` changes, so a judge
# trained with older code is never reused.
ARCHITECTURE_VERSION = 3


@dataclass(frozen=True)
class ClassifierConfig:
    """How the judge is built and trained."""

    channels: tuple[int, ...] = field(default=(16, 32, 64), metadata={
        "help": "channels of the convolution blocks, each followed by 2x2 average pooling"})
    # 64, not more: a Fréchet distance needs more clips than dimensions (300 a row on FSDD).
    embedding_dim: int = field(default=64, metadata={"help": "size of the penultimate layer"})
    dropout: float = field(default=0.3, metadata={"help": "dropout before the last two layers"})
    epochs: int = field(default=15, metadata={
        "help": "training epochs; the one best on validation is kept"})
    validation_fraction: float = field(default=0.1, metadata={
        "help": "share of the training split held out to choose the epoch (stratified by digit)"})
    batch_size: int = field(default=64, metadata={"help": "clips per step"})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam's learning rate"})
    griffin_lim_copies: bool = field(default=True, metadata={
        "help": "also train on each clip after a Griffin-Lim round trip"})
    griffin_lim_iterations: int = field(default=32, metadata={
        "help": "iterations of that round trip"})
    seed: int = field(default=0, metadata={"help": "seeds initialisation, shuffling, phase"})

    def __post_init__(self) -> None:
        check_settings("classifier settings", [
            (bool(self.channels) and min(self.channels) >= 1, "channels must be positive"),
            (self.embedding_dim >= 1, "embedding_dim must be at least 1"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (0 < self.validation_fraction < 1, "validation_fraction must be in (0, 1)"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.learning_rate > 0, "learning_rate must be positive"),
        ])


def heard(analysis: LogMagnitude, features: np.ndarray, n_iter: int, seed: int) -> np.ndarray:
    """Features as a listener gets them: Griffin-Lim to waveforms, analysed again."""
    return analysis.features(analysis.waveforms(features, seed=seed, n_iter=n_iter))


def classifier_folder(config: ClassifierConfig, feature_set_name: str,
                      root: Path = CLASSIFIERS_ROOT) -> Path:
    return root / f"digits-{config_hash([to_dict(config), feature_set_name, ARCHITECTURE_VERSION])}"


def build_classifier(config: ClassifierConfig, feature_shape: tuple[int, int], n_classes: int):
    """Two models over the same layers: the one trained, `features [batch, freq, frame]` ->
    `probabilities [batch, classes]`, and the judge, which also outputs the embedding."""
    import keras
    from keras import layers

    features = keras.Input(feature_shape, name="features")
    image = layers.Reshape((*feature_shape, 1))(features)
    # Measured on FSDD (test accuracy after 10 epochs): this design 98.3%. With batch
    # normalization the test accuracy wandered between 24% and 54% while training reached
    # 97% (its moving statistics did not match); global average pooling learned slowly.
    for channels in config.channels:
        image = layers.Conv2D(channels, 3, padding="same", activation="relu")(image)
        image = layers.AveragePooling2D(2)(image)
    hidden = layers.Flatten()(image)
    hidden = layers.Dropout(config.dropout)(hidden)
    embedding = layers.Dense(config.embedding_dim, activation="relu", name="embedding")(hidden)
    probabilities = layers.Dense(n_classes, activation="softmax", name="probabilities")(
        layers.Dropout(config.dropout)(embedding))
    return (keras.Model(features, probabilities, name="digit_classifier"),
            keras.Model(features, [probabilities, embedding], name="digit_judge"))


def train_classifier(feature_set: FeatureSet, config: ClassifierConfig = ClassifierConfig(),
                     root: Path = CLASSIFIERS_ROOT, verbose: int | str = "auto") -> "Judge":
    """Train (or reuse, if already trained with these settings) the judge of `feature_set`.
    The same settings give the same judge on one machine where the caller has switched on
    op determinism (`distribute.set_determinism`), as `evaluate.py` does."""
    import keras
    from sklearn.model_selection import train_test_split

    from .storage import atomic_folder, write_json

    folder = classifier_folder(config, feature_set.name, root)
    if (folder / "metrics.json").is_file():
        return Judge(folder)
    analysis = feature_set.featurizer.representation
    train = np.flatnonzero(feature_set.split_mask("train"))
    test = feature_set.split_mask("test")
    train, validation = train_test_split(train, test_size=config.validation_fraction,
                                         random_state=config.seed,
                                         stratify=feature_set.digits[train])

    def examples(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs, labels = feature_set.features[index], feature_set.digits[index]
        if config.griffin_lim_copies:
            inputs = np.concatenate([inputs, heard(analysis, inputs,
                                                   config.griffin_lim_iterations, config.seed)])
            labels = np.concatenate([labels, labels])
        return inputs, labels

    inputs, labels = examples(train)
    keras.utils.set_random_seed(config.seed)  # with op determinism, set by the caller
    model, judge_model = build_classifier(config, feature_set.features.shape[1:], 10)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    best = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                         patience=config.epochs, restore_best_weights=True)
    with atomic_folder(folder) as staging:
        model.fit(inputs, labels, validation_data=examples(validation),
                  batch_size=config.batch_size, epochs=config.epochs, shuffle=True,
                  callbacks=[keras.callbacks.CSVLogger(str(staging / "history.csv")), best],
                  verbose=verbose)
        judge_model(feature_set.features[:1])  # the ONNX export needs a model that has run
        judge_model.save(staging / "classifier.keras")
        judge_model.export(str(staging / "classifier.onnx"), format="onnx", verbose=False)
        write_json(staging / "config.json", {
            "classifier": to_dict(config), "feature_set": feature_set.name,
            "featurizer": feature_set.featurizer.to_dict(), "labels": {"digits": list(range(10))}})
        judge = Judge(staging, check_complete=False)
        plain = judge.predict(feature_set.features[test])
        through = judge.predict(heard(analysis, feature_set.features[test], 64, config.seed))
        digits, speakers = feature_set.digits[test], feature_set.speakers[test]
        write_json(staging / "metrics.json", {
            "validation": {"clips": len(validation), "accuracy": float(best.best),
                           "epoch": int(best.best_epoch) + 1},
            "test_clips": int(test.sum()),
            **{name: {"accuracy": accuracy(predicted, digits),
                      "per_digit": per_class_accuracy(predicted, digits),
                      "per_speaker": {speaker: accuracy(predicted[speakers == speaker],
                                                        digits[speakers == speaker])
                                      for speaker in sorted(set(speakers.tolist()))}}
               for name, predicted in (("plain", plain.argmax(1)),
                                       ("griffin_lim", through.argmax(1)))}})
    return Judge(folder)


class Judge:
    """A trained classifier, run on ONNX Runtime: probabilities and embeddings of features."""

    def __init__(self, folder: str | Path, check_complete: bool = True):
        self.folder = Path(folder)
        if check_complete and not (self.folder / "metrics.json").is_file():
            raise DataError(f"{self.folder} is not a trained classifier (metrics.json is missing)")
        self.config = read_json(self.folder / "config.json")
        self.session = onnx_session(self.folder / "classifier.onnx")
        self.outputs = [output.name for output in self.session.get_outputs()]

    @property
    def name(self) -> str:
        return self.folder.name

    @functools.cached_property
    def fingerprint(self) -> str:
        """The first 12 hex digits of the SHA-256 of `classifier.onnx`: which weights judge.
        The name comes from the settings alone, and the same settings give other weights on
        another machine (its arithmetic differs), so results are compared by this."""
        return hashlib.sha256((self.folder / "classifier.onnx").read_bytes()).hexdigest()[:12]

    @property
    def metrics(self) -> dict[str, Any]:
        return read_json(self.folder / "metrics.json")

    def run(self, features: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """`[clip, class]` probabilities and `[clip, dim]` embeddings of scaled features."""
        name = self.session.get_inputs()[0].name
        parts = [self.session.run(None, {name: features[start:start + batch].astype(np.float32)})
                 for start in range(0, len(features), batch)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def predict(self, features: np.ndarray) -> np.ndarray:
        """`[clip, class]` probabilities."""
        return self.run(features)[0]

    def check_features(self, featurizer: Featurizer) -> None:
        """Refuse to judge features made with other settings than the classifier's."""
        if Featurizer.from_dict(self.config["featurizer"]).config.analysis != \
                featurizer.config.analysis:
            raise UsageError(f"classifier {self.name} was trained on other feature settings than "
                             "this run; train one on the run's feature set")
