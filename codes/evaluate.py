"""Judge trained runs: a digit classifier and the metrics every model is compared by.

    python codes/evaluate.py                          # every run under output/runs
    python codes/evaluate.py output/runs/cnn-vae-1a2b3c4d --draws 3
    python codes/evaluate.py --samplers prior digit mixture   # compare latent samplers
    python codes/evaluate.py output/runs/cwgan-gp-* --table reports/gan_experiments_table.md

The first call trains the classifier for the feature set (output/classifiers/,
reused after). Each run gets <run>/metrics.json, skipped next time if the
settings are the same. The table printed has the reference rows first (real
clips and the model-free floor), every row at the test split's clips per digit.
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
from spokendigits.errors import UsageError
from spokendigits.evaluation import (EvaluationConfig, RealData, check_samplers, evaluate_run,
                                     markdown_view, per_digit_count, reference_rows,
                                     results_table)
from spokendigits.runs import add_run_arguments, open_runs
from spokendigits.storage import atomic_write, check_writable_folder


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--classifiers-dir", type=Path, default=CLASSIFIERS_ROOT,
                        help="where judges are kept (default: output/classifiers)")
    parser.add_argument("--table", type=Path,
                        help="also write the table printed, as markdown, to this file")
    add_arguments(parser, EvaluationConfig)
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    config = from_arguments(EvaluationConfig, args)
    for option, folder in (("--runs-dir", args.runs_dir),
                           ("--classifiers-dir", args.classifiers_dir)):
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{option} {folder} is a file; give a folder")
    if args.table is not None:
        if args.table.is_dir():
            raise UsageError(f"--table {args.table} is a folder; give a file name, e.g. "
                             f"{args.table / 'results.md'}")
        check_writable_folder(args.table.parent, "--table")
    check_writable_folder(args.classifiers_dir, "--classifiers-dir")
    runs, feature_set = open_runs(args)
    for run in runs:  # each run's metrics.json is written beside it
        check_writable_folder(run.folder, "run folder")
    clips = 10 * per_digit_count(feature_set)  # of a row: the manifolds' size
    if config.neighbours >= clips:
        raise UsageError(f"--neighbours {config.neighbours} must be below the {clips} clips of "
                         "a row (the test split's rarest digit, ten times)")
    for run in runs:  # before the judge trains
        check_samplers(run, config)

    from spokendigits.distribute import set_determinism  # imports TensorFlow

    set_determinism(True)  # the judge is a measuring instrument: the same every time
    judge = train_classifier(feature_set, root=args.classifiers_dir)
    judged = judge.metrics
    print(f"classifier {judge.name}: epoch {judged['validation']['epoch']} chosen on validation "
          f"({judged['validation']['accuracy']:.1%}); test accuracy "
          f"{judged['plain']['accuracy']:.1%}, through Griffin-Lim "
          f"{judged['griffin_lim']['accuracy']:.1%}", flush=True)
    real = RealData.judge(feature_set, judge, config)
    references = reference_rows(feature_set, judge, real, config, runs)
    evaluated = []
    for run in tqdm(runs, desc="evaluating", unit="run"):
        results, reused = evaluate_run(run, judge, feature_set, real, config)
        evaluated.append((run, results))
        last = results["checkpoints"][str(run.checkpoints[-1])]["samplers"]
        accuracies = ", ".join(f"{scores['accuracy']:.1%} ({sampler})"
                               for sampler, scores in last.items())
        tqdm.write(f"{run.name}: {'reused' if reused else 'evaluated'}, accuracy {accuracies} "
                   f"at {run.checkpoints[-1]} epochs")
    table = markdown_view(results_table(references, evaluated))
    print(table.to_string(index=False))
    if args.table is not None:
        with atomic_write(args.table, "w") as file:
            file.write(table.to_markdown(index=False) + "\n")
        print(f"table -> {args.table}")


if __name__ == "__main__":
    cli.run(main)
