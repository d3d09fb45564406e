"""Model settings, and the registry of model families.

`ModelConfig` holds a model's settings; `FAMILIES` maps each family's name to
its `Family` (`family`: the contract generic code relies on), registered by one
line below. The families:

- `mlp-vae`, `cnn-vae` (`vae`): variational autoencoders on log-magnitudes.
- `cwgan-gp`, `mlp-cwgan-gp` (`gan`): conditional Wasserstein GANs with a
  gradient penalty, convolutional (SpecGAN-like) or the small MLP reference.
- `wavegan` (`wavegan`): the same GAN on raw waveforms, with WaveGAN's 1-D
  layers and phase shuffle (Donahue et al. 2019).
- `sharpened-vae` (`sharpen`): a trained VAE whose decoder is fine-tuned
  against a patch critic, its encoder and latent kept.
- `latent-flow` (`flow`): a prior learnt by conditional flow matching over the
  latent of a trained VAE, sampled with classifier-free guidance.

This module and the family modules import no Keras, so a run's settings can be
read where only inference runs; a family's network (`vae_network`,
`gan_network`) is imported when the family is asked to build or export.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..config import check_settings
from ..errors import UsageError
from ..representations import REPRESENTATIONS as REPRESENTATION_CLASSES
from . import flow, gan, pitch, refine, sharpen, vae, wavegan
from .family import Family

__all__ = ["FAMILIES", "Family", "ModelConfig", "build_condition", "condition_dim",
           "family_of", "register"]

FAMILIES: dict[str, Family] = {}
# Latent sizes and widths beyond this, and depths beyond that, exhaust any memory before the
# first step (a width of 10**9 asks TensorFlow for petabytes): refused with the settings.
MAX_SIZE = 4096
MAX_DEPTH = 16


def register(family: Family) -> Family:
    """List `family` in `FAMILIES` under its name (a name taken twice is refused)."""
    if family.name in FAMILIES:
        raise ValueError(f"a family named {family.name!r} is registered already")
    FAMILIES[family.name] = family
    return family


register(vae.MLP_VAE)
register(vae.CNN_VAE)
register(gan.CWGAN_GP)
register(gan.MLP_CWGAN_GP)
register(wavegan.WAVEGAN)
register(sharpen.SHARPENED_VAE)
register(flow.LATENT_FLOW)
register(refine.SPECTROGRAM_FLOW)
register(pitch.PITCH)

# What a model generates (see `representations`): images of the STFT (log-magnitude, and
# phase or instantaneous frequency), of mel bands, or the waveform (WaveGAN's alone).
REPRESENTATIONS = tuple(REPRESENTATION_CLASSES)


def _family_defaults(setting: str) -> str:
    """Each registered family's default of a shared size, in words: "mlp-vae 256, ..."."""
    return ", ".join(f"{family.name} {family.defaults[setting]}" for family in FAMILIES.values())


