"""The pitch model and the harmonics it voices: the comb of an f0 lies on its harmonics and
goes only where a clip is voiced and loud; the network learns f0 from spectrograms, its ONNX
export is the Keras network, and the family trains, resumes, exports and speaks like every
family."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import TINY_TRAINING, resumed_epoch_in_new_process, train_killed_after_epoch
from spokendigits import harmonics
from spokendigits.errors import DataError
from spokendigits.models import ModelConfig

RATE, HOP, SAMPLES = 8000, 64, 6080   # FSDD's: 96 frames of 129 bins


def test_the_blur_is_scipys_gaussian_filter():
    from scipy.ndimage import gaussian_filter1d

    arrays = np.random.default_rng(0).standard_normal((3, 129, 20)).astype(np.float32)
    for sigma in (0.7, harmonics.DETAIL_BINS, 3.0):
        np.testing.assert_allclose(harmonics.blur_over_frequency(arrays, sigma),
                                   gaussian_filter1d(arrays, sigma, axis=1), atol=1e-5)


def test_the_excitation_holds_every_harmonic_of_its_f0_below_nyquist_and_nothing_else():
    f0 = np.full((1, 96), 300.0)
    f0[0, :10] = 0.0  # unvoiced frames take their neighbours' pitch
    source = harmonics.excitation(f0, RATE, HOP, SAMPLES)[0]
    assert source.shape == (SAMPLES,) and abs(np.mean(source**2) - 1) < 1e-3
    spectrum = np.abs(np.fft.rfft(source * np.hanning(SAMPLES)))
    hertz = np.fft.rfftfreq(SAMPLES, 1 / RATE)
    harmonic = [np.abs(hertz - 300 * k).argmin() for k in range(1, 13)]  # 300 to 3600 Hz
    between = [np.abs(hertz - 300 * (k + 0.5)).argmin() for k in range(1, 12)]
    assert spectrum[harmonic].min() > 100 * spectrum[between].max()
    assert spectrum[hertz > 3900].max() < 0.01 * spectrum[harmonic].min()  # 0.95 Nyquist


def test_loud_frames_are_those_within_30_db_of_the_loudest():
    log_magnitudes = np.zeros((1, 129, 12))
    log_magnitudes[0, :, 6:] = np.log(10 ** (-31 / 20))  # 31 dB down
    loud = harmonics.loud_frames(log_magnitudes)[0, 0]
    assert loud[:4].min() > 0.99 and loud[8:].max() < 0.01  # eased over 2 frames


@pytest.fixture(scope="module")
def representation(small_feature_set):
    return small_feature_set.featurizer.representation


def test_voicing_adds_the_comb_to_voiced_loud_frames_only(representation):
    rng = np.random.default_rng(0)
    shape = representation.shape
    arrays = np.repeat(representation.features(rng.standard_normal((1, SAMPLES)) * 0.1),
                       2, axis=0)[..., None]
    arrays[1, :, shape[1] // 2:] = -3.0  # the second clip's last half is silent
    f0 = np.full((2, shape[1]), 200.0)
    voicing = np.ones((2, shape[1]))
    voicing[0, :20] = 0.0  # the first clip's first frames are unvoiced
    voiced = harmonics.voice(arrays, f0, voicing, representation, strength=1.0)
    change = np.abs(voiced - arrays)[..., 0].mean(axis=1)   # [clip, frame]
    # (masks are eased over up to 4 frames either side)
    assert change[0, :16].max() < 1e-6 and change[0, 24:].min() > 0.01
    assert change[1, shape[1] // 2 + 4:].max() < 1e-6 and change[1, :shape[1] // 2 - 4].min() > 0.01
    assert np.array_equal(harmonics.voice(arrays, f0, voicing, representation, 0.0), arrays)
    # on voiced frames the change is the comb of the f0: peaks at its harmonics' bins
    bins = np.arange(shape[0]) * RATE / (2 * (shape[0] - 1))
    added = (voiced - arrays)[0, :, 40, 0]
    on = [np.abs(bins - 200 * k).argmin() for k in range(2, 15)]
    off = [np.abs(bins - 200 * (k + 0.5)).argmin() for k in range(2, 15)]
    assert added[on].mean() > added[off].mean() + 0.1


def test_the_strengths_take_the_comb_nearest_real_clips_fine_detail(small_feature_set,
                                                                    representation):
    train = np.flatnonzero(small_feature_set.split_mask("train"))[:40]
    features = small_feature_set.features[train]
    f0 = harmonics.clips_f0(features, small_feature_set.phase[train], representation)
    assert f0.shape == features[:, 0].shape and 0.1 < (f0 > 0).mean() < 0.9
    assert np.median(f0[f0 > 0]) == pytest.approx(150, rel=0.5)  # adult voices
    strength = harmonics.fitted_strength(features, f0, representation)
    assert strength.shape == (representation.shape[0],) and (strength >= 0).all()
    # the comb explains the low harmonics' detail far better than the detail near 4 kHz
    low, high = strength[3:16].mean(), strength[96:128].mean()
    assert 0.2 < low < 3 and high < low / 2
    # per bin, no other gain takes the comb nearer the real detail where it is added
    chosen = harmonics.voiced_and_loud(features, f0, representation)
    detail, combs = harmonics.fine_detail(features), harmonics.comb(f0, representation)

    def error(gain: np.ndarray) -> np.ndarray:
        return np.where(chosen, (detail - gain[:, None] * combs) ** 2, 0).sum(axis=(0, 2))

    best = error(strength)
    for other in (strength * 0.9, strength * 1.1 + 0.01, np.full_like(strength, low)):
        assert (best <= error(other) + 1e-3).all()
    # one strength everywhere: the upper bins' detail is further from the real than no comb
    assert error(np.full_like(strength, low))[96:128].sum() > error(strength * 0)[96:128].sum()


def test_the_network_learns_f0_from_spectrograms_and_its_onnx_export_is_it(tmp_path):
    """Constructed spectrograms: each frame a comb at its f0 (voiced) or flat (unvoiced)."""
    import keras

    from spokendigits.models import pitch_network
    from spokendigits.storage import onnx_session

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    bins, frames, clips = 64, 16, 512
    f0 = rng.uniform(100, 300, (clips, 1)) * np.ones((1, frames))
    f0[rng.random((clips, frames)) < 0.3] = 0.0
    hertz = np.arange(bins)[None, :, None] * 4000 / (bins - 1)
    spectrograms = np.where(f0[:, None] > 0, np.cos(2 * np.pi * hertz / np.maximum(f0[:, None], 1)),
                            0.0).astype(np.float32)
    config = ModelConfig(family="pitch", vae_run="unused", width=32, depth=2)
    network = pitch_network.build_pitch(config, (bins, frames))
    network.compile(keras.optimizers.Adam(3e-3), loss="mse")
    target = np.stack([np.where(f0 > 0, 3.0, -3.0),
                       np.log2(np.maximum(f0, 1) / harmonics.F0_REFERENCE)], -1)
    network.fit(spectrograms, target.astype(np.float32), epochs=100, batch_size=64, verbose=0)
    predicted, voicing = harmonics.pitch_of(network.predict(spectrograms[:64], verbose=0))
    voiced = f0[:64] > 0
    assert np.mean((voicing > 0.5) == voiced) > 0.95
    cents = np.abs(1200 * np.log2(predicted[voiced] / f0[:64][voiced]))
    assert np.median(cents) < 100
    network.export(str(tmp_path / "pitch.onnx"), format="onnx", verbose=False)
    session = onnx_session(tmp_path / "pitch.onnx")
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: spectrograms[:8]})[0],
                               network.predict(spectrograms[:8], verbose=0), rtol=1e-5, atol=1e-5)


def _spec(vae, **settings):
    from spokendigits.runs import RunSpec, TrainConfig

    return RunSpec(ModelConfig(family="pitch", vae_run=str(vae.folder),
                               latent_dim=vae.model.latent_dim, conditional=True,
                               speaker_conditional=True, width=16, depth=1, **settings),
                   TrainConfig(**TINY_TRAINING))


@pytest.fixture(scope="module")
def pitch_run(trained_runs, small_feature_set, tmp_path_factory):
    """A pitch model over the digit+speaker CNN VAE of `trained_runs`, trained 2 epochs."""
    from spokendigits.training import train_run

    root = tmp_path_factory.mktemp("pitch-runs")
    return train_run(_spec(trained_runs["cnn"]), small_feature_set, root, verbose=0)[0]


def test_the_family_trains_exports_and_speaks_voiced(pitch_run):
    from spokendigits.synthesis import Synthesizer, parse_digits

    run = pitch_run
    assert run.checkpoints == [1, 2]
    assert {"loss", "val_loss", "step_seconds"} <= set(run.history.columns)
    checkpoint = run.checkpoint(None)
    assert {"pitch.onnx", "pitch.keras", "generator.onnx", "sampler.json"} <= {
        path.name for path in checkpoint.iterdir()}
    sampler = json.loads((checkpoint / "sampler.json").read_text())
    strength = sampler["pitch"]["strength"]
    assert sampler["pitch"]["file"] == "pitch.onnx" and len(strength) == run.representation.shape[0]
    assert all(0 <= gain < 10 for gain in strength) and max(strength) > 0
    synthesizer = Synthesizer(run)
    assert synthesizer.pitch is not None and {"digit", "mixture"} <= set(synthesizer.samplers)
    speech = synthesizer.speak(parse_digits("12"), seed=3, n_iter=4)
    assert np.isfinite(speech).all() and len(speech) > 0
    voiced = synthesizer.arrays([1, 2], seed=3)
    synthesizer.pitch = None
    drafts = synthesizer.arrays([1, 2], seed=3)
    assert voiced.shape == drafts.shape == (2, *run.representation.shape)
    assert not np.allclose(voiced, drafts)
    # only the fine detail changes: the blurred spectrograms are the drafts'
    np.testing.assert_allclose(harmonics.blur_over_frequency(voiced[..., 0], 3.0),
                               harmonics.blur_over_frequency(drafts[..., 0], 3.0), atol=0.05)


def test_a_damaged_pitch_entry_is_refused(pitch_run, tmp_path):
    from spokendigits.sampling import read_sampler

    checkpoint = tmp_path / "e002"
    shutil.copytree(pitch_run.checkpoint(None), checkpoint)
    latent_dim = pitch_run.model.latent_dim
    sampler = json.loads((checkpoint / "sampler.json").read_text())
    read = read_sampler(checkpoint, latent_dim)
    assert read.pitch_file == checkpoint / "pitch.onnx" and max(read.strength) > 0
    for damaged in ({"file": "pitch.onnx", "strength": -1}, {"file": "pitch.onnx", "strength": True},
                    {"file": "pitch.onnx", "strength": []},
                    {"file": "pitch.onnx", "strength": [0.5, -1]},
                    {"file": "pitch.onnx"}, {"file": "../pitch.onnx", "strength": 1.0},
                    {"file": "missing.onnx", "strength": 1.0}, "pitch.onnx"):
        (checkpoint / "sampler.json").write_text(json.dumps({**sampler, "pitch": damaged}))
        with pytest.raises(DataError):
            read_sampler(checkpoint, latent_dim)


def test_one_strength_for_every_bin_still_speaks_and_a_wrong_count_is_refused(pitch_run,
                                                                             tmp_path):
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer

    run = Run.open(shutil.copytree(pitch_run.folder, tmp_path / pitch_run.name))
    path = run.checkpoint(None) / "sampler.json"
    sampler = json.loads(path.read_text())
    per_bin = Synthesizer(run).arrays([4, 5], seed=2)
    gain = sampler["pitch"]["strength"][10]
    path.write_text(json.dumps({**sampler, "pitch": {"file": "pitch.onnx", "strength": gain}}))
    alike = Synthesizer(run).arrays([4, 5], seed=2)  # a checkpoint of an earlier version
    assert alike.shape == per_bin.shape and not np.allclose(alike, per_bin)
    np.testing.assert_allclose(alike[:, 10], per_bin[:, 10], atol=1e-5)  # the same gain there
    path.write_text(json.dumps({**sampler, "pitch": {"file": "pitch.onnx",
                                                     "strength": [gain] * 7}}))
    with pytest.raises(DataError, match="7 harmonic strengths"):
        Synthesizer(run)


def test_a_pitch_model_needs_the_clips_phases(trained_runs, small_feature_set):
    from spokendigits.models import FAMILIES

    spec = _spec(trained_runs["cnn"])
    features = small_feature_set.features[:4]
    with pytest.raises(DataError, match="phases"):
        FAMILIES["pitch"].model_arrays(spec.model, features, None,
                                       small_feature_set.featurizer.representation,
                                       small_feature_set.digits[:4], small_feature_set.speakers[:4])


def test_the_f0_targets_are_voiced_only_in_loud_frames(trained_runs, small_feature_set):
    """YIN hears the inverse STFT's faint ripple in silence as a voice: those frames are
    not the clip's voice."""
    from spokendigits.models import FAMILIES

    spec = _spec(trained_runs["cnn"])
    representation = small_feature_set.featurizer.representation
    features = small_feature_set.features[:16]
    inputs = FAMILIES["pitch"].model_arrays(
        spec.model, features, small_feature_set.phase[:16], representation,
        small_feature_set.digits[:16], small_feature_set.speakers[:16])
    loud = harmonics.loud_frames(representation.scaling.invert(features))[:, 0] > 0.5
    assert inputs["f0"].shape == loud.shape and (inputs["f0"] > 0).any()
    assert not (inputs["f0"][~loud] > 0).any()
    assert 60 <= inputs["f0"][inputs["f0"] > 0].min() and inputs["f0"].max() <= 400


def test_an_interrupted_pitch_run_resumes_in_a_new_process(trained_runs, small_feature_set,
                                                            tmp_path, monkeypatch):
    from spokendigits import training

    spec = _spec(trained_runs["cnn"])
    train_killed_after_epoch(spec, small_feature_set, tmp_path, monkeypatch)
    loaded = resumed_epoch_in_new_process(next(tmp_path.iterdir()), "pitch")
    assert loaded.returncode == 0 and loaded.stdout.split()[-1] == "1", loaded.stderr[-2000:]
    resumed, status = training.train_run(spec, small_feature_set, tmp_path, verbose=0)
    assert status == "resumed" and resumed.checkpoints == [1, 2]
