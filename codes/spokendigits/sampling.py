"""Drawing latent vectors: the prior, and Gaussians fitted to a VAE's encoded clips.

Numpy only: inference imports it. After a VAE trains, the training clips are
encoded and one Gaussian is fitted to the aggregate posterior of each digit
(and of each digit and speaker): the spread of the posterior means plus the
mean posterior variance. Sampling from a digit's Gaussian and decoding gives
that digit: this is how an unconditional VAE is asked for a chosen digit.
Conditional models can sample the same way, or draw z from the prior N(0, I)
and rely on the condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, UsageError
from .storage import read_json

RIDGE = 1e-4  # added to covariance diagonals, so a Cholesky factor always exists


SAMPLERS = ("prior", "digit", "mixture", "flow")
# Chosen by measurement: the judge's accuracy and precision of every model of the study
# (reports/vae-study/results.md, `codes/evaluate.py --samplers prior digit mixture`).
DEFAULT_SAMPLER = "mixture"


def offered_samplers(conditional: bool, fitted: bool) -> tuple[str, ...]:
    """The samplers that can ask a model for a digit: the prior where the digit is its
    condition, or where it has nothing else (a GAN, which draws from N(0, I) alone); the
    digit's own Gaussian and the mixture of its speakers' where Gaussians were `fitted`."""
    return (("prior",) if conditional or not fitted else ()) + \
        (("digit", "mixture") if fitted else ())


def default_sampler(offered: tuple[str, ...]) -> str:
    """`DEFAULT_SAMPLER` where it is `offered`, else the first offered."""
    return DEFAULT_SAMPLER if DEFAULT_SAMPLER in offered else offered[0]


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


def sampler_file(latent_dim: int, gaussians: str | None = None,
                 phase_bank: dict[str, Any] | None = None,
                 flow: str | None = None, refiner: dict[str, Any] | None = None,
                 pitch: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint's `sampler.json` holds: how z is drawn (`"normal"`, N(0, I);
    `"gaussians"`, from the Gaussians of `fit_latent_gaussians` in the file `gaussians`
    names; or `"flow"`, by the velocity network in the file `flow` names), the latent size,
    and a phase-conditional generator's `phase_bank` (`{"file": ..., "digits": [...]}`:
    phase images of training clips and their digits), or None; and a spectrogram flow's
    `refiner` (`{"file": ..., "draft_noise": ...}`: it carries the generator's drafts to
    the clips, `flow.refine`), or a pitch model's `pitch` (`{"file": ..., "strength": ...}`:
    it voices the generator's spectrograms, `harmonics.voice`; a strength per frequency
    bin, or one for all in checkpoints of earlier versions; `"breath"`, the spreads of
    `harmonics.fitted_breath`, `"voiced"`, `harmonics.fitted_threshold`, and
    `"smoothing"`, `harmonics.fitted_smoothing`, and `"filtered"`, whether it speaks
    through the envelope's minimum phase, which earlier versions lack), where the
    checkpoint has one."""
    z = "flow" if flow else "gaussians" if gaussians else "normal"
    return {"z": z, "latent_dim": latent_dim, **({"gaussians": gaussians} if gaussians else {}),
            **({"flow": flow} if flow else {}), "phase_bank": phase_bank,
            **({"refiner": refiner} if refiner else {}), **({"pitch": pitch} if pitch else {})}


@dataclass(frozen=True)
class CheckpointSampler:
    """A checkpoint's sampler.json read back and checked: the fitted Gaussians (None: z
    from N(0, I) only) and the phase bank's file and digits (None: no phase condition)."""

    gaussians: dict[str, Any] | None
    phase_file: Path | None = None
    phase_digits: tuple[int, ...] = ()
    flow_file: Path | None = None   # a flow's velocity network (`flow`)
    refiner_file: Path | None = None  # a spectrogram flow's velocity network (`flow.refine`)
    draft_noise: float = 0.0          # ... and the noise it adds to the drafts
    pitch_file: Path | None = None    # a pitch model's network (`harmonics.voice`)
    strength: float | tuple[float, ...] = 0.0  # ... and the harmonics' strength (per bin)
    breath: tuple[tuple[float, ...], ...] | None = None  # ... and the breath's spreads
    voiced: float | None = None       # ... and its voicing threshold (None: harmonics.VOICED)
    smoothing: float = 0.0            # ... and its f0's smoothing, frames
    filtered: bool = False            # ... and whether through the envelope's minimum phase

    def samplers(self, conditional: bool) -> tuple[str, ...]:
        """The samplers this checkpoint offers a model: "flow" where it has a flow, else
        `offered_samplers`."""
        if self.flow_file is not None:
            return ("flow",)
        return offered_samplers(conditional, self.gaussians is not None)


