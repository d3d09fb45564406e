"""Latent spaces: encoding clips, per-digit Gaussians, and 2-D views for plots.

After training, the training clips are encoded and one Gaussian is fitted to
the aggregate posterior of each digit (and of each digit and speaker): the
spread of the posterior means plus the mean posterior variance. Sampling from
a digit's Gaussian and decoding gives that digit: this is how an
unconditional VAE is asked for a chosen digit. Conditional models can sample
the same way, or draw z from the prior N(0, I) and rely on the condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError, UsageError
from .models import build_condition, condition_dim

if TYPE_CHECKING:
    from .features import FeatureSet
    from .runs import Run

PROJECTIONS = ("pca", "tsne")

RIDGE = 1e-4  # added to covariance diagonals, so a Cholesky factor always exists


SAMPLERS = ("prior", "digit", "mixture")
# Chosen by measurement: the judge's accuracy and precision of every model of the study
# (reports/vae-study/results.md, `codes/evaluate.py --samplers prior digit mixture`).
DEFAULT_SAMPLER = "mixture"


def _gaussian(z_means: np.ndarray, z_variances: np.ndarray) -> dict[str, Any]:
    """The Gaussian that matches the mean and covariance of a group's aggregate posterior:
    the spread of its posterior means plus the mean posterior variance."""
    cov = np.cov(z_means, rowvar=False) + np.diag(z_variances.mean(axis=0))
    return {"mean": z_means.mean(axis=0).tolist(),
            "cov": (cov + RIDGE * np.eye(z_means.shape[1])).tolist(),
            "count": len(z_means)}


def fit_latent_gaussians(z_means: np.ndarray, z_log_vars: np.ndarray, digits: np.ndarray,
                         speakers: np.ndarray) -> dict[str, dict[str, Any]]:
    """Gaussians of the encoded training clips, per digit and per "digit/speaker".

    Args:
        z_means, z_log_vars: `[clip, latent]` posterior means and log-variances.
        digits, speakers: `[clip]` labels.

    Groups of fewer than two clips get no Gaussian (no covariance to estimate).
    """
    variances = np.exp(z_log_vars)
    groups: dict[str, dict[str, Any]] = {"digit": {}, "digit_speaker": {}}
    for digit in np.unique(digits):
        chosen = digits == digit
        if chosen.sum() >= 2:
            groups["digit"][str(digit)] = _gaussian(z_means[chosen], variances[chosen])
        for speaker in np.unique(speakers[chosen]):
            both = chosen & (speakers == speaker)
            if both.sum() >= 2:
                groups["digit_speaker"][f"{digit}/{speaker}"] = _gaussian(z_means[both],
                                                                           variances[both])
    return groups


LATENTS_FORMAT = 1  # a latents.json with a higher "format" comes from a newer version
GAUSSIAN_KEYS = {"mean", "cov", "count"}


def _gaussians_problem(gaussians: Any, latent_dim: int) -> str | None:
    """What makes a latents.json unusable for a latent size of `latent_dim`, or None."""
    if not isinstance(gaussians, dict):
        return "it holds no JSON object"
    version = gaussians.get("format", LATENTS_FORMAT)
    if not isinstance(version, int) or version > LATENTS_FORMAT:
        return f"format {version!r} is newer than this version reads ({LATENTS_FORMAT})"
    tables = {"digit", "digit_speaker"}
    if set(gaussians) - {"format"} != tables:
        return f"it has keys {sorted(gaussians)}, not {sorted(tables)}"
    for table in sorted(tables):
        if not isinstance(gaussians[table], dict):
            return f"{table} is not an object of Gaussians"
        for key, gaussian in gaussians[table].items():
            digit, _, speaker = key.partition("/")
            if digit not in list("0123456789") or bool(speaker) != (table == "digit_speaker"):
                return f"{table} has a Gaussian named {key!r}"
            if not isinstance(gaussian, dict) or set(gaussian) != GAUSSIAN_KEYS:
                return f"{table} Gaussian {key!r} should hold exactly {sorted(GAUSSIAN_KEYS)}"
            try:
                mean = np.asarray(gaussian["mean"], np.float64)
                cov = np.asarray(gaussian["cov"], np.float64)
            except (TypeError, ValueError):
                return f"{table} Gaussian {key!r} has a mean or cov that is not numbers"
            if mean.shape != (latent_dim,) or cov.shape != (latent_dim, latent_dim):
                return (f"{table} Gaussian {key!r} has a mean of shape {mean.shape} and a cov "
                        f"of shape {cov.shape}; the model's latent size is {latent_dim}")
            if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
                return f"{table} Gaussian {key!r} has NaN or infinite values"
            try:
                np.linalg.cholesky(cov)  # what sampling needs
            except np.linalg.LinAlgError:
                return f"{table} Gaussian {key!r} has a cov that is not positive definite"
            count = gaussian["count"]
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                return f"{table} Gaussian {key!r} has count {count!r}, not a positive integer"
    return None


def check_latent_gaussians(gaussians: Any, latent_dim: int, path: Path) -> dict[str, Any]:
    """`gaussians` as read from a checkpoint's latents.json (`path`), once checked to be what
    `fit_latent_gaussians` writes for a latent size of `latent_dim`: tables "digit" (keys
    "0".."9") and "digit_speaker" ("<digit>/<speaker>"), each Gaussian a finite `[latent]`
    mean, a positive definite `[latent, latent]` covariance and a clip count of at least 1.

    Raises:
        DataError: naming `path` and the first problem found.
    """
    found = _gaussians_problem(gaussians, latent_dim)
    if found:
        raise DataError(f"{path} cannot be used: {found}. It is damaged or was written by a "
                        "newer version; export or train the run again")
    return gaussians


def _component(gaussians: dict[str, dict[str, Any]], digit: int, speaker: str | None,
               sampler: str, rng: np.random.Generator) -> dict[str, Any]:
    """The Gaussian to draw one clip of `digit` from: its speaker's where one is named;
    else the digit's own ("digit"), or a speaker's drawn in proportion to their clips
    ("mixture")."""
    if speaker is None and sampler == "mixture":
        prefix = f"{digit}/"
        keys = sorted(key for key in gaussians["digit_speaker"] if key.startswith(prefix))
        counts = np.array([gaussians["digit_speaker"][key]["count"] for key in keys], float)
        if keys:
            speaker = keys[rng.choice(len(keys), p=counts / counts.sum())][len(prefix):]
    key, table = (f"{digit}/{speaker}", "digit_speaker") if speaker else (str(digit), "digit")
    if key not in gaussians[table]:
        raise UsageError(f"this model has no latent Gaussian for {key!r}; it has "
                         f"{sorted(gaussians[table])}")
    return gaussians[table][key]


def sample_latents(gaussians: dict[str, dict[str, Any]] | None, digits: list[int],
                   speakers: list[str | None] | None, latent_dim: int, temperature: float,
                   rng: np.random.Generator, sampler: str = DEFAULT_SAMPLER) -> np.ndarray:
    """`[clip, latent]` float32 latent samples, one per digit.

    Args:
        gaussians: the checkpoint's fitted densities (`fit_latent_gaussians`), needed by
            every sampler but "prior".
        speakers: a speaker per clip (or None): its digit/speaker Gaussian is used.
        sampler: "prior" draws N(0, I), which only a conditional decoder can turn into a
            chosen digit; "digit" draws each digit's Gaussian; "mixture" a mixture of the
            digit's per-speaker Gaussians.
        temperature: scales the spread around the mean.
    """
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}; use one of {list(SAMPLERS)}")
    noise = rng.standard_normal((len(digits), latent_dim)) * temperature
    if sampler == "prior":
        return noise.astype(np.float32)
    if gaussians is None:
        raise UsageError(f"sampler {sampler!r} needs latent densities fitted at training time, "
                         "and this checkpoint has none (latents.json); use --sampler prior")
    samples = []
    for digit, speaker, row in zip(digits, speakers or [None] * len(digits), noise):
        gaussian = _component(gaussians, digit, speaker, sampler, rng)
        cholesky = np.linalg.cholesky(np.asarray(gaussian["cov"]))
        samples.append(np.asarray(gaussian["mean"]) + cholesky @ row)
    return np.asarray(samples, np.float32)


def encode(run: "Run", epoch: int | None, features: np.ndarray, digits: np.ndarray,
           speakers: np.ndarray) -> np.ndarray:
    """`[clip, latent]` posterior means of `[clip, freq, frame]` features under the Keras
    encoder of checkpoint `epoch` (default: the last). Imports TensorFlow.

    Conditional encoders also take each clip's `[clip]` digit and speaker labels.
    """
    checkpoint = run.checkpoint(epoch)
    if not run.has_encoder(epoch):
        raise DataError(f"{checkpoint} has no encoder.keras (an inference-only copy?); "
                        "use the full run folder made by codes/train.py")
    import keras

    encoder = keras.saving.load_model(checkpoint / "encoder.keras")
    inputs = [features]
    if condition_dim(run.model, run.config["labels"]):
        inputs.append(build_condition(run.model, run.config["labels"], digits, speakers))
    return encoder.predict(inputs, verbose=0)[0]


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
        z = encode(run, epoch, feature_set.features[mask], digits, speakers)
        return cls(z, digits, speakers, {method: project(z, method, seed) for method in PROJECTIONS})

    @property
    def separation(self) -> dict[str, float]:
        """Silhouette scores of z grouped by digit and by speaker."""
        return {"digit": separation(self.z, self.digits),
                "speaker": separation(self.z, self.speakers)}
