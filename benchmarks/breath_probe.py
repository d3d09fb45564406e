"""Does a pitch model's breath add detail the spoken clips lack, or detail the source's phase
already makes?

    python benchmarks/breath_probe.py --pitch codes/spokendigits/pretrained/pitch \
        --vae output/runs/cnn-vae-9e35b601 [--listen --flow output/runs/latent-flow-ab36809b]

A clip is spoken with its source's phase (`harmonics.source_phase`), which no smooth
magnitude is consistent with: the inverse STFT makes fine detail (the log-magnitude less
its blur across frequency) of its own. Pitch models exported before 2026-12-07's last
change fitted their breath to the recordings' detail in the arrays, before the inverse
STFT, and so added to that; `harmonics.fitted_breath` now fits what the spoken clips lack.
This says how spread the fine detail is, per band, in the loud
frames voiced and unvoiced (pYIN's voicing of the real clips), of:

- the real test clips;
- the VAE's reconstructions of them voiced by the pitch model, with its breath and with
  none (its spreads 0, the source's phase unchanged), as arrays and as spoken (the
  waveform analysed again).

With `--listen`, the outside listeners' scores (`listeners`) of `--samples` samples of
the latent flow the model voices (`--flow`; guidance 1, as the model draws z) spoken
five ways: the flow's draft through Griffin-Lim, voiced without and with the breath
through Griffin-Lim, voiced with the breath and the source's phase (as the model
speaks), and voiced with the source's phase and no breath. Nothing here trains, tunes or
selects a model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))

BANDS_KHZ = ((0, 0.5), (0.5, 1), (1, 2), (2, 4))


def main() -> None:
    from spokendigits import harmonics, listeners
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, help="feature set (default: the one in dataset/features)")
    parser.add_argument("--pitch", type=Path, required=True, help="a breathing pitch run")
    parser.add_argument("--vae", type=Path, required=True, help="its VAE run, with its encoder")
    parser.add_argument("--listen", action="store_true", help="add the outside listeners' scores")
    parser.add_argument("--flow", type=Path, help="the latent flow run it voices (with --listen)")
    parser.add_argument("--samples", type=int, default=300, help="flow samples heard (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.listen and args.flow is None:
        parser.error("--listen hears the flow's samples: give its run with --flow")

    from pitch_probes import voiced_test

    probe = voiced_test(args.features, args.pitch, args.vae)
    feature_set, pitch, test, drafts = probe.feature_set, probe.pitch, probe.test, probe.drafts
    representation = feature_set.featurizer.representation
    real, voiced = feature_set.features[test], probe.pyin > 0
    kilohertz = np.linspace(0, feature_set.config.sample_rate / 2000, representation.shape[0])
    sampler = pitch.sampler
    breaths = {"its breath": np.asarray(sampler.breath),
               "no breath": np.zeros(np.shape(sampler.breath))}

    def voiced_by(arrays: np.ndarray, breath: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return harmonics.voice(arrays, *pitch.pitch_contour(arrays[..., 0]), representation,
                               sampler.strength, breath, noise, pitch.voicing_threshold,
                               sampler.smoothing)

    def spreads(name: str, features: np.ndarray) -> list[dict]:
        detail = harmonics.fine_detail(features)
        loud = harmonics.loud_mask(features, representation)
        rows = []
        for frames, chosen in (("voiced", loud & voiced), ("unvoiced", loud & ~voiced)):
            row = {"clips": name, "loud frames": frames}
            for low, high in BANDS_KHZ:
                band = (kilohertz >= low) & (kilohertz < high)
                values = detail[:, band][np.broadcast_to(chosen[:, None], detail[:, band].shape)]
                row[f"{low:g}-{high:g} kHz"] = float(np.sqrt(np.mean(values**2)))
            rows.append(row)
        return rows

    table = spreads("real test clips", real)
    noise = pitch.breath_noise(len(drafts), np.random.default_rng(args.seed))
    for name, breath in breaths.items():
        arrays = voiced_by(drafts[..., None], breath, noise)
        table += spreads(f"reconstructions voiced, {name}: arrays", arrays[..., 0])
        table += spreads(f"reconstructions voiced, {name}: spoken", representation.features(
            pitch.waveforms(arrays)))
    print(f"{int(test.sum())} test clips; root mean square of the fine detail per band, in "
          "the loud frames pYIN voices in the real clip and those it does not")
    print(pd.DataFrame(table).to_markdown(index=False, floatfmt=".3f"))
    if not args.listen:
        return

    digits = np.arange(args.samples) % 10
    drafts = Synthesizer(Run.open(args.flow)).arrays(digits.tolist(), seed=args.seed)
    noise = pitch.breath_noise(len(drafts), np.random.default_rng(args.seed))
    spoken = {"the flow's draft, Griffin-Lim": representation.waveforms(drafts[..., 0],
                                                                        seed=args.seed)}
    for name, breath in breaths.items():
        arrays = voiced_by(drafts, breath, noise)
        spoken[f"voiced, {name}, Griffin-Lim"] = representation.waveforms(arrays[..., 0],
                                                                          seed=args.seed)
        spoken[f"voiced, {name}, the source's phase"] = pitch.waveforms(arrays)
    heard = [{"clips": name, **listeners.hear(waveforms, feature_set.config.sample_rate
                                              ).scores(digits)}
             for name, waveforms in spoken.items()]
    print(f"\n{args.samples} flow samples (seed {args.seed}), heard by the outside listeners")
    print(pd.DataFrame(heard).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
