"""The outside listeners: a recognizer and a MOS predictor the project did not train. Real
speech must score above noise, a tone and the model-free floor, and the scores must repeat."""

from __future__ import annotations

import numpy as np
import pytest

from spokendigits import audio
from spokendigits.listeners import MOS, SCORES, for_listeners, hear


@pytest.fixture(scope="module")
def clips(small_feature_set, fsdd_dir):
    """Three real test recordings of each digit, and what stands in for speech beside them:
    white noise, a 440 Hz tone, and each digit's mean training spectrogram (the floor)
    through Griffin-Lim, as many of each."""
    from spokendigits.evaluation import digit_means

    rate = small_feature_set.config.sample_rate
    test = np.flatnonzero(small_feature_set.split_mask("test"))
    chosen = np.concatenate([test[small_feature_set.digits[test] == digit][:3]
                             for digit in range(10)])
    digits = small_feature_set.digits[chosen]
    real = [audio.load_wav(fsdd_dir / path, rate)
            for path in np.asarray(small_feature_set.files)[chosen]]
    rng = np.random.default_rng(0)
    seconds = np.arange(rate // 2) / rate
    analysis = small_feature_set.featurizer.representation
    return rate, digits, {
        "real": real,
        "noise": [0.3 * rng.standard_normal(rate // 2) for _ in digits],
        "tone": [0.5 * np.sin(2 * np.pi * 440 * seconds) for _ in digits],
        "floor": analysis.waveforms(digit_means(small_feature_set)[digits], seed=0, n_iter=32)}


def test_real_speech_scores_above_noise_a_tone_and_the_floor(clips):
    rate, digits, sets = clips
    scores = {name: hear(waveforms, rate).scores(digits) for name, waveforms in sets.items()}
    real = scores.pop("real")
    assert real["listener"] > 0.5  # of 30 clips; a guess gets 0.1
    for name, other in scores.items():
        for score in ("listener", "mos_sig", "mos_ovrl"):
            assert real[score] > other[score], (name, score, real, other)
    assert all(1 <= real[score] <= 5 for score in MOS)


def test_the_outside_scores_repeat_exactly(clips):
    rate, digits, sets = clips
    first, again = hear(sets["real"][:8], rate), hear(sets["real"][:8], rate)
    assert np.array_equal(first.digits, again.digits) and np.array_equal(first.mos, again.mos)
    assert set(first.scores(digits[:8])) == set(SCORES)


def test_clips_are_heard_trimmed_at_16_khz_and_one_peak():
    rate = 8000
    clip = np.concatenate([np.zeros(4000), 0.1 * np.sin(np.arange(4000) / 3), np.zeros(4000)])
    heard = for_listeners(clip, rate)
    assert abs(len(heard) - 2 * 4000) < 2 * 0.05 * rate  # the silence trimmed, at 16 kHz
    assert np.isclose(np.abs(heard).max(), 0.9, atol=1e-3)
    assert not for_listeners(np.zeros(800), rate).any()  # silence stays silent
