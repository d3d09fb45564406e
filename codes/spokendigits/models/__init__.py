"""Model families, built from a `ModelConfig` by one registry.

This module imports no Keras, so a run's settings can be read where only
inference runs; `build_model` imports the family's module when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

FAMILIES = ("mlp-vae", "cnn-vae")
# Sizes measured on FSDD features (129 x 96) to train in about 2-3 s an epoch on 2 cores.
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
        "help": "raise the KL weight linearly from 0 to beta over this many epochs"})

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise UsageError(f"unknown model family '{self.family}'; choose one of {list(FAMILIES)}")
        for name, default in FAMILY_DEFAULTS[self.family].items():  # saved configs are explicit
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        checks = [
            (self.latent_dim >= 1, "latent_dim must be at least 1"),
            (self.width is None or self.width >= 1, "width must be at least 1"),
            (self.depth >= 1, "depth must be at least 1"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.l2 >= 0, "l2 must not be negative"),
            (self.beta >= 0, "beta must not be negative"),
            (self.kl_warmup_epochs >= 0, "kl_warmup_epochs must not be negative"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise UsageError(f"bad model settings for {self.family}: " + "; ".join(problems))

    @property
    def regularized(self) -> bool:
        return bool(self.dropout or self.l2 or self.batch_norm or self.kl_warmup_epochs)


def build_model(config: ModelConfig, feature_shape: tuple[int, int], condition_dim: int,
                seed: int) -> Any:
    """A compiled-ready `vae.VAE` of `config.family` for `[freq, frame]` features."""
    from . import vae

    return vae.VAE(config, feature_shape, condition_dim, seed)
