"""A model's latent space seen from outside: 2-D views of the codes its family's encoder
gives clips (`Family.encode`, a VAE's posterior means), and how well labels separate them.

How latent vectors are drawn for speech (the prior, fitted Gaussians) is
`sampling`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import UsageError
from .models import family_of

if TYPE_CHECKING:
    from .features import FeatureSet
    from .runs import Run

PROJECTIONS = ("pca", "tsne")


def project(z: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """`[clip, 2]` view of `[clip, latent]` points by PCA or t-SNE (scikit-learn).

    t-SNE's perplexity is 30, or less where there are too few points for it.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in PROJECTIONS:
        raise UsageError(f"unknown projection {method!r}; use one of {PROJECTIONS}")
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(z)
    perplexity = min(30.0, (len(z) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed
                ).fit_transform(z)


def separation(z: np.ndarray, labels: np.ndarray) -> float:
    """How well `[clip]` labels separate `[clip, latent]` points: the silhouette score,
    from -1 (mixed) through 0 (overlapping) to 1 (apart)."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(z, labels))


@dataclass
class LatentViews:
    """One split of a feature set in a run's latent space, with its 2-D projections."""

    z: np.ndarray                       # [clip, latent] posterior means
    digits: np.ndarray                  # [clip]
    speakers: np.ndarray                # [clip]
    projections: dict[str, np.ndarray]  # {method: [clip, 2]}

    @classmethod
    def of(cls, run: "Run", feature_set: "FeatureSet", split: str = "test",
           epoch: int | None = None, seed: int = 0) -> "LatentViews":
        """Encode `split` with checkpoint `epoch` (default: the last) and project it."""
        mask = feature_set.split_mask(split)
        digits, speakers = feature_set.digits[mask], feature_set.speakers[mask]
        z = family_of(run.model).encode(run, epoch, feature_set.features[mask], digits, speakers)
        return cls.of_means(z, digits, speakers, seed)

    @classmethod
    def of_means(cls, z: np.ndarray, digits: np.ndarray, speakers: np.ndarray,
                seed: int = 0) -> "LatentViews":
        """Latent means already encoded, with their projections."""
        return cls(z, digits, speakers, {method: project(z, method, seed) for method in PROJECTIONS})

    @property
    def separation(self) -> dict[str, float]:
        """Silhouette scores of z grouped by digit and by speaker."""
        return {"digit": separation(self.z, self.digits),
                "speaker": separation(self.z, self.speakers)}
