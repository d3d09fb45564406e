"""The `latent-flow` family: a learned prior for a trained VAE, by conditional flow matching.

A VAE asked for a digit draws z from Gaussians fitted to its encoded training
clips (`sampling`). Those Gaussians are a rough picture of where its decoder
speaks well. This family learns that place instead: a velocity network
(`flow_network`) trained by conditional flow matching on the VAE's posterior
samples of the training clips, conditioned on the digit, with classifier-free
guidance (`flow`). It is the two-stage VAE (Dai & Wipf 2019) and the idea of
latent diffusion (Rombach et al. 2022) on a small scale.

A run names its VAE run (`vae_run`) and takes its latent size and conditioning;
it trains on the same feature set. A checkpoint holds the velocity network
(`velocity.onnx`) and a copy of the VAE's generator (`generator.onnx`), so it
speaks on its own: inference integrates the flow in numpy (`flow`), then decodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from .on_vae import OnVAE

if TYPE_CHECKING:
    from ..runs import Run
    from . import ModelConfig

PASSES_PER_EPOCH = 10  # an epoch sees every training clip's posterior this many times


@dataclass(frozen=True)
class FlowSettings:
    """What a latent flow reads beyond the shared settings."""

    vae_run: str = field(default="", metadata={"help": OnVAE.VAE_RUN_HELP})
    decoder_run: str = field(default="", metadata={
        "help": "latent-flow: a sharpened-vae run of the same VAE whose decoder speaks the "
                "flow's latents (default: the VAE's own decoder)"})
    label_dropout: float = field(default=0.15, metadata={
        "help": "latent-flow: share of training clips whose condition is dropped, which "
                "classifier-free guidance needs"})


class FlowFamily(OnVAE):
    """A flow-matching prior over a VAE run's latent."""

    kind = "flows"
    table = "flows"
    losses = ("loss",)

    def checks(self, config: "ModelConfig") -> list[tuple[bool, str]]:
        return [(0 <= config.label_dropout < 1, "label_dropout must be in [0, 1)")]

    def samplers(self, config: "ModelConfig") -> tuple[str, ...]:
        return ("flow",)

    def likelihood(self, config: "ModelConfig") -> str:
        return f"flow matching, label dropout {config.label_dropout:g}"

    def label_parts(self, config: "ModelConfig") -> list[str]:
        return super().label_parts(config) + ["sharpened decoder"] * bool(config.decoder_run)

    def model_arrays(self, config: "ModelConfig", features: np.ndarray,
                     phase: np.ndarray | None, representation: Any, digits: np.ndarray,
                     speakers: np.ndarray) -> dict[str, np.ndarray]:
        """`{"features": [clip, 2 * latent]}`: the VAE's posteriors (`OnVAE.posteriors`)."""
        return {"features": self.posteriors(config, features, representation, digits,
                                            speakers)}

    @staticmethod
    def network() -> Any:
        from . import flow_network

        return flow_network

    def build(self, config: "ModelConfig", feature_shape: tuple[int, ...], condition_dim: int,
              seed: int, training: Any = None, representation: Any = None) -> Any:
        return self.network().build(config, condition_dim, seed, training)

    def fit_data(self, config: "ModelConfig", inputs: dict[str, np.ndarray], batch_size: int,
                 seed: int, training: bool = True) -> tuple[Any, dict[str, Any]]:
        """For training, `PASSES_PER_EPOCH` shuffled passes over the posteriors an epoch:
        a pass of FSDD is 9 steps, too few to be worth an epoch's bookkeeping."""
        from ..distribute import pipeline

        if training:
            inputs = {name: np.concatenate([array] * PASSES_PER_EPOCH)
                      for name, array in inputs.items()}
        return pipeline(inputs, batch_size, seed, training), {"shuffle": False} if training \
            else {}

    def callbacks(self, config: "ModelConfig", folder: Path, data: dict, tensorboard: bool,
                  representation: Any) -> list[Any]:
        network = self.network()
        condition = np.stack([data["train"].inputs["condition"][
            np.flatnonzero(data["train"].digits == digit)[0]] for digit in range(10)])
        return [network.StepTimes(),
                network.Preview(folder, self.decoding_run(config), representation,
                                condition)]

    def vae(self, config: "ModelConfig") -> "Run":
        """`OnVAE.vae`, of a conditional VAE: the flow is conditioned on the digit as its
        decoder is."""
        if not config.conditional:
            raise UsageError("a latent flow is conditioned on the digit, and so is the VAE "
                             "it builds on: set conditional to true and name a conditional VAE")
        return super().vae(config)

    def decoding_run(self, config: "ModelConfig") -> "Run":
        """The run whose generator decodes the flow's latents: `decoder_run`, checked to be a
        sharpened decoder of the flow's VAE, or else the VAE.

        Raises:
            UsageError: `decoder_run` is no run, or not one of the flow's VAE.
        """
        if not config.decoder_run:
            return self.vae(config)
        return self.run_of_the_vae(config, "decoder_run", "sharpened-vae")

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        self.network().save_checkpoint(model, staging, epoch, logs, data, batch_size,
                                       self.decoding_run(model.config))

    def summary(self, model: Any) -> dict[str, Any]:
        return {"parameters": int(model.velocity.count_params())}


# A residual MLP of 512 units and 3 blocks: about 40 ms a step of 256 latents on 2 cores.
LATENT_FLOW = FlowFamily("latent-flow", "latent flow", {"width": 512, "depth": 3},
                         settings=FlowSettings)
