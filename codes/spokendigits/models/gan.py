"""The spectrogram GAN families, `cwgan-gp` and `mlp-cwgan-gp`: conditional Wasserstein GANs.

One training step (`gan_network`) around a body: `cwgan-gp`'s convolutions
(SpecGAN-like, 2-D or 1-D) or `mlp-cwgan-gp`'s dense layers (the small
reference the study reproduces). A checkpoint keeps the generator alone; z is
drawn from N(0, I) and the digit is the generator's condition. `wavegan` is
the same GAN on waveforms (`wavegan`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from .family import Family

if TYPE_CHECKING:
    from . import ModelConfig

GAN_LOSSES = ("wasserstein", "hinge")
UPSAMPLINGS = ("transpose", "resize")
CONVOLUTIONS = ("2d", "1d")
IMAGES = ("log-magnitude", "magnitude-phase", "magnitude-if", "log-mel")  # what a body draws


class GANFamily(Family):
    """A conditional WGAN whose generator and critic are `body` (`gan_network.BODIES`)."""

    kind = "GANs"
    table = "gan_study"
    own_settings = ("critic_steps", "gradient_penalty", "loss", "spectral_norm", "ema",
                    "auxiliary_weight", "upsampling")
    representations = IMAGES
    losses = ("critic_loss", "generator_loss", "wasserstein", "gradient_penalty")

    def __init__(self, name: str, label: str, defaults: dict[str, Any], body: str,
                 more_settings: tuple[str, ...] = (), groups: tuple[str, ...] = (),
                 representations: tuple[str, ...] | None = None):
        super().__init__(name, label, defaults, groups)
        self.body = body
        self.own_settings = (*type(self).own_settings, *more_settings)
        self.representations = representations or type(self).representations

    def checks(self, config: "ModelConfig") -> list[tuple[bool, str]]:
        return [
            (not config.phase_conditional or config.representation == "log-magnitude",
             "phase_conditional needs representation log-magnitude: the phase is given"),
            (config.consistency_weight == 0 or config.phase_conditional,
             "consistency_weight needs phase_conditional: it ties magnitude to the given phase"),
            (config.consistency_weight >= 0, "consistency_weight must not be negative"),
            (config.critic_steps >= 1, "critic_steps must be at least 1"),
            (config.gradient_penalty >= 0, "gradient_penalty must not be negative"),
            (config.loss in GAN_LOSSES, f"loss must be one of {list(GAN_LOSSES)}"),
            (0 <= config.ema < 1, "ema must be in [0, 1)"),
            (config.auxiliary_weight >= 0, "auxiliary_weight must not be negative"),
            (config.upsampling in UPSAMPLINGS, f"upsampling must be one of {list(UPSAMPLINGS)}"),
            (config.convolution in CONVOLUTIONS,
             f"convolution must be one of {list(CONVOLUTIONS)}"),
            (config.convolution == "2d" or not config.phase_conditional,
             "convolution 1d is for cwgan-gp without phase_conditional"),
            (config.auxiliary_weight == 0 or config.conditional,
             "auxiliary_weight needs conditional: the classifier names the condition"),
        ]

    def likelihood(self, config: "ModelConfig") -> str:
        """The loss, e.g. "WGAN, GP 10, 5 critic steps" or "hinge, SN, EMA 0.999, ..."."""
        parts = ["WGAN" if config.loss == "wasserstein" else "hinge"]
        parts += [f"GP {config.gradient_penalty:g}"] if config.gradient_penalty else []
        parts += ["SN"] if config.spectral_norm else []
        parts += [f"EMA {config.ema:g}"] if config.ema else []
        parts += ["DiffAugment"] if config.augment else []
        parts += [f"AC {config.auxiliary_weight:g}"] if config.auxiliary_weight else []
        parts += ["resize-conv"] if config.upsampling == "resize" else []
        parts += ["1-D conv"] if config.convolution == "1d" else []
        parts += ["minibatch std"] if config.minibatch_std else []
        parts += ["STFT critic"] if config.spectral_critic else []
        return ", ".join(parts) + f", {config.critic_steps} critic steps"

    def label_parts(self, config: "ModelConfig") -> list[str]:
        from . import ModelConfig

        likelihood = self.likelihood(config)
        return [likelihood] * (likelihood != self.likelihood(ModelConfig(family=self.name))) + \
            ["BN"] * config.batch_norm + \
            [f"consistency {config.consistency_weight:g}"] * bool(config.consistency_weight)

    def model_arrays(self, config: "ModelConfig", features: np.ndarray,
                     phase: np.ndarray | None, representation: Any) -> dict[str, np.ndarray]:
        """The arrays of `representation` (the run's fitted `config.representation`) and, for
        a phase-conditional model, the log-magnitude alone and `{"phase": [clip, freq, frame,
        1]}` phase / pi.

        Raises:
            UsageError: the model needs the phase and the feature set has none.
        """
        if config.needs_phase and phase is None:
            raise UsageError(f"a {config.family} model with representation "
                             f"{config.representation}"
                             f"{' and a phase condition' if config.phase_conditional else ''} "
                             "needs the STFT phase: make the feature set again with "
                             "codes/features.py --phase (the name stays the same)")
        if config.phase_conditional:
            return {"features": features[..., None],
                    "phase": (phase / np.pi).astype(np.float32)[..., None]}
        return {"features": representation.encode_features(features, phase)}

    def build(self, config: "ModelConfig", feature_shape: tuple[int, ...], condition_dim: int,
              seed: int, training: Any = None, featurizer: Any = None) -> Any:
        from . import gan_network

        return gan_network.build(config, feature_shape, condition_dim, seed, training,
                                 featurizer)

    def fit_data(self, config: "ModelConfig", inputs: dict[str, np.ndarray], batch_size: int,
                 seed: int, training: bool = True) -> tuple[Any, dict[str, Any]]:
        from . import gan_network

        return gan_network.fit_data(config, inputs, batch_size, seed, training)

    def callbacks(self, config: "ModelConfig", folder: Path, data: dict, tensorboard: bool,
                  featurizer: Any, representation: Any) -> list[Any]:
        from . import gan_network

        return gan_network.callbacks(config, folder, data, tensorboard, featurizer,
                                     representation)

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        from . import gan_network

        gan_network.save_checkpoint(model, staging, epoch, logs, data, batch_size)

    def summary(self, model: Any) -> dict[str, Any]:
        return {"parameters": int(model.generator.count_params() + model.critic.count_params()),
                "generator_parameters": int(model.generator.count_params())}


SPECTROGRAM_GAN_SETTINGS = ("phase_conditional", "consistency_weight", "augment")
# The conv GAN's size takes 2.3 s per generator step (5 critic steps of 64 clips) on FSDD
# on 2 cores (benchmarks/gan_step_bench.py; width 16 took 5.4 s).
CWGAN_GP = GANFamily("cwgan-gp", "CWGAN-GP", {"width": 8, "depth": 4}, body="conv",
                     more_settings=(*SPECTROGRAM_GAN_SETTINGS, "convolution", "minibatch_std"),
                     groups=("spectrogram GANs",))
MLP_CWGAN_GP = GANFamily("mlp-cwgan-gp", "MLP CWGAN-GP", {"width": 128, "depth": 3}, body="mlp",
                         more_settings=SPECTROGRAM_GAN_SETTINGS, groups=("spectrogram GANs",))
