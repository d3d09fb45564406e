"""How much of real clips' fine detail the comb of their own f0 explains, band by band.

    python benchmarks/comb_fit.py [--features dataset/features/fsdd-67a12987.pkl] [--clips 500]
    python benchmarks/comb_fit.py --spoken output/runs/cnn-vae-9e35b601   # and as heard

A pitch model adds the comb of a harmonic source at the f0 it hears to the
voiced, loud frames (`harmonics.voice`). Here the f0 is the real clips' own
(pYIN, `harmonics.clips_f0`), so the table says what the best pitch model could
do. The strengths are fitted on `--clips` training clips, as a pitch model's
export fits them, and measured on the test split:

- one strength for every bin: the comb with the spread of the clips' own
  detail (what pitch models exported before 2026-12-07 used);
- a strength per bin: the least-squares gain (`harmonics.fitted_strength`).

and what the comb at the strengths per bin leaves of the training clips' detail
in their voiced, loud frames, and their detail in the unvoiced, loud ones: its
spread as a multiple of white noise's detail (1.0: as spread as noise). A pitch
model's breath is what the clips it speaks lack of that detail
(`harmonics.fitted_breath`, `benchmarks/breath_probe.py`).

Per band of 16 bins (500 Hz at 8 kHz): the correlation of the comb with the
real detail, each strength, and the squared error of the detail each leaves,
as a share of the detail's own power (1.0: no nearer than adding no comb;
above 1: further).

With `--spoken VAE_RUN` (a trained VAE run, with its encoder), the detail as it
is heard: the VAE's reconstructions of the test clips, voiced at the clips' own
f0 at each multiple of the strengths per bin (`harmonics.STRENGTH_SCALES`),
spoken as a pitch model speaks them (their source's phase, seeded noise where
unvoiced, through the envelope's minimum phase; no breath) and analysed again
from the waveform; the squared error of that detail against the
recordings', as a share of the recordings' detail's power. A pitch model's
export scales its strengths, band by band, to the multiple with the least
such error on its training clips (`harmonics.spoken_strength`). Nothing here trains
or selects a model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))

BAND = 16  # bins


def main() -> None:
    from spokendigits.harmonics import (clips_f0, comb, fine_detail, fitted_strength,
                                        loud_mask, mean_square, noise_spread,
                                        voiced_and_loud)
    from spokendigits.models.pitch import fitting_clips
    from train import load_feature_set

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path,
                        help="feature set made with --phase (default: the one in dataset/features)")
    parser.add_argument("--clips", type=int, default=500, help="training clips to fit on")
    parser.add_argument("--spoken", type=Path, metavar="VAE_RUN",
                        help="also the detail of this VAE's reconstructions as spoken")
    args = parser.parse_args()

    feature_set = load_feature_set(args.features, phases=True)
    analysis = feature_set.featurizer.representation
    clips = {split: np.flatnonzero(feature_set.split_mask(split)) for split in ("train", "test")}
    clips["train"] = fitting_clips({"index": clips["train"]}, args.clips)["index"]  # as exports
    features = {split: feature_set.features[index] for split, index in clips.items()}
    f0 = {split: clips_f0(features[split], feature_set.phase[index], analysis)
          for split, index in clips.items()}

    test = features["test"]
    chosen = voiced_and_loud(test, f0["test"], analysis)
    detail = np.where(chosen, fine_detail(test), 0.0)
    combs = np.where(chosen, comb(f0["test"], analysis), 0.0)
    train = features["train"]
    train_chosen = voiced_and_loud(train, f0["train"], analysis)
    one = fine_detail(train)[train_chosen].std() / comb(f0["train"], analysis)[train_chosen].std()
    per_bin = fitted_strength(train, f0["train"], analysis)
    loud = np.broadcast_to(loud_mask(train, analysis)[:, None, :], train.shape)
    left_over = {"voiced": (fine_detail(train) - per_bin[:, None] * comb(f0["train"], analysis),
                            train_chosen),
                 "unvoiced": (fine_detail(train), loud & ~train_chosen)}
    spreads = {name: np.sqrt(mean_square(values, where)) / noise_spread(analysis)
               for name, (values, where) in left_over.items()}

    rows = []
    bin_hz = feature_set.config.sample_rate / 2 / (test.shape[1] - 1)
    for start in range(0, test.shape[1] - 1, BAND):
        band = slice(start, start + BAND)
        real, made = detail[:, band], combs[:, band]
        power = (real**2).sum()

        def left(gain: np.ndarray | float) -> float:
            gain = np.broadcast_to(np.asarray(gain, np.float32), (BAND,))[:real.shape[1]]
            return float(((real - gain[None, :, None] * made) ** 2).sum() / power)

        rows.append({"Hz": f"{start * bin_hz:.0f}-{(start + BAND) * bin_hz:.0f}",
                     "correlation": float(np.corrcoef(real[chosen[:, band]],
                                                      made[chosen[:, band]])[0, 1]),
                     "one strength": one, "error, one strength": left(one),
                     "strength per bin (mean)": float(per_bin[band].mean()),
                     "error, per bin": left(per_bin[band]),
                     **{f"left, {name} (x noise's)": float(spread[band].mean())
                        for name, spread in spreads.items()}})
    print(f"{len(clips['test'])} test clips, strengths fitted on {len(clips['train'])} training "
          f"clips; {feature_set.name}")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    if args.spoken:
        print("\nThe detail spoken: squared error against the recordings' per band, as a share "
              "of its power, at each multiple of the strengths per bin")
        print(spoken_table(args.spoken, feature_set, f0["test"], per_bin, bin_hz)
              .to_markdown(index=False, floatfmt=".2f"))


def spoken_table(vae: Path, feature_set, f0: np.ndarray, strength: np.ndarray,
                 bin_hz: float) -> pd.DataFrame:
    """Per band (rows), the error of the spoken detail of `vae`'s reconstructions of the test
    clips, voiced at their `[clip, frame]` f0 at each multiple of `strength` (columns)."""
    from spokendigits import harmonics
    from spokendigits.evaluation import reconstructions
    from spokendigits.runs import Run

    drafts = reconstructions(Run.open(vae), None, feature_set)
    if drafts is None:
        sys.exit(f"{vae} has no encoder (an exported copy): give the trained run")
    analysis = feature_set.featurizer.representation
    test = feature_set.features[feature_set.split_mask("test")]
    noise = np.random.default_rng(0).standard_normal((len(test), analysis.settings.clip_samples))
    errors = harmonics.spoken_errors(test, drafts, f0, strength, noise, analysis)
    power = harmonics.mean_square(harmonics.fine_detail(test),
                                  harmonics.voiced_and_loud(test, f0, analysis))
    bands = harmonics.strength_bands(len(power))  # the bands the export's fit compares
    starts = [np.flatnonzero(bands == band)[0] for band in range(bands.max() + 1)]
    return pd.DataFrame({
        "Hz": [f"{start * bin_hz:.0f}-{(start + harmonics.STRENGTH_BAND) * bin_hz:.0f}"
               for start in starts],
        **{f"x {scale:g}": np.bincount(bands, weights=error) / np.bincount(bands, weights=power)
           for scale, error in zip(harmonics.STRENGTH_SCALES, errors)}})


if __name__ == "__main__":
    main()
