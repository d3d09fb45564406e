"""The `wavegan` family: the conditional WGAN on raw waveforms (Donahue et al. 2019).

The training step of the spectrogram GANs (`gan`), with WaveGAN's 1-D bodies
(`wavegan_network`): phase shuffle in the critic, an optional learned post
filter, and an optional spectral critic that also reads each clip's
log-magnitude STFT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .gan import GANFamily

if TYPE_CHECKING:
    from . import ModelConfig


class WaveGANFamily(GANFamily):
    """WaveGAN: makes waveforms alone, and takes the waveform settings."""

    def checks(self, config: "ModelConfig") -> list[tuple[bool, str]]:
        return [*super().checks(config),
                (config.phase_shuffle >= 0, "phase_shuffle must not be negative")]


WAVEGAN = WaveGANFamily("wavegan", "WaveGAN", {"width": 16, "depth": 4, "phase_shuffle": 2},
                        body="wave", representations=("waveform",),
                        more_settings=("phase_shuffle", "post_filter", "spectral_critic"))
