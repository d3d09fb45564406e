"""Model families, built from a `ModelConfig` by one registry.

This module imports no Keras, so a run's settings can be read where only
inference runs; `build_model` imports the family's module when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import check_settings
from ..errors import UsageError

FAMILIES = ("mlp-vae", "cnn-vae")
DECODER_VARIANCES = ("fixed", "shared", "per-bin")
# Sizes measured on FSDD features (129 x 96) to train in about 1.5-2.5 s an epoch on 2 cores.
FAMILY_DEFAULTS = {"mlp-vae": {"width": 256, "depth": 2}, "cnn-vae": {"width": 8, "depth": 4}}


@dataclass(frozen=True)
class ModelConfig:
    """One model variant: family, conditioning, size and regularization."""

    family: str = field(default="cnn-vae", metadata={
        "help": "model family", "choices": FAMILIES})
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

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise UsageError(f"unknown model family '{self.family}'; choose one of {list(FAMILIES)}")
        for name, default in FAMILY_DEFAULTS[self.family].items():  # saved configs are explicit
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
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
        ]
        check_settings(f"model settings for {self.family}", checks)

    @property
    def regularization(self) -> str:
        """What regularizes the model, in words: e.g. "dropout 0.2, batch norm", or "none"."""
        parts = [f"dropout {self.dropout:g}" if self.dropout else "",
                 f"L2 {self.l2:g}" if self.l2 else "",
                 "batch norm" if self.batch_norm else "",
                 f"KL warm-up {self.kl_warmup_epochs}" if self.kl_warmup_epochs else "",
                 f"free bits {self.free_bits:g}" if self.free_bits else ""]
        return ", ".join(part for part in parts if part) or "none"

    @property
    def likelihood(self) -> str:
        """The decoder's likelihood, in words: "fixed variance, beta 1", "sigma per-bin"."""
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
        """What the model is conditioned on: "none", "digit", "digit+speaker" or "speaker"."""
        parts = [name for name, wanted in (("digit", self.conditional),
                                           ("speaker", self.speaker_conditional)) if wanted]
        return "+".join(parts) or "none"


def build_model(config: ModelConfig, feature_shape: tuple[int, int], condition_dim: int,
                seed: int) -> Any:
    """A compiled-ready `vae.VAE` of `config.family` for `[freq, frame]` features."""
    from . import vae

    return vae.VAE(config, feature_shape, condition_dim, seed)


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