@dataclass(frozen=True, init=False)
class ModelConfig:
    """One model variant: the settings every family shares, and its family's own.

    Shared: family, latent size, conditioning, size, regularization, what it makes.
    `settings` is the family's own (`Family.settings`, a dataclass in its module).

    Built from flat settings, as configs and command lines give them:
    `ModelConfig(family="cwgan-gp", loss="hinge")` puts `loss` in the family's settings, and
    `config.loss` reads it back. A setting of another family reads as its default; given at
    its default it is dropped (configs of earlier versions list every setting), given
    otherwise it is refused, naming the families it is for. `config.to_dict` gives the flat
    settings back, so run names and saved configs are those of the flat settings.
    """

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
                f"the family's default ({_family_defaults('width')})"})
    depth: int | None = field(default=None, metadata={
        "help": "hidden layers (MLP) or stride-2 convolutions (CNN) on each side; unset: "
                f"the family's default ({_family_defaults('depth')})"})
    dropout: float = field(default=0.0, metadata={"help": "dropout rate after each hidden block"})
    l2: float = field(default=0.0, metadata={"help": "L2 weight penalty on every kernel"})
    batch_norm: bool = field(default=False, metadata={"help": "batch normalization in each block"})
    representation: str = field(default="log-magnitude", metadata={
        "help": "GANs: what the generator makes: the log-magnitude, log-magnitude and phase or "
                "instantaneous frequency as two channels (decoded with their own phase), the "
                "log-mel, or (wavegan, always) the waveform", "choices": REPRESENTATIONS})
    settings: Any = field(default=None, metadata={
        "flatten": lambda: tuple(dict.fromkeys(family.settings for family in FAMILIES.values())),
        "help": "the family's own settings"})

    def __init__(self, **values: Any) -> None:
        name = values.get("family", _SHARED_DEFAULTS["family"])
        if name not in FAMILIES:
            raise UsageError(f"unknown model family '{name}'; choose one of {list(FAMILIES)}")
        family = FAMILIES[name]
        given = values.pop("settings", None)  # from dataclasses.replace
        unknown = sorted(set(values) - set(_SHARED_DEFAULTS) - set(_setting_defaults()))
        if unknown:
            raise UsageError(f"unknown model setting(s) {unknown}; valid ones are "
                             f"{sorted({*_SHARED_DEFAULTS, *_setting_defaults()})}")
        for setting, default in _SHARED_DEFAULTS.items():
            object.__setattr__(self, setting, values.pop(setting, default))
        carried = {} if given is None else {setting.name: getattr(given, setting.name)
                                            for setting in fields(given)}
        own = {setting: values.pop(setting, carried.get(setting))
               for setting in family.own_settings if setting in values or setting in carried}
        for setting, default in family.defaults.items():  # saved configs are explicit
            if setting in family.own_settings and own.get(setting) is None:
                own[setting] = default
        object.__setattr__(self, "settings", family.settings(**own))
        self._check(family, foreign=values)

    def __getattr__(self, name: str) -> Any:
        """A setting of the family's own settings, or another family's default."""
        settings = self.__dict__.get("settings")
        if settings is not None and name in settings.__dataclass_fields__:
            return getattr(settings, name)
        if not name.startswith("__") and name in _setting_defaults():
            return _setting_defaults()[name]
        raise AttributeError(f"ModelConfig has no setting {name!r}")

    def _check(self, family: Family, foreign: dict[str, Any]) -> None:
        """Resolve the shared sizes the family sets where they are unset, then raise one
        UsageError naming every bad setting, `foreign` (other families' settings) among them."""
        for name in ("width", "depth"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, family.defaults[name])
        if self.representation not in family.representations and \
                self.representation == _SHARED_DEFAULTS["representation"]:
            object.__setattr__(self, "representation", family.representations[0])
        checks = [
            (1 <= self.latent_dim <= MAX_SIZE, f"latent_dim must be 1 to {MAX_SIZE}"),
            (1 <= self.width <= MAX_SIZE, f"width must be 1 to {MAX_SIZE}"),
            (self.conditional or not self.speaker_conditional,
             "speaker_conditional needs conditional: a speaker-only model could not be asked "
             "for a digit"),
            (1 <= self.depth <= MAX_DEPTH, f"depth must be 1 to {MAX_DEPTH}"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.l2 >= 0, "l2 must not be negative"),
            (self.representation in family.representations,
             f"representation {self.representation} is not one {self.family} makes: "
             f"{list(family.representations)}"),
        ]
        checks += [(value == _setting_defaults()[name], f"{name}"
                    f"{' ' + value if isinstance(value, str) else ''} is for "
                    f"{_owners(name, family)}") for name, value in foreign.items()]
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


_SHARED_DEFAULTS = {setting.name: setting.default for setting in fields(ModelConfig)
                    if setting.name != "settings"}


def _setting_defaults() -> dict[str, Any]:
    """Every registered family's own settings and their defaults (a name two families
    share has one default)."""
    return {setting.name: setting.default for family in FAMILIES.values()
            for setting in fields(family.settings)}


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
