"""The family contract: a new family is one class and one registry line; old runs still open."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import soundfile

from conftest import ROOT, TINY_TRAINING
from spokendigits.errors import DataError
from spokendigits.models import FAMILIES, Family, ModelConfig, register
from spokendigits.runs import Run, RunSpec, TrainConfig, run_name
from spokendigits.synthesis import Synthesizer, parse_digits

FIXTURES = ROOT / "tests" / "fixtures"


def mean_regressor_family() -> Family:
    """A family none of the project's: a conditional generator fitted to each clip by squared
    error (it learns each digit's mean spectrogram). Its network, training step and export
    live here, in the test, as a new family's would live in its own module."""
    import keras
    import tensorflow as tf

    from spokendigits.sampling import sampler_file
    from spokendigits.storage import write_json

    @keras.saving.register_keras_serializable(package="test_families")
    class MeanRegressor(keras.Model):
        def __init__(self, feature_shape, condition_dim, latent_dim, **kwargs):
            super().__init__(**kwargs)
            self.feature_shape, self.condition_dim = tuple(feature_shape), condition_dim
            self.latent_dim = latent_dim
            z = keras.Input((latent_dim,), name="z")
            condition = keras.Input((condition_dim,), name="condition")
            hidden = keras.layers.Dense(int(np.prod(self.feature_shape)))(
                keras.layers.Concatenate()([z, condition]))
            self.generator = keras.Model([z, condition],
                                         keras.layers.Reshape((*self.feature_shape, 1))(hidden))
            self.tracker = keras.metrics.Mean(name="loss")
            self.built = True

        def get_config(self):
            return {"feature_shape": self.feature_shape, "condition_dim": self.condition_dim,
                    "latent_dim": self.latent_dim}

        @property
        def metrics(self):
            return [self.tracker]

        def _loss(self, data):
            z = tf.zeros((tf.shape(data["features"])[0], self.latent_dim))
            made = self.generator([z, data["condition"]])[..., 0]
            return tf.reduce_mean(tf.square(made - data["features"]))

        def train_step(self, data):
            with tf.GradientTape() as tape:
                loss = self._loss(data)
            variables = self.trainable_variables
            self.optimizer.apply(tape.gradient(loss, variables), variables)
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}

        def test_step(self, data):
            self.tracker.update_state(self._loss(data))
            return {"loss": self.tracker.result()}

    class MeanFamily(Family):
        kind, table, losses = "regressors", "vae_study", ("loss",)

        def likelihood(self, config):
            return "squared error"

        def build(self, config, feature_shape, condition_dim, seed, training=None,
                  representation=None):
            model = MeanRegressor(feature_shape, condition_dim, config.latent_dim)
            model.compile(optimizer=keras.optimizers.Adam(1e-2))
            model.optimizer.build(model.trainable_variables)
            return model

        def export(self, model, staging, epoch, logs, data, batch_size):
            model.generator.export(str(staging / "generator.onnx"), format="onnx",
                                   verbose=False)
            write_json(staging / "sampler.json", sampler_file(model.latent_dim))
            write_json(staging / "metrics.json", {
                "epoch": epoch, "train": {"loss": float(logs["loss"])},
                "validation": {"loss": float(logs["val_loss"])}})

        def summary(self, model):
            return {"parameters": int(model.count_params())}

    return MeanFamily("mean-regressor", "Mean", {"width": 1, "depth": 1})


@pytest.fixture
def new_family():
    family = register(mean_regressor_family())  # the one registry line
    yield family
    del FAMILIES[family.name]


@pytest.mark.slow
def test_a_new_family_trains_exports_speaks_and_evaluates(new_family, small_feature_set,
                                                          small_judge, tmp_path, monkeypatch,
                                                          capsys):
    import inference
    from spokendigits.evaluation import EvaluationConfig, RealData, evaluate_run
    from spokendigits.runs import export_inference
    from spokendigits.training import train_run

    spec = RunSpec(ModelConfig(family="mean-regressor", conditional=True, latent_dim=4),
                   TrainConfig(**TINY_TRAINING))
    run, outcome = train_run(spec, small_feature_set, tmp_path / "runs", verbose=0)
    assert outcome == "trained" and run.name.startswith("mean-regressor-")
    assert run.label == "Mean w1 d1 z4, digit" and run.model.samplers == ("prior",)
    history = run.history
    assert len(history) == 2 and history["loss"].iloc[1] < history["loss"].iloc[0]

    exported = export_inference(run, tmp_path / "exported")
    out = tmp_path / "speech.wav"
    monkeypatch.setattr(sys, "argv", ["inference.py", "0 1", "--run", str(exported), "--out",
                                      str(out), "--iterations", "2"])
    inference.main()
    assert "2 digits" in capsys.readouterr().out
    waveform, rate = soundfile.read(out)
    assert rate == 8000 and np.isfinite(waveform).all() and np.abs(waveform).max() > 0

    config = EvaluationConfig(draws=1, griffin_lim_iterations=2, outside_draws=0)
    real = RealData.judge(small_feature_set, small_judge, config)
    results, _ = evaluate_run(run, small_judge, small_feature_set, real, config)
    scores = results["checkpoints"]["2"]["samplers"]
    assert list(scores) == ["prior"] and 0 <= scores["prior"]["accuracy"] <= 1


