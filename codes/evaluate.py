"""Judge trained runs: a digit classifier and the metrics every model is compared by.

    python codes/evaluate.py                          # every run under output/runs
    python codes/evaluate.py output/runs/cnn-vae-1a2b3c4d --per-digit 50
    python codes/evaluate.py --report reports/results # also write results.csv and results.md

The first call trains the classifier for the feature set (output/classifiers/,
reused after). Each run gets <run>/metrics.json, skipped next time if the
settings are the same; the table has real-data reference rows first.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tqdm.auto import tqdm

from spokendigits import cli
from spokendigits.classifier import CLASSIFIERS_ROOT, train_classifier
from spokendigits.config import add_arguments, from_arguments
from spokendigits.errors import UsageError
from spokendigits.evaluation import (TABLE_COLUMNS, EvaluationConfig, RealData, evaluate_run,
                                     real_rows, results_table)
from spokendigits.features import FEATURES_ROOT, FeatureSet
from spokendigits.runs import RUNS_ROOT, Run
from spokendigits.reports import write_table


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path,
                        help="run folders (default: every finished run under --runs-dir)")
    parser.add_argument("--runs-dir", type=Path, default=RUNS_ROOT)
    parser.add_argument("--features", type=Path, default=None,
                        help="the runs' feature set (default: the one their config names, "
                             "in dataset/features/)")
    parser.add_argument("--classifiers-dir", type=Path, default=CLASSIFIERS_ROOT,
                        help="where judges are kept (default: output/classifiers)")
    parser.add_argument("--report", type=Path,
                        help="write <report>.csv and <report>.md (e.g. reports/results)")
    add_arguments(parser, EvaluationConfig)
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    config = from_arguments(EvaluationConfig, args)
    folders = args.runs or sorted(path.parent for path in args.runs_dir.glob("*/summary.json"))
    if not folders:
        raise UsageError(f"no finished run under {args.runs_dir}; train some with codes/train.py")
    runs = [Run.open(folder) for folder in folders]
    names = {run.config["feature_set"] for run in runs}
    if len(names) > 1:
        raise UsageError(f"these runs use {len(names)} feature sets ({sorted(names)}); "
                         "evaluate the runs of one feature set at a time")
    path = args.features or FEATURES_ROOT / f"{names.pop()}.pkl"
    feature_set = FeatureSet.load(path)
    if feature_set.name != runs[0].config["feature_set"]:
        raise UsageError(f"{path} is not the feature set the runs were trained on")

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
    if args.report:
        command = shlex.join(["python", *sys.argv])
        markdown, csv = write_table(
            args.report, table, "Results",
            f"Made by `{command}`: {config.per_digit} clips per digit per checkpoint, seed "
            f"{config.seed}, temperature {config.temperature}, {config.griffin_lim_iterations} "
            f"Griffin-Lim iterations. Judge: `{judge.name}` (test accuracy "
            f"{judged['plain']['accuracy']:.1%}, through Griffin-Lim "
            f"{judged['griffin_lim']['accuracy']:.1%}).\n\n"
            "FD and KID: Fréchet and kernel distances in the judge's 64-d embedding, against "
            "the training or test split. Diversity: mean pairwise embedding distance within a "
            "digit. Test SC: spectral convergence of the VAE's test reconstructions.",
            floatfmt=".3g", columns=TABLE_COLUMNS)
        print(f"results -> {markdown}, {csv}")
    else:
        print(table.to_string(index=False, float_format="%.3g"))


if __name__ == "__main__":
    cli.run(main)
