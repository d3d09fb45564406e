"""Digit strings to speech: parsing, sampling, joining; no TensorFlow needed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from spokendigits import audio
from spokendigits.errors import DataError, UsageError
from spokendigits.runs import Run
from spokendigits.synthesis import MAX_PEAK, MAX_TOKENS, Synthesizer, bundled_run, parse_digits


def test_parse_digits_keeps_order_and_pauses():
    assert parse_digits("12 3-4") == [1, 2, None, 3, None, 4]
    for text, message in (("12a4", "'a' at position 3"), ("", "at least one digit"),
                          (" - ", "at least one digit"), ("١٢", "at position 1"), ("1.5", "'.'")):
        with pytest.raises(UsageError, match=message):
            parse_digits(text)


def test_parse_digits_refuses_more_than_the_limit_before_reading_it():
    assert len(parse_digits("1-" * (MAX_TOKENS // 2))) == MAX_TOKENS
    for text in ("1" * (MAX_TOKENS + 1), "1" + " " * MAX_TOKENS, "x" * 10**7):
        with pytest.raises(UsageError, match=f"{len(text)} characters is too long: give at most "
                                             f"{MAX_TOKENS}"):
            parse_digits(text)


def test_speak_scales_loud_digits_below_full_scale():
    """At temperature 2 the bundled VAE's clips peak far over 1 (up to 3000 measured);
    each digit louder than MAX_PEAK is scaled down to it, so nothing is clipped."""
    synthesizer = Synthesizer(Run.open(bundled_run("vae")))
    for seed in range(3):
        waveform = synthesizer.speak(parse_digits("0123456789"), seed=seed, temperature=2.0,
                                     n_iter=2)
        assert np.isfinite(waveform).all()
        assert MAX_PEAK * 0.999 <= np.abs(waveform).max() <= MAX_PEAK * 1.0001
    quiet = synthesizer.speak([7], seed=0, temperature=0.0, n_iter=2)
    assert 0 < np.abs(quiet).max() < MAX_PEAK  # quiet digits keep their level


@pytest.mark.parametrize("bad, message", [(np.nan, "1 of 4 samples are NaN or infinite"),
                                          (-np.inf, "NaN or infinite"),
                                          (1.0, "peak 1 is at or over full scale"),
                                          (-1.5, "peak 1.5 is at or over full scale")])
def test_write_wav_refuses_non_finite_or_clipped_audio_and_writes_nothing(tmp_path, bad, message):
    path = tmp_path / "speech" / "out.wav"
    with pytest.raises(DataError, match=message):
        audio.write_wav(path, np.array([0.0, 0.5, bad, -0.5], np.float32), 8000)
    assert list(tmp_path.iterdir()) == []
    audio.write_wav(path, np.array([0.0, 0.5, 0.999, -0.5], np.float32), 8000)
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]


def test_trim_silence_keeps_the_sound_and_a_margin():
    sample_rate = 8000
    tone = np.sin(np.arange(4000) / 5).astype(np.float32)
    waveform = np.concatenate([np.zeros(2000), tone, np.zeros(3000)]).astype(np.float32)
    trimmed = audio.trim_silence(waveform, sample_rate)
    assert 4000 <= len(trimmed) <= 4000 + 2 * 80 + 2 * 80  # the tone, a 10 ms margin, frame rounding
    assert np.array_equal(audio.trim_silence(np.zeros(100, np.float32), sample_rate), np.zeros(100))


def test_each_digit_gets_its_own_clip_and_the_right_condition(trained_runs):
    synthesizer = Synthesizer(trained_runs["cnn"])
    features = synthesizer.features([1, 2, 2], speaker="theo", seed=0)
    config = trained_runs["cnn"].featurizer.config
    assert features.shape == (3, config.n_freq, config.n_frames)
    np.testing.assert_array_equal(features, synthesizer.features([1, 2, 2], speaker="theo", seed=0))
    assert not np.allclose(features, synthesizer.features([1, 2, 2], speaker="theo", seed=1))
    assert not np.allclose(features[0], synthesizer.features([5], speaker="theo", seed=0)[0])


def test_unconditional_models_sample_the_digit_gaussian(trained_runs):
    synthesizer = Synthesizer(trained_runs["mlp"])
    at_mean = synthesizer.features([3, 3], seed=0, temperature=0.0, sampler="digit")
    np.testing.assert_allclose(at_mean[0], at_mean[1], atol=1e-5)  # temperature 0: the mean
    assert not np.allclose(at_mean[0], synthesizer.features([4], seed=0, temperature=0.0,
                                                            sampler="digit")[0])
    speaker_mean = synthesizer.features([3], speaker="theo", seed=0, temperature=0.0)
    assert not np.allclose(speaker_mean[0], at_mean[0])  # digit/speaker Gaussians differ


def test_conditional_models_sample_the_prior_or_their_fitted_gaussians(trained_runs):
    synthesizer = Synthesizer(trained_runs["cnn"])
    fitted = synthesizer.features([3, 3], speaker="theo", seed=0, temperature=0.0)
    np.testing.assert_allclose(fitted[0], fitted[1], atol=1e-5)
    prior = synthesizer.features([3], speaker="theo", seed=0, temperature=0.0, sampler="prior")
    assert not np.allclose(prior[0], fitted[0])  # z = 0 is not the digit's fitted mean
    with pytest.raises(UsageError, match="unconditional"):
        Synthesizer(trained_runs["mlp"]).features([3], sampler="prior")


def test_speak_joins_trimmed_digits_with_gaps_and_pauses(trained_runs):
    synthesizer = Synthesizer(trained_runs["cnn"])
    rate = synthesizer.sample_rate
    one = synthesizer.speak([7], seed=0, n_iter=4)
    two = synthesizer.speak([7, None, 7], seed=0, n_iter=4)
    assert one.dtype == np.float32 and 0 < len(one) <= synthesizer.run.featurizer.config.clip_samples
    assert len(two) > 2 * len(one) * 0.5 + round(0.35 * rate)  # a pause of 0.35 s sits between
    with pytest.raises(UsageError, match="unknown speaker 'zoe'"):
        synthesizer.speak([1], speaker="zoe")


def test_speaker_needs_a_model_that_knows_speakers(trained_runs, small_feature_set, tmp_path):
    from spokendigits.models import ModelConfig
    from spokendigits.runs import RunSpec, TrainConfig
    from spokendigits.training import train_run

    run, _ = train_run(RunSpec(ModelConfig(family="mlp-vae", width=16, conditional=True),
                               TrainConfig(epochs=(1,))), small_feature_set, tmp_path, verbose=0)
    with pytest.raises(UsageError, match="conditioned on digits only"):
        Synthesizer(run).features([1], speaker="theo")


@pytest.mark.parametrize("model, unwanted", [
    ("cnn", ("tensorflow", "keras")),  # Griffin-Lim: scipy.fft's forward FFT
    ("default", ("tensorflow", "keras", "scipy"))])  # its own phase: numpy's FFTs only
def test_inference_never_imports_tensorflow_nor_more_than_it_uses(trained_runs, tmp_path, model,
                                                                  unwanted):
    code = ("import runpy, sys; sys.argv = ['inference.py', '12', '--run', sys.argv[1], '--out', "
            "sys.argv[2], '--iterations', '2']; runpy.run_path('codes/inference.py', "
            "run_name='__main__'); print(sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {unwanted!r}))")
    run = bundled_run() if model == "default" else trained_runs[model].folder
    result = subprocess.run([sys.executable, "-c", code, str(run), str(tmp_path / "out.wav")],
                            cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": "codes"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out.wav").is_file()


@pytest.mark.parametrize("key", ["mlp", "cnn"])
def test_interpolation_ends_are_the_two_digits_from_one_seed(trained_runs, key):
    """One noise vector in each digit's Gaussian (and, conditional, the two digit labels):
    the ends are what `features` gives for each digit."""
    synthesizer = Synthesizer(trained_runs[key])
    speaker = trained_runs[key].speakers[1]
    path = synthesizer.interpolate(1, 7, steps=5, speaker=speaker, seed=3)
    assert path.shape[0] == 5 and np.isfinite(path).all()
    for end, digit in ((path[0], 1), (path[-1], 7)):
        np.testing.assert_allclose(end, synthesizer.features([digit], speaker, seed=3)[0],
                                   rtol=1e-4, atol=1e-4)
    assert not np.allclose(path[0], path[-1])
    grid = synthesizer.digit_grid(rows=2, seed=3)
    assert grid.shape == (2, 10, *path.shape[1:])
    assert np.isfinite(synthesizer.interpolate(1, 7, steps=3, seed=3)).all()  # a seeded voice


def test_interpolation_refuses_unknown_digits(trained_runs):
    with pytest.raises(UsageError, match="12"):
        Synthesizer(trained_runs["cnn"]).interpolate(1, 12)