def test_a_run_of_the_earlier_layout_opens_speaks_and_keeps_its_name():
    """tests/fixtures/old-vae-run was written before families became objects (decoder.onnx,
    latents.json, a flat model config); its README says how."""
    run = Run.open(FIXTURES / "old-vae-run")
    assert run_name(RunSpec(run.model, run.training), run.config["feature_set"]) == \
        json.loads((run.folder / "summary.json").read_text())["run"] == "cnn-vae-8cdb3996"
    synthesizer = Synthesizer(run)
    assert synthesizer.samplers == ("prior", "digit", "mixture")
    assert synthesizer.default_sampler == "mixture"
    spoken = synthesizer.speak(parse_digits("0123"), seed=3)
    expected, _ = soundfile.read(FIXTURES / "old-vae-run-0123-seed3.wav", dtype="float32")
    assert spoken.shape == expected.shape
    assert np.abs(spoken - expected).max() < 1e-3  # written as 16-bit PCM


def test_new_checkpoints_keep_the_contract(trained_runs):
    """Every family's checkpoint: generator.onnx and the sampler.json that says how z is
    drawn (a VAE's names its fitted Gaussians)."""
    checkpoint = trained_runs["cnn"].checkpoint()
    assert (checkpoint / "generator.onnx").is_file() and not (checkpoint / "decoder.onnx").exists()
    sampler = json.loads((checkpoint / "sampler.json").read_text())
    assert sampler == {"z": "gaussians", "latent_dim": 16, "gaussians": "latents.json",
                       "phase_bank": None}
    synthesizer = Synthesizer(trained_runs["cnn"])
    assert synthesizer.samplers == ("prior", "digit", "mixture")
    assert synthesizer.arrays([3, 4], speaker="jackson").shape == \
        (2, *synthesizer.representation.shape)


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "sub/latents.json", 5])
def test_a_sampler_file_names_files_of_its_own_checkpoint_only(trained_runs, tmp_path, name):
    copy = Run.open(shutil.copytree(trained_runs["cnn"].folder, tmp_path / "run"))
    path = copy.checkpoint() / "sampler.json"
    sampler = json.loads(path.read_text())
    path.write_text(json.dumps({**sampler, "gaussians": name}))
    with pytest.raises(DataError, match="not a file of its own checkpoint folder"):
        Synthesizer(copy)


@pytest.mark.parametrize("bank, message", [
    ("phases.npy", "is damaged or from another run"),
    ({"file": "phases.npy"}, "is damaged or from another run"),
    ({"file": "phases.npy", "digits": ["1"]}, "is damaged or from another run"),
    ({"file": "../../../etc/passwd", "digits": [1]}, "not a file of its own checkpoint folder"),
    ({"file": "/etc/passwd", "digits": [1]}, "not a file of its own checkpoint folder"),
], ids=["text", "no digits", "digit names", "parent path", "absolute path"])
def test_a_phase_bank_of_the_wrong_shape_or_place_is_refused(trained_runs, tmp_path, bank,
                                                              message):
    copy = Run.open(shutil.copytree(trained_runs["cnn"].folder, tmp_path / "run"))
    path = copy.checkpoint() / "sampler.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "phase_bank": bank}))
    with pytest.raises(DataError, match=message):
        Synthesizer(copy)


def test_generic_code_names_no_family():
    """Training, runs, synthesis, evaluation, reports and the scripts ask the family."""
    family_modules = {"family.py", "vae.py", "gan.py", "wavegan.py", "vae_network.py",
                      "gan_network.py", "wavegan_network.py"}
    offenders = [f"{path.relative_to(ROOT)}: {line.strip()}"
                 for path in (ROOT / "codes").rglob("*.py") if path.name not in family_modules
                 for line in path.read_text().splitlines()
                 if "is_gan" in line or "family ==" in line or '"wavegan"' in line
                 or '"cnn-vae"' in line and "default=" not in line]
    assert offenders == []
