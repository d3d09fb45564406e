"""Representations: how a waveform becomes the array a model sees, and back.

A representation holds its settings (the STFT and the clip length) and, once
`fit` has seen the training split, its scaling statistics. `encode` turns
`[clip, sample]` waveforms into a `[clip, *shape]` float32 array, `decode`
turns such an array back into waveforms, and `to_dict` / `from_dict` carry
both settings and statistics as plain JSON data, so a saved model can always
make and invert its arrays again.

2-D representations are channels-last, `[clip, freq, frame, channel]`:

- `log-magnitude`: one channel, the standardised log-magnitude (a feature
  set's own arrays: `Featurizer.representation`), decoded by Griffin-Lim.
- `magnitude-phase`: two channels, the standardised log-magnitude and the
  phase / pi in [-1, 1], decoded by the inverse STFT with its own phase (or by
  Griffin-Lim on the magnitude alone, for comparison).
- `magnitude-if`: the standardised log-magnitude and the instantaneous
  frequency (GANSynth, Engel et al. 2019): the phase unwrapped along time, its
  frame-to-frame differences / pi, in [-1, 1]; decoded by summing them back to
  the phase, then the inverse STFT.
- `log-mel`: one channel, the standardised log of a mel-filtered magnitude
  (`n_mels` bands); decoded by the filters' pseudo-inverse (numpy), then
  Griffin-Lim.

The raw waveform is `[clip, sample, 1]`:

- `waveform`: the clip, padded with silence to the next power of two of
  samples (8192 for 0.76 s at 8 kHz), as WaveGAN's strided layers need;
  decoded by cutting the padding off.

Every representation can also be made from a feature set's own arrays (its
standardised log-magnitudes and phases, `encode_features`), so all of them
train on one set of clips with one split, and `log_magnitude` turns any of
them back into standardised log-magnitudes to look at.

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
from .audio import StftSettings
from .config import check_settings, from_dict, to_dict
from .errors import DataError, UsageError

if TYPE_CHECKING:
    from .features import FeatureConfig, FeatureSet

DECODE_PHASES = ("own", "griffin-lim")
# At 8 kHz and n_fft 256 each of 64 bands spans two STFT bins or more and the filters keep
# full rank, which the pseudo-inverse needs; from about 76 bands some span one and rank is lost.
DEFAULT_MELS = 64


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


@dataclass(frozen=True)
class LogMelSettings(StftSettings):
    """`StftSettings`, plus the mel bands.

    Attributes:
        n_mels: triangular bands from 0 Hz to Nyquist (`audio.mel_filterbank`).
    """

    n_mels: int = DEFAULT_MELS

    def __post_init__(self) -> None:
        super().__post_init__()
        check_settings("representation settings", [
            (1 <= self.n_mels < self.n_freq,
             f"n_mels={self.n_mels} must be 1 to {self.n_freq - 1}, fewer than the STFT's "
             "frequency bins")])


class Representation:
    """Waveforms to a model's arrays and back; subclasses are the instances.

    Usage: `get_representation(name, **settings).fit(train_waveforms)`, then
    `encode` / `decode`; `to_dict()` is what a saved model carries and
    `Representation.from_dict` rebuilds it.

    Attributes:
        settings: the representation's settings (a frozen dataclass).
        scaling: per-frequency statistics of the training split's
            log-magnitudes, or None until `fit` (or `from_dict`) sets them.
        needs_phase: whether `encode_features` needs the feature set's phase.
    """

    name: ClassVar[str]
    settings_class: ClassVar[type[StftSettings]] = StftSettings
    channels: ClassVar[int]
    needs_phase: ClassVar[bool] = True

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
        return cls(cls.settings_class(**dataclasses.asdict(config.stft), **settings), scaling)

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
        self._fit_own(np.abs(spectrogram))
        return self

    def fit_features(self, log_magnitude: np.ndarray) -> "Representation":
        """Fit the statistics a representation has beyond the log-magnitude scaling (which
        it keeps) from a feature set's `[clip, freq, frame]` standardised log-magnitudes of
        the training split: what `fit` gives, without the waveforms. Returns self."""
        if len(log_magnitude) == 0:
            raise UsageError(f"{self.name}: fit_features needs at least one training clip")
        self._fit_own(self.magnitude(log_magnitude))
        return self

    def encode(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """`[clip, sample]` waveforms (or a list of `[sample]`, any length) to `[clip, *shape]`
        float32 arrays."""
        return self.encode_spectrogram(self._spectrogram(waveforms))

    def encode_spectrogram(self, spectrogram: np.ndarray) -> np.ndarray:
        """`[clip, freq, frame]` complex STFTs to `[clip, *shape]` float32 arrays."""
        raise NotImplementedError

    def encode_features(self, log_magnitude: np.ndarray, phase: np.ndarray | None) -> np.ndarray:
        """`[clip, *shape]` arrays of a feature set's own arrays: `[clip, freq, frame]`
        log-magnitudes standardised by this representation's scaling, and the phases in
        radians (None where `needs_phase` is False). What `encode` gives the clips, up to
        the log floor.

        Raises:
            UsageError: the representation needs the phase and there is none.
        """
        if phase is None and self.needs_phase:
            raise UsageError(f"{self.name} needs the STFT phase of the clips: make the feature "
                             "set again with codes/features.py --phase (the name stays the same)")
        magnitude = self.magnitude(log_magnitude)
        return self.encode_spectrogram(magnitude if phase is None else
                                       magnitude * np.exp(1j * phase).astype(np.complex64))

    def decode(self, array: np.ndarray, seed: int = 0, n_iter: int = 64) -> np.ndarray:
        """`[clip, *shape]` arrays to `[clip, clip_samples]` float32 waveforms.

        Args:
            seed: seeds Griffin-Lim's initial phase, where it is used.
            n_iter: Griffin-Lim iterations, where it is used.
        """
        raise NotImplementedError

    def round_trip(self, log_magnitude: np.ndarray, phase: np.ndarray | None, seed: int = 0,
                   n_iter: int = 64) -> np.ndarray:
        """`[clip, clip_samples]` waveforms of a feature set's clips encoded (`encode_features`)
        and decoded (`decode`): what a perfect model of this representation would sound like."""
        return self.decode(self.encode_features(log_magnitude, phase), seed=seed, n_iter=n_iter)

    def log_magnitude(self, array: np.ndarray) -> np.ndarray:
        """`[clip, *shape]` arrays to `[clip, freq, frame]` log-magnitudes standardised by
        the scaling, as a feature set holds them: what the array says the clip's STFT
        magnitude is, to look at and compare."""
        return self._check_array(array)[..., 0]

    def magnitude(self, scaled: np.ndarray) -> np.ndarray:
        """Standardised `[..., freq, frame]` log-magnitudes to linear STFT magnitudes, none
        louder than a bin of a clip in [-1, 1] can be (the window's sum, n_fft / 2): a latent
        drawn far out (a high temperature) would otherwise overflow into infinities."""
        self._check_fitted(scaling_only=True)
        loudest = math.log(self.settings.n_fft / 2)
        return np.exp(np.minimum(self.scaling.invert(scaled), loudest))

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
            representation._set_statistics(data)
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

    def _fit_own(self, magnitude: np.ndarray) -> None:
        """Fit statistics of the representation's own from `[clip, freq, frame]` linear
        magnitudes of the training split; none by default."""

    def _set_statistics(self, data: dict[str, Any]) -> None:
        """Use the statistics that `to_dict` wrote into `data` (None: not fitted)."""
        if data["scaling"] is not None:
            self._set_scaling(audio.Scaling.from_dict(data["scaling"]))

    def _set_scaling(self, scaling: audio.Scaling) -> None:
        """Use `scaling`, after checking it has one statistic per frequency bin."""
        self.scaling = _fitting(scaling, self.settings.n_freq, "scaling", "frequency bins")

    def _spectrogram(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """`[clip, freq, frame]` complex64 STFTs of the waveforms, each fitted to `clip_samples`."""
        return audio.stft(self._clips(waveforms), self.settings.n_fft, self.settings.hop_length)

    def _clips(self, waveforms: np.ndarray | Sequence[np.ndarray], samples: int | None = None
               ) -> np.ndarray:
        """`[clip, samples]` float32: each waveform cut or padded to `clip_samples`, then
        padded with silence to `samples` (default: `clip_samples`)."""
        if isinstance(waveforms, np.ndarray) and waveforms.ndim != 2:
            raise UsageError(f"{self.name}: waveforms must be [clip, sample], "
                             f"not of shape {waveforms.shape}")
        length = self.settings.clip_samples
        batch = np.zeros((len(waveforms), samples or length), np.float32)
        for clip, waveform in enumerate(waveforms):
            batch[clip, :length] = audio.fit_length(np.asarray(waveform, np.float32), length)
        return batch

    def _scaled_log_magnitude(self, spectrogram: np.ndarray) -> np.ndarray:
        """`[..., freq, frame]` STFTs to standardised log-magnitudes, float32."""
        self._check_fitted(scaling_only=True)
        return self.scaling.apply(audio.log_magnitude(spectrogram, self.settings.log_floor))

    def _check_fitted(self, scaling_only: bool = False) -> None:
        """Raises UsageError unless every statistic (or the log-magnitude scaling) is set."""
        if self.scaling is None or not (scaling_only or self.is_fitted):
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
    """A feature set's features: the standardised log-magnitude STFT, one channel, by
    Griffin-Lim.

    The channel holds `(log(max(|STFT|, log_floor)) - mean) / std`, with
    `mean` and `std` per frequency bin from the training split. Made with a
    feature set's settings and scaling (`Featurizer.representation`), it is how
    the project analyses any clip: the judge, the plots and the evaluation
    read `features`, and `waveforms` turns features back into sound.
    """

    name = "log-magnitude"
    channels = 1
    needs_phase = False

    def encode_spectrogram(self, spectrogram: np.ndarray) -> np.ndarray:
        """`[clip, freq, frame]` STFTs to `[clip, freq, frame, 1]` float32."""
        return self._scaled_log_magnitude(spectrogram)[..., None]

    def encode_features(self, log_magnitude: np.ndarray, phase: np.ndarray | None) -> np.ndarray:
        return np.asarray(log_magnitude, np.float32)[..., None]

    def decode(self, array: np.ndarray, seed: int = 0, n_iter: int = 64) -> np.ndarray:
        """`[clip, freq, frame, 1]` to `[clip, clip_samples]` waveforms by fast Griffin-Lim,
        its initial phase seeded by `seed`."""
        magnitude = self.magnitude(self._check_array(array)[..., 0])
        return audio.griffin_lim(magnitude, self.settings.hop_length, self.settings.clip_samples,
                                 n_iter=n_iter, seed=seed)

    def features(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """`[clip, freq, frame]` float32: waveforms as a feature set holds its clips (`encode`
        without the channel axis), which is what the judge and the plots read."""
        return self.encode(waveforms)[..., 0]

    def waveforms(self, features: np.ndarray, seed: int = 0, n_iter: int = 64) -> np.ndarray:
        """`[clip, clip_samples]` waveforms of `[clip, freq, frame]` features (`decode`)."""
        return self.decode(np.asarray(features)[..., None], seed=seed, n_iter=n_iter)

    def with_phase(self) -> MagnitudePhase:
        """The `MagnitudePhase` of these settings and scaling: these arrays with a phase
        channel beside, decoded by the inverse STFT with that phase (a pitch model's source,
        `harmonics.voice`)."""
        return MagnitudePhase.from_dict({**self.to_dict(), "name": MagnitudePhase.name})


class MagnitudePhase(Representation):
    """The standardised log-magnitude and the STFT phase, two channels.

    Channel 0 is `LogMagnitude`'s; channel 1 is the phase in radians divided
    by pi, in [-1, 1]. Decoding with its own phase is the inverse STFT, exact
    up to float error (and the log floor, which lifts silence to `log_floor`).
    """

    name = "magnitude-phase"
    settings_class = MagnitudePhaseSettings
    channels = 2

    def encode_spectrogram(self, spectrogram: np.ndarray) -> np.ndarray:
        """`[clip, freq, frame]` STFTs to `[clip, freq, frame, 2]` float32."""
        return np.stack([self._scaled_log_magnitude(spectrogram),
                         self._phase_channel(np.angle(spectrogram))], axis=-1)

    def encode_features(self, log_magnitude: np.ndarray, phase: np.ndarray | None) -> np.ndarray:
        if phase is None:
            return super().encode_features(log_magnitude, phase)  # which says what is missing
        return np.stack([np.asarray(log_magnitude, np.float32), self._phase_channel(phase)],
                        axis=-1)

    @staticmethod
    def _phase_channel(phase: np.ndarray) -> np.ndarray:
        """`[..., freq, frame]` phases in radians to the second channel: phase / pi."""
        return (phase / np.pi).astype(np.float32)

    @staticmethod
    def _phase(channel: np.ndarray) -> np.ndarray:
        """The second channel back to phases in radians."""
        return np.pi * channel

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
        magnitude = self.magnitude(array[..., 0])
        hop_length, length = self.settings.hop_length, self.settings.clip_samples
        if phase == "griffin-lim":
            return audio.griffin_lim(magnitude, hop_length, length, n_iter=n_iter, seed=seed)
        angles = np.exp(1j * self._phase(array[..., 1])).astype(np.complex64)
        return audio.inverse_stft(magnitude * angles, hop_length, length)


class MagnitudeIF(MagnitudePhase):
    """The standardised log-magnitude and the instantaneous frequency, two channels.

    Channel 1 is GANSynth's instantaneous frequency: the phase unwrapped along
    time, then its difference from one frame to the next, / pi (the first frame
    keeps its phase / pi). Unwrapping leaves every difference within [-pi, pi],
    so the channel lies in [-1, 1]; its cumulative sum is the phase again, and
    decoding with it is exact as for `magnitude-phase`. A steady partial has a
    steady instantaneous frequency where its phase turns round and round: a
    smoother image for a generator than the phase itself.
    """

    name = "magnitude-if"

    @staticmethod
    def _phase_channel(phase: np.ndarray) -> np.ndarray:
        unwrapped = np.unwrap(phase, axis=-1)
        return (np.diff(unwrapped, axis=-1, prepend=0.0) / np.pi).astype(np.float32)

    @staticmethod
    def _phase(channel: np.ndarray) -> np.ndarray:
        return np.pi * np.cumsum(channel, axis=-1, dtype=np.float64)


class LogMel(Representation):
    """The standardised log of a mel-filtered STFT magnitude, one channel, `n_mels` bands.

    The channel holds `(log(max(F |STFT|, F log_floor)) - mean) / std` for the
    triangular filters F (`audio.mel_filterbank`), with `mean` and `std` per
    band from the training split (`mel_scaling`): each band's floor is what the
    STFT's floor becomes through the filters (their area normalisation makes it
    about 30 times lower), so silence stays as quiet as in the STFT. Decoding
    takes the filters' pseudo-inverse (numpy's, negative values set to the floor), then
    Griffin-Lim: the bands above 1 kHz are wider than the STFT's bins, so some
    detail is lost for good; the representation's ceiling row measures how much.

    Attributes:
        mel_scaling: per-band statistics of the training split's log-mels, or None.
    """

    name = "log-mel"
    settings_class = LogMelSettings
    channels = 1
    needs_phase = False

    def __init__(self, settings: LogMelSettings, scaling: audio.Scaling | None = None,
                 mel_scaling: audio.Scaling | None = None) -> None:
        super().__init__(settings, scaling)
        self.mel_scaling = None
        self.filters = audio.mel_filterbank(settings.sample_rate, settings.n_fft, settings.n_mels)
        self.inverse_filters = np.linalg.pinv(self.filters).astype(np.float32)
        self.mel_floor = (self.filters.sum(axis=1) * settings.log_floor)[:, None].astype(np.float32)
        if mel_scaling is not None:
            self._set_mel_scaling(mel_scaling)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.settings.n_mels, self.settings.n_frames, 1)

    @property
    def is_fitted(self) -> bool:
        return self.scaling is not None and self.mel_scaling is not None

    def encode_spectrogram(self, spectrogram: np.ndarray) -> np.ndarray:
        """`[clip, freq, frame]` STFTs to `[clip, mel, frame, 1]` float32."""
        self._check_fitted()
        return self.mel_scaling.apply(self._log_mel(np.abs(spectrogram)))[..., None]

    def decode(self, array: np.ndarray, seed: int = 0, n_iter: int = 64) -> np.ndarray:
        """`[clip, mel, frame, 1]` to `[clip, clip_samples]` waveforms: the pseudo-inverse
        of the filters, then fast Griffin-Lim seeded by `seed`."""
        return audio.griffin_lim(self._linear(array), self.settings.hop_length,
                                 self.settings.clip_samples, n_iter=n_iter, seed=seed)

    def log_magnitude(self, array: np.ndarray) -> np.ndarray:
        return self.scaling.apply(np.log(self._linear(array)))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "mel_scaling":
                None if self.mel_scaling is None else self.mel_scaling.to_dict()}

    def _set_statistics(self, data: dict[str, Any]) -> None:
        super()._set_statistics(data)
        if data["mel_scaling"] is not None:
            self._set_mel_scaling(audio.Scaling.from_dict(data["mel_scaling"]))

    def _fit_own(self, magnitude: np.ndarray) -> None:
        self.mel_scaling = audio.Scaling.fit(self._log_mel(magnitude))

    def _log_mel(self, magnitude: np.ndarray) -> np.ndarray:
        """`[..., freq, frame]` linear magnitudes to `[..., mel, frame]` float32 log-mels."""
        mel = np.matmul(self.filters, magnitude.astype(np.float32, copy=False))
        return np.log(np.maximum(mel, self.mel_floor, out=mel), out=mel)

    def _linear(self, array: np.ndarray) -> np.ndarray:
        """`[clip, mel, frame, 1]` arrays to `[clip, freq, frame]` linear magnitudes, at
        least the log floor."""
        self._check_fitted()
        mel = np.exp(self.mel_scaling.invert(self._check_array(array)[..., 0]))
        return np.maximum(np.matmul(self.inverse_filters, mel), self.settings.log_floor)

    def _set_mel_scaling(self, scaling: audio.Scaling) -> None:
        self.mel_scaling = _fitting(scaling, self.settings.n_mels, "mel scaling", "mel bands")


class Waveform(Representation):
    """The waveform itself, `[clip, sample, 1]`, padded with silence to `padded_samples`.

    WaveGAN's stride-4 layers make lengths of a power of two, so the clip is
    padded to the next one (8192 samples for FSDD's 6080) and decoding cuts it
    back to `clip_samples`. The STFT settings and scaling serve `log_magnitude`
    and `encode_features` (by the inverse STFT, exact up to the log floor).
    """

    name = "waveform"
    channels = 1

    @property
    def padded_samples(self) -> int:
        """The clip length the model makes: the power of two at or above `clip_samples`."""
        return 2 ** math.ceil(math.log2(self.settings.clip_samples))

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.padded_samples, 1)

    def encode(self, waveforms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """`[clip, sample]` waveforms (any length) to `[clip, padded_samples, 1]` float32."""
        return self._clips(waveforms, self.padded_samples)[..., None]

    def encode_spectrogram(self, spectrogram: np.ndarray) -> np.ndarray:
        """`[clip, freq, frame]` STFTs to `[clip, padded_samples, 1]`, by the inverse STFT."""
        return self.encode(audio.inverse_stft(spectrogram, self.settings.hop_length,
                                              self.settings.clip_samples))

    def decode(self, array: np.ndarray, seed: int = 0, n_iter: int = 64) -> np.ndarray:
        """`[clip, padded_samples, 1]` to `[clip, clip_samples]` waveforms (`seed` and
        `n_iter` are unused: nothing is estimated)."""
        return np.ascontiguousarray(self._check_array(array)[:, :self.settings.clip_samples, 0])

    def log_magnitude(self, array: np.ndarray) -> np.ndarray:
        return self._scaled_log_magnitude(audio.stft(self.decode(array), self.settings.n_fft,
                                                     self.settings.hop_length))


def _fitting(scaling: audio.Scaling, size: int, what: str, rows: str) -> audio.Scaling:
    """`scaling` if it holds `size` statistics of each kind; else a ValueError naming both."""
    if scaling.mean.shape != (size,) or scaling.std.shape != (size,):
        raise ValueError(f"{what} of {scaling.mean.shape} / {scaling.std.shape} values does not "
                         f"fit {size} {rows}")
    return scaling


REPRESENTATIONS: dict[str, type[Representation]] = {
    representation.name: representation
    for representation in (LogMagnitude, MagnitudePhase, MagnitudeIF, LogMel, Waveform)}


def representation_class(name: str) -> type[Representation]:
    """The class of representation `name`; a UsageError names the valid ones."""
    if name not in REPRESENTATIONS:
        raise UsageError(f"unknown representation {name!r}; valid ones are "
                         f"{sorted(REPRESENTATIONS)}")
    return REPRESENTATIONS[name]


def get_representation(name: str, **settings: Any) -> Representation:
    """An unfitted representation by its name, with `settings` as its settings class takes
    them (`sample_rate`, `n_fft`, `hop_length`, `clip_samples`, `log_floor`, ...).

    Raises:
        UsageError: an unknown name, an unknown setting, or a value of the wrong
            type or out of range.
    """
    representation = representation_class(name)
    missing = [field.name for field in dataclasses.fields(representation.settings_class)
               if field.default is dataclasses.MISSING and field.name not in settings]
    if missing:
        raise UsageError(f"{name} needs the setting(s) {missing}")
    return representation(from_dict(representation.settings_class, settings))


def for_feature_set(name: str, feature_set: FeatureSet) -> Representation:
    """The representation `name` with the feature set's STFT and scaling, and its own
    statistics (if any) fitted on the training split alone: what a run trained on the set
    decodes with (`ModelConfig.decoded_representation`)."""
    featurizer = feature_set.featurizer
    representation = representation_class(name).from_feature_config(featurizer.config,
                                                                     featurizer.scaling)
    return representation.fit_features(feature_set.features[~feature_set.is_test])
