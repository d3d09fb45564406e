"""How often does a listener that never heard FSDD recognise each digit?

    python benchmarks/listener_probe.py --run output/runs/cnn-vae-9e35b601 \
        --run codes/spokendigits/pretrained/vae

The project's judge (`evaluate.py`) is a classifier trained on FSDD's training
split. It hears each digit's mean spectrogram, the model-free floor, as a
perfect prototype (100%), so on its own it cannot tell a model that speaks
from one that hums the average. This probe is a second opinion from outside
the project: CMU PocketSphinx's US-English acoustic model (trained on other
speech), restricted by a grammar to the ten words "zero" to "nine", so it must
pick one of them. It is an old, small recognizer and does not do well on
FSDD's 8 kHz recordings even when they are real. Read its accuracies as a
ranking, next to the real clips' row.

Each row is 30 clips per digit, as in `reports/results.md`, made as
`inference.py` makes them (latent sample, ONNX generator, the representation's
decoding, trimmed; a speaker-conditional model's with a voice drawn for each
clip, as `codes/evaluate.py` draws them, where `inference.py` draws one for a
string):
the real test clips, the real test clips through magnitude-only Griffin-Lim,
the floor (each digit's mean training spectrogram through Griffin-Lim), then
each `--run`. Nothing here trains or tunes a model; `--csv reports/listener.csv` with the
bundled models is what picks inference.py's default (README).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "codes"))

MODEL_COLUMNS = ("run", "epochs", "sampler", "temperature")  # of --csv, empty for references


def main() -> None:
    from spokendigits import audio
    from spokendigits.datasets import get_source
    from spokendigits.evaluation import clip_speakers, digit_means, per_digit_count
    from spokendigits.features import FeatureSet
    from spokendigits.listeners import Listener, for_listeners
    from spokendigits.runs import Run
    from spokendigits.sampling import SAMPLERS
    from spokendigits.storage import atomic_write
    from spokendigits.synthesis import Synthesizer
    from train import find_feature_set

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, help="feature set (default: the one in dataset/features)")
    parser.add_argument("--data-dir", type=Path,
                        help="the dataset's folder, for the real recordings (default: as features.py)")
    parser.add_argument("--run", type=Path, action="append", default=[], help="a run folder; repeatable")
    parser.add_argument("--sampler", choices=SAMPLERS,
                        help="how z is drawn (default: the model's, mixture for VAEs, prior for GANs)")
    parser.add_argument("--temperature", type=float, default=1.0, help="spread of latent samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models-only", action="store_true", help="skip the reference rows")
    parser.add_argument("--csv", type=Path,
                        help="also write the table here, with each model's run, checkpoint and "
                             "sampler (reports/listener.csv: the bundled models')")
    args = parser.parse_args()

    feature_set = FeatureSet.load(find_feature_set(args.features))
    analysis, rate = feature_set.featurizer.representation, feature_set.config.sample_rate
    per_digit = per_digit_count(feature_set)
    test = feature_set.split_mask("test")
    asked = np.repeat(np.arange(10), per_digit)
    folder = get_source(feature_set.dataset).resolve_folder(args.data_dir)
    recordings = [audio.fit_length(audio.load_wav(folder / path, rate), feature_set.config.clip_samples)
                  for path in np.asarray(feature_set.files)[test]]
    # name -> (waveforms, digits asked, how the model spoke them, None for the references)
    sets = {"real test clips": (recordings, feature_set.digits[test], None),
            "real test clips, Griffin-Lim": (
                analysis.waveforms(feature_set.features[test], seed=args.seed),
                feature_set.digits[test], None),
            "floor: digit means, Griffin-Lim": (analysis.waveforms(
                np.repeat(digit_means(feature_set), per_digit, axis=0), seed=args.seed), asked, None)}
    if args.models_only:
        sets.clear()
    for folder in args.run:
        run = Run.open(folder)
        epoch = run.checkpoints[-1]  # as inference.py: the last checkpoint
        synthesizer = Synthesizer(run, epoch)
        sampler = args.sampler or synthesizer.default_sampler
        arrays = synthesizer.arrays(asked.tolist(), clip_speakers(run, len(asked), args.seed),
                                    seed=args.seed, sampler=sampler,
                                    temperature=args.temperature)
        model = {"run": run.summary.get("run", run.name),  # an export: the run it came from
                 "epochs": epoch, "sampler": sampler, "temperature": args.temperature}
        sets[f"{model['run']} ({synthesizer.checkpoint.name}, {sampler}, T {args.temperature:g})"] = (
            synthesizer.waveforms(arrays, seed=args.seed), asked, model)

    listener, rows = Listener(), []
    for name, (waveforms, digits, model) in sets.items():
        started = time.perf_counter()
        heard = np.array([listener.digit(for_listeners(waveform, rate)) for waveform in waveforms])
        hits = heard == np.asarray(digits)
        rows.append({"clips": name, "n": len(hits), "accuracy": hits.mean(),
                     **{str(d): hits[np.asarray(digits) == d].mean() for d in range(10)},
                     "s": time.perf_counter() - started,
                     **(model or dict.fromkeys(MODEL_COLUMNS))})
    table = pd.DataFrame(rows).astype({"epochs": "Int64"})
    print(table.drop(columns=list(MODEL_COLUMNS)).to_markdown(index=False, floatfmt=".2f"))
    if args.csv:
        with atomic_write(args.csv, "w") as file:
            table.to_csv(file, index=False, float_format="%.4f")
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
