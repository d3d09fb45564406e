"""Do a latent flow's samples copy its training clips? A measure on the VAE's latent.

    python benchmarks/flow_memory.py output/runs/latent-flow-ab36809b output/runs/latent-flow-d432378e

A flow trained long enough learns the training clips' posteriors themselves: its
samples then sit as near the training clips as those posteriors' own samples do,
nearer than new clips come. For each flow run (its last checkpoint, or `--epoch`)
this draws a latent for each test clip's digit (and speaker, for models that know
speakers; guidance 1 by default, seeded), and measures each one's distance to the nearest training clip's
posterior mean of the same digit. Two references, drawn as the flow was trained
(one posterior sample per clip): the training clips' own posteriors (what copying
gives) and the test clips' (new clips: what a flow that generalises gives). It
prints each row's median distance and the share nearer than 90% of the test
clips come (0.10 for new clips), and where the flow's median falls between the
two references: 0 as far as new clips, 1 as near as the training clips.
Nothing is decoded; the VAE's encoder runs once (TensorFlow).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))


def nearest(points: np.ndarray, digits: np.ndarray, means: np.ndarray,
            mean_digits: np.ndarray) -> np.ndarray:
    """`[point]` each point's distance to the nearest of `means` of its digit."""
    from scipy.spatial.distance import cdist

    distances = np.empty(len(points))
    for digit in np.unique(digits):
        mine = digits == digit
        distances[mine] = cdist(points[mine], means[mean_digits == digit]).min(axis=1)
    return distances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="latent-flow runs of one VAE")
    parser.add_argument("--epoch", type=int, help="checkpoint of each run (default: its last)")
    parser.add_argument("--guidance", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features", type=Path, help="feature set (default: the runs')")
    args = parser.parse_args()

    from spokendigits.features import FeatureSet
    from spokendigits.flow import integrate
    from spokendigits.representations import for_feature_set
    from spokendigits.runs import Run, RunSpec
    from spokendigits.synthesis import Synthesizer
    from spokendigits.training import split_data
    from train import find_feature_set

    runs = [Run.open(folder) for folder in args.runs]
    if any(run.model.family != "latent-flow" for run in runs) or \
            len({run.model.vae_run for run in runs}) > 1:
        sys.exit("give latent-flow runs of one VAE run")
    feature_set = FeatureSet.load(find_feature_set(args.features))
    first = runs[0]
    splits = split_data(feature_set, RunSpec(first.model, first.training), first.config["labels"],
                        for_feature_set(first.model.decoded_representation, feature_set))
    posteriors = {name: (split.inputs["features"], split.digits) for name, split in
                  splits.items() if name in ("train", "test")}
    latent = first.model.latent_dim
    train_means, train_digits = posteriors["train"][0][:, :latent], posteriors["train"][1]
    rng = np.random.default_rng(args.seed)

    def sample(name: str) -> np.ndarray:
        features, digits = posteriors[name]
        mean, log_var = features[:, :latent], features[:, latent:]
        drawn = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
        return nearest(drawn, digits, train_means, train_digits)

    rows = {"training clips' posteriors (copying)": sample("train"),
            "test clips' posteriors (new clips)": sample("test")}
    # each test clip's condition, as training built it: a flow takes its VAE's conditioning
    test_digits, condition = splits["test"].digits, splits["test"].inputs["condition"]
    for run in runs:
        synthesizer = Synthesizer(run, args.epoch)
        noise = np.random.default_rng(args.seed).standard_normal((len(test_digits), latent))
        drawn = integrate(synthesizer.velocity, noise, condition, args.guidance)
        rows[f"{run.name} {synthesizer.checkpoint.name}, guidance {args.guidance:g}"] = \
            nearest(drawn, test_digits, train_means, train_digits)

    copying, new = (np.median(d) for d in list(rows.values())[:2])
    close = np.quantile(rows["test clips' posteriors (new clips)"], 0.1)
    print(f"{len(test_digits)} latents a row; distance to the nearest training clip's "
          f"posterior mean of the digit (latent units)")
    print(f"{'':<58} {'median':>7} {'nearer than 90% of new':>23} {'towards copying':>16}")
    for name, distances in rows.items():
        towards = (new - np.median(distances)) / (new - copying)
        print(f"{name:<58} {np.median(distances):7.3f} {np.mean(distances < close):23.2f} "
              f"{towards:16.2f}")


if __name__ == "__main__":
    main()
