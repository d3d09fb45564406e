"""Turn a spoken-digit dataset into a feature set of STFT log-magnitudes.

    python codes/features.py                                  # FSDD, downloaded if needed
    python codes/features.py --data-dir ../shared/datasets/fsdd
    python codes/features.py --dataset audiomnist             # Kaggle API token needed
    python codes/features.py --dataset folder --data-dir my_wavs --clip-seconds 1

Writes dataset/features/<dataset>-<hash>.pkl and prints a one-line summary.
SIGTERM (`timeout`, a cancelled job) or Ctrl-C stops it cleanly: workers end
and no temporary file stays. After a SIGKILL, the next run removes the file.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
from pathlib import Path

from spokendigits import cli
from spokendigits.config import add_arguments, from_arguments, load_json_config
from spokendigits.datasets import SOURCES, get_source
from spokendigits.errors import UsageError
from spokendigits.features import FEATURES_ROOT, FeatureConfig, extract
from spokendigits.storage import check_writable_folder, remove_stale_parts, remove_temporaries

_MAIN_PID = os.getpid()  # this script's process; fork copies the value into its workers


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fsdd", choices=sorted(SOURCES),
                        help="; ".join(f"{s.name}: {s.description}" for s in SOURCES.values()))
    parser.add_argument("--data-dir", type=Path,
                        help="an existing dataset folder (default: $FSDD_DIR / $AUDIOMNIST_DIR, "
                             "else dataset/<dataset>/, downloaded there if missing)")
    parser.add_argument("--config", type=Path,
                        help="JSON file of feature settings; flags below override it")
    parser.add_argument("--out-dir", type=Path, default=FEATURES_ROOT,
                        help="where the feature set is written (default: dataset/features)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: one per CPU; 1: no workers)")
    add_arguments(parser, FeatureConfig)
    return parser.parse_args()


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (`timeout`, a cancelled job) or Ctrl-C: stop the workers, remove the file
    being written and exit at once, with 128 + the signal as the shell reports it.

    Exiting here, rather than raising an exception, keeps it from landing inside
    library code that cannot take one midway (a progress bar being built).
    """
    if os.getpid() != _MAIN_PID:  # a worker stopped before it reset the handler fork copied
        os._exit(128 + signum)
    for worker in multiprocessing.active_children():
        worker.terminate()
    remove_temporaries()
    # os.write, not print: the handler may have interrupted a print to stderr
    os.write(2, b"\nterminated\n" if signum == signal.SIGTERM else b"\ninterrupted\n")
    os._exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    args = parse_arguments()
    check_writable_folder(args.out_dir, "--out-dir")  # before the minutes of extraction
    if args.config and args.config.is_dir():
        raise UsageError(f"--config {args.config} is a folder; give a JSON file of settings")
    if args.out_dir.is_dir():
        for path in remove_stale_parts(args.out_dir, "*.pkl"):
            print(f"removed {path.name}, left by an interrupted run", file=sys.stderr)
    base = load_json_config(FeatureConfig, args.config) if args.config else FeatureConfig()
    config = from_arguments(FeatureConfig, args, base)
    source = get_source(args.dataset)
    folder = source.resolve_folder(args.data_dir)
    feature_set = extract(source, folder, config, workers=args.workers)
    path = feature_set.save(args.out_dir)
    s, c = feature_set.summary, feature_set.config
    adjusted = ", ".join(f"{s[key]} {label}" for key, label in
                         (("resampled", f"resampled to {c.sample_rate} Hz"),
                          ("mixed_down", "mixed down to mono")) if s[key])
    print(f"{s['clips']} clips ({s['train']} train / {s['test']} test), {s['skipped']} skipped"
          f"{', ' + adjusted if adjusted else ''}, {s['cut_share']:.1%} cut at {c.clip_seconds:.3f} s,"
          f" features {'x'.join(map(str, s['shape']))}, {s['seconds']:.1f} s -> {path}")
    for record in feature_set.skipped[:5]:
        print(f"  skipped {record['file']}: {record['reason']}")
    if len(feature_set.skipped) > 5:
        print(f"  ... and {len(feature_set.skipped) - 5} more, listed in the feature set")


if __name__ == "__main__":
    cli.run(main)
