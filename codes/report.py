"""Write reports/ from the runs of any family: tables, figures and audio that render on GitHub.

    python codes/train.py && python codes/evaluate.py   # runs, then their judged metrics
    python codes/report.py                              # every finished run -> reports/
    python codes/report.py output/runs/cnn-vae-1a2b3c4d --out /tmp/report
    python codes/report.py output/runs/cnn-vae-9e35b601 output/runs/*cwgan-gp-*  # the runs named

Reads the runs (output/runs), their feature set (dataset/features) and their
evaluation (each run's metrics.json, and the judge in output/classifiers); it
generates no clip for judging, and only runs the judge again on the real test
clips for the reference rows. The whole folder is replaced at the end, in one
step, and only a folder that is empty or holds an earlier report; reports in
its subfolders (e.g. reports/vae-study) are carried over. Unfinished runs
(no summary.json yet) are named and left out; what a killed report.py left
beside the folder is cleared first.
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
from spokendigits.storage import check_writable_folder

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
    parser.add_argument("--seed", type=cli.seed, default=0,
                        help=f"seeds grids, wavs and t-SNE (0..{cli.MAX_SEED})")
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    if args.grid_rows < 1:
        raise UsageError(f"--grid-rows must be at least 1, not {args.grid_rows}")
    check_writable_folder(args.out.parent, "--out")
    runs, feature_set = open_runs(args)
    if not args.runs:
        unfinished = sorted(path.parent.name for path in args.runs_dir.glob("*/config.json")
                            if not (path.parent / "summary.json").is_file())
        if unfinished:
            print(f"left out {len(unfinished)} unfinished runs (no summary.json yet): "
                  f"{', '.join(unfinished)}", flush=True)
    test_digits = feature_set.digits[feature_set.split_mask("test")].tolist()
    fewest = min(test_digits.count(digit) for digit in range(10))
    if args.grid_rows > fewest:  # the grid of real clips shows that many of each digit
        raise UsageError(f"--grid-rows {args.grid_rows} is more than the {fewest} test clips "
                         f"of the rarest digit; use at most {fewest}")
    from spokendigits.reports import write_report  # matplotlib, and TensorFlow for the encoders

    command = shlex.join(["python", *sys.argv])
    folder = write_report(runs, feature_set, args.out, command, args.classifiers_dir,
                          args.grid_rows, seed=args.seed)
    print(f"report of {len(runs)} runs -> {folder / 'README.md'}")


if __name__ == "__main__":
    cli.run(main)
