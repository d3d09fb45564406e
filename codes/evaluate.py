"""Judge trained runs: a digit classifier and the metrics every model is compared by.

    python codes/evaluate.py                          # every run under output/runs
    python codes/evaluate.py output/runs/cnn-vae-1a2b3c4d --per-digit 50

The first call trains the classifier for the feature set (output/classifiers/,
reused after). Each run gets <run>/metrics.json, skipped next time if the
settings are the same; the table printed has real-data reference rows first.
codes/report.py writes it, with figures and audio, to reports/.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tqdm import tqdm

from spokendigits import cli
from spokendigits.classifier import CLASSIFIERS_ROOT, train_classifier
from spokendigits.config import add_arguments, from_arguments
from spokendigits.evaluation import (TABLE_COLUMNS, EvaluationConfig, RealData, evaluate_run, real_rows,
                                     results_table)
from spokendigits.runs import add_run_arguments, open_runs


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--classifiers-dir", type=Path, default=CLASSIFIERS_ROOT,
                        help="where judges are kept (default: output/classifiers)")
    add_arguments(parser, EvaluationConfig)
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    config = from_arguments(EvaluationConfig, args)
    runs, feature_set = open_runs(args)

    judge = train_classifier(feature_set, root=args.classifiers_dir)
    judged = judge.metrics
    print(f"classifier {judge.name}: test accuracy {judged['plain']['accuracy']:.1%}, "
          f"through Griffin-Lim {judged['griffin_lim']['accuracy']:.1%}", flush=True)
    real = RealData.judge(feature_set, judge, config)
    evaluated = []
    for run in tqdm(runs, desc="evaluating", unit="run"):
        results, reused = evaluate_run(run, judge, feature_set, real, config)
        evaluated.append((run, results))
        last = results["checkpoints"][str(run.checkpoints[-1])]
        tqdm.write(f"{run.name}: {'reused' if reused else 'evaluated'}, accuracy "
                   f"{last['accuracy']:.1%} at {run.checkpoints[-1]} epochs")
    table = results_table(real_rows(real, config), evaluated)
    print(table[list(TABLE_COLUMNS)].to_string(index=False, float_format="%.3g"))


if __name__ == "__main__":
    cli.run(main)
