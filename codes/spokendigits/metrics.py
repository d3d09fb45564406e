"""The metrics generated digits are judged by, computed in the project (numpy, scipy).

All work on what the project's digit classifier says of a set of clips: its
class probabilities `[clip, class]` and its penultimate-layer embeddings
`[clip, dim]`. Each is computed for real data the same way, so a model's row
always sits beside a real-data reference.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from scipy.spatial.distance import cdist

# Spread of a GAN's generated clips of one digit over that of real ones (and the same for
# the spread between digits) under which training warns of mode collapse.
COLLAPSE_RATIO = 0.25


def accuracy(predicted: np.ndarray, asked: np.ndarray) -> float:
    """Share of clips whose predicted digit is the one asked for."""
    return float(np.mean(np.asarray(predicted) == np.asarray(asked)))


def per_class_accuracy(predicted: np.ndarray, asked: np.ndarray) -> dict[int, float]:
    """`accuracy` for each asked class."""
    predicted, asked = np.asarray(predicted), np.asarray(asked)
    return {int(label): accuracy(predicted[asked == label], label) for label in np.unique(asked)}


def inception_score(probabilities: np.ndarray, splits: int = 10,
                    seed: int = 0) -> tuple[float, float]:
    """Inception Score: exp(E_x KL(p(y|x) || p(y))), mean and std over `splits` equal parts
    of a seeded shuffle (clips usually come sorted by class; unshuffled, each part would
    hold one class and score 1).

    One-hot predictions spread evenly over K classes score K; identical
    predictions score 1.
    """
    probabilities = np.asarray(probabilities, np.float64)
    shuffled = probabilities[np.random.default_rng(seed).permutation(len(probabilities))]
    parts = np.array_split(shuffled, splits)
    scores = []
    for part in parts:
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(np.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of `[clip, dim]` embeddings:
    ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½)."""
    mean_first, mean_second = first.mean(axis=0), second.mean(axis=0)
    cov_first = np.atleast_2d(np.cov(first, rowvar=False))
    cov_second = np.atleast_2d(np.cov(second, rowvar=False))
    with warnings.catch_warnings():
        # A set with fewer clips than dimensions has a singular covariance, and scipy says
        # so; the product's square root is still defined, and its real part is used, so
        # the warning carries nothing to act on.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_first @ cov_second)
    if np.iscomplexobj(root):  # numerical noise on a near-singular product
        root = root.real
    distance = np.sum((mean_first - mean_second) ** 2) + np.trace(cov_first + cov_second - 2 * root)
    return float(max(distance, 0.0))


def kernel_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Kernel Inception Distance: the unbiased MMD² between two sets of `[clip, dim]`
    embeddings under the cubic polynomial kernel k(x, y) = (xᵀy / dim + 1)³."""
    dim = first.shape[1]

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b.T / dim + 1.0) ** 3

    m, n = len(first), len(second)
    within_first, within_second = kernel(first, first), kernel(second, second)
    between = kernel(first, second)
    return float((within_first.sum() - np.trace(within_first)) / (m * (m - 1))
                 + (within_second.sum() - np.trace(within_second)) / (n * (n - 1))
                 - 2 * between.mean())


def frechet_distance_per_class(embeddings: np.ndarray, labels: np.ndarray,
                               reference: np.ndarray, reference_labels: np.ndarray
                               ) -> dict[int, float] | None:
    """`frechet_distance` of each class against the same class of `reference`, or None
    where some class has no more clips than embedding dimensions: the covariance of
    such a set is singular, and its distance mostly measures the sample size."""
    labels, reference_labels = np.asarray(labels), np.asarray(reference_labels)
    classes = np.unique(labels)
    dim = embeddings.shape[1]
    if min(min((labels == c).sum(), (reference_labels == c).sum()) for c in classes) <= dim:
        return None
    return {int(c): frechet_distance(embeddings[labels == c], reference[reference_labels == c])
            for c in classes}


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of `[clip, dim]` embeddings.

    Each set's manifold is the union of balls around its points, each reaching the
    point's k-th nearest neighbour in the same set. Precision is the share of generated
    clips inside the real manifold (quality); recall the share of real clips inside the
    generated one (coverage). Identical sets score 1 and 1; far apart sets 0 and 0.
    """
    if min(len(real), len(generated)) <= k:
        raise ValueError(f"precision and recall with k={k} need more than {k} clips per set")

    def radii(points: np.ndarray) -> np.ndarray:
        # column 0 of each sorted row is the point itself, at distance 0
        return np.sort(cdist(points, points), axis=1)[:, k]

    between = cdist(generated, real)  # [generated, real]
    precision = np.mean((between <= radii(real)[None, :]).any(axis=1))
    recall = np.mean((between.T <= radii(generated)[None, :]).any(axis=1))
    return float(precision), float(recall)


def disjoint_draws(labels: np.ndarray, per_label: int, draws: int, seed: int = 0
                   ) -> list[np.ndarray]:
    """`draws` sorted index arrays into `[clip]` labels, each holding `per_label` clips of
    every label and no clip held by another draw; the same seed gives the same draws.

    Raises:
        ValueError: a label has fewer than `per_label * draws` clips.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    shuffled = []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        if len(index) < per_label * draws:
            raise ValueError(f"label {label} has {len(index)} clips, fewer than {draws} draws "
                             f"of {per_label}")
        shuffled.append(rng.permutation(index))
    return [np.sort(np.concatenate([index[i * per_label:(i + 1) * per_label]
                                    for index in shuffled])) for i in range(draws)]


def spectral_convergence(reference: np.ndarray, estimate: np.ndarray) -> float:
    """‖|S| − |Ŝ|‖_F / ‖|S|‖_F between magnitude spectrograms: 0 is a perfect match."""
    return float(np.linalg.norm(reference - estimate) / np.linalg.norm(reference))
