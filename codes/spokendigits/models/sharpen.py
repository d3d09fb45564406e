"""The `sharpened-vae` family: a trained VAE whose decoder is fine-tuned against a critic.

A VAE fitted by a Gaussian likelihood decodes the mean of what a latent code
could be, so the harmonics above 1 kHz blur and the voice buzzes. This family
keeps a VAE run's encoder, latent Gaussians and latent codes, and fine-tunes
its decoder with a patch critic and feature matching (`sharpen_network`), the
autoencoder recipe of latent diffusion. Its checkpoints are a VAE's: they
speak with the VAE's samplers, reconstruct test clips, and a latent flow of the
same VAE can speak through them (`flow`'s `decoder_run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .on_vae import OnVAE, OnVAEClips
from .vae import VAEFamily

if TYPE_CHECKING:
    from ..runs import Run
    from . import ModelConfig


@dataclass(frozen=True)
class SharpenSettings:
    """What a sharpened VAE reads beyond the shared settings: the VAE and the loss weights
    (HiFi-GAN's balance of L1, feature matching and adversarial terms)."""

    vae_run: str = field(default="", metadata={"help": OnVAE.VAE_RUN_HELP})
    reconstruction_weight: float = field(default=45.0, metadata={
        "help": "sharpened-vae: weight of the L1 distance to the clip"})
    feature_matching_weight: float = field(default=2.0, metadata={
        "help": "sharpened-vae: weight of the critic's feature matching"})
    adversarial_weight: float = field(default=1.0, metadata={
        "help": "sharpened-vae: weight of the critic's verdict"})


class SharpenFamily(OnVAEClips):
    """A VAE run's decoder fine-tuned adversarially, its encoder and latent kept."""

    kind = "sharpened VAEs"
    table = "sharpened"
    has_encoder = True
    fits_latents = True
    losses = ("reconstruction", "l1", "feature_matching", "adversarial", "critic")

    def checks(self, config: "ModelConfig") -> list[tuple[bool, str]]:
        return [
            (min(config.reconstruction_weight, config.feature_matching_weight,
                 config.adversarial_weight) >= 0, "the loss weights must not be negative")]

    def likelihood(self, config: "ModelConfig") -> str:
        return (f"L1 {config.reconstruction_weight:g}, feature matching "
                f"{config.feature_matching_weight:g}, adversarial {config.adversarial_weight:g}")

    @staticmethod
    def network() -> Any:
        from . import sharpen_network

        return sharpen_network

    def build(self, config: "ModelConfig", feature_shape: tuple[int, ...], condition_dim: int,
              seed: int, training: Any = None, representation: Any = None) -> Any:
        return self.network().build(config, feature_shape, condition_dim, seed, training,
                                    self.vae(config))

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        self.network().save_checkpoint(model, staging, epoch, logs, data, batch_size,
                                       self.vae(model.config))

    def summary(self, model: Any) -> dict[str, Any]:
        return {"parameters": int(model.decoder.count_params() + model.critic.count_params()),
                "decoder_parameters": int(model.decoder.count_params())}

    def encode(self, run: "Run", epoch: int | None, features: np.ndarray, digits: np.ndarray,
               speakers: np.ndarray) -> np.ndarray:
        """The VAE's posterior means (its encoder, copied into every checkpoint)."""
        return VAEFamily.predict(run, epoch, "encoder", features, digits, speakers)[0]

    def reconstruct(self, run: "Run", epoch: int | None, features: np.ndarray,
                    digits: np.ndarray, speakers: np.ndarray) -> np.ndarray:
        """The sharpened decoder's output at the VAE's posterior means."""
        z = self.encode(run, epoch, features, digits, speakers)
        return VAEFamily.predict(run, epoch, "decoder", z, digits, speakers)


SHARPENED_VAE = SharpenFamily("sharpened-vae", "sharpened VAE", {"width": 16, "depth": 4},
                              settings=SharpenSettings)
