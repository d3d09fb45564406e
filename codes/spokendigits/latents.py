"""Latent Gaussians: how an unconditional VAE is asked for a chosen digit.

After training, the training clips are encoded and one Gaussian is fitted to
the posterior means of each digit (and of each digit and speaker). Sampling
from a digit's Gaussian and decoding gives that digit. Conditional models
sample z from N(0, I) instead and pass the digit as a condition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import UsageError

RIDGE = 1e-4  # added to covariance diagonals, so a Cholesky factor always exists


def _gaussian(z: np.ndarray) -> dict[str, Any]:
    return {"mean": z.mean(axis=0).tolist(),
            "cov": (np.cov(z, rowvar=False) + RIDGE * np.eye(z.shape[1])).tolist(),
            "count": len(z)}


def fit_latent_gaussians(z_means: np.ndarray, digits: np.ndarray,
                         speakers: np.ndarray) -> dict[str, dict[str, Any]]:
    """Gaussians of `[clip, latent]` posterior means, per digit and per "digit/speaker".

    Groups of fewer than two clips get no Gaussian (no covariance to estimate).
    """
    groups: dict[str, dict[str, Any]] = {"digit": {}, "digit_speaker": {}}
    for digit in np.unique(digits):
        chosen = digits == digit
        if chosen.sum() >= 2:
            groups["digit"][str(digit)] = _gaussian(z_means[chosen])
        for speaker in np.unique(speakers[chosen]):
            both = chosen & (speakers == speaker)
            if both.sum() >= 2:
                groups["digit_speaker"][f"{digit}/{speaker}"] = _gaussian(z_means[both])
    return groups


def sample_latents(gaussians: dict[str, dict[str, Any]] | None, digits: list[int],
                   speakers: list[str | None] | None, latent_dim: int, temperature: float,
                   rng: np.random.Generator) -> np.ndarray:
    """`[clip, latent]` float32 latent samples, one per digit.

    With `gaussians` (an unconditional model), each digit's Gaussian, or its
    digit/speaker Gaussian where `speakers` names one; without, N(0, I). The
    temperature scales the spread around the mean.
    """
    noise = rng.standard_normal((len(digits), latent_dim)) * temperature
    if gaussians is None:
        return noise.astype(np.float32)
    samples = []
    for digit, speaker, row in zip(digits, speakers or [None] * len(digits), noise):
        key, table = (f"{digit}/{speaker}", "digit_speaker") if speaker else (str(digit), "digit")
        if key not in gaussians[table]:
            known = sorted(gaussians[table])
            raise UsageError(f"this model has no latent Gaussian for {key!r}; it has {known}")
        gaussian = gaussians[table][key]
        cholesky = np.linalg.cholesky(np.asarray(gaussian["cov"]))
        samples.append(np.asarray(gaussian["mean"]) + cholesky @ row)
    return np.asarray(samples, np.float32)
