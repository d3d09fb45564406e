"""Model families, built from a `ModelConfig` by one registry.

A family is a module with the same few functions (`build`, `callbacks`,
`save_checkpoint`, `summary`, `LOSSES`); `FAMILIES` maps each family name to
its module, so generic training code calls the family and knows nothing of
KL terms, encoders or critics:

- `mlp-vae`, `cnn-vae` (`vae`): variational autoencoders on log-magnitudes.
- `cwgan-gp`, `mlp-cwgan-gp` (`gan`): conditional Wasserstein GANs with a
  gradient penalty, convolutional (SpecGAN-like) or the small MLP reference.
- `wavegan` (`gan`, bodies in `wavegan`): the same GAN on raw waveforms, with
  WaveGAN's 1-D layers and phase shuffle (Donahue et al. 2019).

This module imports no Keras, so a run's settings can be read where only
inference runs; `family_module` imports the family's module when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import check_settings
from ..errors import UsageError
from ..representations import REPRESENTATIONS as REPRESENTATION_CLASSES
from ..representations import Representation

FAMILIES = {"mlp-vae": "vae", "cnn-vae": "vae", "cwgan-gp": "gan", "mlp-cwgan-gp": "gan",
            "wavegan": "gan"}
DECODER_VARIANCES = ("fixed", "shared", "per-bin")
# What a model generates (see `representations`): images of the STFT (log-magnitude, and
# phase or instantaneous frequency), of mel bands, or the waveform (WaveGAN's alone).
REPRESENTATIONS = tuple(REPRESENTATION_CLASSES)
GAN_LOSSES = ("wasserstein", "hinge")
UPSAMPLINGS = ("transpose", "resize")
CONVOLUTIONS = ("2d", "1d")
# VAE sizes measured on FSDD features (129 x 96) to train in about 1.5-2.5 s an epoch on
# 2 cores; the conv GAN's to take 2.3 s per generator step (5 critic steps of 64 clips)
# there (benchmarks/gan_step_bench.py; width 16 took 5.4 s).
FAMILY_DEFAULTS = {"mlp-vae": {"width": 256, "depth": 2}, "cnn-vae": {"width": 8, "depth": 4},
                   "cwgan-gp": {"width": 8, "depth": 4}, "mlp-cwgan-gp": {"width": 128, "depth": 3},
                   "wavegan": {"width": 16, "depth": 4, "phase_shuffle": 2}}
# Spread of a GAN's generated clips of one digit over that of real ones (and the same for
# the spread between digits) under which training warns of mode collapse.
COLLAPSE_RATIO = 0.25
# Settings of one kind of family, which the other must leave at these defaults.
VAE_DEFAULTS = {"beta": 1.0, "kl_warmup_epochs": 0, "free_bits": 0.0, "decoder_variance": "fixed"}
GAN_DEFAULTS = {"representation": "log-magnitude", "phase_conditional": False,
                "phase_shuffle": None, "post_filter": False, "spectral_critic": False,
                "consistency_weight": 0.0, "critic_steps": 5, "gradient_penalty": 10.0,
                "loss": "wasserstein", "spectral_norm": False, "ema": 0.0, "augment": False,
                "auxiliary_weight": 0.0, "upsampling": "transpose", "convolution": "2d",
                "minibatch_std": False}


@dataclass(frozen=True)
class ModelConfig:
    """One model variant: family, conditioning, size and regularization."""

    family: str = field(default="cnn-vae", metadata={
        "help": "model family", "choices": tuple(FAMILIES)})
    latent_dim: int = field(default=16, metadata={"help": "size of the latent vector z"})
    conditional: bool = field(default=False, metadata={
        "help": "condition encoder and decoder on the digit"})
    speaker_conditional: bool = field(default=False, metadata={
        "help": "also condition on the speaker (enables --speaker in inference)"})
    width: int | None = field(default=None, metadata={
        "help": "MLP: units of the last hidden layer (doubling towards the input); CNN: "
                "channels of the first convolution (doubling with depth); unset: "
                "the family's default (mlp-vae 256, cnn-vae 8)"})
    depth: int | None = field(default=None, metadata={
        "help": "hidden layers (MLP) or stride-2 convolutions (CNN) on each side; unset: "
                "the family's default (mlp-vae 2, cnn-vae 4)"})
    dropout: float = field(default=0.0, metadata={"help": "dropout rate after each hidden block"})
    l2: float = field(default=0.0, metadata={"help": "L2 weight penalty on every kernel"})
    batch_norm: bool = field(default=False, metadata={"help": "batch normalization in each block"})
    beta: float = field(default=1.0, metadata={"help": "weight of the KL term (beta-VAE)"})
    kl_warmup_epochs: int = field(default=0, metadata={
        "help": "raise the KL weight linearly to beta over this many epochs (beta/N in the first)"})
    free_bits: float = field(default=0.0, metadata={
        "help": "nats of KL per latent dimension (batch mean) that go unpenalised"})
    decoder_variance: str = field(default="fixed", metadata={
        "help": "the decoder's Gaussian variance: fixed (squared error), or learned as one "
                "value (shared) or one per frequency bin (per-bin), as in the sigma-VAE",
        "choices": DECODER_VARIANCES})
    residual_blocks: int = field(default=0, metadata={
        "help": "CNN: residual blocks (two 3x3 convolutions and a skip) after each resolution "
                "change, on each side"})
    representation: str = field(default="log-magnitude", metadata={
        "help": "GANs: what the generator makes: the log-magnitude, log-magnitude and phase or "
                "instantaneous frequency as two channels (decoded with their own phase), the "
                "log-mel, or (wavegan, always) the waveform", "choices": REPRESENTATIONS})
    phase_conditional: bool = field(default=False, metadata={
        "help": "GANs: also condition generator and critic on a phase image (the clip's own in "
                "training, a training clip's of the digit at inference); decoded with it"})
    consistency_weight: float = field(default=0.0, metadata={
        "help": "GANs with a phase condition: weight of the STFT consistency of the generated "
                "magnitude with the given phase, ||STFT(iSTFT(M e^(i phi))) - M e^(i phi)||^2 / "
                "||M||^2"})
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
    augment: bool = field(default=False, metadata={
        "help": "GANs: differentiable augmentation of every clip the critic sees, real or "
                "generated (random time shift and cutout, Zhao et al. 2020), for small data"})
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

    phase_shuffle: int | None = field(default=None, metadata={
        "help": "wavegan: each critic layer's output is shifted by a random -n..n samples "
                "(reflection-padded), so the critic cannot tell real from generated by their "
                "phase alone; unset: 2, as in the paper"})
    post_filter: bool = field(default=False, metadata={
        "help": "wavegan: a learned 512-tap filter after the generator's last layer (the "
                "paper's post-processing, off by default as there)"})
    spectral_critic: bool = field(default=False, metadata={
        "help": "wavegan: the critic also reads each clip's log-magnitude STFT (scaled as the "
                "feature set's) through the conv critic's 2-D layers, beside the waveform "
                "layers, so it can hear which digit is said (off: the paper's critic)"})

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise UsageError(f"unknown model family '{self.family}'; choose one of {list(FAMILIES)}")
        gan, wavegan = self.is_gan, self.family == "wavegan"
        for name, default in FAMILY_DEFAULTS[self.family].items():  # saved configs are explicit
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        if wavegan and self.representation == GAN_DEFAULTS["representation"]:
            object.__setattr__(self, "representation", "waveform")  # the only one it makes
        checks = [
            (self.latent_dim >= 1, "latent_dim must be at least 1"),
            (self.width >= 1, "width must be at least 1"),
            (self.conditional or not self.speaker_conditional,
             "speaker_conditional needs conditional: a speaker-only model could not be asked "
             "for a digit"),
            (self.depth >= 1, "depth must be at least 1"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.l2 >= 0, "l2 must not be negative"),
            (self.beta >= 0, "beta must not be negative"),
            (self.kl_warmup_epochs >= 0, "kl_warmup_epochs must not be negative"),
            (self.free_bits >= 0, "free_bits must not be negative"),
            (self.decoder_variance in DECODER_VARIANCES,
             f"decoder_variance must be one of {list(DECODER_VARIANCES)}"),
            (self.residual_blocks >= 0, "residual_blocks must not be negative"),
            (self.family == "cnn-vae" or not self.residual_blocks,
             "residual_blocks is for cnn-vae only"),
            (not gan or all(getattr(self, name) == value for name, value in VAE_DEFAULTS.items()),
             f"{', '.join(VAE_DEFAULTS)} are for VAEs only"),
            (self.representation in REPRESENTATIONS,
             f"representation must be one of {list(REPRESENTATIONS)}"),
            (wavegan == (self.representation == "waveform"),
             "representation waveform is wavegan's, and wavegan makes waveforms only"),
            (wavegan or (self.phase_shuffle is None and not self.post_filter
                         and not self.spectral_critic),
             "phase_shuffle, post_filter and spectral_critic are for wavegan only"),
            (self.phase_shuffle is None or self.phase_shuffle >= 0,
             "phase_shuffle must not be negative"),
            (not wavegan or not self.augment,
             "augment is for the spectrogram GANs (cwgan-gp, mlp-cwgan-gp)"),
            (not self.phase_conditional or self.representation == "log-magnitude",
             "phase_conditional needs representation log-magnitude: the phase is given"),
            (self.consistency_weight == 0 or self.phase_conditional,
             "consistency_weight needs phase_conditional: it ties magnitude to the given phase"),
            (self.consistency_weight >= 0, "consistency_weight must not be negative"),
            (self.critic_steps >= 1, "critic_steps must be at least 1"),
            (self.gradient_penalty >= 0, "gradient_penalty must not be negative"),
            (self.loss in GAN_LOSSES, f"loss must be one of {list(GAN_LOSSES)}"),
            (0 <= self.ema < 1, "ema must be in [0, 1)"),
            (self.auxiliary_weight >= 0, "auxiliary_weight must not be negative"),
            (self.upsampling in UPSAMPLINGS, f"upsampling must be one of {list(UPSAMPLINGS)}"),
            (self.convolution in CONVOLUTIONS,
             f"convolution must be one of {list(CONVOLUTIONS)}"),
            (self.convolution == "2d" or (self.family == "cwgan-gp" and not self.phase_conditional),
             "convolution 1d is for cwgan-gp without phase_conditional"),
            (not self.minibatch_std or self.family == "cwgan-gp",
             "minibatch_std is for cwgan-gp"),
            (self.auxiliary_weight == 0 or self.conditional,
             "auxiliary_weight needs conditional: the classifier names the condition"),
            (gan or all(getattr(self, name) == value for name, value in GAN_DEFAULTS.items()),
             f"{', '.join(GAN_DEFAULTS)} are for GANs only"),
        ]
        check_settings(f"model settings for {self.family}", checks)

    @property
    def is_gan(self) -> bool:
        return FAMILIES[self.family] == "gan"

    @property
    def needs_stft(self) -> bool:
        """Whether training computes STFTs in the graph, and so needs the feature set's STFT
        settings: the consistency term, or a spectral critic."""
        return bool(self.consistency_weight or self.spectral_critic)

    @property
    def samplers(self) -> tuple[str, ...]:
        """The latent samplers (`latents.SAMPLERS`) that can ask this model for a digit: a
        GAN draws from the prior alone; a VAE from its fitted densities, and from the prior
        where the digit is its condition."""
        if self.is_gan:
            return ("prior",)
        return (("prior",) if self.conditional else ()) + ("digit", "mixture")

    @property
    def needs_phase(self) -> bool:
        """True if training needs the feature set's phase."""
        return REPRESENTATION_CLASSES[self.representation].needs_phase or self.phase_conditional

    @property
    def decoded_representation(self) -> str:
        """The representation that turns what the model makes into waveforms: its own, or
        for a phase-conditional model magnitude-phase (the phase is given, not made)."""
        return "magnitude-phase" if self.phase_conditional else self.representation

    @property
    def regularization(self) -> str:
        """What regularizes the model, in words: e.g. "dropout 0.2, batch norm", or "none"."""
        parts = [f"dropout {self.dropout:g}" if self.dropout else "",
                 f"L2 {self.l2:g}" if self.l2 else "",
                 "batch norm" if self.batch_norm else "",
                 f"KL warm-up {self.kl_warmup_epochs}" if self.kl_warmup_epochs else "",
                 f"free bits {self.free_bits:g}" if self.free_bits else "",
                f"consistency {self.consistency_weight:g}" if self.consistency_weight else ""]
        return ", ".join(part for part in parts if part) or "none"

    @property
    def likelihood(self) -> str:
        """The decoder's likelihood, in words: "fixed variance, beta 1", "sigma per-bin"; for
        GANs the loss: "WGAN-GP, 5 critic steps"."""
        if self.is_gan:
            parts = ["WGAN" if self.loss == "wasserstein" else "hinge"]
            parts += [f"GP {self.gradient_penalty:g}"] if self.gradient_penalty else []
            parts += ["SN"] if self.spectral_norm else []
            parts += [f"EMA {self.ema:g}"] if self.ema else []
            parts += ["DiffAugment"] if self.augment else []
            parts += [f"AC {self.auxiliary_weight:g}"] if self.auxiliary_weight else []
            parts += ["resize-conv"] if self.upsampling == "resize" else []
            parts += ["1-D conv"] if self.convolution == "1d" else []
            parts += ["minibatch std"] if self.minibatch_std else []
            parts += ["STFT critic"] if self.spectral_critic else []
            return ", ".join(parts) + f", {self.critic_steps} critic steps"
        if self.decoder_variance == "fixed":
            return f"fixed variance, beta {self.beta:g}"
        return f"sigma {self.decoder_variance}" + (f", beta {self.beta:g}" if self.beta != 1 else "")

    @property
    def size(self) -> str:
        """Width, depth, residual blocks and latent size, e.g. "w16 d4 r1 z32"."""
        return f"w{self.width} d{self.depth}" + \
            (f" r{self.residual_blocks}" if self.residual_blocks else "") + f" z{self.latent_dim}"

    @property
    def conditioning(self) -> str:
        """What the model is conditioned on: "none", "digit", "digit+speaker", "digit+phase"."""
        parts = [name for name, wanted in (("digit", self.conditional),
                                           ("speaker", self.speaker_conditional),
                                           ("phase", self.phase_conditional)) if wanted]
        return "+".join(parts) or "none"


