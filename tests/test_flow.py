"""The latent flow: flow matching learns where each label's data lies, guidance mixes the
velocities as it should, the ODE solvers integrate, the ONNX export is the Keras network,
and the family trains, resumes, exports and speaks like every family."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import (ROOT, TINY_TRAINING, resumed_epoch_in_new_process,
                      train_killed_after_epoch)
from spokendigits.errors import UsageError
from spokendigits.flow import guided, integrate
from spokendigits.models import ModelConfig


def two_label_flow(width: int = 64, dropout: float = 0.0):
    """A latent flow of a 2-d latent and two labels, built as the family builds it."""
    from spokendigits.models import flow_network

    config = ModelConfig(family="latent-flow", vae_run="unused", latent_dim=2, conditional=True,
                         width=width, depth=2, dropout=dropout)
    return flow_network.build(config, condition_dim=2, seed=0)


def keras_velocity(model):
    return lambda x, t, condition: np.asarray(model.velocity.predict_on_batch([x, t, condition]))


@pytest.fixture(scope="module")
def separated_gaussians_flow():
    """Trained on two Gaussians far apart on the first axis, one per label: posteriors with
    means at -3 (label 0) and +3 (label 1) and spread 0.5."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2048)
    means = np.stack([np.where(labels == 0, -3.0, 3.0), np.zeros(len(labels))], axis=1)
    log_vars = np.full_like(means, np.log(0.25))
    inputs = {"features": np.concatenate([means, log_vars], axis=1).astype(np.float32),
              "condition": np.eye(2, dtype=np.float32)[labels]}
    model = two_label_flow()
    model.fit(inputs, epochs=12, batch_size=128, verbose=0)
    return model


def test_a_flow_trained_on_two_separated_gaussians_samples_each_label_in_its_own_mode(
        separated_gaussians_flow):
    noise = np.random.default_rng(1).standard_normal((400, 2))
    for label, sign in ((0, -1), (1, 1)):
        condition = np.eye(2, dtype=np.float32)[np.full(400, label)]
        samples = integrate(keras_velocity(separated_gaussians_flow), noise, condition,
                            guidance=1.0, steps=16)
        assert np.mean(np.sign(samples[:, 0]) == sign) > 0.95
        assert abs(np.median(samples[:, 0]) - 3.0 * sign) < 1.0
    # unguided (guidance 0), the flow draws both modes
    unconditional = integrate(keras_velocity(separated_gaussians_flow), noise,
                              np.zeros((400, 2), np.float32), guidance=0.0, steps=16)
    assert 0.2 < np.mean(unconditional[:, 0] > 0) < 0.8


def test_guidance_0_is_the_unconditional_velocity_and_1_the_conditional_one():
    def velocity(x, t, condition):  # any field that reads its condition
        return -x + 3.0 * condition[:, :1] - 2.0 * condition[:, 1:2] + t

    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    a, b = np.eye(2, dtype=np.float32)[[0] * 5], np.eye(2, dtype=np.float32)[[1] * 5]
    none = np.zeros_like(a)
    assert np.array_equal(guided(velocity, a, 0.0)(x, 0.3), guided(velocity, b, 0.0)(x, 0.3))
    assert np.allclose(guided(velocity, a, 0.0)(x, 0.3), velocity(x, np.full((5, 1), 0.3), none))
    assert np.allclose(guided(velocity, a, 1.0)(x, 0.3), velocity(x, np.full((5, 1), 0.3), a))
    # guidance 2: the unconditional velocity plus twice the condition's pull
    pull = velocity(x, np.full((5, 1), 0.3), a) - velocity(x, np.full((5, 1), 0.3), none)
    assert np.allclose(guided(velocity, a, 2.0)(x, 0.3),
                       velocity(x, np.full((5, 1), 0.3), none) + 2 * pull, atol=1e-6)
    assert np.array_equal(integrate(velocity, x, a, guidance=0.0, steps=4),
                          integrate(velocity, x, b, guidance=0.0, steps=4))


