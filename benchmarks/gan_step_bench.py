"""Seconds per generator step of GAN variants, on arrays of FSDD's shapes (no data needed).

    python benchmarks/gan_step_bench.py                          # the default sizes
    python benchmarks/gan_step_bench.py --widths 8 16 --steps 10
    python benchmarks/gan_step_bench.py --widths 8 --phase-conditional --consistency-weight 10
    python benchmarks/gan_step_bench.py --widths 8 --loss hinge --gradient-penalty 0 \
        --spectral-norm --critic-steps 1 --ema 0.999 --augment --batch-norm   # cwgan_fast.json
    python benchmarks/gan_step_bench.py --widths 8 --loss hinge --gradient-penalty 0 \
        --spectral-norm --critic-steps 1 --ema 0.999 --augment --batch-norm \
        --auxiliary-weight 1 --upsampling resize                          # cwgan_resize.json
    python benchmarks/gan_step_bench.py --families wavegan --widths 8 16 32   # WaveGAN
    python benchmarks/gan_step_bench.py --families wavegan --widths 16 --loss hinge \
        --gradient-penalty 0 --spectral-norm --critic-steps 1 --ema 0.999 --batch-norm \
        --auxiliary-weight 1 --spectral-critic                 # configs/bundled_wavegan.json
    python benchmarks/gan_step_bench.py --representations magnitude-if log-mel
    python benchmarks/gan_step_bench.py --widths 64 128 --convolution 1d --loss hinge \
        --gradient-penalty 0 --spectral-norm --critic-steps 1 --ema 0.999 --augment \
        --batch-norm --auxiliary-weight 1 --upsampling resize      # configs/cwgan_1d.json

A generator step is `critic_steps` critic updates (each with its gradient
penalty) and one generator update, at batch size 64 per update: the unit the
GAN experiments' budgets are given in. Compiled as `fit` compiles it; the first
(tracing) step is left out of the timing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "codes"))

import numpy as np  # noqa: E402


def main() -> None:
    from spokendigits.models.gan import CONVOLUTIONS, UPSAMPLINGS  # no Keras yet

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=["cwgan-gp"])
    parser.add_argument("--widths", nargs="+", type=int, default=[8, 16])
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--critic-steps", type=int, default=5)
    parser.add_argument("--representations", nargs="+", default=["log-magnitude"])
    parser.add_argument("--phase-conditional", action="store_true")
    parser.add_argument("--consistency-weight", type=float, default=0.0)
    parser.add_argument("--loss", default="wasserstein", choices=["wasserstein", "hinge"])
    parser.add_argument("--gradient-penalty", type=float, default=10.0)
    parser.add_argument("--spectral-norm", action="store_true")
    parser.add_argument("--ema", type=float, default=0.0)
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--batch-norm", action="store_true", help="in the generator")
    parser.add_argument("--auxiliary-weight", type=float, default=0.0)
    parser.add_argument("--upsampling", default="transpose", choices=UPSAMPLINGS)
    parser.add_argument("--convolution", default="2d", choices=CONVOLUTIONS, help="cwgan-gp")
    parser.add_argument("--minibatch-std", action="store_true", help="cwgan-gp")
    parser.add_argument("--spectral-critic", action="store_true", help="wavegan")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed generator steps")
    args = parser.parse_args()
    if args.spectral_critic and set(args.families) != {"wavegan"}:
        parser.error("--spectral-critic is WaveGAN's: use it with --families wavegan alone")

    import keras
    import tensorflow as tf

    from spokendigits.audio import Scaling
    from spokendigits.features import FeatureConfig, Featurizer
    from spokendigits.models import FAMILIES, ModelConfig
    from spokendigits.representations import REPRESENTATIONS

    feature_config = FeatureConfig(sample_rate=8000, clip_seconds=0.76, n_fft=256, hop_length=64,
                                   split="takes")  # FSDD's
    featurizer = Featurizer(feature_config, Scaling(np.zeros(feature_config.n_freq, np.float32),
                                                    np.ones(feature_config.n_freq, np.float32)))
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, batch {args.batch_size}")
    print("family, width, representation, generator parameters, critic parameters, "
          "seconds per generator step")
    rng = np.random.default_rng(0)
    for family in args.families:
        for representation in args.representations:
            for width in args.widths:
                if representation not in FAMILIES[family].representations:
                    representation = FAMILIES[family].representations[0]  # wavegan's waveform
                config = ModelConfig(family=family, width=width, depth=args.depth,
                                     conditional=True, latent_dim=64,
                                     critic_steps=args.critic_steps, representation=representation,
                                     phase_conditional=args.phase_conditional,
                                     consistency_weight=args.consistency_weight,
                                     loss=args.loss, gradient_penalty=args.gradient_penalty,
                                     spectral_norm=args.spectral_norm, ema=args.ema,
                                     augment=args.augment, batch_norm=args.batch_norm,
                                     auxiliary_weight=args.auxiliary_weight,
                                     upsampling=args.upsampling,
                                     convolution=args.convolution,
                                     minibatch_std=args.minibatch_std,
                                     spectral_critic=args.spectral_critic)
                shape = REPRESENTATIONS[representation].from_feature_config(feature_config).shape
                clips = args.batch_size * args.critic_steps * (args.steps + 1)
                inputs = {"features": rng.standard_normal((clips, *shape), dtype=np.float32),
                          "condition": np.eye(10, dtype=np.float32)[rng.integers(0, 10, clips)]}
                if args.phase_conditional:
                    inputs["phase"] = rng.uniform(-1, 1, (clips, *shape[:2], 1)).astype(np.float32)
                keras.utils.set_random_seed(0)
                model = FAMILIES[family].build(config, shape, 10, 0,
                                               representation=featurizer.representation)
                dataset, _ = FAMILIES[family].fit_data(config, inputs, args.batch_size, 0)
                batches = iter(dataset)
                step = model.make_train_function() or model.train_function
                step(batches)  # traces
                started = time.perf_counter()
                for _ in range(args.steps):
                    logs = step(batches)
                float(logs["critic_loss"])  # waits for the last step
                seconds = (time.perf_counter() - started) / args.steps
                print(f"{family}, {width}, {representation}, {model.generator.count_params()}, "
                      f"{model.critic.count_params()}, {seconds:.2f}", flush=True)


if __name__ == "__main__":
    main()
