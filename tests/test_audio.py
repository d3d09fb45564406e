"""Exact checks of the signal-processing functions."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from conftest import write_tone
from spokendigits import audio
from spokendigits.metrics import spectral_convergence


@pytest.mark.parametrize("sample_rate, n_fft", [(8000, 256), (16000, 512), (22050, 1024),
                                                (48000, 2048)])
def test_default_n_fft_is_the_power_of_two_above_32_ms(sample_rate, n_fft):
    assert audio.default_n_fft(sample_rate) == n_fft


def test_fit_length_pads_silence_at_the_end_and_cuts_the_end():
    waveform = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(audio.fit_length(waveform, 7), [1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(audio.fit_length(waveform, 3), [1, 2, 3])
    assert audio.fit_length(np.zeros((4, 5)), 8).shape == (4, 8)


def test_stft_shape_and_inverse_round_trip():
    rng = np.random.default_rng(0)
    waveforms = rng.uniform(-1, 1, (3, 6080)).astype(np.float32)
    spectrogram = audio.stft(waveforms, n_fft=256, hop_length=64)
    assert spectrogram.shape == (3, 129, 96)
    restored = audio.inverse_stft(spectrogram, hop_length=64, length=6080)
    np.testing.assert_allclose(restored, waveforms, atol=1e-5)


def test_stft_istft_and_window_match_librosa():
    import librosa

    rng = np.random.default_rng(2)
    waveforms = rng.uniform(-1, 1, (2, 5000)).astype(np.float32)
    for n_fft, hop_length in ((256, 64), (512, 128), (400, 160)):
        ours = audio.stft(waveforms, n_fft, hop_length)
        reference = librosa.stft(waveforms, n_fft=n_fft, hop_length=hop_length, pad_mode="constant")
        assert ours.dtype == np.complex64 and ours.shape == reference.shape
        np.testing.assert_allclose(ours, reference, atol=2e-4)
        length = 5000 // hop_length * hop_length
        np.testing.assert_allclose(audio.inverse_stft(reference, hop_length, length),
                                   librosa.istft(reference, hop_length=hop_length, length=length),
                                   atol=1e-5)
    np.testing.assert_allclose(audio.hann_window(256), librosa.filters.get_window("hann", 256),
                               atol=1e-7)


def test_stft_puts_a_tone_in_its_bin():
    sample_rate, frequency = 8000, 1000.0
    t = np.arange(4000) / sample_rate
    magnitude = np.abs(audio.stft(np.sin(2 * np.pi * frequency * t), 256, 64))
    assert magnitude[:, 20].argmax() == round(frequency * 256 / sample_rate)


def test_log_magnitude_floors_silence():
    spectrogram = np.array([[0.0, 1.0, np.e]], dtype=np.complex64)
    np.testing.assert_allclose(audio.log_magnitude(spectrogram, 1e-5), [[np.log(1e-5), 0, 1]],
                               rtol=1e-6)


def test_scaling_matches_numpy_statistics_and_inverts():
    rng = np.random.default_rng(1)
    log_magnitudes = rng.normal(-4, 3, (50, 7, 11)).astype(np.float32)
    log_magnitudes[:, 0] = -11.5  # a bin that never varies must not divide by zero
    scaling = audio.Scaling.fit(log_magnitudes)
    np.testing.assert_allclose(scaling.mean, log_magnitudes.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(scaling.std[1:], log_magnitudes[:, 1:].std(axis=(0, 2)), rtol=1e-4)
    features = scaling.apply(log_magnitudes.copy())
    assert np.isfinite(features).all()
    np.testing.assert_allclose(features[:, 1:].mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(features[:, 1:].std(axis=(0, 2)), 1, atol=1e-4)
    np.testing.assert_allclose(scaling.invert(features), log_magnitudes, atol=1e-5)
    assert audio.Scaling.from_dict(scaling.to_dict()).std.tolist() == scaling.std.tolist()


def test_load_wav_mixes_stereo_down_to_the_channel_mean(tmp_path):
    data = write_tone(tmp_path / "stereo.wav", channels=2)
    expected = soundfile.read(tmp_path / "stereo.wav", dtype="float32")[0].mean(axis=1)
    assert data.shape[1] == 2
    np.testing.assert_allclose(audio.load_wav(tmp_path / "stereo.wav", 8000), expected)


def test_load_wav_resamples_and_keeps_the_pitch(tmp_path):
    write_tone(tmp_path / "tone.wav", seconds=0.5, sample_rate=16000, frequency=1000)
    waveform = audio.load_wav(tmp_path / "tone.wav", 8000)
    assert waveform.dtype == np.float32 and waveform.shape == (4000,)
    spectrum = np.abs(np.fft.rfft(waveform))
    assert np.fft.rfftfreq(4000, 1 / 8000)[spectrum.argmax()] == pytest.approx(1000, abs=2)


def test_griffin_lim_refuses_frames_that_do_not_fit_the_length():
    with pytest.raises(ValueError, match="expected 96"):
        audio.griffin_lim(np.ones((129, 95)), 64, 6080)


def test_griffin_lim_rebuilds_phase_of_a_real_clip(fsdd_dir):
    waveform = audio.fit_length(audio.load_wav(fsdd_dir / "recordings" / "3_theo_7.wav", 8000), 6080)
    magnitude = np.abs(audio.stft(waveform, 256, 64))

    def convergence(n_iter, momentum=0.99):
        rebuilt = audio.griffin_lim(magnitude, 64, 6080, n_iter=n_iter, momentum=momentum)
        assert rebuilt.shape == (6080,)
        return spectral_convergence(magnitude, np.abs(audio.stft(rebuilt, 256, 64)))

    random_phase, fast = convergence(0), convergence(64)
    assert random_phase > 0.4  # random phase is far from the target...
    assert fast < 0.08         # ...64 fast iterations get close (0.03 measured on FSDD)
    assert convergence(64, momentum=0.0) > fast  # momentum is what makes it fast
    np.testing.assert_array_equal(audio.griffin_lim(magnitude, 64, 6080, n_iter=4, seed=3),
                                  audio.griffin_lim(magnitude, 64, 6080, n_iter=4, seed=3))


def test_write_wav_writes_16_bit_pcm_and_nothing_else(tmp_path):
    path = tmp_path / "out" / "speech.wav"
    audio.write_wav(path, np.array([0.0, 0.5, 0.99, -0.75], np.float32), 8000)
    data, rate = soundfile.read(path)
    assert rate == 8000 and soundfile.info(path).subtype == "PCM_16"
    np.testing.assert_allclose(data, [0, 0.5, 0.99, -0.75], atol=1e-4)
    assert [p.name for p in path.parent.iterdir()] == ["speech.wav"]


@pytest.mark.parametrize("n_samples", [6080, 6081, 100])
def test_stft_shape_is_what_stft_gives(n_samples):
    spectrogram = audio.stft(np.zeros((1, n_samples), np.float32), 256, 64)
    assert spectrogram.shape[1:] == audio.stft_shape(256, 64, n_samples)
