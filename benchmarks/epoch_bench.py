"""Seconds per training epoch of the bundled models' settings, trained as `train.py` trains.

    python benchmarks/epoch_bench.py                          # both bundled models, 4 epochs
    python benchmarks/epoch_bench.py --runs output/runs/cnn-vae-9e35b601 --epochs 6

Trains the settings of each run folder given (default: the bundled models,
`codes/spokendigits/pretrained/<name>/config.json`) afresh for a few epochs on the whole feature set, in a temporary folder, through
`training.train_run`, and prints the median seconds per epoch with the first
(which traces the step) left out. Run it on two versions of the code, on the same
idle machine, to see what a change to the training path costs: it uses only
what every version of `train_run` takes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", type=Path,
                        help="run folders whose settings to train (default: the bundled models)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs a model (at least 2)")
    parser.add_argument("--features", type=Path, help="feature set (default: as train.py)")
    args = parser.parse_args()

    import pandas as pd
    import tensorflow as tf

    from spokendigits.features import FeatureSet
    from spokendigits.runs import Run, RunSpec
    from spokendigits.synthesis import bundled_run
    from spokendigits.training import train_run
    from train import find_feature_set

    # As train.py trains the bundled configs; called directly, since older versions of the
    # code, which this also times, have no `distribute.set_determinism`.
    tf.config.experimental.enable_op_determinism()
    feature_set = FeatureSet.load(find_feature_set(args.features))
    rows = []
    for folder in args.runs or [bundled_run(name) for name in ("vae", "gan")]:
        settings = Run.open(folder)
        spec = RunSpec(settings.model, dataclasses.replace(settings.training,
                                                           epochs=(max(args.epochs, 2),)))
        with tempfile.TemporaryDirectory() as scratch:
            run, _ = train_run(spec, feature_set, Path(scratch), verbose=0)
            seconds = pd.read_csv(run.folder / "history.csv")["seconds"].iloc[1:]
        rows.append({"settings of": settings.name, "model": settings.label, "epochs": len(seconds),
                     "s/epoch (median)": seconds.median(), "min": seconds.min(),
                     "max": seconds.max()})
        print(rows[-1], flush=True)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, {feature_set.name}")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
