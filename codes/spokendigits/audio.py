"""Signal processing: reading wavs, fixed lengths, STFT log-magnitude, scaling, Griffin-Lim,
mel filters.

Shapes: a batch of waveforms is `[clip, sample]`, a batch of spectrograms
`[clip, freq, frame]`. Sample rates are in Hz, lengths in samples.

The STFT, its inverse and Griffin-Lim are written on numpy and match librosa's
(`center=True`, zero padding, periodic Hann window; tests compare them).
librosa itself is not imported: its import costs 1.2 s, which `inference.py`
cannot afford, and features must be analysed and inverted by one and the same
code. The FFTs are numpy's: importing scipy.fft costs 0.13 s, a third of
`inference.py`'s whole start. Only Griffin-Lim, 64 forward FFTs a clip, takes
scipy.fft's real FFT, 3x faster than numpy's on float32 frames (numpy 2.4).
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from numpy.lib.stride_tricks import sliding_window_view

from .config import check_settings
from .errors import DataError
from .storage import atomic_write

WINDOW_SECONDS = 0.032  # analysis window of the default STFT: 32 ms suits speech
# Slaney's mel scale: 200/3 Hz a mel up to 1 kHz, then 27 mels for each factor 6.4
MEL_LINEAR_HZ, MEL_BREAK_HZ, MEL_LOG_STEP = 200 / 3, 1000.0, math.log(6.4) / 27


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
        import soxr  # feature extraction's: inference never resamples

        waveform = soxr.resample(waveform, native_rate, sample_rate, quality="HQ")
    return waveform.astype(np.float32, copy=False)


def fit_length(waveform: np.ndarray, n_samples: int) -> np.ndarray:
    """Pad with silence at the end, or cut the end, so the last axis holds `n_samples`."""
    missing = n_samples - waveform.shape[-1]
    if missing <= 0:
        return waveform[..., :n_samples]
    return np.pad(waveform, [(0, 0)] * (waveform.ndim - 1) + [(0, missing)])


@functools.cache
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window of `n_fft` samples, float32 (as for spectral analysis);
    read-only, made once per size."""
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    window.flags.writeable = False
    return window


def stft_shape(n_fft: int, hop_length: int, n_samples: int) -> tuple[int, int]:
    """`(freq, frame)`: the shape `stft` gives a waveform of `n_samples` (frames are
    centred, so one more than whole hops)."""
    return n_fft // 2 + 1, 1 + n_samples // hop_length


@dataclass(frozen=True)
class StftSettings:
    """The STFT and the clip length every STFT representation shares.

    A resolved `FeatureConfig` gives them (`FeatureConfig.stft`); every
    representation of `representations` holds them.

    Attributes:
        sample_rate: Hz.
        n_fft: STFT window in samples, even (the inverse STFT assumes it).
        hop_length: STFT hop in samples.
        clip_samples: samples of every clip; longer waveforms are cut at the
            end, shorter ones padded with silence.
        log_floor: smallest magnitude before the log, the level of silence
            (`FeatureConfig`'s default).
    """

    sample_rate: int
    n_fft: int
    hop_length: int
    clip_samples: int
    log_floor: float = 1e-5

    def __post_init__(self) -> None:
        # every comparison with nan is False, so these refuse nan too
        check_settings("STFT settings", [
            (self.sample_rate >= 1, f"sample_rate={self.sample_rate} must be positive (Hz)"),
            (self.n_fft >= 16 and self.n_fft % 2 == 0,
             f"n_fft={self.n_fft} must be an even number of samples, at least 16"),
            (1 <= self.hop_length <= self.n_fft,
             f"hop_length={self.hop_length} must be 1 to n_fft ({self.n_fft})"),
            (self.clip_samples >= 1, f"clip_samples={self.clip_samples} must be positive"),
            (0 < self.log_floor < math.inf,
             f"log_floor={self.log_floor} must be positive and finite"),
        ])

    @property
    def n_freq(self) -> int:
        """Frequency bins of a spectrogram."""
        return stft_shape(self.n_fft, self.hop_length, self.clip_samples)[0]

    @property
    def n_frames(self) -> int:
        """STFT frames of one clip."""
        return stft_shape(self.n_fft, self.hop_length, self.clip_samples)[1]