def test_heun_integrates_more_exactly_than_euler():
    """dx/dt = -x from x0 = 1 gives e^-1 at t = 1: Heun's error is of second order."""
    def velocity(x, t, condition):
        return -x

    start, condition = np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)

    def error(solver: str, steps: int) -> float:
        return abs(float(integrate(velocity, start, condition, 1.0, steps, solver)[0, 0])
                   - np.exp(-1))

    assert error("heun", 8) < error("euler", 8) / 10
    # halving the step halves Euler's error (first order) and quarters Heun's (second)
    assert 1.8 < error("euler", 8) / error("euler", 16) < 2.2
    assert 3.6 < error("heun", 8) / error("heun", 16) < 4.4


def test_the_velocity_drops_out_in_training_only(tmp_path):
    from spokendigits.flow import OnnxVelocity

    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((32, 2)).astype(np.float32),
              rng.uniform(size=(32, 1)).astype(np.float32),
              np.eye(2, dtype=np.float32)[rng.integers(0, 2, 32)]]
    for dropout in (0.0, 0.5):
        velocity = two_label_flow(dropout=dropout).velocity
        trained = [np.asarray(velocity(inputs, training=True)) for _ in range(2)]
        assert np.array_equal(*trained) == (dropout == 0.0)
        np.testing.assert_array_equal(velocity(inputs, training=False),
                                      velocity(inputs, training=False))
    spoken = velocity.predict_on_batch(inputs)
    path = tmp_path / "velocity.onnx"
    velocity.export(str(path), format="onnx", verbose=False)
    np.testing.assert_allclose(OnnxVelocity(path, [2], [2])(*inputs), spoken, atol=1e-5)


@pytest.mark.parametrize("settings", [{"guidance": -1.0}, {"guidance": float("nan")},
                                      {"steps": 0}, {"solver": "rk4"}])
def test_bad_flow_settings_are_refused(settings):
    options = {"guidance": 1.0, "steps": 4, "solver": "euler", **settings}
    with pytest.raises(UsageError):
        integrate(lambda x, t, c: x, np.zeros((1, 1)), np.zeros((1, 1)), **options)


def test_the_onnx_velocity_equals_the_keras_one(separated_gaussians_flow, tmp_path):
    from spokendigits.flow import OnnxVelocity

    path = tmp_path / "velocity.onnx"
    separated_gaussians_flow.velocity.export(str(path), format="onnx", verbose=False)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    t = rng.uniform(size=(64, 1)).astype(np.float32)
    condition = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 64)]
    exported = OnnxVelocity(path, [2], [2])(x, t, condition)
    np.testing.assert_allclose(exported, keras_velocity(separated_gaussians_flow)(x, t, condition),
                               atol=1e-5)


@pytest.fixture(scope="module")
def flow_run(trained_runs, small_feature_set, tmp_path_factory):
    """A latent flow over the digit+speaker CNN VAE of `trained_runs`, trained 2 epochs."""
    from spokendigits.runs import RunSpec, TrainConfig
    from spokendigits.training import train_run

    vae = trained_runs["cnn"]
    spec = RunSpec(ModelConfig(family="latent-flow", vae_run=str(vae.folder),
                               latent_dim=vae.model.latent_dim, conditional=True,
                               speaker_conditional=True, width=32, depth=1),
                   TrainConfig(**TINY_TRAINING))
    root = tmp_path_factory.mktemp("flow-runs")
    return train_run(spec, small_feature_set, root, verbose=0)[0], spec, root


def test_the_flow_family_trains_exports_and_speaks_with_guidance(flow_run):
    from spokendigits.synthesis import Synthesizer, parse_digits

    run, _, _ = flow_run
    assert run.checkpoints == [1, 2]
    assert {"loss", "val_loss", "step_seconds"} <= set(run.history.columns)
    checkpoint = run.checkpoint(None)
    assert {"velocity.onnx", "generator.onnx", "sampler.json"} <= {
        path.name for path in checkpoint.iterdir()}
    synthesizer = Synthesizer(run)
    assert synthesizer.samplers == ("flow",) and synthesizer.default_sampler == "flow"
    tokens = parse_digits("12")
    speech = synthesizer.speak(tokens, seed=3, n_iter=4)
    assert np.isfinite(speech).all() and len(speech) > 0
    assert np.array_equal(speech, synthesizer.speak(tokens, seed=3, n_iter=4))  # seeded
    assert not np.array_equal(synthesizer.speak(tokens, seed=3, n_iter=4, guidance=0.0), speech)
    with pytest.raises(UsageError, match="flow"):
        synthesizer.speak(tokens, sampler="mixture")


