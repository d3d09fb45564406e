"""How much of a clip does a pitch model voice, against how much pYIN voices?

    python benchmarks/voicing_share.py --pitch output/runs/pitch-4cca4065 \
        --vae output/runs/cnn-vae-9e35b601 --flow output/runs/latent-flow-ab36809b

For each set of spectrograms, the share of their loud frames (`harmonics.loud_frames`)
that the pitch model voices, at its checkpoint's voicing threshold
(`harmonics.fitted_threshold`, or one half where it has none) and at one half, and
the share of clips it voices in under a tenth of them (a whispered digit: every
spoken digit has a vowel):

- the VAE's reconstructions (posterior means) of `--clips` training clips (evenly
  spaced, as the export's fits take them: `models.pitch.fitting_clips`) and of the
  test clips, beside the share pYIN voices of the same frames (its f0 of
  the real clips, in their loud frames: the pitch model's targets);
- `--samples` of the flow's spectrograms (guidance 1), an equal number of each digit,
  beside the share pYIN voices of the real test clips' own loud frames.

A frame voiced where the recording has no pitch gets a harmonic source and its phase
(`harmonics.voice`): a buzz in a fricative. The project's own measure; nothing here
trains, tunes or selects a model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))


def main() -> None:
    from spokendigits import harmonics
    from spokendigits.features import FeatureSet
    from spokendigits.models import family_of
    from spokendigits.models.pitch import fitting_clips
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer
    from train import find_feature_set

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, help="feature set (default: the one in dataset/features)")
    parser.add_argument("--pitch", type=Path, required=True, help="a pitch run")
    parser.add_argument("--vae", type=Path, required=True, help="its VAE run, with its encoder")
    parser.add_argument("--flow", type=Path, required=True, help="its latent flow run")
    parser.add_argument("--clips", type=int, default=500, help="training clips (default 500)")
    parser.add_argument("--samples", type=int, default=200, help="flow samples (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    feature_set = FeatureSet.load(find_feature_set(args.features))
    representation = feature_set.featurizer.representation
    pitch = Synthesizer(Run.open(args.pitch))
    if pitch.pitch is None:
        sys.exit(f"{args.pitch} is not a pitch model: it has no pitch.onnx")
    fitted = pitch.voicing_threshold
    vae = Run.open(args.vae)
    if not vae.has_encoder(None):
        sys.exit(f"{args.vae} has no encoder (an exported copy): give the trained run")

    def loud_of(features: np.ndarray) -> np.ndarray:
        return harmonics.loud_mask(features, representation)

    def pyin_of(mask: np.ndarray) -> np.ndarray:
        return harmonics.clips_f0(feature_set.features[mask], feature_set.phase[mask],
                                  representation)

    rows = []

    def whispered(voiced: np.ndarray, loud: np.ndarray) -> float:
        """The share of clips voiced in under a tenth of their loud frames."""
        return float(np.mean([np.mean(frames[mask]) < 0.1 for frames, mask in zip(voiced, loud)]))

    def row(name: str, drafts: np.ndarray, pyin: np.ndarray | None) -> None:
        loud, voicing = loud_of(drafts), pitch.pitch_contour(drafts)[1]
        rows.append({"spectrograms": name, "clips": len(drafts),
                     f"voiced at {fitted:.3f}": np.mean(voicing[loud] >= fitted),
                     "voiced at 0.5": np.mean(voicing[loud] >= harmonics.VOICED),
                     "pYIN": None if pyin is None else np.mean(pyin[loud] > 0),
                     f"clips under a tenth, at {fitted:.3f}": whispered(voicing >= fitted, loud),
                     "clips under a tenth, pYIN": None if pyin is None else
                     whispered(pyin > 0, loud)})
        print(rows[-1], file=sys.stderr, flush=True)

    for split in ("train", "test"):
        mask = feature_set.split_mask(split)
        if split == "train":  # as the export fits the threshold: evenly spaced clips
            chosen = fitting_clips({"index": np.flatnonzero(mask)}, args.clips)["index"]
            mask[:] = False
            mask[chosen] = True
        drafts = family_of(vae.model).reconstruct(
            vae, None, feature_set.features[mask], feature_set.digits[mask],
            feature_set.speakers[mask])
        f0 = pyin_of(mask)
        row(f"VAE reconstructions, {split} clips", drafts, f0)
        if split == "test":
            real_loud = loud_of(feature_set.features[mask])
            real = {"pYIN": np.mean(f0[real_loud] > 0),
                    "clips under a tenth, pYIN": whispered(f0 > 0, real_loud)}
    digits = np.arange(args.samples) % 10
    drafts = Synthesizer(Run.open(args.flow)).arrays(digits.tolist(), seed=args.seed)[..., 0]
    row("flow samples, guidance 1", drafts, None)
    rows.append({"spectrograms": "real test clips (pYIN, their own loud frames)",
                 "clips": int(feature_set.split_mask("test").sum()), **real})
    print(f"pitch run {args.pitch}, its threshold {fitted:.3f}; shares of loud frames")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