def family_module(config: ModelConfig) -> Any:
    """The module of `config.family` (`vae` or `gan`); imports Keras."""
    import importlib

    return importlib.import_module(f"{__name__}.{FAMILIES[config.family]}")


def build_model(config: ModelConfig, feature_shape: tuple[int, ...], condition_dim: int,
                seed: int, training: Any = None, featurizer: Any = None) -> Any:
    """A compiled model of `config.family` for arrays of `feature_shape` (`[freq, frame]`
    for VAEs, `[freq, frame, channel]` for GANs); `training` (a `TrainConfig`) gives the
    learning rates, `featurizer` what a family needs of the features (see its `build`)."""
    return family_module(config).build(config, feature_shape, condition_dim, seed, training,
                                       featurizer)


def model_arrays(config: ModelConfig, features: np.ndarray, phase: np.ndarray | None,
                 representation: Representation) -> dict[str, np.ndarray]:
    """What the model trains on, from a feature set's `[clip, freq, frame]` scaled
    log-magnitudes and phases in radians: `{"features": ...}` (VAEs `[clip, freq, frame]`;
    GANs the arrays of `representation`, the run's fitted `config.representation`) and, for
    a phase-conditional model, the log-magnitude alone and `{"phase": [clip, freq, frame,
    1]}` phase / pi.

    Raises:
        UsageError: the model needs the phase and the feature set has none.
    """
    if not config.is_gan:
        return {"features": features}
    if config.needs_phase and phase is None:
        raise UsageError(f"a {config.family} model with representation {config.representation}"
                         f"{' and a phase condition' if config.phase_conditional else ''} needs "
                         "the STFT phase: make the feature set again with codes/features.py "
                         "--phase (the name stays the same)")
    if config.phase_conditional:
        return {"features": features[..., None],
                "phase": (phase / np.pi).astype(np.float32)[..., None]}
    return {"features": representation.encode_features(features, phase)}


def condition_dim(config: ModelConfig, labels: dict[str, list]) -> int:
    """Width of the one-hot condition vector: digits, then speakers, as the config asks."""
    return len(labels["digits"]) * config.conditional + \
        len(labels["speakers"]) * config.speaker_conditional


def build_condition(config: ModelConfig, labels: dict[str, list], digits: Any,
                    speakers: Any) -> np.ndarray:
    """The `[clip, condition_dim]` float32 one-hot condition for each (digit, speaker).

    Args:
        labels: `{"digits": [...], "speakers": [...]}`, the label sets of the run.
        digits, speakers: `[clip]` labels; an unknown one raises `UsageError`.
    """
    parts = []
    for wanted, label_set, values in ((config.conditional, labels["digits"], digits),
                                      (config.speaker_conditional, labels["speakers"], speakers)):
        if wanted:
            index = {label: position for position, label in enumerate(label_set)}
            unknown = sorted({value for value in values if value not in index}, key=str)
            if unknown:
                raise UsageError(f"unknown label(s) {unknown}; this model knows {label_set}")
            parts.append(np.eye(len(label_set), dtype=np.float32)[[index[v] for v in values]])
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(digits), 0), np.float32)
