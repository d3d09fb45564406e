"""The VAE families, `mlp-vae` and `cnn-vae`: one network (`vae_network`) around two bodies.

Each is a variational autoencoder on scaled log-magnitudes, fitted by the
decoder's negative log-likelihood plus `beta` times the KL divergence of the
posterior from N(0, I) (see `vae_network`). Its checkpoints keep the encoder,
for latent views and reconstructions, and Gaussians of the encoded training
clips, per digit and speaker, for choosing a digit (`sampling`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .family import Family

if TYPE_CHECKING:
    from . import ModelConfig

DECODER_VARIANCES = ("fixed", "shared", "per-bin")


class VAEFamily(Family):
    """A VAE whose encoder and decoder are `body` (`vae_network.BODIES`: "mlp", "cnn")."""

    kind = "VAEs"
    table = "vae_study"
    own_settings = ("beta", "kl_warmup_epochs", "free_bits", "decoder_variance")
    has_encoder = True
    fits_latents = True
    losses = ("loss", "reconstruction", "kl")

    def __init__(self, name: str, label: str, defaults: dict[str, Any], body: str,
                 more_settings: tuple[str, ...] = (), groups: tuple[str, ...] = ()):
        super().__init__(name, label, defaults, groups)
        self.body = body
        self.own_settings = (*type(self).own_settings, *more_settings)

    def checks(self, config: "ModelConfig") -> list[tuple[bool, str]]:
        return [(config.beta >= 0, "beta must not be negative"),
                (config.kl_warmup_epochs >= 0, "kl_warmup_epochs must not be negative"),
                (config.free_bits >= 0, "free_bits must not be negative"),
                (config.decoder_variance in DECODER_VARIANCES,
                 f"decoder_variance must be one of {list(DECODER_VARIANCES)}")]

    def likelihood(self, config: "ModelConfig") -> str:
        """"fixed variance, beta 1", or "sigma per-bin" (with beta where it is not 1)."""
        if config.decoder_variance == "fixed":
            return f"fixed variance, beta {config.beta:g}"
        return f"sigma {config.decoder_variance}" + \
            (f", beta {config.beta:g}" if config.beta != 1 else "")

    def label_parts(self, config: "ModelConfig") -> list[str]:
        regularized = bool(config.dropout or config.l2 or config.batch_norm)
        return [f"σ {config.decoder_variance}"] * (config.decoder_variance != "fixed") + \
            ["regularized"] * regularized + \
            [f"KL warm-up {config.kl_warmup_epochs}"] * bool(config.kl_warmup_epochs
                                                             and not regularized) + \
            [f"free bits {config.free_bits:g}"] * bool(config.free_bits)

    def build(self, config: "ModelConfig", feature_shape: tuple[int, ...], condition_dim: int,
              seed: int, training: Any = None, featurizer: Any = None) -> Any:
        from . import vae_network

        return vae_network.build(config, feature_shape, condition_dim, seed, training)

    def fit_data(self, config: "ModelConfig", inputs: dict[str, np.ndarray], batch_size: int,
                 seed: int, training: bool = True) -> tuple[Any, dict[str, Any]]:
        from . import vae_network

        return vae_network.fit_data(inputs, batch_size, seed, training)

    def callbacks(self, config: "ModelConfig", folder: Path, data: dict, tensorboard: bool,
                  featurizer: Any, representation: Any) -> list[Any]:
        from . import vae_network

        return [vae_network.KLWarmUp(config.beta, config.kl_warmup_epochs)]

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        from . import vae_network

        vae_network.save_checkpoint(model, staging, epoch, logs, data, batch_size)

    def summary(self, model: Any) -> dict[str, Any]:
        return {"parameters": int(model.encoder.count_params() + model.decoder.count_params()),
                "decoder_parameters": int(model.decoder.count_params())}


# VAE sizes measured on FSDD features (129 x 96) to train in about 1.5-2.5 s an epoch on
# 2 cores.
MLP_VAE = VAEFamily("mlp-vae", "MLP", {"width": 256, "depth": 2}, body="mlp")
CNN_VAE = VAEFamily("cnn-vae", "CNN", {"width": 8, "depth": 4}, body="cnn",
                    more_settings=("residual_blocks",))
