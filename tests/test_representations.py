"""Representations on real FSDD clips: shapes, today's features, round trips, saved settings."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from spokendigits import audio
from spokendigits.errors import DataError, UsageError
from spokendigits.features import FeatureConfig, Featurizer, analyse
from spokendigits.metrics import spectral_convergence
from spokendigits.representations import (REPRESENTATIONS, LogMagnitude, LogMel,
                                          MagnitudeIF, MagnitudePhase, Representation, Waveform,
                                          get_representation)

SAMPLE_RATE, N_FFT, HOP_LENGTH = 8000, 256, 64
CLIP_SAMPLES = 6080  # 0.76 s: FSDD's resolved clip length, 96 frames
SETTINGS = {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP_LENGTH,
            "clip_samples": CLIP_SAMPLES}
FEATURE_CONFIG = FeatureConfig(sample_rate=SAMPLE_RATE, clip_seconds=0.76, n_fft=N_FFT,
                               hop_length=HOP_LENGTH, split="takes")
N_TRAIN = 16  # of the 20 clips; the other 4 stand for a test split


@pytest.fixture(scope="module")
def waveforms(fsdd_dir) -> np.ndarray:
    """`[20, 6080]`: each digit from two speakers, some cut and some padded."""
    paths = [fsdd_dir / "recordings" / f"{digit}_{speaker}_5.wav"
             for digit in range(10) for speaker in ("george", "jackson")]
    return np.stack([audio.fit_length(audio.load_wav(path, SAMPLE_RATE), CLIP_SAMPLES)
                     for path in paths])


@pytest.fixture(scope="module")
def fitted(waveforms) -> dict[str, Representation]:
    """Each representation, fitted on the first 16 clips."""
    return {name: get_representation(name, **SETTINGS).fit(waveforms[:N_TRAIN])
            for name in REPRESENTATIONS}


def test_registry_holds_the_five_representations():
    assert REPRESENTATIONS == {"log-magnitude": LogMagnitude, "magnitude-phase": MagnitudePhase,
                               "magnitude-if": MagnitudeIF, "log-mel": LogMel,
                               "waveform": Waveform}


@pytest.mark.parametrize("name, shape", [("log-magnitude", (129, 96, 1)),
                                         ("magnitude-phase", (129, 96, 2)),
                                         ("magnitude-if", (129, 96, 2)),
                                         ("log-mel", (64, 96, 1))])
def test_encode_gives_finite_float32_channels_last(fitted, waveforms, name, shape):
    representation = fitted[name]
    array = representation.encode(waveforms)
    assert representation.shape == shape
    assert array.shape == (20, *representation.shape) and array.dtype == np.float32
    assert np.isfinite(array).all()
    # standardised on the training clips: each bin has mean 0 and std 1 there
    train = array[:N_TRAIN, ..., 0]
    np.testing.assert_allclose(train.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(axis=(0, 2)), 1, atol=1e-3)


def test_encode_pads_and_cuts_clips_of_any_length(fitted, waveforms):
    representation = fitted["log-magnitude"]
    short, long = waveforms[0][:3000], np.concatenate([waveforms[1], np.ones(500, np.float32)])
    fitted_to_length = np.stack([np.pad(short, (0, CLIP_SAMPLES - 3000)), waveforms[1]])
    np.testing.assert_array_equal(representation.encode([short, long]),
                                  representation.encode(fitted_to_length))


def test_log_magnitude_gives_the_numbers_of_a_feature_set(fitted, waveforms):
    representation = fitted["log-magnitude"]
    featurizer = Featurizer(FEATURE_CONFIG, audio.Scaling.fit(analyse(waveforms[:N_TRAIN],
                                                                      FEATURE_CONFIG)[0]))
    np.testing.assert_array_equal(representation.scaling.mean, featurizer.scaling.mean)
    np.testing.assert_array_equal(representation.scaling.std, featurizer.scaling.std)
    features = featurizer.scaling.apply(analyse(waveforms, FEATURE_CONFIG)[0])  # as extracted
    np.testing.assert_array_equal(representation.encode(waveforms)[..., 0], features)
    np.testing.assert_array_equal(representation.features(waveforms), features)
    np.testing.assert_array_equal(representation.waveforms(features, seed=3, n_iter=4),
                                  representation.decode(features[..., None], seed=3, n_iter=4))
    # a feature set's settings and statistics give the same representation
    rebuilt = featurizer.representation
    assert isinstance(rebuilt, LogMagnitude) and rebuilt.settings == representation.settings
    assert representation.settings.log_floor == FeatureConfig.log_floor  # one default for both
    np.testing.assert_array_equal(rebuilt.features(waveforms), features)


def test_magnitude_phase_holds_log_magnitude_and_phase_over_pi(fitted, waveforms):
    array = fitted["magnitude-phase"].encode(waveforms)
    np.testing.assert_array_equal(array[..., 0], fitted["log-magnitude"].encode(waveforms)[..., 0])
    assert -1 <= array[..., 1].min() < -0.9 and 0.9 < array[..., 1].max() <= 1
    phase = np.angle(audio.stft(waveforms, N_FFT, HOP_LENGTH))
    np.testing.assert_allclose(array[..., 1], phase / np.pi, atol=1e-6)


def test_magnitude_phase_decodes_with_its_own_phase_to_the_waveforms(fitted, waveforms):
    decoded = fitted["magnitude-phase"].decode(fitted["magnitude-phase"].encode(waveforms))
    assert decoded.shape == waveforms.shape and decoded.dtype == np.float32
    # the whole clip, padded ends included: only the log floor and float32 rounding
    # stand between them (2e-7 measured)
    error = np.linalg.norm(decoded - waveforms, axis=1) / np.linalg.norm(waveforms, axis=1)
    assert error.max() < 1e-4


def magnitude_convergence(waveforms: np.ndarray, decoded: np.ndarray) -> float:
    """Spectral convergence of the decoded clips' STFT magnitudes against the originals'."""
    return spectral_convergence(np.abs(audio.stft(waveforms, N_FFT, HOP_LENGTH)),
                                np.abs(audio.stft(decoded, N_FFT, HOP_LENGTH)))


def test_griffin_lim_decodes_rebuild_the_magnitudes(fitted, waveforms):
    log_magnitude, magnitude_phase = fitted["log-magnitude"], fitted["magnitude-phase"]
    from_log_magnitude = log_magnitude.decode(log_magnitude.encode(waveforms))
    array = magnitude_phase.encode(waveforms)
    from_magnitude_phase = magnitude_phase.decode(array, phase="griffin-lim")
    assert from_log_magnitude.shape == from_magnitude_phase.shape == waveforms.shape
    assert magnitude_convergence(waveforms, from_log_magnitude) < 0.1  # 0.03 measured
    # the magnitude alone gives what log-magnitude gives; its own phase does far better
    np.testing.assert_allclose(from_magnitude_phase, from_log_magnitude, atol=1e-6)
    assert magnitude_convergence(waveforms, magnitude_phase.decode(array)) < 1e-3
    # the setting chooses the same decoding as the argument
    griffin_lim_default = get_representation("magnitude-phase", **SETTINGS,
                                             decode_phase="griffin-lim")
    griffin_lim_default.scaling = magnitude_phase.scaling
    np.testing.assert_array_equal(griffin_lim_default.decode(array, n_iter=4),
                                  magnitude_phase.decode(array, n_iter=4, phase="griffin-lim"))


def test_magnitude_if_holds_phase_differences_that_sum_back_to_the_phase(fitted, waveforms):
    array = fitted["magnitude-if"].encode(waveforms)
    np.testing.assert_array_equal(array[..., 0], fitted["log-magnitude"].encode(waveforms)[..., 0])
    frequency = array[..., 1]
    assert -1 <= frequency.min() < -0.9 and 0.9 < frequency.max() <= 1
    phase = np.angle(audio.stft(waveforms, N_FFT, HOP_LENGTH))
    np.testing.assert_allclose(frequency[..., 0], phase[..., 0] / np.pi, atol=1e-6)
    summed = np.pi * np.cumsum(frequency.astype(np.float64), axis=-1)
    np.testing.assert_allclose(np.exp(1j * summed), np.exp(1j * phase), atol=1e-4)
    # a steady tone: one steady frequency per bin after the first frame (the phase whirls)
    tone = np.sin(2 * np.pi * 1030 * np.arange(CLIP_SAMPLES) / SAMPLE_RATE)[None]
    steady = fitted["magnitude-if"].encode(tone)[0, 33, 4:-4, 1]  # 1030 Hz: bin 33
    assert np.ptp(steady) < 1e-3 and np.ptp(np.angle(audio.stft(tone, N_FFT, HOP_LENGTH))[
        0, 33, 4:-4]) > 5


@pytest.mark.parametrize("name", ["magnitude-if", "waveform"])
def test_exact_representations_decode_to_the_waveforms(fitted, waveforms, name):
    decoded = fitted[name].decode(fitted[name].encode(waveforms))
    assert decoded.shape == waveforms.shape and decoded.dtype == np.float32
    error = np.linalg.norm(decoded - waveforms, axis=1) / np.linalg.norm(waveforms, axis=1)
    assert error.max() < 1e-4  # 3e-6 (instantaneous frequency, float32 sums), 0 (waveform)


def test_waveform_pads_to_a_power_of_two_with_silence(fitted, waveforms):
    array = fitted["waveform"].encode(waveforms)
    assert fitted["waveform"].shape == (8192, 1) and array.shape == (20, 8192, 1)
    np.testing.assert_array_equal(array[:, :CLIP_SAMPLES, 0], waveforms)
    assert not array[:, CLIP_SAMPLES:].any()


def test_mel_filters_are_librosas():
    import librosa

    for sample_rate, n_fft, n_mels in ((8000, 256, 64), (16000, 512, 80), (22050, 1024, 128)):
        np.testing.assert_allclose(
            audio.mel_filterbank(sample_rate, n_fft, n_mels),
            librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels), atol=1e-7)


def test_log_mel_is_standardised_mel_bands_decoded_by_the_pseudo_inverse(fitted, waveforms):
    log_mel = fitted["log-mel"]
    magnitude = np.abs(audio.stft(waveforms, N_FFT, HOP_LENGTH))
    filters = audio.mel_filterbank(SAMPLE_RATE, N_FFT, 64)
    floor = 1e-5 * filters.sum(axis=1, keepdims=True)  # the STFT's floor through the filters
    bands = np.log(np.maximum(filters @ magnitude, floor))
    np.testing.assert_allclose(log_mel.encode(waveforms)[..., 0],
                               log_mel.mel_scaling.apply(bands), atol=1e-4)
    silence = log_mel.encode(np.zeros_like(waveforms[:1]))  # about as quiet as the STFT's floor
    np.testing.assert_allclose(np.exp(log_mel.scaling.invert(log_mel.log_magnitude(silence))),
                               1e-5, rtol=0.3)  # not 30 times louder
    decoded = log_mel.decode(log_mel.encode(waveforms))
    # 64 bands for 129 bins lose detail above 1 kHz for good: 0.12 here, against 0.03 for
    # Griffin-Lim on the whole magnitude (test_griffin_lim_decodes_rebuild_the_magnitudes)
    assert decoded.shape == waveforms.shape
    assert 0.05 < magnitude_convergence(waveforms, decoded) < 0.25
    with pytest.raises(UsageError, match="n_mels=129 must be 1 to 128"):
        get_representation("log-mel", **SETTINGS, n_mels=129)


def test_every_representation_is_made_from_a_feature_sets_own_arrays(fitted, waveforms):
    featurizer = Featurizer(FEATURE_CONFIG, fitted["log-magnitude"].scaling)
    features = featurizer.scaling.apply(analyse(waveforms, FEATURE_CONFIG)[0])
    phase = np.angle(audio.stft(waveforms, N_FFT, HOP_LENGTH))
    for name, representation in fitted.items():
        rebuilt = REPRESENTATIONS[name].from_feature_config(FEATURE_CONFIG, featurizer.scaling)
        rebuilt.fit_features(features[:N_TRAIN])
        assert rebuilt.settings == representation.settings, name
        if name == "log-mel":  # the same statistics, but for float rounding
            for statistic in ("mean", "std"):
                np.testing.assert_allclose(getattr(rebuilt.mel_scaling, statistic),
                                           getattr(representation.mel_scaling, statistic),
                                           rtol=1e-5)
        from_features = rebuilt.encode_features(features, phase if rebuilt.needs_phase else None)
        # the log floor (1e-5) is all that differs
        np.testing.assert_allclose(from_features, representation.encode(waveforms), atol=2e-4,
                                   err_msg=name)
        with pytest.raises(UsageError, match="--phase") if rebuilt.needs_phase else \
                contextlib.nullcontext():
            rebuilt.encode_features(features, None)


def test_log_magnitude_reads_every_representation_as_features(fitted, waveforms):
    expected = fitted["log-magnitude"].encode(waveforms)[..., 0]
    for name in ("log-magnitude", "magnitude-phase", "magnitude-if", "waveform"):
        found = fitted[name].log_magnitude(fitted[name].encode(waveforms))
        np.testing.assert_allclose(found, expected, atol=1e-3, err_msg=name)
    from_mel = fitted["log-mel"].log_magnitude(fitted["log-mel"].encode(waveforms))
    assert from_mel.shape == expected.shape
    assert np.mean(np.abs(from_mel - expected)) < 0.6  # what 64 bands keep (0.44 measured)


@pytest.mark.parametrize("name", sorted(REPRESENTATIONS))
def test_to_dict_and_from_dict_give_identical_encodings(fitted, waveforms, name):
    data = json.loads(json.dumps(fitted[name].to_dict()))  # as a saved model carries it
    rebuilt = Representation.from_dict(data)
    assert type(rebuilt) is REPRESENTATIONS[name] and rebuilt.settings == fitted[name].settings
    np.testing.assert_array_equal(rebuilt.encode(waveforms), fitted[name].encode(waveforms))
    unfitted = REPRESENTATIONS[name].from_dict(get_representation(name, **SETTINGS).to_dict())
    assert not unfitted.is_fitted


def test_from_dict_names_damaged_or_mismatched_data(fitted):
    data = fitted["magnitude-phase"].to_dict()
    with pytest.raises(DataError, match="not a LogMagnitude"):
        LogMagnitude.from_dict(data)
    with pytest.raises(DataError, match="does not fit 129 frequency bins"):
        Representation.from_dict({**data, "scaling": {"mean": [0.0] * 128, "std": [1.0] * 128}})
    with pytest.raises(DataError, match="unknown representation"):
        Representation.from_dict({**data, "name": "mfcc"})
    with pytest.raises(DataError, match="does not fit 64 mel bands"):
        Representation.from_dict({**fitted["log-mel"].to_dict(),
                                  "mel_scaling": {"mean": [0.0] * 3, "std": [1.0] * 3}})
    with pytest.raises(DataError, match="settings"):
        Representation.from_dict({"name": "log-magnitude"})


def test_fit_uses_only_the_clips_it_is_given(waveforms):
    train, test = waveforms[:N_TRAIN], waveforms[N_TRAIN:]
    on_train = get_representation("log-magnitude", **SETTINGS).fit(train)
    refitted = get_representation("log-magnitude", **SETTINGS).fit(test).fit(train)
    on_all = get_representation("log-magnitude", **SETTINGS).fit(waveforms)
    assert refitted.to_dict() == on_train.to_dict()  # a second fit replaces, never accumulates
    assert not np.allclose(on_all.scaling.mean, on_train.scaling.mean)
    expected = audio.Scaling.fit(audio.log_magnitude(audio.stft(train, N_FFT, HOP_LENGTH), 1e-5))
    np.testing.assert_array_equal(on_train.scaling.mean, expected.mean)
    np.testing.assert_array_equal(on_train.scaling.std, expected.std)


def test_unknown_names_and_bad_settings_are_usage_errors():
    with pytest.raises(UsageError, match=r"'mfcc'.*\['log-magnitude', 'log-mel', "
                       r"'magnitude-if', 'magnitude-phase', 'waveform'\]"):
        get_representation("mfcc", **SETTINGS)
    with pytest.raises(UsageError, match="unknown .* setting"):
        get_representation("log-magnitude", **SETTINGS, decode_phase="own")
    with pytest.raises(UsageError, match=r"needs the setting\(s\) \['clip_samples'\]"):
        get_representation("log-magnitude", sample_rate=8000, n_fft=256, hop_length=64)
    with pytest.raises(UsageError, match="n_fft=255 must be an even"):
        get_representation("log-magnitude", **{**SETTINGS, "n_fft": 255})
    with pytest.raises(UsageError, match="log_floor"):
        get_representation("log-magnitude", **SETTINGS, log_floor=float("nan"))
    with pytest.raises(UsageError, match="decode_phase='random'"):
        get_representation("magnitude-phase", **SETTINGS, decode_phase="random")
    with pytest.raises(UsageError, match="not resolved"):
        LogMagnitude.from_feature_config(FeatureConfig())


def test_encode_and_decode_need_a_fitted_representation_and_the_right_shapes(fitted, waveforms):
    with pytest.raises(UsageError, match="call fit"):
        get_representation("log-magnitude", **SETTINGS).encode(waveforms)
    log_magnitude, magnitude_phase = fitted["log-magnitude"], fitted["magnitude-phase"]
    one_channel = log_magnitude.encode(waveforms[:2])
    with pytest.raises(UsageError, match=r"\[clip, 129, 96, 2\], not \[2, 129, 96, 1\]"):
        magnitude_phase.decode(one_channel)
    with pytest.raises(UsageError, match=r"\[clip, 129, 96, 1\], not \[2, 129, 96\]"):
        log_magnitude.decode(one_channel[..., 0])
    with pytest.raises(UsageError, match=r"not \[129, 96, 1\]"):
        log_magnitude.decode(one_channel[0])
    with pytest.raises(UsageError, match="phase='istft'"):
        magnitude_phase.decode(magnitude_phase.encode(waveforms[:1]), phase="istft")
    with pytest.raises(UsageError, match=r"\[clip, sample\]"):
        log_magnitude.encode(waveforms[0])


def test_importing_representations_never_imports_tensorflow():
    code = ("import sys, spokendigits.representations; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('tensorflow', 'keras')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={"PYTHONPATH": "codes"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
