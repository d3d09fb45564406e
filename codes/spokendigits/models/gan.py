"""The spectrogram GAN families, `cwgan-gp` and `mlp-cwgan-gp`: conditional Wasserstein GANs.

One training step (`gan_network`) around a body: `cwgan-gp`'s convolutions
(SpecGAN-like, 2-D or 1-D) or `mlp-cwgan-gp`'s dense layers (the small
reference the study reproduces). A checkpoint keeps the generator alone; z is
drawn from N(0, I) and the digit is the generator's condition. `wavegan` is
the same GAN on waveforms (`wavegan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class GANSettings:
    """What every GAN reads beyond the shared settings: its loss and training step."""

    critic_steps: int = field(default=5, metadata={
        "help": "GANs: critic updates per generator update, each on its own real batch"})
    gradient_penalty: float = field(default=10.0, metadata={
        "help": "GANs: weight lambda of the critic's gradient penalty (0: none)"})
    loss: str = field(default="wasserstein", metadata={
        "help": "GANs: the adversarial loss: wasserstein (WGAN) or hinge (SNGAN, BigGAN)",
        "choices": GAN_LOSSES})
    spectral_norm: bool = field(default=False, metadata={
        "help": "GANs: spectral normalization of every critic layer (Miyato et al. 2018)"})
    ema: float = field(default=0.0, metadata={
        "help": "GANs: decay of an exponential moving average of the generator's weights, "
                "which is then the one saved (e.g. 0.999; 0: off)"})
    auxiliary_weight: float = field(default=0.0, metadata={
        "help": "GANs: weight of an auxiliary classifier on the critic (AC-GAN, Odena et al. "
                "2017): the critic also learns to name the condition of real clips, and the "
                "generator to make clips it names as asked (0: off)"})
    upsampling: str = field(default="transpose", metadata={
        "help": "conv GANs and wavegan: how the generator raises its resolution: transpose "
                "(transposed convolutions: 5x5 stride 2, as SpecGAN; 25 taps stride 4, as "
                "WaveGAN) or resize (nearest-neighbour repetition, then a stride-1 convolution: "
                "3x3; 25 taps in wavegan), which leaves no checkerboard pattern (Odena et al. "
                "2016), in wavegan no tone at a 16th of the sample rate",
        "choices": UPSAMPLINGS})


@dataclass(frozen=True)
class SpectrogramGANSettings(GANSettings):
    """A spectrogram GAN's: also a phase condition and DiffAugment."""

    phase_conditional: bool = field(default=False, metadata={
        "help": "GANs: also condition generator and critic on a phase image (the clip's own in "
                "training, a training clip's of the digit at inference); decoded with it"})
    consistency_weight: float = field(default=0.0, metadata={
        "help": "GANs with a phase condition: weight of the STFT consistency of the generated "
                "magnitude with the given phase, ||STFT(iSTFT(M e^(i phi))) - M e^(i phi)||^2 / "
                "||M||^2"})
    augment: bool = field(default=False, metadata={
        "help": "GANs: differentiable augmentation of every clip the critic sees, real or "
                "generated (random time shift and cutout, Zhao et al. 2020), for small data"})


@dataclass(frozen=True)
class CWGANSettings(SpectrogramGANSettings):
    """The conv GAN's: also 1-D convolutions and minibatch standard deviation."""

    convolution: str = field(default="2d", metadata={
        "help": "cwgan-gp: what its layers convolve over: 2d, frequency and time (SpecGAN), "
                "or 1d, frames alone, every frequency bin a channel, so each layer sees whole "
                "spectra (their harmonics) of nearby frames; give 1d a wider width (e.g. 64)",
        "choices": CONVOLUTIONS})
    minibatch_std: bool = field(default=False, metadata={
        "help": "cwgan-gp: the critic's last convolution also reads one channel holding the "
                "batch's standard deviation of its input, averaged over every feature "
                "(Karras et al. 2018), so a generator that draws too little variety is told; "
                "each score then depends on its whole batch"})


class GANFamily(Family):
    """A conditional WGAN whose generator and critic are `body` (`gan_network.BODIES`)."""

    kind = "GANs"
    table = "gan_study"
    representations = IMAGES
    losses = ("critic_loss", "generator_loss", "wasserstein", "gradient_penalty")

    def __init__(self, name: str, label: str, defaults: dict[str, Any], body: str,
                 settings: type = GANSettings, groups: tuple[str, ...] = (),
                 representations: tuple[str, ...] | None = None):
        super().__init__(name, label, defaults, settings, groups)
        self.body = body
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

    def clips_per_step(self, config: "ModelConfig", batch_size: int) -> int:
        """A step takes `critic_steps` whole batches (`fit_data` drops the rest)."""
        return batch_size * config.critic_steps

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
                     phase: np.ndarray | None, representation: Any, digits: np.ndarray,
                     speakers: np.ndarray) -> dict[str, np.ndarray]:
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

    @staticmethod
    def network() -> Any:
        """`gan_network`, the Keras side, imported when the family trains (not when inference
        reads a config)."""
        from . import gan_network

        return gan_network

    def build(self, config: "ModelConfig", feature_shape: tuple[int, ...], condition_dim: int,
              seed: int, training: Any = None, representation: Any = None) -> Any:
        return self.network().build(config, feature_shape, condition_dim, seed, training,
                                    representation)

    def fit_data(self, config: "ModelConfig", inputs: dict[str, np.ndarray], batch_size: int,
                 seed: int, training: bool = True) -> tuple[Any, dict[str, Any]]:
        """For training, in whole steps of `critic_steps` batches (a step needs them all)."""
        return self.network().fit_data(config, inputs, batch_size, seed, training)

    def callbacks(self, config: "ModelConfig", folder: Path, data: dict, tensorboard: bool,
                  representation: Any) -> list[Any]:
        return self.network().callbacks(config, folder, data, tensorboard, representation)

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        self.network().save_checkpoint(model, staging, epoch, logs, data, batch_size)

    def summary(self, model: Any) -> dict[str, Any]:
        return {"parameters": int(model.generator.count_params() + model.critic.count_params()),
                "generator_parameters": int(model.generator.count_params())}


# The conv GAN's size takes 2.3 s per generator step (5 critic steps of 64 clips) on FSDD
# on 2 cores (benchmarks/gan_step_bench.py; width 16 took 5.4 s).
CWGAN_GP = GANFamily("cwgan-gp", "CWGAN-GP", {"width": 8, "depth": 4}, body="conv",
                     settings=CWGANSettings, groups=("spectrogram GANs",))
MLP_CWGAN_GP = GANFamily("mlp-cwgan-gp", "MLP CWGAN-GP", {"width": 128, "depth": 3}, body="mlp",
                         settings=SpectrogramGANSettings, groups=("spectrogram GANs",))
