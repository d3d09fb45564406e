"""What does a VAE's decoder lack that the outside listeners miss? A diagnosis by ablation.

    python benchmarks/naturalness_probe.py --vae output/runs/cnn-vae-9e35b601 \
        [--refiner output/runs/spectrogram-flow-e8562986]

Every row is the real test split (30 clips per digit on FSDD), changed in one
way, through Griffin-Lim, heard by the outside listeners (`listeners`: the
PocketSphinx digit rate and DNSMOS P.835's SIG, BAK and OVRL):

- the real spectrograms blurred across frequency (a Gaussian of sigma bins) or
  across time (sigma frames): which of the two costs naturalness;
- the real spectrograms with their quiet frames (30 dB or more below the clip's
  loudest) taken from the VAE's reconstruction: does the silence matter;
- the VAE's reconstructions of the same clips (posterior means), then with the
  real clip's fine frequency detail added back (the real spectrogram less its
  blur of 1.5 bins), in every frame, in the loud frames only and in the quiet
  frames only: how much of the gap is that detail, and where it is;
- with `--refiner`, the reconstructions refined by a spectrogram flow
  (`models.refine`) at its sampler's draft noise and 16 steps;
- with `--pitch`, the reconstructions voiced by a pitch model (`models.pitch`):
  the comb of the f0 it predicts from them, and its breath (`harmonics.voice`),
  through Griffin-Lim and, where the model breathes, with its source's phase
  (`harmonics.source_phase`), as the model speaks.

Nothing here trains, tunes or selects a model: it says where the work is.
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
    from spokendigits import listeners
    from spokendigits.harmonics import DETAIL_BINS, blur_over_frequency, fine_detail, loud_frames
    from spokendigits.evaluation import reconstructions
    from spokendigits.features import FeatureSet
    from spokendigits.flow import refine
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer
    from train import find_feature_set

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, help="feature set (default: the one in dataset/features)")
    parser.add_argument("--vae", type=Path, required=True, help="a VAE run with its encoder")
    parser.add_argument("--refiner", type=Path, help="a spectrogram-flow run on that VAE")
    parser.add_argument("--pitch", type=Path, help="a pitch run on that VAE")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    feature_set = FeatureSet.load(find_feature_set(args.features))
    analysis, rate = feature_set.featurizer.representation, feature_set.config.sample_rate
    test = feature_set.split_mask("test")
    real = feature_set.features[test]
    vae = Run.open(args.vae)
    decoded = reconstructions(vae, vae.checkpoints[-1], feature_set)
    if decoded is None:
        sys.exit(f"{args.vae} has no encoder (an exported copy): give the trained run")
    detail = fine_detail(real)
    quiet = 1 - loud_frames(analysis.scaling.invert(real))
    rows = {"real test clips, Griffin-Lim": real}
    rows |= {f"real, frequency blur {sigma:g} bins": blur_over_frequency(real, sigma)
             for sigma in (0.7, DETAIL_BINS)}
    rows |= {f"real, time blur {sigma:g} frames":
             blur_over_frequency(real.swapaxes(1, 2), sigma).swapaxes(1, 2) for sigma in (1, 2)}
    rows |= {"real, quiet frames from the reconstruction": real * (1 - quiet) + decoded * quiet,
             "VAE reconstruction": decoded,
             "reconstruction + real fine detail": decoded + detail,
             "reconstruction + real fine detail, loud frames": decoded + (1 - quiet) * detail,
             "reconstruction + real fine detail, quiet frames": decoded + quiet * detail}
    if args.refiner:
        synthesizer = Synthesizer(Run.open(args.refiner))
        if synthesizer.refiner is None:
            sys.exit(f"{args.refiner} is not a spectrogram flow: it has no refiner")
        drafts = decoded[..., None]
        noise = np.random.default_rng(args.seed).standard_normal(drafts.shape)
        rows["reconstruction, refined by the spectrogram flow"] = refine(
            synthesizer.refiner, drafts, noise, synthesizer.sampler.draft_noise)[..., 0]

    sounds = {}  # rows made as waveforms, not by Griffin-Lim
    if args.pitch:
        synthesizer = Synthesizer(Run.open(args.pitch))
        if synthesizer.pitch is None:
            sys.exit(f"{args.pitch} is not a pitch model: it has no pitch.onnx")
        voiced = synthesizer.voice(decoded[..., None], synthesizer.breath_noise(
            len(decoded), np.random.default_rng(args.seed)))
        rows["reconstruction, voiced by the pitch model"] = synthesizer.spoken.log_magnitude(voiced)
        if synthesizer.sampler.breath is not None:  # as the model speaks: its source's phase
            sounds["reconstruction, voiced by the pitch model, its source's phase"] = \
                synthesizer.waveforms(voiced)

    table = []
    heard_rows = ((name, analysis.waveforms(features, seed=args.seed))
                  for name, features in rows.items())
    for name, waveforms in (*heard_rows, *sounds.items()):
        heard = listeners.hear(waveforms, rate)
        table.append({"clips": name, **heard.scores(feature_set.digits[test])})
        print(f"{name}: {table[-1]}", file=sys.stderr, flush=True)
    print(f"{test.sum()} test clips each, through Griffin-Lim but where said; VAE {vae.name}")
    print(pd.DataFrame(table).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
