"""Copy one checkpoint of a run, with only what inference needs, into a new folder.

    python codes/export_run.py output/runs/cnn-vae-1a2b3c4d my_model [--epoch 60]
    python codes/inference.py "1234" --run my_model

The copy holds the run's config, history and summary, and the checkpoint's ONNX
decoder, latent Gaussians and losses: a few hundred kB to share or ship.
This is how codes/spokendigits/pretrained/vae was made.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spokendigits import cli
from spokendigits.runs import Run, export_inference
from spokendigits.storage import check_writable_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="run folder made by codes/train.py")
    parser.add_argument("destination", type=Path, help="new folder to create")
    parser.add_argument("--epoch", type=int, help="checkpoint to copy (default: the last)")
    parser.add_argument("--half", action="store_true",
                        help="store the ONNX files' weights in float16 (half the size; "
                             "computed in float32)")
    parser.add_argument("--raw", action="store_true",
                        help="a GAN trained with --ema: its generator's own weights, not "
                             "their moving average (what the two sound like)")
    args = parser.parse_args()
    run = Run.open(args.run)
    check_writable_folder(args.destination, "destination")
    destination = export_inference(run, args.destination, args.epoch, args.half, args.raw)
    size = sum(path.stat().st_size for path in destination.rglob("*") if path.is_file())
    print(f"{destination}: {run.name}, checkpoint {run.checkpoint(args.epoch).name}, "
          f"{size / 1024:.0f} kB")


if __name__ == "__main__":
    cli.run(main)
