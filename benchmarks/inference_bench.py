"""Start-up and speed of `codes/inference.py`, as a user runs it.

    python benchmarks/inference_bench.py --repeats 5 [--run RUN]

1. Cold command: wall time of `python codes/inference.py "1234"` in a fresh
   process, after one warm-up run, paired run by run with two processes that only
   import libraries: the target's baseline (numpy, scipy.fft, onnxruntime,
   soundfile; the target: within 1.25x), and what inference of a model with its
   own phase imports (numpy, onnxruntime, soundfile; the ratio is the start-up
   the project adds). Models spoken through Griffin-Lim also import scipy.fft.
2. Synthesis alone: seconds of audio made per second of compute, for ten
   digits as the model's arrays decode (log-magnitude: 64 Griffin-Lim iterations;
   magnitude-phase, a breathing pitch model's: its own phase), in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))
BARE_IMPORTS = {"bare imports": "import numpy, scipy.fft, onnxruntime, soundfile",  # the target's
                "inference's imports": "import numpy, onnxruntime, soundfile"}


def main() -> None:
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer, bundled_run, realtime_factor

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", type=Path, default=bundled_run())
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        commands = {"inference": [sys.executable, str(ROOT / "codes" / "inference.py"), "1234",
                                  "--run", str(args.run), "--out", str(Path(folder) / "1234.wav")],
                    **{name: [sys.executable, "-c", imports]
                       for name, imports in BARE_IMPORTS.items()}}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for repeat in range(args.repeats + 1):  # paired: each repeat runs every command, in turn
            for name, command in commands.items():
                started = time.perf_counter()
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode:
                    sys.exit(f"{name} failed:\n{result.stderr}")
                if repeat:
                    times[name].append(time.perf_counter() - started)
    print(f"machine: {os.cpu_count()} CPUs; run {args.run.name}")
    for name, measured in times.items():
        print(f"cold {name} wall s over {args.repeats} runs: "
              + ", ".join(f"{t:.2f}" for t in measured)
              + f"; median {statistics.median(measured):.2f}, max {max(measured):.2f}")
    for name in BARE_IMPORTS:
        print(f"inference / {name}, medians: "
              f"{statistics.median(times['inference']) / statistics.median(times[name]):.2f}x")

    synthesizer = Synthesizer(Run.open(args.run))
    factor, speech = realtime_factor(synthesizer, repeats=args.repeats)
    print(f"synthesis of 10 digits ({speech:.2f} s of audio, decoded as "
          f"{synthesizer.spoken.name}): "
          f"median {speech / factor:.3f} s, {factor:.0f}x real time")


if __name__ == "__main__":
    main()
