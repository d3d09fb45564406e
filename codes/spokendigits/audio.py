"""Signal processing: reading wavs, fixed lengths, STFT log-magnitude, scaling, Griffin-Lim.

Shapes follow librosa: a batch of waveforms is `[clip, sample]`, a batch of
spectrograms `[clip, freq, frame]`. Sample rates are in Hz, lengths in samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile

from .storage import atomic_write

WINDOW_SECONDS = 0.032  # analysis window of the default STFT: 32 ms suits speech


def default_n_fft(sample_rate: int) -> int:
    """The power of two nearest above a 32 ms window: 256 at 8 kHz, 1024 at 22.05 kHz."""
    return 2 ** math.ceil(math.log2(WINDOW_SECONDS * sample_rate))


def load_wav(path: str | Path, sample_rate: int) -> np.ndarray:
    """Read a wav as mono float32 in [-1, 1] at `sample_rate` Hz.

    Multichannel files are mixed down by averaging; other rates are resampled
    (soxr, high quality). Raises `soundfile.LibsndfileError` for unreadable files.

    Returns:
        `[sample]` float32 waveform.
    """
    waveform, native_rate = soundfile.read(path, dtype="float32", always_2d=True)
    waveform = waveform.mean(axis=1)
    if native_rate != sample_rate:
        waveform = librosa.resample(waveform, orig_sr=native_rate, target_sr=sample_rate,
                                    res_type="soxr_hq")
    return waveform.astype(np.float32, copy=False)


def fit_length(waveform: np.ndarray, n_samples: int) -> np.ndarray:
    """Pad with silence at the end, or cut the end, to exactly `n_samples`."""
    return librosa.util.fix_length(waveform, size=n_samples, axis=-1)


def stft(waveforms: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """Complex STFT with a Hann window, centred frames padded with zeros.

    Args:
        waveforms: `[..., sample]`.

    Returns:
        `[..., n_fft // 2 + 1, 1 + samples // hop_length]` complex64.
    """
    return librosa.stft(waveforms, n_fft=n_fft, hop_length=hop_length, window="hann",
                        center=True, pad_mode="constant")


def log_magnitude(spectrogram: np.ndarray, floor: float) -> np.ndarray:
    """Natural log of the STFT magnitude, floored so silence maps to `log(floor)`."""
    magnitude = np.abs(spectrogram)
    return np.log(np.maximum(magnitude, floor, out=magnitude), out=magnitude)


def inverse_stft(spectrogram: np.ndarray, hop_length: int, length: int) -> np.ndarray:
    """Waveforms `[..., length]` from complex STFTs made by `stft`."""
    n_fft = 2 * (spectrogram.shape[-2] - 1)
    return librosa.istft(spectrogram, n_fft=n_fft, hop_length=hop_length, window="hann",
                         center=True, length=length)


def griffin_lim(magnitude: np.ndarray, hop_length: int, length: int, n_iter: int = 64,
                momentum: float = 0.99, seed: int = 0) -> np.ndarray:
    """Waveforms whose STFT magnitude approaches `magnitude`, phase rebuilt by fast Griffin-Lim.

    Args:
        magnitude: `[..., freq, frame]` linear STFT magnitude, as `stft` makes.
        length: samples of each output waveform.
        momentum: the "fast" Griffin-Lim acceleration (Perraudin et al., 2013);
            0 gives the classic algorithm.
        seed: seeds the random initial phase, so output is reproducible.

    Returns:
        `[..., length]` float32 waveforms.
    """
    n_fft = 2 * (magnitude.shape[-2] - 1)
    return librosa.griffinlim(magnitude, n_iter=n_iter, hop_length=hop_length, n_fft=n_fft,
                              window="hann", center=True, length=length, pad_mode="constant",
                              momentum=momentum, init="random",
                              random_state=np.random.default_rng(seed))


def spectral_convergence(reference: np.ndarray, estimate: np.ndarray) -> float:
    """‖|S| − |Ŝ|‖_F / ‖|S|‖_F between two magnitude spectrograms: 0 is a perfect match."""
    return float(np.linalg.norm(reference - estimate) / np.linalg.norm(reference))


@dataclass(frozen=True)
class Scaling:
    """Per-frequency standardisation of log-magnitudes, with statistics of a training set.

    The statistics are global to the training split (not per clip), so a
    generated level means the same as a real one and can be inverted.

    Attributes:
        mean: `[freq]` mean log-magnitude of each bin over training clips and frames.
        std: `[freq]` its standard deviation.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, log_magnitudes: np.ndarray, include: np.ndarray | None = None,
            block: int = 256) -> "Scaling":
        """Statistics of `[clip, freq, frame]` log-magnitudes, per frequency bin.

        Args:
            include: `[clip]` bool, the clips to fit on (the training split); default all.
            block: clips summed at a time, so fitting never copies the whole set.
        """
        include = np.ones(len(log_magnitudes), bool) if include is None else include
        total = np.zeros(log_magnitudes.shape[1])
        total_square = np.zeros(log_magnitudes.shape[1])
        for start in range(0, len(log_magnitudes), block):
            chunk = log_magnitudes[start:start + block][include[start:start + block]]
            total += chunk.sum(axis=0, dtype=np.float64).sum(axis=1)
            total_square += np.einsum("cft,cft->f", chunk, chunk, dtype=np.float64)
        count = include.sum() * log_magnitudes.shape[2]
        mean = total / count
        std = np.sqrt(np.maximum(total_square / count - mean**2, 0.0))
        # A bin that never varies (pure silence) would divide by zero.
        return cls(mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32))

    def apply(self, log_magnitudes: np.ndarray) -> np.ndarray:
        """`[..., freq, frame]` log-magnitudes to standardised features, in place."""
        log_magnitudes -= self.mean[:, None]
        log_magnitudes /= self.std[:, None]
        return log_magnitudes

    def invert(self, features: np.ndarray) -> np.ndarray:
        """Standardised `[..., freq, frame]` features back to log-magnitudes (a new array)."""
        return features * self.std[:, None] + self.mean[:, None]

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "Scaling":
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["std"], np.float32))


def write_wav(path: str | Path, waveform: np.ndarray, sample_rate: int) -> None:
    """Write `[sample]` float audio as 16-bit PCM, atomically; peaks above 1 are clipped."""
    with atomic_write(path) as file:
        soundfile.write(file, np.clip(waveform, -1.0, 1.0), sample_rate, subtype="PCM_16",
                        format="WAV")
