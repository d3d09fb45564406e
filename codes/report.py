"""Write reports/ from the runs: tables, figures and audio that render on GitHub.

    python codes/train.py && python codes/evaluate.py   # runs, then their judged metrics
    python codes/report.py                              # every finished run -> reports/
    python codes/report.py output/runs/cnn-vae-1a2b3c4d --out /tmp/report

Reads the runs (output/runs), their feature set (dataset/features) and their
evaluation (each run's metrics.json, and the judge in output/classifiers); it
generates no clip for judging, and only runs the judge again on the real test
clips for the reference rows. The whole folder is replaced at the end, in one
step, and only a folder that is empty or holds an earlier report.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures go to files; no display needed

from spokendigits import cli
from spokendigits.classifier import CLASSIFIERS_ROOT
from spokendigits.datasets import PROJECT_ROOT
from spokendigits.errors import UsageError
from spokendigits.runs import add_run_arguments, open_runs

REPORTS_ROOT = PROJECT_ROOT / "reports"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--classifiers-dir", type=Path, default=CLASSIFIERS_ROOT,
                        help="where the judge named in the runs' metrics.json is kept")
    parser.add_argument("--out", type=Path, default=REPORTS_ROOT,
                        help="report folder, replaced whole (default: reports/)")
    parser.add_argument("--grid-rows", type=int, default=5,
                        help="generated clips per digit in each spectrogram grid")
    parser.add_argument("--seed", type=int, default=0, help="seeds grids, wavs and t-SNE")
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    if args.grid_rows < 1:
        raise UsageError(f"--grid-rows must be at least 1, not {args.grid_rows}")
    runs, feature_set = open_runs(args)
    from spokendigits.reports import write_report  # matplotlib, and TensorFlow for the encoders

    command = shlex.join(["python", *sys.argv])
    folder = write_report(runs, feature_set, args.out, command, args.classifiers_dir,
                          args.grid_rows, seed=args.seed)
    print(f"report of {len(runs)} runs -> {folder / 'README.md'}")


if __name__ == "__main__":
    cli.run(main)
