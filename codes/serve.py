"""Serve the listening page: type digits, pick a model, hear it and see it.

    python codes/serve.py                                  # http://127.0.0.1:8000, bundled models
    python codes/serve.py --run output/runs/cnn-vae-1a2b3c4d --port 8080
    python codes/serve.py --host 0.0.0.0                   # reachable from other machines

The page works offline (no CDN) and needs what inference needs, no more: the
standard library's HTTP server and ONNX Runtime. Its API is in docs/serve.md.
Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from spokendigits import cli
from spokendigits.server import Voices, make_server


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=cli.int_in(0, 65535), default=8000,
                        help="port to listen on (default: 8000; 0: any free port)")
    parser.add_argument("--run", type=Path, action="append", default=[],
                        help="a run folder from codes/train.py to offer beside the bundled "
                             "models (repeat for more)")
    parser.add_argument("--workers", type=cli.int_in(1, 64), default=os.cpu_count() or 1,
                        help="syntheses at once; more requests wait their turn "
                             "(default: one per CPU)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    voices = Voices(args.run, workers=args.workers)
    server = make_server(voices, args.host, args.port, args.verbose)
    host, port = server.server_address[:2]
    print(f"serving {len(voices.synthesizers)} models ({', '.join(voices.synthesizers)}) on "
          f"http://{host}:{port}/ ; Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    cli.run(main)
