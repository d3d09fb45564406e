"""The `pitch` family: the harmonics a VAE's decoder blurs, voiced back from a pitch contour.

A VAE's spectrograms have the right formants and no harmonics: the Gaussian
likelihood averages a voice's comb away, and that comb is what the outside
listeners miss (`benchmarks/naturalness_probe.py`; reports/flow). A pitch model
(`pitch_network`, a small convolutional network over time) predicts from the
VAE's spectrogram of a clip each frame's voicing and f0, learnt from the f0 that
pYIN finds in the clip itself (`harmonics.f0_contours`). At inference the comb
of a harmonic source at that f0 is added to the voiced, loud frames
(`harmonics.voice`), in each frequency bin at the strength that takes real
clips' combs nearest their own fine detail (`harmonics.fitted_strength`), scaled
to what the clips lack once spoken (`harmonics.spoken_strength`), and the clip is
spoken with that source's phase through the envelope's minimum phase
(`harmonics.filter_phase`), with a breath of white noise's detail at the
spread the spoken clips lack of real clips' detail (`harmonics.fitted_breath`).
A frame is voiced from the
voicing probability at which the model voices as many of the training clips'
reconstructions' loud frames as pYIN voices (`harmonics.fitted_threshold`), and its f0
is smoothed over time until it moves from frame to frame as pYIN's does
(`harmonics.fitted_smoothing`).

A run names its VAE run (`vae_run`), whose frozen decoder makes the spectrograms
it learns from (of a posterior sample of each training clip), and may name a
latent flow of that VAE (`prior_run`) to draw z at inference. A checkpoint holds
`pitch.onnx` beside a copy of the prior's generator and sampler files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from .on_vae import OnPrior, OnVAE

if TYPE_CHECKING:
    from . import ModelConfig


@dataclass(frozen=True)
class PitchSettings:
    """What a pitch model reads beyond the shared settings."""

    vae_run: str = field(default="", metadata={"help": OnVAE.VAE_RUN_HELP})
    prior_run: str = field(default="", metadata={"help": OnPrior.PRIOR_RUN_HELP})
    clip_mean: bool = field(default=False, metadata={
        "help": "add to every frame the mean over the clip's frames (a speaker's pitch level) "
                "beside what the convolutions see (17 frames at depth 3)"})


class PitchFamily(OnPrior):
    """A pitch model of a VAE run's spectrograms, which voices them."""

    kind = "pitch models"
    table = "flows"
    losses = ("loss",)

    def likelihood(self, config: "ModelConfig") -> str:
        return "voicing by cross-entropy, log f0 by squared error, on pYIN's contours"

    def model_arrays(self, config: "ModelConfig", features: np.ndarray,
                     phase: np.ndarray | None, representation: Any, digits: np.ndarray,
                     speakers: np.ndarray) -> dict[str, np.ndarray]:
        """The clips, the VAE's posterior of each, and `"f0"`: `[clip, frame]` pYIN's f0 of
        each clip in its loud frames (`harmonics.clips_f0`).

        Raises:
            DataError: the feature set keeps no phases, so no waveforms.
        """
        from ..harmonics import clips_f0

        if phase is None:
            raise DataError("a pitch model learns from the clips' waveforms, and this feature "
                            "set keeps no phases; make it again with codes/features.py --phase")
        return {**super().model_arrays(config, features, phase, representation, digits,
                                       speakers), "f0": clips_f0(features, phase, representation)}

    @staticmethod
    def network() -> Any:
        from . import pitch_network

        return pitch_network

    def preview(self, folder: Path, representation: Any, inputs: dict[str, np.ndarray],
                data: dict) -> Any:
        """The previews, voiced at the strengths fitted on the training clips' arrays
        (`fitted_strength`, unscaled), without the breath: what is fitted to the spoken
        clips is fitted at export (`network_fits`)."""
        return self.network().Preview(folder, representation, inputs,
                                      self.strength(data["train"].inputs, representation))

    @staticmethod
    def strength(inputs: dict[str, np.ndarray], representation: Any) -> np.ndarray:
        """`harmonics.fitted_strength` of (up to `STRENGTH_CLIPS` of) the training clips
        (`fitting_clips`)."""
        from ..harmonics import fitted_strength

        inputs = fitting_clips(inputs)
        return fitted_strength(inputs["features"], inputs["f0"], representation)

    def network_fits(self, model: Any, inputs: dict[str, np.ndarray], representation: Any,
                     strength: np.ndarray) -> dict[str, Any]:
        """What `sampler.json` holds of the fits that need the trained network, of its
        voicing and f0 of (up to `STRENGTH_CLIPS` of) the training clips' reconstructions
        (`fitting_clips`) against pYIN's of the clips: `"voiced"`
        (`harmonics.fitted_threshold`, in their loud frames), `"smoothing"`
        (`harmonics.fitted_smoothing`, of the frames so voiced), `"strength"` (the arrays'
        `strength` scaled to what the reconstructions spoken with the source's phase lack:
        `harmonics.spoken_strength`) and `"breath"` (`harmonics.fitted_breath`: what the
        reconstructions, so voiced at those strengths and spoken, lack of the clips' fine
        detail)."""
        from .. import harmonics

        inputs = fitting_clips(inputs)
        draft, (f0, voicing) = self.network().heard(model, inputs)
        loud = harmonics.loud_mask(draft, representation)
        threshold = harmonics.fitted_threshold(voicing, inputs["f0"], loud)
        smoothing = harmonics.fitted_smoothing(f0, loud & (voicing >= threshold), inputs["f0"])
        noise = np.random.default_rng(0).standard_normal(
            (len(draft), representation.settings.clip_samples))
        strength = harmonics.spoken_strength(inputs["features"], draft, inputs["f0"], strength,
                                             noise, representation)
        spoken = harmonics.spoken_unbreathed(draft, f0, voicing, representation, strength,
                                             noise, threshold, smoothing)
        breath = harmonics.fitted_breath(inputs["features"], spoken, inputs["f0"], representation)
        return {"strength": [round(float(gain), 4) for gain in strength],
                "breath": [[round(float(spread), 4) for spread in row] for row in breath],
                "voiced": round(threshold, 4), "smoothing": smoothing, "filtered": True}

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        # the VAE's representation is the run's (`OnVAE.posteriors` checks the scaling)
        representation = self.vae(model.config).representation
        strength = self.strength(data["train"].inputs, representation)
        self.write_prior(model.config, staging, pitch={
            "file": "pitch.onnx",
            **self.network_fits(model, data["train"].inputs, representation, strength)})
        self.network().save_checkpoint(model, staging, epoch, logs, data, batch_size)

    def summary(self, model: Any) -> dict[str, Any]:
        return {"parameters": int(model.pitch.count_params())}


STRENGTH_CLIPS = 500  # training clips the strengths, breath and voicing are fitted on


def fitting_clips(inputs: dict[str, np.ndarray], count: int = STRENGTH_CLIPS
                  ) -> dict[str, np.ndarray]:
    """`count` of the clips of `inputs` (all, where fewer), evenly spaced through them: a
    feature set is ordered by digit, so the first 500 would be of 0, 1 and 2 only."""
    clips = len(next(iter(inputs.values())))
    chosen = np.unique(np.linspace(0, clips - 1, min(clips, count)).round().astype(int))
    return {name: values[chosen] for name, values in inputs.items()}


# 128 channels, 3 residual convolutions over time: about 4 s an epoch of FSDD on 2 cores.
PITCH = PitchFamily("pitch", "pitch model", {"width": 128, "depth": 3}, settings=PitchSettings)
