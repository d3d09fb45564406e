"""Turn a spoken-digit dataset into a feature set of STFT log-magnitudes.

    python codes/features.py                                  # FSDD, downloaded if needed
    python codes/features.py --data-dir ../shared/datasets/fsdd
    python codes/features.py --dataset audiomnist             # Kaggle API token needed
    python codes/features.py --dataset folder --data-dir my_wavs --clip-seconds 1

Writes dataset/features/<dataset>-<hash>.pkl and prints a one-line summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spokendigits import cli
from spokendigits.config import add_arguments, from_arguments, load_json_config
from spokendigits.datasets import SOURCES, get_source
from spokendigits.errors import UsageError
from spokendigits.features import FEATURES_ROOT, FeatureConfig, extract


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


def main() -> None:
    args = parse_arguments()
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise UsageError(f"--out-dir {args.out_dir} is a file; give a folder for feature sets")
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
