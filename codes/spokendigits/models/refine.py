"""The `spectrogram-flow` family: conditional flow matching on spectrograms, from a VAE's
drafts to the clips.

A VAE's decoder regresses the log-magnitude through a Gaussian: its spectrograms
have the right formants and blurred harmonics, and sound buzzy (reports/flow).
This family learns what the Gaussian averages away. A velocity network
(`refine_network`, a small U-Net over time) is trained by conditional flow
matching to carry the VAE's draft of a clip, plus noise, to the clip itself,
conditioned on the draft: the decoder of Grad-TTS and Matcha-TTS, whose prior
is centred on a blurred spectrogram, in the spectrogram placement of the flow.

A run names its VAE run (`vae_run`), whose frozen decoder drafts, and may name a
latent flow of that VAE (`prior_run`) to draw the drafts' z at inference; else
the VAE's fitted Gaussians draw them. A checkpoint holds the refiner
(`refiner.onnx`) beside a copy of the prior's generator and sampler files, so it
speaks on its own: z, draft, then `flow.refine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from .on_vae import OnPrior, OnVAE

if TYPE_CHECKING:
    from . import ModelConfig


GROUPS = 8  # group normalization's groups in every block of the U-Net (`refine_network`)


@dataclass(frozen=True)
class RefineSettings:
    """What a spectrogram flow reads beyond the shared settings."""

    vae_run: str = field(default="", metadata={"help": OnVAE.VAE_RUN_HELP})
    prior_run: str = field(default="", metadata={"help": OnPrior.PRIOR_RUN_HELP})
    draft_noise: float = field(default=0.5, metadata={
        "help": "spectrogram-flow: spread of the noise added to a draft where the flow "
                "starts"})


class RefineFamily(OnPrior):
    """A flow-matching refiner of a VAE run's spectrograms."""

    kind = "spectrogram flows"
    table = "flows"
    losses = ("loss",)

    def checks(self, config: "ModelConfig") -> list[tuple[bool, str]]:
        return [(0 <= config.draft_noise <= 10, "draft_noise must be 0 to 10"),
                (config.width % GROUPS == 0,
                 f"width must be a multiple of {GROUPS} (the blocks' group normalization)")]

    def likelihood(self, config: "ModelConfig") -> str:
        return f"flow matching from the VAE's drafts, noise {config.draft_noise:g}"

    @staticmethod
    def network() -> Any:
        from . import refine_network

        return refine_network

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        self.write_prior(model.config, staging, refiner={
            "file": "refiner.onnx", "draft_noise": model.config.draft_noise})
        self.network().save_checkpoint(model, staging, epoch, logs, data, batch_size)

    def summary(self, model: Any) -> dict[str, Any]:
        return {"parameters": int(model.velocity.count_params())}


# A U-Net over time of 256 channels and 3 resolutions: about 0.4 s a step of 32 clips of
# FSDD features (129 x 96) on 2 cores.
SPECTROGRAM_FLOW = RefineFamily("spectrogram-flow", "spectrogram flow",
                                {"width": 256, "depth": 3}, settings=RefineSettings)
