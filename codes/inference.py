"""Speak a digit string with a trained model: python codes/inference.py "1234".

    python codes/inference.py "0123456789"                 # the bundled default model
    python codes/inference.py "0123456789" --model gan       # another bundled model: gan, wavegan
    python codes/inference.py "555-0199" --seed 3 --out call.wav
    python codes/inference.py "42" --run output/runs/cnn-vae-1a2b3c4d --speaker theo

Spaces and dashes are pauses; at most 100 digits and pauses at a time. Writes
output/speech/<digits>.wav unless --out says otherwise. Needs no TensorFlow: the
generator runs on ONNX Runtime.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from spokendigits import cli
from spokendigits.audio import write_wav
from spokendigits.datasets import PROJECT_ROOT
from spokendigits.errors import DataError, UsageError
from spokendigits.flow import (DEFAULT_GUIDANCE, DEFAULT_SOLVER, DEFAULT_STEPS, MAX_GUIDANCE,
                               MAX_STEPS, SOLVERS)
from spokendigits.runs import Run
from spokendigits.sampling import DEFAULT_SAMPLER, SAMPLERS
from spokendigits.storage import check_writable_folder
from spokendigits.synthesis import (DEFAULT_MODEL, MAX_ITERATIONS, MAX_TEMPERATURE, MAX_TOKENS,
                                    Synthesizer, bundled_models, bundled_run, check_sampling,
                                    parse_digits)

SPEECH_ROOT = PROJECT_ROOT / "output" / "speech"
NAME_LENGTH = 64  # longer digit strings are cut in default file names, and a hash added


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("digits", help=f"digits to speak; spaces and dashes are pauses "
                                       f"(at most {MAX_TOKENS} in all)")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"bundled model to speak with, of {bundled_models()} "
                             f"(default: {DEFAULT_MODEL})")
    chosen.add_argument("--run", type=Path,
                        help="run folder from codes/train.py, instead of a bundled model")
    parser.add_argument("--epoch", type=int, help="checkpoint to use (default: the run's last)")
    parser.add_argument("--out", type=Path, help="wav to write (default: output/speech/<digits>.wav)")
    parser.add_argument("--seed", type=cli.seed, default=0,
                        help=f"seeds latent samples and phase (0..{cli.MAX_SEED})")
    parser.add_argument("--temperature", type=cli.finite_float, default=1.0,
                        help="spread of latent samples: 0 gives the mean of the Gaussian drawn "
                             f"from (at most {MAX_TEMPERATURE:g}; default 1)")
    parser.add_argument("--iterations", type=cli.int_in(0, MAX_ITERATIONS), default=64,
                        help=f"Griffin-Lim iterations (0..{MAX_ITERATIONS}; default 64)")
    parser.add_argument("--speaker", help="speaker to imitate, for models that know speakers")
    parser.add_argument("--sampler", choices=SAMPLERS,
                        help="how latent vectors are drawn: each digit's fitted Gaussian (digit), "
                             "a mixture of its speakers' (mixture), or N(0, I) for conditional "
                             f"models (prior); default {DEFAULT_SAMPLER} where the model has "
                             "fitted Gaussians (VAEs), else prior; flow for flow models")
    flow = parser.add_argument_group("flow models (sampler flow)")
    flow.add_argument("--guidance", type=cli.finite_float,
                      help="classifier-free guidance: 0 ignores the digit, 1 follows it, more "
                           f"speaks it more plainly (0..{MAX_GUIDANCE:g}; "
                           f"default {DEFAULT_GUIDANCE:g})")
    flow.add_argument("--steps", type=cli.int_in(1, MAX_STEPS),
                      help=f"integration steps (default {DEFAULT_STEPS})")
    flow.add_argument("--solver", choices=SOLVERS, help=f"default {DEFAULT_SOLVER}")
    return parser.parse_args()


def default_out(digits: str) -> Path:
    """output/speech/<digits>.wav, pauses written as dashes. A string longer than
    `NAME_LENGTH` keeps its start and gains a hash of the whole: the name stays short
    enough for any file system, and longer than every uncut name, so none collide."""
    name = digits.replace(" ", "-")
    if len(name) > NAME_LENGTH:
        name = f"{name[:NAME_LENGTH]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return SPEECH_ROOT / f"{name}.wav"


def check_out(out: Path) -> None:
    """Raise UsageError unless a wav can be written at `out`, before any work is done."""
    if out.suffix.lower() != ".wav":
        raise UsageError(f"--out {out} should end in .wav")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name, e.g. {out / 'speech.wav'}")
    check_writable_folder(out.parent, "--out")


def main() -> None:
    started = time.perf_counter()
    args = parse_arguments()
    check_sampling(args.temperature, args.iterations)
    tokens = parse_digits(args.digits)
    out = args.out or default_out(args.digits)
    check_out(out)
    synthesizer = Synthesizer(Run.open(args.run or bundled_run(args.model)), args.epoch)
    waveform = synthesizer.speak(tokens, args.speaker, args.seed, args.temperature, args.iterations,
                                 args.sampler, **synthesizer.flow_options(
                                     args.sampler, guidance=args.guidance, steps=args.steps,
                                     solver=args.solver))
    try:
        write_wav(out, waveform, synthesizer.sample_rate)
    except OSError as error:  # checked writable above, so a full disk or a vanished folder
        raise DataError(f"could not write {out}: {error.strerror or error}") from None
    digits = sum(token is not None for token in tokens)
    print(f"{out}: {digits} digits, {len(waveform) / synthesizer.sample_rate:.2f} s at "
          f"{synthesizer.sample_rate} Hz, run {synthesizer.run.name} "
          f"({synthesizer.checkpoint.name}), {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    cli.run(main)
