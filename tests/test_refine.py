"""The spectrogram flow: it learns what its drafts lack, its ONNX export is the Keras
network, and the family trains, resumes, exports and speaks (with a latent flow's z or the
VAE's Gaussians) like every family."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import (ROOT, TINY_TRAINING, resumed_epoch_in_new_process,
                      train_killed_after_epoch)
from spokendigits.errors import DataError, UsageError
from spokendigits.flow import refine
from spokendigits.models import ModelConfig

SHAPE = (16, 8)  # bins, frames of the constructed spectrograms


def keras_velocity(velocity):
    return lambda x, t, draft: np.asarray(velocity.predict_on_batch([x, t, draft]))


@pytest.fixture(scope="module")
def comb_flow():
    """A spectrogram flow whose drafts (a fixed random decoder's) lack a comb: every clip is
    its draft plus a line at every fourth bin."""
    import keras

    from spokendigits.models import refine_network

    keras.utils.set_random_seed(0)
    z = keras.Input((2,))
    decoder = keras.Model(z, keras.layers.Reshape(SHAPE)(keras.layers.Dense(SHAPE[0] * SHAPE[1])(z)))
    rng = np.random.default_rng(0)
    means = rng.standard_normal((1024, 2)).astype(np.float32)
    comb = np.zeros(SHAPE, np.float32)
    comb[::4] = 2.0
    drafts = decoder.predict(means, verbose=0)
    inputs = {"features": drafts + comb,
              "posterior": np.concatenate([means, np.full_like(means, -20.0)], axis=1)}
    config = ModelConfig(family="spectrogram-flow", vae_run="unused", latent_dim=2, width=32,
                         depth=2)
    model = refine_network.SpectrogramFlow(config, SHAPE, 0, decoder)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(inputs, epochs=30, batch_size=64, verbose=0)
    return model, decoder, comb


def test_the_flow_gives_the_drafts_what_they_lack(comb_flow):
    model, decoder, comb = comb_flow
    means = np.random.default_rng(1).standard_normal((64, 2)).astype(np.float32)
    drafts = decoder.predict(means, verbose=0)[..., None]
    noise = np.random.default_rng(2).standard_normal(drafts.shape)
    velocity = keras_velocity(model.velocity)
    refined = refine(velocity, drafts, noise, model.config.draft_noise, steps=8)
    wanted = drafts + comb[..., None]
    assert np.mean((refined - wanted) ** 2) < 0.1 * np.mean((drafts - wanted) ** 2)
    # one Euler step from t = 0 lands on the predicted clip: the velocity is (x̂1 - x) / (1 - t)
    start = (drafts + model.config.draft_noise * noise).astype(np.float32)
    predicted = model.predictor.predict_on_batch([start, np.zeros((64, 1), np.float32), drafts])
    np.testing.assert_allclose(refine(velocity, drafts, noise, model.config.draft_noise, steps=1),
                               predicted, atol=1e-4)


def test_the_onnx_refiner_equals_the_keras_one(comb_flow, tmp_path):
    from spokendigits.flow import OnnxVelocity

    model = comb_flow[0]
    path = tmp_path / "refiner.onnx"
    model.velocity.export(str(path), format="onnx", verbose=False)
    rng = np.random.default_rng(3)
    x, draft = (rng.standard_normal((8, *SHAPE, 1)).astype(np.float32) for _ in range(2))
    t = rng.uniform(size=(8, 1)).astype(np.float32)
    shape = [*SHAPE, 1]
    exported = OnnxVelocity(path, shape, shape, names=("x", "t", "draft"))(x, t, draft)
    np.testing.assert_allclose(exported, keras_velocity(model.velocity)(x, t, draft), rtol=1e-5,
                               atol=1e-5)


def _spec(vae, **settings):
    from spokendigits.runs import RunSpec, TrainConfig

    return RunSpec(ModelConfig(family="spectrogram-flow", vae_run=str(vae.folder),
                               latent_dim=vae.model.latent_dim, conditional=True,
                               speaker_conditional=True, width=16, depth=2, **settings),
                   TrainConfig(**TINY_TRAINING))


@pytest.fixture(scope="module")
def refine_runs(trained_runs, small_feature_set, tmp_path_factory):
    """Spectrogram flows over the digit+speaker CNN VAE of `trained_runs`, trained 2
    epochs: one drafting from the VAE's Gaussians, one from a latent flow's z."""
    from spokendigits.runs import RunSpec, TrainConfig
    from spokendigits.training import train_run

    vae = trained_runs["cnn"]
    root = tmp_path_factory.mktemp("refine-runs")
    prior = train_run(RunSpec(ModelConfig(
        family="latent-flow", vae_run=str(vae.folder), latent_dim=vae.model.latent_dim,
        conditional=True, speaker_conditional=True, width=16, depth=1),
        TrainConfig(**TINY_TRAINING)), small_feature_set, root, verbose=0)[0]
    return {"gaussians": train_run(_spec(vae), small_feature_set, root, verbose=0)[0],
            "flow": train_run(_spec(vae, prior_run=str(prior.folder)), small_feature_set, root,
                              verbose=0)[0]}


def test_the_family_trains_exports_and_speaks_with_either_prior(refine_runs):
    from spokendigits.synthesis import Synthesizer, parse_digits

    for prior, samplers in (("gaussians", ("digit", "mixture")), ("flow", ("flow",))):
        run = refine_runs[prior]
        assert run.checkpoints == [1, 2]
        assert {"loss", "val_loss", "step_seconds"} <= set(run.history.columns)
        assert {"refiner.onnx", "generator.onnx", "sampler.json"} <= {
            path.name for path in run.checkpoint(None).iterdir()}
        synthesizer = Synthesizer(run)
        assert set(samplers) <= set(synthesizer.samplers) and synthesizer.refiner is not None
        tokens = parse_digits("12")
        speech = synthesizer.speak(tokens, seed=3, n_iter=4, steps=2)
        assert np.isfinite(speech).all() and len(speech) > 0
        assert np.array_equal(speech, synthesizer.speak(tokens, seed=3, n_iter=4, steps=2))
        # the refiner carries what the VAE's decoder drafted elsewhere, in --steps steps
        refined = synthesizer.arrays([1, 2], seed=3, steps=2)
        assert not np.allclose(refined, synthesizer.arrays([1, 2], seed=3, steps=1))
        synthesizer.refiner = None
        drafts = synthesizer.arrays([1, 2], seed=3, steps=2)
        assert refined.shape == drafts.shape == (2, *run.representation.shape)
        assert np.abs(refined - drafts).mean() > 0.1
        morph = synthesizer.interpolate(1, 2, steps=3)  # refined too, one noise for all
        synthesizer.refiner = Synthesizer(run).refiner
        assert not np.allclose(synthesizer.interpolate(1, 2, steps=3), morph)
    assert (refine_runs["flow"].checkpoint(None) / "velocity.onnx").is_file()


def test_inference_takes_steps_for_the_refiner_and_guidance_only_with_a_latent_flow(
        refine_runs, tmp_path):
    out = tmp_path / "refined.wav"
    for prior, guidance_code in (("gaussians", 2), ("flow", 0)):
        command = [sys.executable, str(ROOT / "codes" / "inference.py"), "42", "--run",
                   str(refine_runs[prior].folder), "--steps", "2", "--iterations", "2",
                   "--out", str(out)]
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        result = subprocess.run(command + ["--guidance", "2"], capture_output=True, text=True)
        assert result.returncode == guidance_code, result.stderr
        if guidance_code:
            assert "--guidance is for flow models" in result.stderr


def test_a_damaged_refiner_entry_is_refused(refine_runs, tmp_path):
    import shutil

    from spokendigits.sampling import read_sampler

    checkpoint = tmp_path / "e002"
    shutil.copytree(refine_runs["gaussians"].checkpoint(None), checkpoint)
    latent_dim = refine_runs["gaussians"].model.latent_dim
    sampler = json.loads((checkpoint / "sampler.json").read_text())
    assert read_sampler(checkpoint, latent_dim).refiner_file == checkpoint / "refiner.onnx"
    for damaged in ({"file": "refiner.onnx", "draft_noise": -1},
                    {"file": "refiner.onnx", "draft_noise": True},
                    {"file": "../refiner.onnx", "draft_noise": 1.0},
                    {"file": "missing.onnx", "draft_noise": 1.0}, "refiner.onnx"):
        (checkpoint / "sampler.json").write_text(json.dumps({**sampler, "refiner": damaged}))
        with pytest.raises(DataError):
            read_sampler(checkpoint, latent_dim)


def test_a_prior_must_be_a_latent_flow_of_the_same_vae(trained_runs, refine_runs):
    from spokendigits.models import FAMILIES

    family = FAMILIES["spectrogram-flow"]
    vae = trained_runs["cnn"]
    with pytest.raises(UsageError, match="prior_run"):
        family.prior(_spec(vae, prior_run=str(refine_runs["gaussians"].folder)).model)


def test_an_interrupted_refine_run_resumes_in_a_new_process(trained_runs, small_feature_set,
                                                             tmp_path, monkeypatch):
    from spokendigits import training

    spec = _spec(trained_runs["cnn"])
    train_killed_after_epoch(spec, small_feature_set, tmp_path, monkeypatch)
    loaded = resumed_epoch_in_new_process(next(tmp_path.iterdir()), "spectrogram-flow")
    assert loaded.returncode == 0 and loaded.stdout.split()[-1] == "1", loaded.stderr[-2000:]
    resumed, status = training.train_run(spec, small_feature_set, tmp_path, verbose=0)
    assert status == "resumed" and resumed.checkpoints == [1, 2]


def test_a_copy_with_half_weights_stores_them_in_float16_and_speaks_the_same(refine_runs,
                                                                           tmp_path):
    import math

    import onnx

    from spokendigits.runs import Run, export_inference
    from spokendigits.synthesis import Synthesizer

    run = refine_runs["flow"]
    full = export_inference(run, tmp_path / "full")
    half = export_inference(run, tmp_path / "half", half=True)
    for name in ("refiner.onnx", "velocity.onnx", "generator.onnx"):
        paths = [copy / "checkpoints" / "e002" / name for copy in (full, half)]
        weights = onnx.load(str(paths[1])).graph.initializer
        if name != "velocity.onnx":  # the tiny latent flow's weights are all under 1024
            assert paths[1].stat().st_size < 0.9 * paths[0].stat().st_size, name
            assert any(weight.data_type == onnx.TensorProto.FLOAT16 for weight in weights)
        assert not any(weight.data_type == onnx.TensorProto.FLOAT and
                       math.prod(weight.dims) >= 1024 for weight in weights), name
    digits = [1, 2, 3, 4]
    arrays = [Synthesizer(Run.open(copy)).arrays(digits, seed=5, steps=2) for copy in (full, half)]
    assert np.sqrt(np.mean((arrays[0] - arrays[1]) ** 2)) < 0.01 * arrays[0].std()