def _file_inside(checkpoint: Path, name: Any, path: Path) -> Path:
    """`checkpoint / name` where `name` is a plain file name inside the checkpoint folder;
    DataError naming `path` otherwise (no absolute paths, no `..`, no other folder)."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise DataError(f"{path} names the file {name!r}, which is not a file of its own "
                        "checkpoint folder; export the run again")
    return checkpoint / name


def _named_file(checkpoint: Path, name: Any, path: Path) -> Path:
    """`_file_inside`, which must exist: DataError otherwise."""
    file = _file_inside(checkpoint, name, path)
    if not file.is_file():
        raise DataError(f"{checkpoint} lacks {file.name}, which its sampler.json names; "
                        "export the run again")
    return file


def _number_in(value: Any, low: float, high: float) -> bool:
    """Whether `value` is an int or float (not a bool) from `low` to `high`."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        low <= value <= high


def _numbers_in(value: Any, low: float, high: float) -> bool:
    """`_number_in`, or a non-empty list of such numbers."""
    return _number_in(value, low, high) or (isinstance(value, list) and bool(value) and all(
        _number_in(number, low, high) for number in value))


def _rows_in(value: Any, low: float, high: float) -> bool:
    """Whether `value` is a list of two equally long, non-empty lists of `_number_in`."""
    return isinstance(value, list) and len(value) == 2 and all(
        isinstance(row, list) and row and len(row) == len(value[0]) and
        all(_number_in(number, low, high) for number in row) for row in value)


# a pitch entry's values that older checkpoints lack
LATER_VALUES = {"breath", "voiced", "smoothing", "filtered"}


def _finisher_valid(entry: Any, numbers: dict[str, Any]) -> bool:
    """Whether a finisher's sampler.json entry is `{"file": ..., name: numbers...}` with
    every name of `numbers` (checks of one value) but `LATER_VALUES`, each valid."""
    return isinstance(entry, dict) and "file" in entry and \
        set(numbers) - LATER_VALUES <= set(entry) - {"file"} <= set(numbers) and \
        all(numbers[name](value) for name, value in entry.items() if name != "file")


def _as_tuples(value: Any) -> Any:
    """A sampler.json number, list or list of lists as a float or (nested) tuple; a
    bool as it is."""
    if isinstance(value, bool):
        return value
    return tuple(map(_as_tuples, value)) if isinstance(value, list) else float(value)


def read_sampler(checkpoint: Path, latent_dim: int) -> CheckpointSampler:
    """`checkpoint/sampler.json`, checked whole: its keys and their types, the latent size
    against `latent_dim`, and every file it names inside `checkpoint` (the Gaussians are
    read and checked too; the phase bank is the caller's to read).

    Raises:
        DataError: naming the file and what is wrong with it.
    """
    path = checkpoint / "sampler.json"
    sampler = read_json(path)
    z = sampler.get("z") if isinstance(sampler, dict) else None
    keys = {"z", "latent_dim", "phase_bank"} | ({z} if z in ("gaussians", "flow") else set())
    bank = sampler.get("phase_bank") if isinstance(sampler, dict) else None
    # a finisher's entry: its file and its numbers (`LATER_VALUES`: in newer checkpoints)
    finishers = {"refiner": {"draft_noise": partial(_number_in, low=0, high=10)},
                 "pitch": {"strength": partial(_numbers_in, low=0, high=10),
                           "breath": partial(_rows_in, low=0, high=10),
                           "voiced": partial(_number_in, low=0, high=1),
                           "smoothing": partial(_number_in, low=0, high=100),
                           "filtered": lambda value: isinstance(value, bool)}}
    finishing = {name: sampler.get(name) for name in finishers} \
        if isinstance(sampler, dict) else {}
    if not isinstance(sampler, dict) or set(sampler) - set(finishers) != keys or \
            not all(entry is None or _finisher_valid(entry, finishers[name])
                    for name, entry in finishing.items()) or \
            z not in ("normal", "gaussians", "flow") or \
            sampler["latent_dim"] != latent_dim or type(sampler["latent_dim"]) is not int or \
            not (bank is None or (isinstance(bank, dict) and set(bank) == {"file", "digits"}
                                  and isinstance(bank["digits"], list) and all(
                                      type(digit) is int for digit in bank["digits"]))):
        raise DataError(f"{path} is damaged or from another run; export the run again")
    gaussians = None
    if sampler["z"] == "gaussians":
        file = _named_file(checkpoint, sampler["gaussians"], path)
        gaussians = check_latent_gaussians(read_json(file), latent_dim, file)
    flow = _named_file(checkpoint, sampler["flow"], path) if z == "flow" else None
    finished = {f"{name}_file": _named_file(checkpoint, entry["file"], path)
                for name, entry in finishing.items() if entry is not None}
    finished |= {key: _as_tuples(value) for entry in finishing.values() if entry is not None
                 for key, value in entry.items() if key != "file"}
    if bank is None:
        return CheckpointSampler(gaussians, flow_file=flow, **finished)
    return CheckpointSampler(gaussians, _file_inside(checkpoint, bank["file"], path),
                             tuple(bank["digits"]), flow, **finished)
