"""How does a pitch model's f0 move, against pYIN's, and what do listeners hear of it?

    python benchmarks/pitch_contour.py --pitch output/runs/pitch-4cca4065 \
        --vae output/runs/cnn-vae-9e35b601 [--listen] [--judge output/classifiers/NAME]

The VAE's reconstructions (posterior means) of the test clips, voiced by the pitch
model as it speaks (`harmonics.voice`: its strengths, breath, threshold, and a seeded
breath noise), with the f0 from four places:

- the network's, as it gives it (no smoothing);
- the network's, smoothed as the checkpoint says (`harmonics.fitted_smoothing`);
- pYIN's of the real clip where pYIN voices it, the network's elsewhere (the
  network's voicing): what a perfect f0 would give;
- pYIN's f0 and voicing.

For each: how far the f0 moves from frame to frame (`harmonics.frame_to_frame`, mean
absolute semitones over pairs of voiced frames; pYIN's of the real clips beside), and
its median distance from pYIN's where both voice; with `--listen`, the outside
listeners' scores (`listeners`: PocketSphinx's digit rate and DNSMOS P.835), spoken
with the source's phase; with `--judge`, the project's judge's FD, precision and recall
of each row against the real test clips (the same clips, so paired: far lower than a
sample's), and of the reconstructions unvoiced, through Griffin-Lim. The outside scores
report; nothing here trains, tunes or selects a model.
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
    from spokendigits import harmonics, listeners, metrics
    from spokendigits.classifier import Judge

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, help="feature set (default: the one in dataset/features)")
    parser.add_argument("--pitch", type=Path, required=True, help="a pitch run")
    parser.add_argument("--vae", type=Path, required=True, help="its VAE run, with its encoder")
    parser.add_argument("--listen", action="store_true", help="add the outside listeners' scores")
    parser.add_argument("--judge", type=Path,
                        help="a classifier folder: add its FD to the real clips")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from pitch_probes import voiced_test

    probe = voiced_test(args.features, args.pitch, args.vae)
    feature_set, pitch, test, drafts, pyin = (probe.feature_set, probe.pitch, probe.test,
                                              probe.drafts, probe.pyin)
    representation = feature_set.featurizer.representation
    f0, voicing = pitch.pitch_contour(drafts)
    sampler, threshold = pitch.sampler, pitch.voicing_threshold
    noise = pitch.breath_noise(len(drafts), np.random.default_rng(args.seed))
    pyin_voicing = (pyin > 0).astype(float)
    rows = {"the network's f0": (f0, voicing, threshold, 0.0),
            f"the network's f0, smoothed ({sampler.smoothing:g} frames)":
                (f0, voicing, threshold, sampler.smoothing),
            "pYIN's f0 where it voices, the network's voicing":
                (np.where(pyin > 0, pyin, f0), voicing, threshold, 0.0),
            "pYIN's f0 and voicing": (pyin, pyin_voicing, 0.5, 0.0)}
    judge = None if args.judge is None else Judge(args.judge)
    real = None if judge is None else judge.run(feature_set.features[test])[1]

    def judged(waveforms: np.ndarray) -> dict[str, float]:
        if judge is None:
            return {}
        embeddings = judge.run(representation.features(np.asarray(waveforms, np.float32)))[1]
        precision, recall = metrics.precision_recall(real, embeddings)
        return {"FD": metrics.frechet_distance(embeddings, real), "precision": precision,
                "recall": recall}

    semitones = 12  # a log2 step in semitones
    table = [{"f0": "pYIN's, of the real test clips",
              "moves a frame": semitones * harmonics.frame_to_frame(pyin, pyin > 0)}]
    for name, (contour, probability, at, smoothing) in rows.items():
        frames = (probability >= at) & harmonics.loud_mask(drafts, representation)
        heard = harmonics.smoothed_f0(contour, frames, smoothing)
        both = frames & (pyin > 0)
        row = {"f0": name, "moves a frame": semitones * harmonics.frame_to_frame(heard, frames),
               "from pYIN's": semitones * float(np.median(np.abs(np.log2(
                   heard[both] / pyin[both]))))}
        if args.listen or judge is not None:
            waveforms = pitch.waveforms(harmonics.voice(
                drafts[..., None], contour, probability, representation, sampler.strength,
                sampler.breath, noise, at, smoothing))
            row |= judged(waveforms)
        if args.listen:
            row |= listeners.hear(waveforms, feature_set.config.sample_rate
                                  ).scores(feature_set.digits[test])
        table.append(row)
        print(row, file=sys.stderr, flush=True)
    if judge is not None:
        table.append({"f0": "none: the reconstructions, Griffin-Lim", **judged(
            representation.waveforms(drafts, seed=args.seed))})
    print(f"{int(test.sum())} test clips' reconstructions by {probe.vae.name}, voiced by "
          f"{args.pitch} (threshold {threshold:.3f}); f0 moves in mean absolute semitones a frame, and "
          "its median distance from pYIN's in semitones, where both voice")
    print(pd.DataFrame(table).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