def test_an_interrupted_flow_run_resumes_from_its_last_epoch(flow_run, small_feature_set,
                                                                tmp_path, monkeypatch):
    """Killed after its first epoch and trained again: it resumes from its saved state
    (the first epoch's loss is kept, not trained again) and finishes."""
    from spokendigits import training

    run, spec, _ = flow_run
    train_killed_after_epoch(spec, small_feature_set, tmp_path, monkeypatch)
    loaded = resumed_epoch_in_new_process(tmp_path / run.name, "latent-flow")
    assert loaded.returncode == 0 and loaded.stdout.split()[-1] == "1", loaded.stderr[-2000:]
    resumed, status = training.train_run(spec, small_feature_set, tmp_path, verbose=0)
    assert status == "resumed" and resumed.checkpoints == [1, 2]
    assert resumed.history["epoch"].tolist() == [0, 1]
    assert resumed.history["loss"][0] == run.history["loss"][0]  # the same first epoch, kept
    assert np.isfinite(resumed.history["loss"]).all() and resumed.summary is not None


def test_the_memory_measure_places_the_training_clips_nearer_than_new_ones(
        flow_run, small_feature_file):
    """benchmarks/flow_memory.py on a flow over a VAE trained 2 epochs (whose posteriors are
    still wide, so the references need not part): a row for each reference and the flow,
    the new clips' share below their own tenth quantile a tenth."""
    run, _, _ = flow_run
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "flow_memory.py"),
                             str(run.folder), "--features", str(small_feature_file)],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    rows = {line[:58].strip(): [float(value) for value in line[58:].split()]
            for line in result.stdout.splitlines()[2:]}
    copying, new = rows["training clips' posteriors (copying)"], rows[
        "test clips' posteriors (new clips)"]
    assert (copying[2], new[2]) == (1.0, 0.0) and abs(new[1] - 0.10) < 0.02
    flow = rows[f"{run.name} e002, guidance 1"]
    assert flow[0] > 0 and 0 <= flow[1] <= 1 and np.isfinite(flow[2])


def test_inference_speaks_a_flow_run_and_refuses_guidance_for_other_models(flow_run, tmp_path):
    run, _, _ = flow_run
    out = tmp_path / "flow.wav"
    command = [sys.executable, str(ROOT / "codes" / "inference.py"), "42", "--run",
               str(run.folder), "--guidance", "1.5", "--steps", "4", "--solver", "euler",
               "--iterations", "2", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    result = subprocess.run(command[:5] + ["--guidance", "11", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "guidance 11" in result.stderr
    result = subprocess.run([sys.executable, str(ROOT / "codes" / "inference.py"), "42",
                             "--model", "vae", "--guidance", "2", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--guidance is for flow models" in result.stderr


def test_a_flow_refuses_a_vae_run_of_another_latent_size(trained_runs):
    from spokendigits.models import FAMILIES

    vae = trained_runs["cnn"]
    config = ModelConfig(family="latent-flow", vae_run=str(vae.folder),
                         latent_dim=vae.model.latent_dim + 1, conditional=True,
                         speaker_conditional=True)
    with pytest.raises(UsageError, match="latent_dim"):
        FAMILIES["latent-flow"].vae(config)


def test_previews_are_a_grid_and_a_wav_of_one_clip_a_digit(small_feature_set, tmp_path):
    """The preview every training run writes (GANs, flows): a PNG and a wav of ten clips;
    arrays with a NaN write nothing."""
    import soundfile

    from spokendigits.models.blocks import write_preview

    representation = small_feature_set.featurizer.representation
    arrays = representation.encode_features(small_feature_set.features[:10].copy(), None)
    write_preview(tmp_path / "previews", 7, arrays, representation)
    assert (tmp_path / "previews" / "e007.png").stat().st_size > 0
    clips, rate = soundfile.read(tmp_path / "previews" / "e007.wav")
    assert rate == small_feature_set.config.sample_rate
    assert len(clips) == 10 * small_feature_set.config.clip_samples
    assert np.isclose(np.abs(clips).max(), 0.9, atol=1e-3)
    arrays[0, 0, 0] = np.nan
    write_preview(tmp_path / "previews", 8, arrays, representation)
    assert not (tmp_path / "previews" / "e008.png").exists()