def stft(waveforms: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """Complex STFT with a Hann window; frames are centred, the edges padded with zeros.

    Args:
        waveforms: `[..., sample]`.

    Returns:
        `[..., n_fft // 2 + 1, 1 + samples // hop_length]`, complex64 for float32 input.
    """
    return np.ascontiguousarray(_spectra(waveforms, n_fft, hop_length).swapaxes(-1, -2))


def inverse_stft(spectrogram: np.ndarray, hop_length: int, length: int) -> np.ndarray:
    """Waveforms `[..., length]` from `[..., freq, frame]` STFTs made by `stft`
    (windowed overlap-add, normalised by the summed squared window)."""
    return _from_spectra(spectrogram.swapaxes(-1, -2), hop_length, length)


def _numpy_rfft(frames: np.ndarray, axis: int) -> np.ndarray:
    """numpy's real FFT, in float64 (numpy's float32 path is 2x slower still), cast to
    the complex type of `frames`' precision."""
    spectra = np.fft.rfft(frames.astype(np.float64, copy=False), axis=axis)
    return spectra.astype(np.result_type(frames.dtype, np.complex64), copy=False)


def _spectra(waveforms: np.ndarray, n_fft: int, hop_length: int,
             rfft: Callable[..., np.ndarray] = _numpy_rfft) -> np.ndarray:
    """`stft`, frame by frame: `[..., frame, freq]`."""
    padding = [(0, 0)] * (waveforms.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    frames = sliding_window_view(np.pad(waveforms, padding), n_fft, axis=-1)[..., ::hop_length, :]
    return rfft(frames * hann_window(n_fft), axis=-1)


def _from_spectra(spectra: np.ndarray, hop_length: int, length: int) -> np.ndarray:
    """`inverse_stft` of `[..., frame, freq]` spectra."""
    n_frames, n_freq = spectra.shape[-2:]
    n_fft = 2 * (n_freq - 1)
    frames = np.fft.irfft(spectra, axis=-1) * hann_window(n_fft)  # n_fft samples
    signal = _overlap_add(frames, hop_length) * _inverse_window_sum(n_fft, hop_length, n_frames)
    return fit_length(signal[..., n_fft // 2:], length)


@functools.cache
def _inverse_window_sum(n_fft: int, hop_length: int, n_frames: int) -> np.ndarray:
    """1 / the squared Hann windows of `n_frames` frames overlap-added (1 where they sum
    to nothing): what `inverse_stft` multiplies its overlap-add by."""
    window_sum = _overlap_add(np.broadcast_to(hann_window(n_fft) ** 2, (n_frames, n_fft)),
                              hop_length)
    inverse = 1.0 / np.where(window_sum > 1e-8, window_sum, 1.0)
    inverse.flags.writeable = False  # shared by every call
    return inverse


def _overlap_add(frames: np.ndarray, hop_length: int) -> np.ndarray:
    """Sum `[..., frame, n]` frames placed `hop_length` apart: `[..., n + hop * (frame - 1)]`.

    Frames are cut into hop-sized blocks, so the loop runs over the
    `ceil(n / hop)` overlaps (4 for the default STFT), not over every frame.
    """
    n_frames, n = frames.shape[-2:]
    overlaps = -(-n // hop_length)
    padding = [(0, 0)] * (frames.ndim - 1) + [(0, overlaps * hop_length - n)]
    blocks = np.pad(frames, padding).reshape(frames.shape[:-2] + (n_frames, overlaps, hop_length))
    summed = np.zeros(frames.shape[:-2] + (n_frames + overlaps - 1, hop_length), frames.dtype)
    for overlap in range(overlaps):
        summed[..., overlap:overlap + n_frames, :] += blocks[..., overlap, :]
    return summed.reshape(frames.shape[:-2] + (-1,))[..., :n + hop_length * (n_frames - 1)]


def log_magnitude(spectrogram: np.ndarray, floor: float) -> np.ndarray:
    """Natural log of the STFT magnitude, floored so silence maps to `log(floor)`."""
    magnitude = np.abs(spectrogram)
    return np.log(np.maximum(magnitude, floor, out=magnitude), out=magnitude)


def griffin_lim(magnitude: np.ndarray, hop_length: int, length: int, n_iter: int = 64,
                momentum: float = 0.99, seed: int = 0) -> np.ndarray:
    """Waveforms whose STFT magnitude approaches `magnitude`, phase rebuilt by fast Griffin-Lim.

    Args:
        magnitude: `[..., freq, frame]` linear STFT magnitude, as `stft` makes;
            `frame` must be `1 + length // hop_length`.
        length: samples of each output waveform.
        momentum: the "fast" Griffin-Lim acceleration (Perraudin et al., 2013);
            0 gives the classic algorithm.
        seed: seeds the random initial phase, so output is reproducible.

    Returns:
        `[..., length]` float32 waveforms.
    """
    import scipy.fft  # its forward FFT, here only (see the module's note)

    if magnitude.shape[-1] != 1 + length // hop_length:
        raise ValueError(f"{magnitude.shape[-1]} frames do not fit {length} samples at hop "
                         f"{hop_length}: expected {1 + length // hop_length}")
    n_fft = 2 * (magnitude.shape[-2] - 1)
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, magnitude.shape)
    # frame by frame ([..., frame, freq]), as the FFTs take them
    magnitude = np.ascontiguousarray(magnitude.astype(np.float32, copy=False).swapaxes(-1, -2))
    angles = np.exp(1j * phase.swapaxes(-1, -2)).astype(np.complex64)
    rebuilt = np.zeros_like(angles)
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = _spectra(_from_spectra(magnitude * angles, hop_length, length), n_fft,
                           hop_length, scipy.fft.rfft)
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles * (1 / (np.abs(angles) + 1e-16))  # a real factor: 4x a complex divide
    return _from_spectra(magnitude * angles, hop_length, length)


def hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear to 1 kHz, logarithmic above."""
    frequencies = np.asarray(frequencies, np.float64)
    mels = frequencies / MEL_LINEAR_HZ
    log_part = frequencies >= MEL_BREAK_HZ
    mels[log_part] = MEL_BREAK_HZ / MEL_LINEAR_HZ + \
        np.log(frequencies[log_part] / MEL_BREAK_HZ) / MEL_LOG_STEP
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """The inverse of `hz_to_mel`."""
    mels = np.asarray(mels, np.float64)
    frequencies = mels * MEL_LINEAR_HZ
    break_mel = MEL_BREAK_HZ / MEL_LINEAR_HZ
    log_part = mels >= break_mel
    frequencies[log_part] = MEL_BREAK_HZ * np.exp(MEL_LOG_STEP * (mels[log_part] - break_mel))
    return frequencies


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """`[n_mels, n_fft // 2 + 1]` float32 triangular filters, evenly spaced in mels from 0 Hz
    to Nyquist, each normalised to unit area ("slaney"): librosa.filters.mel's defaults."""
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(0, hz_to_mel(np.array([sample_rate / 2]))[0], n_mels + 2))
    rising = (bins[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0, np.minimum(rising, falling))
    return (weights * (2 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def trim_silence(waveform: np.ndarray, sample_rate: int, top_db: float = 40.0,
                 margin_seconds: float = 0.01) -> np.ndarray:
    """The part of a `[sample]` waveform between its first and last 10 ms frames within
    `top_db` of its loudest, plus a small margin; all of it if it is silent."""
    frame = max(1, round(0.01 * sample_rate))
    n_frames = -(-len(waveform) // frame)
    frames = fit_length(waveform, n_frames * frame).reshape(n_frames, frame)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-top_db / 20)) if rms.max() > 0 else []
    if len(loud) == 0:
        return waveform
    margin = round(margin_seconds * sample_rate)
    return waveform[max(0, loud[0] * frame - margin):(loud[-1] + 1) * frame + margin]


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
    """Write `[sample]` float audio as 16-bit PCM (`wav_bytes`), atomically."""
    data = wav_bytes(waveform, sample_rate, str(path))
    with atomic_write(path) as file:
        file.write(data)


def wav_bytes(waveform: np.ndarray, sample_rate: int, name: str = "the wav") -> bytes:
    """`[sample]` float audio as the bytes of a 16-bit PCM wav file.

    Audio that would not come out as it is is refused: NaN or infinite samples,
    or a peak at or over full scale (1.0), which PCM would clip, raise DataError
    naming `name`. Scale audio below 1 first (`Synthesizer.speak` does).
    """
    waveform = np.asarray(waveform)
    broken = np.count_nonzero(~np.isfinite(waveform))
    if broken:
        raise DataError(f"refusing to write {name}: {broken} of {waveform.size} samples are NaN "
                        "or infinite, so the model or its settings produced no usable sound")
    peak = float(np.max(np.abs(waveform), initial=0.0))
    if peak >= 1.0:
        raise DataError(f"refusing to write {name}: its peak {peak:.3g} is at or over full "
                        "scale (1.0) and would be clipped; scale the waveform below 1 first")
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()
