"""Model settings, and the registry of model families.

`ModelConfig` holds a model's settings; `FAMILIES` maps each family's name to
its `Family` (`family`: the contract generic code relies on), registered by one
line below. The families:

- `mlp-vae`, `cnn-vae` (`vae`): variational autoencoders on log-magnitudes.
- `cwgan-gp`, `mlp-cwgan-gp` (`gan`): conditional Wasserstein GANs with a
  gradient penalty, convolutional (SpecGAN-like) or the small MLP reference.
- `wavegan` (`wavegan`): the same GAN on raw waveforms, with WaveGAN's 1-D
  layers and phase shuffle (Donahue et al. 2019).

This module and the family modules import no Keras, so a run's settings can be
read where only inference runs; a family's network (`vae_network`,
`gan_network`) is imported when the family is asked to build or export.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..config import check_settings
from ..errors import UsageError
from ..representations import REPRESENTATIONS as REPRESENTATION_CLASSES
from . import gan, vae, wavegan
from .family import Family

__all__ = ["FAMILIES", "Family", "ModelConfig", "build_condition", "condition_dim",
           "family_of", "register"]

FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """List `family` in `FAMILIES` under its name (a name taken twice is refused)."""
    if family.name in FAMILIES:
        raise ValueError(f"a family named {family.name!r} is registered already")
    FAMILIES[family.name] = family
    return family


for _family in (vae.MLP_VAE, vae.CNN_VAE, gan.CWGAN_GP, gan.MLP_CWGAN_GP, wavegan.WAVEGAN):
    register(_family)

# What a model generates (see `representations`): images of the STFT (log-magnitude, and
# phase or instantaneous frequency), of mel bands, or the waveform (WaveGAN's alone).
REPRESENTATIONS = tuple(REPRESENTATION_CLASSES)
# Settings every family reads; every other setting is some family's own (`Family.own_settings`).
SHARED_SETTINGS = ("family", "latent_dim", "conditional", "speaker_conditional", "width",
                   "depth", "dropout", "l2", "batch_norm", "representation")


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
                "the family's default (`FAMILIES[...].defaults`)"})
    depth: int | None = field(default=None, metadata={
        "help": "hidden layers (MLP) or stride-2 convolutions (CNN) on each side; unset: "
                "the family's default"})
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
        "choices": vae.DECODER_VARIANCES})
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
        "choices": gan.GAN_LOSSES})
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
        "choices": gan.UPSAMPLINGS})
    convolution: str = field(default="2d", metadata={
        "help": "cwgan-gp: what its layers convolve over: 2d, frequency and time (SpecGAN), "
                "or 1d, frames alone, every frequency bin a channel, so each layer sees whole "
                "spectra (their harmonics) of nearby frames; give 1d a wider width (e.g. 64)",
        "choices": gan.CONVOLUTIONS})
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
        family = FAMILIES[self.family]
        for name, default in family.defaults.items():  # saved configs are explicit
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        if self.representation not in family.representations and \
                self.representation == _DEFAULTS["representation"]:
            object.__setattr__(self, "representation", family.representations[0])
        checks = [
            (self.latent_dim >= 1, "latent_dim must be at least 1"),
            (self.width >= 1, "width must be at least 1"),
            (self.conditional or not self.speaker_conditional,
             "speaker_conditional needs conditional: a speaker-only model could not be asked "
             "for a digit"),
            (self.depth >= 1, "depth must be at least 1"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.l2 >= 0, "l2 must not be negative"),
            (self.residual_blocks >= 0, "residual_blocks must not be negative"),
            (self.representation in family.representations,
             f"representation {self.representation} is not one {self.family} makes: "
             f"{list(family.representations)}"),
        ]
        checks += [(getattr(self, name) == _DEFAULTS[name], f"{name}"
                    f"{' ' + getattr(self, name) if isinstance(getattr(self, name), str) else ''}"
                    f" is for {_owners(name, family)}")
                   for name in _DEFAULTS
                    if name not in SHARED_SETTINGS and name not in family.own_settings]
        check_settings(f"model settings for {self.family}", checks + family.checks(self))

    @property
    def needs_stft(self) -> bool:
        """Whether training computes STFTs in the graph, and so needs the feature set's STFT
        settings: the consistency term, or a spectral critic."""
        return bool(self.consistency_weight or self.spectral_critic)

    @property
    def samplers(self) -> tuple[str, ...]:
        """The latent samplers (`sampling.SAMPLERS`) that can ask this model for a digit."""
        return FAMILIES[self.family].samplers(self)

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
        """What the model is fitted by, in words: "fixed variance, beta 1", "sigma per-bin";
        for GANs the loss: "WGAN, GP 10, 5 critic steps"."""
        return FAMILIES[self.family].likelihood(self)

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


def family_of(config: ModelConfig) -> Family:
    """The `Family` of `config.family`."""
    return FAMILIES[config.family]


_DEFAULTS = {setting.name: setting.default for setting in fields(ModelConfig)}


def _owners(setting: str, asking: Family) -> str:
    """The families that read `setting`, in words, for a message to a config of `asking`:
    "VAEs only (mlp-vae, cnn-vae)" where they are the whole of a group, "GANs only
    (cwgan-gp)" where `asking` is of another kind, else "cnn-vae only"."""
    owners = [family for family in FAMILIES.values() if setting in family.own_settings]
    names = ", ".join(family.name for family in owners)
    for group in dict.fromkeys(group for family in FAMILIES.values() for group in family.groups):
        if owners == [family for family in FAMILIES.values() if group in family.groups]:
            return f"{group} only ({names})" if len(owners) > 1 else f"{group} only"
    kinds = list(dict.fromkeys(family.kind for family in owners))
    if asking.kind not in kinds:
        return f"{' and '.join(kinds)} only ({names})"
    return f"{names} only"


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
