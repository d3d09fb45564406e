"""How peaky a pitch model's voiced frames are, against the recordings': the buzz.

    python benchmarks/buzz_probe.py [--run codes/spokendigits/pretrained/pitch] [--samples 300]

A pitch model speaks with the phase of a harmonic source that holds every
harmonic in phase (`harmonics.excitation`): each pitch period is one sharp
pulse. A voice's pulses ring and decay through the vocal tract, whose phase a
source-filter vocoder gives them: the minimum phase of the envelope
(`harmonics.filter_phase`; a pitch model's `sampler.json` says `"filtered"`).

For the real test clips and for `--samples` of the model's clips (an equal
number of each digit, guidance 1, the seeds of `codes/evaluate.py`, and as it
does a voice drawn for each clip where the model knows voices), each as
the model speaks it, through the source's phase alone and through Griffin-Lim
(64 iterations, the magnitudes alone): over the frames pYIN hears voiced in the
waveform (`harmonics.f0_contours`) that are loud (`harmonics.loud_mask`), the
median of each frame's kurtosis (3 for Gaussian noise; a pulse train's grows
with its period) and crest factor (peak over root mean square, dB), over
windows of the STFT's length centred on its frames. Nothing here trains, tunes
or selects a model.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))


def main() -> None:
    from spokendigits import harmonics
    from spokendigits.evaluation import clip_speakers
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer, bundled_run
    from train import load_feature_set

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path,
                        help="feature set made with --phase (default: the one in dataset/features)")
    parser.add_argument("--run", type=Path, help="a pitch run or its export (default: the "
                        "bundled pitch model)")
    parser.add_argument("--samples", type=int, default=300, help="model clips (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    feature_set = load_feature_set(args.features, phases=True)
    analysis = feature_set.featurizer.representation
    test = feature_set.split_mask("test")
    synthesizer = Synthesizer(Run.open(args.run or bundled_run("pitch")))
    if synthesizer.pitch is None or synthesizer.sampler.breath is None:
        sys.exit(f"{synthesizer.run.name} is not a pitch model spoken with its source's phase")
    digits = np.resize(np.arange(10), args.samples).tolist()
    speakers = clip_speakers(synthesizer.run, len(digits), args.seed)  # as evaluate.py draws
    sampler = synthesizer.sampler

    def spoken_as(filtered: bool) -> np.ndarray:  # the same z, f0 and breath; another phase
        synthesizer.sampler = dataclasses.replace(sampler, filtered=filtered)
        return synthesizer.arrays(digits, speakers, seed=args.seed)

    filtered, unfiltered = spoken_as(True), spoken_as(False)
    spoken = synthesizer.spoken
    clips = {"real test clips": harmonics.clip_waveforms(feature_set.features[test],
                                                         feature_set.phase[test], analysis),
             "the model, through the envelope's minimum phase": spoken.decode(filtered),
             "the model, the source's phase alone": spoken.decode(unfiltered),
             "the model, Griffin-Lim": spoken.decode(filtered, phase="griffin-lim",
                                                     seed=args.seed)}
    settings = analysis.settings
    rows = []
    for name, waveforms in clips.items():
        f0 = harmonics.f0_contours(waveforms, settings.sample_rate, settings.hop_length)
        chosen = harmonics.loud_mask(analysis.features(waveforms), analysis) & (f0 > 0)
        kurtosis, crest = peakiness(waveforms, chosen, settings.n_fft, settings.hop_length)
        rows.append({"clips": name, "voiced, loud frames": int(chosen.sum()),
                     "kurtosis (median)": np.median(kurtosis),
                     "crest factor, dB (median)": np.median(crest)})
    print(f"{synthesizer.run.name}: {args.samples} clips, guidance 1, seed {args.seed}; "
          f"{int(test.sum())} real test clips ({feature_set.name})")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


def peakiness(waveforms: np.ndarray, chosen: np.ndarray, length: int,
              hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Each chosen frame's kurtosis and crest factor (dB): `[clip, frame]` `chosen` frames of
    `[clip, sample]` waveforms, over windows of `length` samples centred on the frames."""
    from scipy.stats import kurtosis

    padded = np.pad(waveforms, ((0, 0), (length // 2, length // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, length, axis=-1)[:, ::hop_length]
    windows = windows[:, :chosen.shape[1]][chosen[:, :windows.shape[1]]]
    rms = np.sqrt(np.mean(windows**2, axis=-1))
    return (kurtosis(windows, axis=-1, fisher=False),
            20 * np.log10(np.abs(windows).max(axis=-1) / np.maximum(rms, 1e-12)))


if __name__ == "__main__":
    main()
