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


def test_pyin_voices_a_breathy_voice_and_not_noise():
    """Under librosa's default prior pYIN hears no voice in a harmonic source with noise at
    3 dB below it; under `PYIN_PRIOR` it hears its pitch, and still none in the noise."""
    rng = np.random.default_rng(6)
    source = harmonics.excitation(np.full((1, 96), 140.0), RATE, HOP, SAMPLES)[0]
    noise = rng.standard_normal(SAMPLES)
    f0 = harmonics.f0_contours(np.stack([source + noise * 10 ** (-3 / 20), noise]), RATE, HOP)
    assert np.mean(f0[0] > 0) > 0.9
    assert np.median(f0[0][f0[0] > 0]) == pytest.approx(140, rel=0.03)
    assert np.mean(f0[1] > 0) < 0.1


def test_the_fits_take_clips_evenly_spaced_through_the_training_split():
    from spokendigits.models.pitch import STRENGTH_CLIPS, fitting_clips

    digits = np.repeat(np.arange(10), 200)  # ordered by digit, as a feature set is
    chosen = fitting_clips({"digits": digits, "index": np.arange(len(digits))})
    assert len(chosen["index"]) == STRENGTH_CLIPS and set(chosen["digits"]) == set(range(10))
    assert np.array_equal(np.bincount(chosen["digits"]), np.full(10, STRENGTH_CLIPS // 10))
    assert len(fitting_clips({"index": np.arange(30)})["index"]) == 30  # fewer: all of them


def test_the_fitted_threshold_voices_as_many_loud_frames_as_pyin():
    rng = np.random.default_rng(4)
    voicing = rng.uniform(size=(20, 96))
    f0 = np.where(rng.uniform(size=voicing.shape) < 0.3, 150.0, 0.0)
    loud = np.ones(voicing.shape, bool)
    loud[:, 80:] = False
    voicing[:, 80:] = 1.0  # quiet frames are voiced by the model, and do not count
    threshold = harmonics.fitted_threshold(voicing, f0, loud)
    assert np.mean(voicing[loud] >= threshold) == pytest.approx(np.mean(f0[loud] > 0), abs=1e-3)
    # a model that voices too much is voiced from a higher probability than one half
    assert harmonics.fitted_threshold(np.full((2, 3), 0.9), np.zeros((2, 3)),
                                      np.ones((2, 3), bool)) == 1.0
    eager = np.clip(voicing + 0.3, 0, 1)
    assert harmonics.fitted_threshold(eager, f0, loud) > harmonics.VOICED
    assert np.mean(eager[loud] >= harmonics.VOICED) > np.mean(f0[loud] > 0) + 0.2


def test_the_threshold_says_which_frames_are_voiced(representation):
    rng = np.random.default_rng(5)
    frames = representation.shape[1]
    arrays = representation.features(rng.standard_normal((1, SAMPLES)) * 0.1)[..., None]
    f0, voicing = np.full((1, frames), 200.0), np.full((1, frames), 0.6)
    voicing[:, 48:] = 0.9
    at = {threshold: harmonics.voice(arrays, f0, voicing, representation, 1.0,
                                     threshold=threshold)[0, ..., 0] - arrays[0, ..., 0]
          for threshold in (0.5, 0.7, 0.95)}
    assert np.abs(at[0.5]).mean(axis=0)[:40].min() > 0.01  # both halves voiced
    assert np.abs(at[0.7]).max(axis=0)[:40].max() < 1e-6   # the second half only
    np.testing.assert_allclose(at[0.7][:, 52:], at[0.5][:, 52:], atol=1e-5)
    assert np.abs(at[0.95]).max() < 1e-6                    # none


def test_smoothing_steadies_a_wavering_f0_over_its_voiced_frames_only():
    frames = np.arange(96)
    glide = 120.0 * 2 ** (frames / 96)               # an octave's glide over the clip
    wavering = glide * 2 ** (0.05 * (-1.0) ** frames)  # up and down a semitone's 0.6 a frame
    voiced = np.ones((1, 96), bool)
    voiced[:, 40:50] = False
    f0 = np.where(voiced, wavering, 0.0)[None][0]
    smoothed = harmonics.smoothed_f0(f0, voiced, 2.0)
    assert harmonics.frame_to_frame(f0, voiced) == pytest.approx(0.1, abs=0.01)
    assert harmonics.frame_to_frame(smoothed, voiced) < 0.02        # the glide is left
    inner = np.r_[8:32, 58:88]  # away from the clip's ends and the gap, where one side is
    np.testing.assert_allclose(smoothed[0, inner], glide[inner], rtol=0.005)  # missing
    assert (smoothed[~voiced] == 0).all()  # unvoiced frames keep theirs, and pull nothing down
    np.testing.assert_array_equal(harmonics.smoothed_f0(f0, voiced, 0.0), f0)
    steady = np.full((2, 96), 140.0)
    np.testing.assert_allclose(harmonics.smoothed_f0(steady, steady > 0, 3.0), steady)


def test_the_fitted_smoothing_moves_the_f0_as_little_as_pyins_does():
    rng = np.random.default_rng(6)
    frames = np.arange(96)
    reference = np.tile(130.0 * 2 ** (0.2 * np.sin(frames / 15)), (20, 1))
    reference[:, 70:] = 0.0
    wavering = reference * 2 ** (0.05 * rng.standard_normal(reference.shape))
    voiced = reference > 0
    sigma = harmonics.fitted_smoothing(wavering, voiced, reference)
    target = harmonics.frame_to_frame(reference, voiced)
    assert 0 < sigma < harmonics.SMOOTHING_MOST
    assert harmonics.frame_to_frame(harmonics.smoothed_f0(wavering, voiced, sigma),
                                    voiced) <= target
    assert harmonics.frame_to_frame(harmonics.smoothed_f0(
        wavering, voiced, sigma - harmonics.SMOOTHING_STEP), voiced) > target  # the least
    assert harmonics.fitted_smoothing(reference, voiced, reference) == 0.0  # steady already


def test_the_smoothing_steadies_the_voiced_comb(representation):
    rng = np.random.default_rng(7)
    frames = representation.shape[1]
    arrays = representation.features(rng.standard_normal((1, SAMPLES)) * 0.1)[..., None]
    f0 = (150.0 * 2 ** (0.05 * (-1.0) ** np.arange(frames)))[None]
    voicing = np.ones((1, frames))
    unsmoothed = harmonics.voice(arrays, f0, voicing, representation, 1.0)
    np.testing.assert_array_equal(
        harmonics.voice(arrays, f0, voicing, representation, 1.0, smoothing=0.0), unsmoothed)
    steadied = harmonics.voice(arrays, f0, voicing, representation, 1.0, smoothing=3.0)
    steady = harmonics.voice(arrays, np.full_like(f0, 150.0), voicing, representation, 1.0)

    def off(voiced: np.ndarray) -> float:  # from the comb of the contour's mean, inside
        return float(np.abs(voiced - steady)[:, :, 10:-10].mean())

    assert off(steadied) < 0.2 * off(unsmoothed)


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


def test_the_breath_is_noise_detail_in_loud_frames_at_its_spreads(representation):
    rng = np.random.default_rng(1)
    shape = representation.shape
    arrays = representation.features(rng.standard_normal((2, SAMPLES)) * 0.1)[..., None]
    arrays[1, :, shape[1] // 2:] = -3.0  # the second clip's last half is silent
    f0, voicing = np.full((2, shape[1]), 200.0), np.zeros((2, shape[1]))
    voicing[:, 40:] = 1.0  # unvoiced, then voiced
    noise = rng.standard_normal((2, SAMPLES))
    combed = harmonics.voice(arrays, f0, voicing, representation, 0.5)[..., 0]
    zero = np.zeros((2, shape[0]))
    breathing = harmonics.voice(arrays, f0, voicing, representation, 0.5, zero, noise)
    assert breathing.shape == (2, *representation.with_phase().shape)
    np.testing.assert_array_equal(breathing[..., 0], combed)
    unvoiced_only = np.stack([np.zeros(shape[0]), np.full(shape[0], 1.5)])
    added = harmonics.voice(arrays, f0, voicing, representation, 0.5, unvoiced_only,
                            noise)[..., 0] - combed
    texture = 1.5 * harmonics.breath_detail(noise, representation)
    # unvoiced loud frames get the noise's detail at its spread; voiced and quiet ones none
    np.testing.assert_allclose(added[0, :, :36], texture[0, :, :36], atol=1e-5)
    assert np.abs(added[0, :, 44:]).max() < 1e-6
    assert np.abs(added[1, :, shape[1] // 2 + 4:]).max() < 1e-6
    voiced_only = unvoiced_only[::-1]
    added = harmonics.voice(arrays, f0, voicing, representation, 0.5, voiced_only,
                            noise)[..., 0] - combed
    np.testing.assert_allclose(added[0, :, 44:], texture[0, :, 44:], atol=1e-5)
    assert np.abs(added[0, :, :36]).max() < 1e-6


def test_the_source_phase_is_the_harmonics_where_voiced_and_the_breath_where_not(
        representation):
    from spokendigits import audio

    rng = np.random.default_rng(3)
    settings, frames = representation.settings, representation.shape[1]
    f0, voicing = np.full((1, frames), 150.0), np.zeros((1, frames))
    voicing[:, 48:] = 1.0
    noise = rng.standard_normal((1, SAMPLES))
    source = harmonics.excitation(f0, RATE, HOP, SAMPLES)
    phase = harmonics.source_phase(source, voicing, noise, representation)
    of = {name: np.angle(audio.stft(waveform, settings.n_fft, HOP))
          for name, waveform in (("harmonics", source), ("noise", noise))}

    def near(a: np.ndarray, b: np.ndarray) -> float:  # mean cosine of the difference
        return float(np.cos(a - b).mean())

    assert near(phase[..., 56:], of["harmonics"][..., 56:]) > 0.99
    assert near(phase[..., :40], of["noise"][..., :40]) > 0.99
    # decoded with it: the inverse STFT of the voiced magnitudes at the source's phase
    arrays = representation.features(source * 0.1)[..., None]
    spoken = harmonics.voice(arrays, f0, voicing, representation, 0.5,
                             np.ones((2, representation.shape[0])), noise, filtered=False)
    magnitude = representation.magnitude(spoken[..., 0])
    np.testing.assert_allclose(
        representation.with_phase().decode(spoken),
        audio.inverse_stft(magnitude * np.exp(1j * phase), HOP, SAMPLES), atol=1e-4)
    # filtered: through the minimum phase of the arrays' envelope, the magnitudes the same
    filtered = harmonics.voice(arrays, f0, voicing, representation, 0.5,
                               np.ones((2, representation.shape[0])), noise)
    np.testing.assert_array_equal(filtered[..., 0], spoken[..., 0])
    through = phase + harmonics.filter_phase(arrays[..., 0], representation)
    assert near(np.pi * filtered[..., 1], through) > 0.9999


def test_the_filter_phase_is_a_resonances_own_minimum_phase(representation):
    """A resonance of two poles inside the unit circle (a formant) is a minimum-phase
    filter: `filter_phase` finds its phase from its magnitude alone; of the same magnitude
    with its zeros reflected (a maximum-phase filter) it finds the same phase."""
    frequency = np.linspace(0, np.pi, representation.shape[0])
    delay = np.exp(-1j * frequency)
    pole = 0.9 * np.exp(2j * np.pi * 700 / RATE)
    resonance = 1 / ((1 - pole * delay) * (1 - np.conj(pole) * delay))

    def found(response: np.ndarray) -> np.ndarray:
        log_magnitude = np.repeat(np.log(np.abs(response))[None, :, None], 3, axis=2)
        return harmonics.filter_phase(representation.scaling.apply(log_magnitude),
                                      representation)

    expected = np.angle(resonance)[None, :, None]
    np.testing.assert_allclose(np.cos(found(resonance) - expected), 1, atol=1e-4)
    zero = 0.8 * np.exp(2j * np.pi * 1500 / RATE)  # a zero's magnitude is its reflection's
    inside = (1 - zero * delay) * (1 - np.conj(zero) * delay)
    outside = (delay - np.conj(zero)) * (delay - zero)
    np.testing.assert_allclose(np.abs(outside), np.abs(inside), rtol=1e-9)
    np.testing.assert_allclose(np.cos(found(resonance * outside) -
                                      np.angle(resonance * inside)[None, :, None]), 1, atol=1e-4)
    assert np.cos(np.angle(resonance * outside) - np.angle(resonance * inside)).min() < 0.5


def test_the_breath_is_the_detail_the_spoken_clips_lack(representation):
    """White noise spoken as its smooth envelope lacks noise's spread, unvoiced; spoken as
    itself it lacks none; a harmonic source spoken as its envelope lacks its comb where
    voiced, and its envelope spoken with the comb lacks nothing."""
    rng = np.random.default_rng(2)
    frames = representation.shape[1]
    silent = np.zeros((6, frames))
    noise = representation.features(rng.standard_normal((6, SAMPLES)))
    smooth = harmonics.blur_over_frequency(noise, 6.0)
    breath = harmonics.fitted_breath(noise, smooth, silent, representation)
    assert breath.shape == (2, representation.shape[0]) and (breath[0] == 0).all()
    assert breath[1, 3:-3].mean() == pytest.approx(1.0, abs=0.15)
    assert (harmonics.fitted_breath(noise, noise, silent, representation) == 0).all()

    f0 = np.repeat(np.linspace(110, 220, 6)[:, None], frames, axis=1)
    combed = representation.features(harmonics.excitation(f0, RATE, HOP, SAMPLES))
    envelope = harmonics.blur_over_frequency(combed, 6.0)
    lacking = harmonics.fitted_breath(combed, envelope, f0, representation)
    assert lacking[0, 3:32].mean() > 0.5 and (lacking[1] == 0).all()  # every frame voiced
    assert (harmonics.fitted_breath(envelope, combed, f0, representation) == 0).all()


def test_the_spoken_strengths_are_the_scale_whose_spoken_detail_is_the_clips(representation):
    """Clips made by speaking envelopes voiced at a scale of the strengths per band are fitted
    that scale in each band; clips spoken with no comb drawn (the source's phase alone),
    none; and a band whose bins were spoken at two scales gets one of them throughout."""
    frames, bins = representation.shape[1], representation.shape[0]
    band = harmonics.strength_bands(bins)
    assert np.array_equal(np.bincount(band), [16] * 7 + [17])  # the Nyquist bin with the last
    f0 = np.repeat(np.linspace(110, 220, 4)[:, None], frames, axis=1)
    f0[:, :20] = 0.0  # unvoiced at first
    combed = representation.features(harmonics.excitation(f0, RATE, HOP, SAMPLES) +
                                      0.01 * np.random.default_rng(4).standard_normal(SAMPLES))
    drafts = harmonics.blur_over_frequency(combed, 6.0)
    noise = np.random.default_rng(5).standard_normal((4, SAMPLES))
    strength = np.linspace(0.5, 1.5, bins).astype(np.float32)

    def fitted_scales(scales: np.ndarray) -> np.ndarray:
        spoken = harmonics.spoken_unbreathed(drafts, f0, (f0 > 0).astype(np.float32),
                                             representation, scales * strength, noise)
        return harmonics.spoken_strength(spoken, drafts, f0, strength, noise,
                                         representation) / strength

    made = np.where(band < 3, 0.5, np.where(band < 5, 0.25, 0.0))
    np.testing.assert_allclose(fitted_scales(made), made, atol=1e-6)
    np.testing.assert_allclose(fitted_scales(np.zeros(bins)), 0.0, atol=1e-6)
    mixed = made.copy()
    mixed[16:32:2] = 0.0  # band 1's bins at 0.5 and 0 in turn
    scales = fitted_scales(mixed)
    assert all(np.ptp(scales[band == b]) < 1e-6 for b in range(band.max() + 1))
    assert np.isclose(scales[16], harmonics.STRENGTH_SCALES[:3]).any()  # one of 0, 0.25, 0.5
    np.testing.assert_allclose(scales[band != 1], made[band != 1], atol=1e-6)


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


def test_the_clip_mean_carries_a_cue_from_one_end_of_the_clip_to_the_other(tmp_path):
    """Each clip's f0 (100 or 200 Hz throughout) is told only by its first frame: the
    convolutions alone cannot carry it 16 frames on; the clip's mean does."""
    import keras
    from spokendigits.models import pitch_network
    from spokendigits.storage import onnx_session

    rng = np.random.default_rng(1)
    bins, frames, clips = 8, 32, 256
    high = rng.random(clips) < 0.5
    spectrograms = np.zeros((clips, bins, frames), np.float32)
    spectrograms[:, 0, 0] = np.where(high, 1.0, -1.0)
    f0 = np.where(high, 200.0, 100.0)[:, None] * np.ones((1, frames))
    target = np.stack([np.full(f0.shape, 3.0), np.log2(f0 / harmonics.F0_REFERENCE)], -1)
    cents = {}
    for clip_mean in (False, True):
        keras.utils.set_random_seed(0)
        config = ModelConfig(family="pitch", vae_run="unused", width=16, depth=1,
                             clip_mean=clip_mean)
        network = pitch_network.build_pitch(config, (bins, frames))
        network.compile(keras.optimizers.Adam(3e-3), loss="mse")
        network.fit(spectrograms, target.astype(np.float32), epochs=60, batch_size=32, verbose=0)
        predicted, _ = harmonics.pitch_of(network.predict(spectrograms, verbose=0))
        cents[clip_mean] = np.median(np.abs(1200 * np.log2(predicted[:, 16:] / f0[:, 16:])))
    assert cents[False] > 400 and cents[True] < 100  # an octave apart: 1200 cents
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
    strength, breath = sampler["pitch"]["strength"], sampler["pitch"]["breath"]
    assert sampler["pitch"]["file"] == "pitch.onnx" and len(strength) == run.representation.shape[0]
    assert all(0 <= gain < 10 for gain in strength) and max(strength) > 0
    assert np.shape(breath) == (2, len(strength)) and 0 <= np.min(breath) and np.max(breath) < 10
    assert 0 < sampler["pitch"]["voiced"] < 1
    assert 0 <= sampler["pitch"]["smoothing"] <= harmonics.SMOOTHING_MOST
    synthesizer = Synthesizer(run)
    assert synthesizer.pitch is not None and {"digit", "mixture"} <= set(synthesizer.samplers)
    speech = synthesizer.speak(parse_digits("12"), seed=3, n_iter=4)
    assert np.isfinite(speech).all() and len(speech) > 0
    voiced = synthesizer.arrays([1, 2], seed=3)  # with its source's phase
    assert voiced.shape == (2, *run.representation.with_phase().shape)
    np.testing.assert_array_equal(synthesizer.waveforms(voiced), run.representation.with_phase(
        ).decode(voiced))
    synthesizer.pitch, synthesizer.spoken = None, run.representation
    drafts = synthesizer.arrays([1, 2], seed=3)
    assert drafts.shape == (2, *run.representation.shape)
    assert not np.allclose(voiced[..., :1], drafts)
    np.testing.assert_array_equal(Synthesizer(run).arrays([1, 2], seed=3), voiced)  # seeded
    # only the fine detail changes: the blurred spectrograms are the drafts' (but near the
    # DC and Nyquist bins, whose noise is real-valued, lopsided in log, and blurred over)
    np.testing.assert_allclose(harmonics.blur_over_frequency(voiced[..., 0], 3.0)[:, 8:-8],
                               harmonics.blur_over_frequency(drafts[..., 0], 3.0)[:, 8:-8],
                               atol=0.05)


def test_the_drafts_are_the_vaes_spectrograms_before_the_voice(pitch_run, trained_runs):
    from spokendigits.synthesis import Synthesizer

    pitch, vae = Synthesizer(pitch_run), Synthesizer(trained_runs["cnn"])
    speaker = trained_runs["cnn"].speakers[1]
    drafts = pitch.arrays([4, 5], speaker, seed=2, finished=False)
    np.testing.assert_allclose(drafts, vae.arrays([4, 5], speaker, seed=2,
                                                  sampler=pitch.default_sampler), atol=1e-5)
    voiced = pitch.arrays([4, 5], speaker, seed=2)
    assert voiced.shape == (*drafts.shape[:-1], 2)  # and its source's phase beside
    assert not np.allclose(voiced[..., 0], drafts[..., 0])  # the harmonics added


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
                    {"file": "missing.onnx", "strength": 1.0}, "pitch.onnx",
                    {**sampler["pitch"], "breath": [[0.5, 0.5]]},
                    {**sampler["pitch"], "breath": [[0.5, 0.5], [0.5]]},
                    {**sampler["pitch"], "breath": [[0.5, -1], [0.5, 0.5]]},
                    {**sampler["pitch"], "voiced": 1.5}, {**sampler["pitch"], "voiced": True},
                    {**sampler["pitch"], "voiced": [0.5]},
                    {**sampler["pitch"], "smoothing": -1}, {**sampler["pitch"], "smoothing": True},
                    {**sampler["pitch"], "filtered": 1}, {**sampler["pitch"], "filtered": "yes"},
                    {**sampler["pitch"], "extra": 1}):
        (checkpoint / "sampler.json").write_text(json.dumps({**sampler, "pitch": damaged}))
        with pytest.raises(DataError):
            read_sampler(checkpoint, latent_dim)


def test_checkpoints_of_earlier_versions_speak_and_wrong_counts_are_refused(pitch_run,
                                                                          tmp_path):
    """Earlier versions spoke through no filter (the source's phase alone), before that
    wrote no smoothing (the f0 as the network gives it), before that no voicing threshold
    (voiced from one half), before that no breath, and before that one strength for every
    bin."""
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer

    run = Run.open(shutil.copytree(pitch_run.folder, tmp_path / pitch_run.name))
    path = run.checkpoint(None) / "sampler.json"
    sampler = json.loads(path.read_text())

    def at(**numbers: object) -> np.ndarray:
        path.write_text(json.dumps({**sampler, "pitch": {**sampler["pitch"], **numbers}}))
        return Synthesizer(run).arrays([4, 5], seed=2)

    assert sampler["pitch"]["filtered"] is True
    filtered, unfiltered = at(), at(filtered=False)
    np.testing.assert_array_equal(filtered[..., 0], unfiltered[..., 0])
    assert not np.allclose(filtered[..., 1], unfiltered[..., 1])  # the filter is read and used
    sampler["pitch"].pop("filtered")
    np.testing.assert_array_equal(at(), unfiltered)
    steady, unsmoothed = at(smoothing=8.0), at(smoothing=0.0)
    assert not np.allclose(steady[..., 0], unsmoothed[..., 0])  # the smoothing is read and used
    sampler["pitch"].pop("smoothing")
    np.testing.assert_array_equal(at(), unsmoothed)
    half, hardly = at(voiced=0.5), at(voiced=0.999)
    assert not np.allclose(hardly[..., 0], half[..., 0])  # the threshold is read and used
    pitch = {name: value for name, value in sampler["pitch"].items() if name != "voiced"}
    path.write_text(json.dumps({**sampler, "pitch": pitch}))
    breathing = Synthesizer(run).arrays([4, 5], seed=2)
    np.testing.assert_array_equal(breathing, half)
    strength = sampler["pitch"]["strength"]
    path.write_text(json.dumps({**sampler, "pitch": {"file": "pitch.onnx", "strength": strength}}))
    per_bin = Synthesizer(run).arrays([4, 5], seed=2)  # no breath, by Griffin-Lim
    assert per_bin.shape == (*breathing.shape[:-1], 1)
    assert not np.allclose(per_bin[..., 0], breathing[..., 0])
    path.write_text(json.dumps({**sampler, "pitch": {"file": "pitch.onnx",
                                                     "strength": strength[10]}}))
    alike = Synthesizer(run).arrays([4, 5], seed=2)  # one strength
    assert alike.shape == per_bin.shape and not np.allclose(alike, per_bin)
    np.testing.assert_allclose(alike[:, 10], per_bin[:, 10], atol=1e-5)  # the same gain there
    path.write_text(json.dumps({**sampler, "pitch": {"file": "pitch.onnx",
                                                     "strength": [strength[10]] * 7}}))
    with pytest.raises(DataError, match="7 harmonic strengths"):
        Synthesizer(run)
    path.write_text(json.dumps({**sampler, "pitch": {**sampler["pitch"],
                                                     "breath": [[0.5] * 7] * 2}}))
    with pytest.raises(DataError, match="breath spreads of 7 bins"):
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
