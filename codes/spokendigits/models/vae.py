"""The VAE families, `mlp-vae` and `cnn-vae`: one network (`vae_network`) around two bodies.

Each is a variational autoencoder on scaled log-magnitudes, fitted by the
decoder's negative log-likelihood plus `beta` times the KL divergence of the
posterior from N(0, I) (see `vae_network`). Its checkpoints keep the encoder,
for latent views and reconstructions, and Gaussians of the encoded training
clips, per digit and speaker, for choosing a digit (`sampling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from .family import Family

if TYPE_CHECKING:
    from ..runs import Run
    from . import ModelConfig

DECODER_VARIANCES = ("fixed", "shared", "per-bin")


@dataclass(frozen=True)
class VAESettings:
    """What a VAE reads beyond the shared settings: its likelihood and KL term."""

    beta: float = field(default=1.0, metadata={"help": "weight of the KL term (beta-VAE)"})
    kl_warmup_epochs: int = field(default=0, metadata={
        "help": "raise the KL weight linearly to beta over this many epochs (beta/N in the first)"})
    free_bits: float = field(default=0.0, metadata={
        "help": "nats of KL per latent dimension (batch mean) that go unpenalised"})
    decoder_variance: str = field(default="fixed", metadata={
        "help": "the decoder's Gaussian variance: fixed (squared error), or learned as one "
                "value (shared) or one per frequency bin (per-bin), as in the sigma-VAE",
        "choices": DECODER_VARIANCES})


@dataclass(frozen=True)
class CNNVAESettings(VAESettings):
    """A CNN VAE's: also residual blocks."""

    residual_blocks: int = field(default=0, metadata={
        "help": "CNN: residual blocks (two 3x3 convolutions and a skip) after each resolution "
                "change, on each side"})


class VAEFamily(Family):
    """A VAE whose encoder and decoder are `body` (`vae_network.BODIES`: "mlp", "cnn")."""

    kind = "VAEs"
    table = "vae_study"
    has_encoder = True
    fits_latents = True
    losses = ("loss", "reconstruction", "kl")

    def __init__(self, name: str, label: str, defaults: dict[str, Any], body: str,
                 settings: type = VAESettings):
        super().__init__(name, label, defaults, settings)
        self.body = body

    def checks(self, config: "ModelConfig") -> list[tuple[bool, str]]:
        return [(config.beta >= 0, "beta must not be negative"),
                (config.kl_warmup_epochs >= 0, "kl_warmup_epochs must not be negative"),
                (config.free_bits >= 0, "free_bits must not be negative"),
                (config.decoder_variance in DECODER_VARIANCES,
                 f"decoder_variance must be one of {list(DECODER_VARIANCES)}"),
                (config.residual_blocks >= 0, "residual_blocks must not be negative")]

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

    @staticmethod
    def network() -> Any:
        """`vae_network`, the Keras side, imported when the family trains (not when inference
        reads a config)."""
        from . import vae_network

        return vae_network

    def build(self, config: "ModelConfig", feature_shape: tuple[int, ...], condition_dim: int,
              seed: int, training: Any = None, representation: Any = None) -> Any:
        return self.network().build(config, feature_shape, condition_dim, seed, training)

    def callbacks(self, config: "ModelConfig", folder: Path, data: dict, tensorboard: bool,
                  representation: Any) -> list[Any]:
        return [self.network().KLWarmUp(config.beta, config.kl_warmup_epochs)]

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        self.network().save_checkpoint(model, staging, epoch, logs, data, batch_size)

    def summary(self, model: Any) -> dict[str, Any]:
        return {"parameters": int(model.encoder.count_params() + model.decoder.count_params()),
                "decoder_parameters": int(model.decoder.count_params())}

    def encode(self, run: "Run", epoch: int | None, features: np.ndarray, digits: np.ndarray,
               speakers: np.ndarray) -> np.ndarray:
        """The posterior means (a conditional encoder also reads the labels)."""
        return self.predict(run, epoch, "encoder", features, digits, speakers)[0]

    def reconstruct(self, run: "Run", epoch: int | None, features: np.ndarray,
                    digits: np.ndarray, speakers: np.ndarray) -> np.ndarray:
        """The decoder's mean at the posterior means."""
        z = self.encode(run, epoch, features, digits, speakers)
        return self.predict(run, epoch, "decoder", z, digits, speakers)

    @staticmethod
    def predict(run: "Run", epoch: int | None, part: str, inputs: np.ndarray,
                 digits: np.ndarray, speakers: np.ndarray) -> Any:
        """What checkpoint `epoch`'s Keras `part` ("encoder", "decoder") makes of `inputs`,
        with the clips' labels as its condition where the run is conditional."""
        from . import build_condition, condition_dim

        checkpoint = run.checkpoint(epoch)
        if not run.has_encoder(epoch):
            raise DataError(f"{checkpoint} has no encoder.keras (an inference-only copy?); "
                            "use the full run folder made by codes/train.py")
        import keras

        model = keras.saving.load_model(checkpoint / f"{part}.keras")
        labels = run.config["labels"]
        condition = [build_condition(run.model, labels, digits, speakers)] \
            if condition_dim(run.model, labels) else []
        return model.predict([inputs, *condition], verbose=0)


# VAE sizes measured on FSDD features (129 x 96) to train in about 1.5-2.5 s an epoch on
# 2 cores.
MLP_VAE = VAEFamily("mlp-vae", "MLP", {"width": 256, "depth": 2}, body="mlp")
CNN_VAE = VAEFamily("cnn-vae", "CNN", {"width": 8, "depth": 4}, body="cnn",
                    settings=CNNVAESettings)
