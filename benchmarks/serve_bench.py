"""Start-up and speed of the listening page's server (`codes/serve.py`), as a user meets it.

    python benchmarks/serve_bench.py --repeats 5

1. Time to first page: from starting `python codes/serve.py` in a fresh process to the
   page's HTML answered (the median of `--repeats` starts).
2. Time per `/api/speak` of four digits ("1234", a new seed each time, so nothing comes
   from the cache), one request at a time, with the bundled default model, and with
   four requests at once.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(port: int) -> tuple[subprocess.Popen, float]:
    """A server process, and the seconds until it answered `GET /`."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "codes" / "serve.py"), "--port",
                                str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                response.read()
            return process, time.perf_counter() - started
        except OSError:
            if process.poll() is not None:
                raise SystemExit("the server exited; run codes/serve.py to see why") from None
            time.sleep(0.02)


def speak(port: int, seed: int) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/speak?digits=1234&seed={seed}",
                                timeout=120) as response:
        response.read()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    firsts = []
    for _ in range(args.repeats):
        process, seconds = start(port := free_port())
        firsts.append(seconds)
        process.terminate()
        process.wait()
    print(f"time to first page: median {statistics.median(firsts):.2f} s "
          f"(min {min(firsts):.2f}, max {max(firsts):.2f}, {args.repeats} starts)")

    process, _ = start(port := free_port())
    try:
        speak(port, 10**6)  # the first synthesis warms ONNX Runtime
        alone = [speak(port, seed) for seed in range(args.repeats * 4)]
        with ThreadPoolExecutor(4) as pool:
            started = time.perf_counter()
            together = list(pool.map(lambda seed: speak(port, 1000 + seed), range(16)))
            wall = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait()
    print(f"/api/speak of 4 digits, one at a time: median {statistics.median(alone) * 1000:.0f} "
          f"ms (min {min(alone) * 1000:.0f}, max {max(alone) * 1000:.0f}, {len(alone)} requests)")
    print(f"/api/speak of 4 digits, 4 at once: median {statistics.median(together) * 1000:.0f} "
          f"ms a request, {len(together) / wall:.1f} requests/s")


if __name__ == "__main__":
    main()
