"""Wall time of `codes/features.py` on a dataset folder, as a user runs it.

    python benchmarks/features_bench.py --data-dir ../shared/datasets/fsdd --repeats 5

Runs the command once to warm the file cache and the interpreter's bytecode,
then `--repeats` times, and prints each wall time with the median. The issue's
target: FSDD (3000 clips) in under 5 s wall on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="further arguments for features.py (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        command = [sys.executable, str(ROOT / "codes" / "features.py"), "--data-dir",
                   str(args.data_dir), "--out-dir", out_dir, *args.extra]
        times = []
        for run in range(args.repeats + 1):
            started = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True,
                                    env={**os.environ, "TQDM_DISABLE": "1"})
            elapsed = time.perf_counter() - started
            if result.returncode:
                sys.exit(f"features.py failed:\n{result.stderr}")
            if run:  # run 0 warms up
                times.append(elapsed)
        print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}")
        print(f"output: {result.stdout.splitlines()[0]}")
        print(f"wall s over {args.repeats} warm runs: " + ", ".join(f"{t:.2f}" for t in times)
              + f"; median {statistics.median(times):.2f}, max {max(times):.2f}")


if __name__ == "__main__":
    main()
