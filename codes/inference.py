"""Speak a digit string with a trained model: python codes/inference.py "1234".

    python codes/inference.py "0123456789"                 # the bundled default model
    python codes/inference.py "555-0199" --seed 3 --out call.wav
    python codes/inference.py "42" --run output/runs/cnn-vae-1a2b3c4d --speaker theo

Spaces and dashes are pauses. Writes output/speech/<digits>.wav unless --out
says otherwise. Needs no TensorFlow: the decoder runs on ONNX Runtime.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from spokendigits import cli
from spokendigits.audio import write_wav
from spokendigits.datasets import PROJECT_ROOT
from spokendigits.errors import UsageError
from spokendigits.latents import DEFAULT_SAMPLER, SAMPLERS
from spokendigits.runs import Run
from spokendigits.synthesis import DEFAULT_RUN, Synthesizer, parse_digits

SPEECH_ROOT = PROJECT_ROOT / "output" / "speech"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("digits", help="digits to speak; spaces and dashes are pauses")
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN,
                        help="run folder from codes/train.py (default: the bundled model)")
    parser.add_argument("--epoch", type=int, help="checkpoint to use (default: the run's last)")
    parser.add_argument("--out", type=Path, help="wav to write (default: output/speech/<digits>.wav)")
    parser.add_argument("--seed", type=int, default=0, help="seeds latent samples and phase")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="spread of latent samples: 0 gives the mean of the Gaussian drawn from")
    parser.add_argument("--iterations", type=int, default=64, help="Griffin-Lim iterations")
    parser.add_argument("--speaker", help="speaker to imitate, for models that know speakers")
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER,
                        help="how latent vectors are drawn: each digit's fitted Gaussian (digit), "
                             "a mixture of its speakers' (mixture), or N(0, I) for conditional "
                             f"models (prior); default {DEFAULT_SAMPLER}")
    return parser.parse_args()


def main() -> None:
    started = time.perf_counter()
    args = parse_arguments()
    tokens = parse_digits(args.digits)
    if args.temperature < 0 or args.iterations < 0:
        raise UsageError("--temperature and --iterations must not be negative")
    if args.out is not None and args.out.suffix.lower() != ".wav":
        raise UsageError(f"--out {args.out} should end in .wav")
    out = args.out or SPEECH_ROOT / f"{args.digits.replace(' ', '-')}.wav"
    synthesizer = Synthesizer(Run.open(args.run), args.epoch)
    waveform = synthesizer.speak(tokens, args.speaker, args.seed, args.temperature, args.iterations,
                                 args.sampler)
    write_wav(out, waveform, synthesizer.sample_rate)
    digits = sum(token is not None for token in tokens)
    print(f"{out}: {digits} digits, {len(waveform) / synthesizer.sample_rate:.2f} s at "
          f"{synthesizer.sample_rate} Hz, run {synthesizer.run.name} "
          f"({synthesizer.checkpoint.name}), {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    cli.run(main)
