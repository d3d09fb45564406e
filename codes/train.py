"""Train a sweep of models (VAEs, GANs), or one variant given by flags.

    python codes/train.py                                   # the VAE study, configs/vae_study.json
    python codes/train.py --config configs/vae_smoke.json   # a 2-epoch sweep, for a quick look
    python codes/train.py --config configs/cwgan_experiments.json   # the four GAN experiments
    python codes/train.py --family cnn-vae --conditional --epochs 10 30
    python codes/train.py --config configs/cwgan_wide.json --distribute mirrored   # every GPU

Each run lands in output/runs/<family>-<hash>/ (see README); finished runs are
skipped and interrupted ones resume. A run that another train.py is training is
left to it: this one goes on with the other runs, and exits with 1 at the end if
that run is still unfinished then. output/runs/summary.csv collects every
finished run; codes/evaluate.py judges them and codes/report.py writes reports/.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

# TensorFlow's C++ chatter (including a harmless graph-attribute "error" after each ONNX
# export); Python errors still surface.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from spokendigits import cli
from spokendigits.config import add_arguments, from_arguments, setting_fields
from spokendigits.errors import DataError, UsageError
from spokendigits.features import FEATURES_ROOT, FeatureSet
from spokendigits.models import ModelConfig
from spokendigits.runs import (RUNS_ROOT, RunSpec, TrainConfig, collect_summaries,
                              finished_runs, load_sweep)
from spokendigits.storage import atomic_write, check_writable_folder

ROOT = Path(__file__).resolve().parents[1]
MAX_STEPS_PER_EXECUTION = 10_000
DEFAULT_SWEEP = ROOT / "configs" / "vae_study.json"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=DEFAULT_SWEEP,
                        help="sweep file (default: configs/vae_study.json); ignored when model "
                             "flags below describe a single run")
    parser.add_argument("--features", type=Path,
                        help="feature set from codes/features.py (default: the one in "
                             "dataset/features/, if there is exactly one)")
    parser.add_argument("--runs-dir", type=Path, default=RUNS_ROOT,
                        help="where run folders go (default: output/runs)")
    parser.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    parser.add_argument("--distribute", default="none", choices=cli.STRATEGIES,
                        help="none: one device; mirrored: every GPU of this machine (else the "
                             "CPU's logical devices); multi-worker: the machines of $TF_CONFIG, "
                             "each running this same command (default: none)")
    parser.add_argument("--cpu-devices", type=int,
                        help="split the CPU into this many logical devices, to try "
                             "--distribute mirrored without GPUs")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="training steps per call of the compiled step (default: 1); "
                             "only without --distribute")
    add_arguments(parser, ModelConfig)
    add_arguments(parser, TrainConfig)
    return parser.parse_args()


def find_feature_set(path: Path | None) -> Path:
    if path is not None:
        return path
    candidates = sorted(FEATURES_ROOT.glob("*.pkl"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UsageError(f"no feature set in {FEATURES_ROOT}; make one with "
                         "`python codes/features.py`, or pass --features")
    raise UsageError(f"{len(candidates)} feature sets in {FEATURES_ROOT}; choose one with "
                     f"--features ({', '.join(path.name for path in candidates)})")


def load_feature_set(path: Path | None, phases: bool = False) -> FeatureSet:
    """The feature set `find_feature_set` finds; with `phases`, one that keeps the clips'
    phases (their waveforms: pYIN's f0), UsageError naming the fix otherwise."""
    feature_set = FeatureSet.load(find_feature_set(path))
    if phases and feature_set.phase is None:
        raise UsageError(f"{feature_set.name} keeps no phases; make it with "
                         "codes/features.py --phase")
    return feature_set


def sweep_specs(args: argparse.Namespace) -> list[RunSpec]:
    """The runs to train: one from model flags, else the sweep file; training flags apply to all."""
    model_flags = {field.name for _, field in setting_fields(ModelConfig)} & set(vars(args))
    if model_flags:
        specs = [RunSpec(from_arguments(ModelConfig, args), TrainConfig())]
    else:
        specs = load_sweep(args.config)
    return [dataclasses.replace(spec, training=from_arguments(TrainConfig, args, spec.training))
            for spec in specs]


def check_execution_flags(args: argparse.Namespace) -> None:
    """Refuse --steps-per-execution that cannot run, before any file is read."""
    if not 1 <= args.steps_per_execution <= MAX_STEPS_PER_EXECUTION:
        raise UsageError(f"--steps-per-execution must be at least 1 and at most "
                         f"{MAX_STEPS_PER_EXECUTION} (an epoch of FSDD is 38 steps), not "
                         f"{args.steps_per_execution}")
    if args.steps_per_execution > 1 and args.distribute != "none":
        raise UsageError("--steps-per-execution above 1 fails under a distribution strategy in "
                         "Keras 3 (keras-team/keras#19246); use one or the other")


def make_strategy(args: argparse.Namespace):
    """The strategy of `--distribute`, made first thing: TensorFlow fixes its devices, and
    a multi-worker cluster its collectives, when its runtime starts."""
    from spokendigits import distribute  # imports TensorFlow

    if args.cpu_devices is not None:
        distribute.split_cpu(args.cpu_devices)
    return distribute.make_strategy(args.distribute)


def main() -> None:
    args = parse_arguments()
    check_execution_flags(args)
    check_writable_folder(args.runs_dir, "--runs-dir")
    specs = sweep_specs(args)
    feature_set = FeatureSet.load(find_feature_set(args.features))
    command = shlex.join(["python", *sys.argv])
    strategy = make_strategy(args)
    from spokendigits.distribute import is_chief, set_determinism
    from spokendigits.training import RunBusy, check_replicas, train_run

    for spec in specs:
        check_replicas(spec, strategy)
    set_determinism(any(spec.training.deterministic for spec in specs))
    if not is_chief():  # the other workers train with the chief, but only the chief keeps runs
        scratch = tempfile.TemporaryDirectory(prefix="spokendigits-worker-")  # gone at exit
        args.runs_dir = Path(scratch.name)

    names, failures, busy = [], [], []
    for number, spec in enumerate(specs, 1):
        started = time.perf_counter()
        model = spec.model
        print(f"[{number}/{len(specs)}] {model.family} {model.size}, {model.representation}, "
              f"conditioning {model.conditioning}, {model.likelihood}, regularization "
              f"{model.regularization}, epochs {list(spec.training.epochs)}", flush=True)
        try:
            run, status = train_run(spec, feature_set, args.runs_dir, args.tensorboard, command,
                                    verbose="auto" if sys.stdout.isatty() else 2,  # a line an epoch in logs
                                    strategy=strategy,
                                    steps_per_execution=args.steps_per_execution)
        except RunBusy as error:  # two train.py on one sweep share its runs out
            busy.append(error.folder)
            print(f"[{number}/{len(specs)}] skipped: {error}; going on with the other runs",
                  flush=True)
            continue
        except DataError as error:  # a diverged or damaged run: the others still train
            failures.append(str(error))
            print(f"[{number}/{len(specs)}] failed: {error}", flush=True)
            continue
        names.append(run.name)
        print(f"[{number}/{len(specs)}] {run.folder}: {status} in {time.perf_counter() - started:.0f} s",
              flush=True)
    # A busy run is no failure once the other process has finished it: it is in summary.csv.
    unfinished = [folder.name for folder in busy if not (folder / "summary.json").exists()]
    if names or len(unfinished) < len(busy):
        with atomic_write(args.runs_dir / "summary.csv", "w") as file:
            collect_summaries(finished_runs(root=args.runs_dir)).to_csv(file, index=False)
        print(f"{len(names)} runs, summary -> {args.runs_dir / 'summary.csv'}")
    problems = [f"{len(failures)} of {len(specs)} runs failed: " + "; ".join(failures)] \
        if failures else []
    if unfinished:
        problems.append(f"{len(unfinished)} of {len(specs)} runs are still being trained by "
                        f"another train.py ({', '.join(unfinished)}); it finishes them and adds "
                        "them to summary.csv, or run this command again if it was stopped")
    if problems:
        raise DataError(("no run finished: " if not names else "") + "; ".join(problems))


if __name__ == "__main__":
    cli.run(main)
