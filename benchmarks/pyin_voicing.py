"""How much of the recordings does pYIN voice, by its prior, against an autocorrelation detector?

    python benchmarks/pyin_voicing.py [--features dataset/features/fsdd-67a12987.pkl] [--clips 300]

A pitch model learns each frame's voicing from pYIN's (`harmonics.f0_contours`)
on the training clips. pYIN voices a frame by a prior over YIN's threshold (a
beta distribution, librosa's `beta_parameters`); its default, (2, 18), expects
clean, strongly periodic voices. Here, on `--clips` training clips drawn at
random (seeded), the share of their loud frames (`harmonics.loud_frames`) that
pYIN voices under several priors, and the share of clips it voices in less than
a tenth of them (every spoken digit has a vowel), beside a plain autocorrelation
detector with Praat's default voicing threshold: a frame is voiced where its
normalised autocorrelation (Hann window of 64 ms, Boersma's window correction)
peaks at 0.45 or more between 60 and 400 Hz. By speaker, since the priors fail
some voices more than others. Nothing here trains or selects a model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))

PRIORS = ((2, 18), (2, 10), (2, 6), (2, 4), (1, 1))
PRAAT_THRESHOLD = 0.45  # Praat's default voicing threshold


def autocorrelation_voiced(waveform: np.ndarray, frames: int, hop: int, frame: int,
                           lags: slice) -> np.ndarray:
    """`[frame]` True where the normalised, window-corrected autocorrelation of the frame
    (centred, as `audio.stft`'s) peaks at `PRAAT_THRESHOLD` or more within `lags`."""
    from numpy.lib.stride_tricks import sliding_window_view

    window = np.hanning(frame)
    chunks = sliding_window_view(np.pad(waveform, frame // 2), frame)[::hop][:frames]
    chunks = (chunks - chunks.mean(axis=1, keepdims=True)) * window

    def autocorrelation(values: np.ndarray) -> np.ndarray:
        power = np.abs(np.fft.rfft(values, 2 * frame)) ** 2
        correlation = np.fft.irfft(power)[..., :frame]
        return correlation / np.maximum(correlation[..., :1], 1e-12)

    return (autocorrelation(chunks) / autocorrelation(window))[:, lags].max(axis=1) >= \
        PRAAT_THRESHOLD


def main() -> None:
    from spokendigits import harmonics
    from train import load_feature_set

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path,
                        help="feature set made with --phase (default: the one in dataset/features)")
    parser.add_argument("--clips", type=int, default=300, help="training clips (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    feature_set = load_feature_set(args.features, phases=True)
    analysis = feature_set.featurizer.representation
    settings = analysis.settings
    clips = np.random.default_rng(args.seed).choice(
        np.flatnonzero(feature_set.split_mask("train")), args.clips, replace=False)
    features = feature_set.features[clips]
    waveforms = harmonics.clip_waveforms(features, feature_set.phase[clips], analysis)
    loud = harmonics.loud_mask(features, analysis)
    rate, frame = settings.sample_rate, harmonics.pyin_frame_length(settings.sample_rate)
    low, high = harmonics.F0_RANGE
    lags = slice(int(rate / high), int(rate / low) + 1)

    shares = {f"autocorrelation {PRAAT_THRESHOLD}": [
        np.mean(autocorrelation_voiced(waveform, len(mask), settings.hop_length, frame,
                                       lags)[mask]) for waveform, mask in zip(waveforms, loud)]}
    for prior in PRIORS:
        voiced = harmonics.f0_contours(waveforms, rate, settings.hop_length, prior) > 0
        shares[f"pYIN, prior {prior}"] = [np.mean(frames[mask])
                                          for frames, mask in zip(voiced, loud)]
    speakers = feature_set.speakers[clips]
    rows = []
    for name, values in shares.items():
        values = np.asarray(values)
        rows.append({"voicing": name, "loud frames voiced": values.mean(),
                     "clips under a tenth": np.mean(values < 0.1),
                     **{speaker: values[speakers == speaker].mean()
                        for speaker in np.unique(speakers)}})
    print(f"{args.clips} training clips of {feature_set.name}, drawn with seed {args.seed}")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
