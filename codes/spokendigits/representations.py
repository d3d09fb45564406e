"""Representations: how a waveform becomes the array a model sees, and back.

A representation holds its settings (the STFT and the clip length) and, once
`fit` has seen the training split, its scaling statistics. `encode` turns
`[clip, sample]` waveforms into a `[clip, *shape]` float32 array, `decode`
turns such an array back into waveforms, and `to_dict` / `from_dict` carry
both settings and statistics as plain JSON data, so a saved model can always
make and invert its arrays again.

2-D representations are channels-last, `[clip, freq, frame, channel]`:

- `log-magnitude`: one channel, the standardised log-magnitude (today's
  `Featurizer`), decoded by Griffin-Lim.
- `magnitude-phase`: two channels, the standardised log-magnitude and the
  phase / pi in [-1, 1], decoded by the inverse STFT with its own phase (or by
  Griffin-Lim on the magnitude alone, for comparison).

Only numpy and scipy (through `audio`), so inference can use it without
TensorFlow. The signal code itself lives in `audio`: this module only
arranges it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from . import audio
from .config import check_settings, from_dict, to_dict
from .errors import DataError, UsageError

if TYPE_CHECKING:
    from .features import FeatureConfig

DECODE_PHASES = ("own", "griffin-lim")


@dataclass(frozen=True)
class StftSettings:
    """The STFT and the clip length every STFT representation shares.

    The fields mean what `FeatureConfig`'s fields of the same names mean once
    resolved; `Representation.from_feature_config` copies them over.

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
        check_settings("representation settings", [
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
        return audio.stft_shape(self.n_fft, self.hop_length, self.clip_samples)[0]

    @property
    def n_frames(self) -> int:
        """STFT frames of one clip."""
        return audio.stft_shape(self.n_fft, self.hop_length, self.clip_samples)[1]


@dataclass(frozen=True)
class MagnitudePhaseSettings(StftSettings):
    """`StftSettings`, plus which phase `MagnitudePhase.decode` uses by default.

    Attributes:
        decode_phase: "own" (the array's phase channel, by the inverse STFT) or
            "griffin-lim" (the magnitude alone, for comparison).
    """

    decode_phase: str = "own"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_settings("representation settings", [
            (self.decode_phase in DECODE_PHASES,
             f"decode_phase={self.decode_phase!r} must be one of {list(DECODE_PHASES)}")])


class Representation:
    """Waveforms to a model's arrays and back; subclasses are the instances.

    Usage: `get_representation(name, **settings).fit(train_waveforms)`, then
    `encode` / `decode`; `to_dict()` is what a saved model carries and
    `Representation.from_dict` rebuilds it.

    Attributes:
        settings: the representation's settings (a frozen dataclass).
        scaling: per-frequency statistics of the training split's
            log-magnitudes, or None until `fit` (or `from_dict`) sets them.
    """

    name: ClassVar[str]
    settings_class: ClassVar[type[StftSettings]] = StftSettings
    channels: ClassVar[int]

    def __init__(self, settings: StftSettings, scaling: audio.Scaling | None = None) -> None:
        if type(settings) is not self.settings_class:
            raise UsageError(f"{self.name} takes {self.settings_class.__name__}, "
                             f"not {type(settings).__name__}")
        self.settings = settings
        self.scaling = None
        if scaling is not None:
            self._set_scaling(scaling)

    @classmethod
    def from_feature_config(cls, config: FeatureConfig, scaling: audio.Scaling | None = None,
                            **settings: Any) -> "Representation":
        """The representation with a resolved `FeatureConfig`'s STFT and clip length.

        Args:
            scaling: statistics to use, e.g. a `Featurizer`'s; None to `fit` later.
            settings: the representation's own settings (`decode_phase`).
        """
        if not config.is_resolved:
            raise UsageError(f"feature settings {to_dict(config)} are not resolved; "
                             "resolve them (FeatureConfig.resolve) first")
        return cls(cls.settings_class(
            sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
            clip_samples=config.clip_samples, log_floor=config.log_floor, **settings), scaling)

    @property
    def shape(self) -> tuple[int, ...]:
        """One clip's array: `(freq, frame, channel)`."""
        return (self.settings.n_freq, self.settings.n_frames, self.channels)

    @property
    def is_fitted(self) -> bool:
        return self.scaling is not None

    def fit(self, train_waveforms: np.ndarray | Sequence[np.ndarray]) -> "Representation":
        """Set the scaling statistics from these waveforms alone (the training split).

        Args:
            train_waveforms: `[clip, sample]`, or a list of `[sample]` waveforms
                of any length (each is padded or cut to `clip_samples`).

        Returns:
            self, fitted; earlier statistics are replaced, not updated.
        """
        spectrogram = self._spectrogram(train_waveforms)
        if len(spectrogram) == 0:
            raise UsageError(f"{self.name}: fit needs at least one training waveform")
        self.scaling = audio.Scaling.fit(audio.log_magnitude(spectrogram, self.settings.log_floor))
        return self

    def encode(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """`[clip, sample]` waveforms (or a list of `[sample]`, any length) to `[clip, *shape]`
        float32 arrays."""
        raise NotImplementedError

    def decode(self, array: np.ndarray, seed: int = 0, n_iter: int = 64) -> np.ndarray:
        """`[clip, *shape]` arrays to `[clip, clip_samples]` float32 waveforms.

        Args:
            seed: seeds Griffin-Lim's initial phase, where it is used.
            n_iter: Griffin-Lim iterations, where it is used.
        """
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Name, settings and fitted statistics as plain JSON data."""
        return {"name": self.name, "settings": to_dict(self.settings),
                "scaling": None if self.scaling is None else self.scaling.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Representation":
        """The representation `to_dict` described, of the class its name gives.

        Raises:
            DataError: the data is damaged, names an unknown representation, or
                names one that is not a `cls`.
        """
        try:
            representation = get_representation(data["name"], **data["settings"])
            if data["scaling"] is not None:
                representation._set_scaling(audio.Scaling.from_dict(data["scaling"]))
        except (KeyError, TypeError, ValueError) as error:  # UsageError is a ValueError
            raise DataError(f"damaged representation settings ({type(error).__name__}: "
                            f"{error})") from None
        if not isinstance(representation, cls):
            raise DataError(f"the settings describe a {representation.name} representation, "
                            f"not a {cls.__name__}")
        return representation

    def __repr__(self) -> str:
        fitted = "fitted" if self.is_fitted else "not fitted"
        return f"{type(self).__name__}({self.settings}, {fitted})"

    # What the instances share.

    def _set_scaling(self, scaling: audio.Scaling) -> None:
        """Use `scaling`, after checking it has one statistic per frequency bin."""
        n_freq = self.settings.n_freq
        if scaling.mean.shape != (n_freq,) or scaling.std.shape != (n_freq,):
            raise ValueError(f"scaling of {scaling.mean.shape} / {scaling.std.shape} values "
                             f"does not fit {n_freq} frequency bins")
        self.scaling = scaling

    def _spectrogram(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """`[clip, freq, frame]` complex64 STFTs of the waveforms, each fitted to `clip_samples`."""
        if isinstance(waveforms, np.ndarray) and waveforms.ndim != 2:
            raise UsageError(f"{self.name}: waveforms must be [clip, sample], "
                             f"not of shape {waveforms.shape}")
        length = self.settings.clip_samples
        batch = np.zeros((len(waveforms), length), np.float32)
        for clip, waveform in enumerate(waveforms):
            batch[clip] = audio.fit_length(np.asarray(waveform, np.float32), length)
        return audio.stft(batch, self.settings.n_fft, self.settings.hop_length)

    def _scaled_log_magnitude(self, spectrogram: np.ndarray) -> np.ndarray:
        """`[..., freq, frame]` STFTs to standardised log-magnitudes, float32."""
        self._check_fitted()
        return self.scaling.apply(audio.log_magnitude(spectrogram, self.settings.log_floor))

    def _magnitude(self, scaled: np.ndarray) -> np.ndarray:
        """Standardised `[..., freq, frame]` log-magnitudes to linear STFT magnitudes."""
        self._check_fitted()
        return np.exp(self.scaling.invert(scaled))

    def _check_fitted(self) -> None:
        if self.scaling is None:
            raise UsageError(f"{self.name} has no scaling statistics yet: call "
                             "fit(train_waveforms), or rebuild it with from_dict")

    def _check_array(self, array: np.ndarray) -> np.ndarray:
        """`array` as float32 if it is `[clip, *shape]`; else a UsageError naming both shapes."""
        array = np.asarray(array)
        if array.shape[1:] != self.shape or array.ndim != len(self.shape) + 1:
            raise UsageError(f"{self.name} decodes arrays of shape [clip, "
                             f"{', '.join(map(str, self.shape))}], not {list(array.shape)}")
        return array.astype(np.float32, copy=False)


class LogMagnitude(Representation):
    """Today's features: the standardised log-magnitude STFT, one channel, by Griffin-Lim.

    The channel holds `(log(max(|STFT|, log_floor)) - mean) / std`, with
    `mean` and `std` per frequency bin from the training split: the same
    numbers as `Featurizer.encode` for the same settings and scaling.
    """

    name = "log-magnitude"
    channels = 1

    def encode(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """`[clip, sample]` waveforms to `[clip, freq, frame, 1]` float32."""
        return self._scaled_log_magnitude(self._spectrogram(waveforms))[..., None]

    def decode(self, array: np.ndarray, seed: int = 0, n_iter: int = 64) -> np.ndarray:
        """`[clip, freq, frame, 1]` to `[clip, clip_samples]` waveforms by fast Griffin-Lim
        (as `Featurizer.decode`), its initial phase seeded by `seed`."""
        magnitude = self._magnitude(self._check_array(array)[..., 0])
        return audio.griffin_lim(magnitude, self.settings.hop_length, self.settings.clip_samples,
                                 n_iter=n_iter, seed=seed)


class MagnitudePhase(Representation):
    """The standardised log-magnitude and the STFT phase, two channels.

    Channel 0 is `LogMagnitude`'s; channel 1 is the phase in radians divided
    by pi, in [-1, 1]. Decoding with its own phase is the inverse STFT, exact
    up to float error (and the log floor, which lifts silence to `log_floor`).
    """

    name = "magnitude-phase"
    settings_class = MagnitudePhaseSettings
    channels = 2

    def encode(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """`[clip, sample]` waveforms to `[clip, freq, frame, 2]` float32."""
        spectrogram = self._spectrogram(waveforms)
        phase = (np.angle(spectrogram) / np.pi).astype(np.float32)
        return np.stack([self._scaled_log_magnitude(spectrogram), phase], axis=-1)

    def decode(self, array: np.ndarray, seed: int = 0, n_iter: int = 64,
               phase: str | None = None) -> np.ndarray:
        """`[clip, freq, frame, 2]` to `[clip, clip_samples]` waveforms.

        Args:
            seed, n_iter: Griffin-Lim's, used only when `phase` is "griffin-lim".
            phase: "own" (the phase channel, by the inverse STFT) or
                "griffin-lim" (the magnitude alone); None: `settings.decode_phase`.
        """
        phase = self.settings.decode_phase if phase is None else phase
        if phase not in DECODE_PHASES:
            raise UsageError(f"{self.name}: phase={phase!r} must be one of {list(DECODE_PHASES)}")
        array = self._check_array(array)
        magnitude = self._magnitude(array[..., 0])
        hop_length, length = self.settings.hop_length, self.settings.clip_samples
        if phase == "griffin-lim":
            return audio.griffin_lim(magnitude, hop_length, length, n_iter=n_iter, seed=seed)
        angles = np.exp(1j * np.pi * array[..., 1]).astype(np.complex64)
        return audio.inverse_stft(magnitude * angles, hop_length, length)


REPRESENTATIONS: dict[str, type[Representation]] = {
    representation.name: representation for representation in (LogMagnitude, MagnitudePhase)}


def get_representation(name: str, **settings: Any) -> Representation:
    """An unfitted representation by its name, with `settings` as its settings class takes
    them (`sample_rate`, `n_fft`, `hop_length`, `clip_samples`, `log_floor`, ...).

    Raises:
        UsageError: an unknown name, an unknown setting, or a value of the wrong
            type or out of range.
    """
    if name not in REPRESENTATIONS:
        raise UsageError(f"unknown representation {name!r}; valid ones are "
                         f"{sorted(REPRESENTATIONS)}")
    representation = REPRESENTATIONS[name]
    missing = [field.name for field in dataclasses.fields(representation.settings_class)
               if field.default is dataclasses.MISSING and field.name not in settings]
    if missing:
        raise UsageError(f"{name} needs the setting(s) {missing}")
    return representation(from_dict(representation.settings_class, settings))
