"""The harmonics a VAE's decoder blurs away, drawn back from a pitch contour.

`benchmarks/naturalness_probe.py` found where a VAE's spectrograms lose their
naturalness: in the fine detail across frequency (the spectrogram less its
blur of `DETAIL_BINS` bins) of the loud frames, which is the comb of a voice's
harmonics. Added back to the reconstructions from the real clips, it restores
the outside listeners' naturalness almost to the real clips'. A voice's comb
follows from its pitch: a pitch model (`models.pitch`) predicts each frame's
f0 and voicing from the decoder's spectrogram, and `voice` adds the comb of a
harmonic excitation at that f0 (every harmonic alike, as a glottal source
before the vocal tract) to the voiced, loud frames, scaled in each frequency
bin by how much of real clips' detail the comb explains there
(`fitted_strength`): most at the low harmonics, hardly at all near 4 kHz. The
clip is spoken with the phase of that source, harmonic and noise, through the
envelope's minimum phase (`filter_phase`), as a source-filter vocoder speaks, rather
than by Griffin-Lim (`source_phase`). That phase makes most of the comb itself, so the
strengths are scaled down to what the spoken clips lack (`spoken_strength`),
and what they still lack of the recordings' detail is drawn as a breath of
noise's detail (`fitted_breath`).

numpy (and `audio`'s STFT) only: inference uses it. `f0_contours` (librosa's pYIN) is
training's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import audio

DETAIL_BINS = 1.5      # the frequency blur whose residual is the fine detail
QUIET_DB = 30.0        # a frame this far below its clip's loudest has no voice to add
F0_RANGE = (60.0, 400.0)   # the voices pYIN looks for, Hz
F0_REFERENCE = 150.0   # the pitch model predicts log2(f0 / F0_REFERENCE)
VOICED = 0.5           # voicing probability from which a frame is voiced, unless fitted
PYIN_SECONDS = 0.064   # pYIN's frame, rounded to a power of two samples (512 at 8 kHz)
# pYIN's prior over YIN's threshold (librosa's `beta_parameters`; its default is (2, 18)).
# Under the default it voiced 0.43 of the loud frames of FSDD's training clips and under a
# tenth of 38% of the clips (0.15 of one speaker's frames), though every digit has a vowel;
# under (2, 4) it voices 0.81, as an autocorrelation detector at Praat's voicing threshold
# does (0.80, and within 0.02 for each speaker): `benchmarks/pyin_voicing.py`.
PYIN_PRIOR = (2, 4)


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """`[n, n]` the Gaussian smoothing of `sigma` steps (truncated at 4 sigma, edges
    mirrored: scipy.ndimage's `gaussian_filter1d`) as a matrix, row per output."""
    radius = int(4 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    source = np.arange(n)[:, None] + offsets[None, :]          # [output, tap]
    for _ in range(2):  # mirrored edges, twice for kernels wider than the axis
        source = np.where(source < 0, -source - 1, source)
        source = np.where(source >= n, 2 * n - source - 1, source)
    matrix = np.zeros((n, n))
    np.add.at(matrix, (np.repeat(np.arange(n), len(offsets)), source.ravel()),
              np.tile(kernel / kernel.sum(), n))
    return matrix.astype(np.float32)


def blur_over_frequency(arrays: np.ndarray, sigma: float = DETAIL_BINS) -> np.ndarray:
    """`[..., freq, frame]` arrays smoothed across frequency by a Gaussian of `sigma` bins."""
    return np.einsum("fg,...gt->...ft", _gaussian_matrix(arrays.shape[-2], sigma),
                     np.asarray(arrays, np.float32))


def fine_detail(arrays: np.ndarray) -> np.ndarray:
    """`[..., freq, frame]` arrays less their blur across frequency (`DETAIL_BINS`)."""
    return arrays - blur_over_frequency(arrays)


def loud_frames(log_magnitudes: np.ndarray) -> np.ndarray:
    """`[clip, 1, frame]` weights, 1 on frames within `QUIET_DB` of the clip's loudest
    (power summed over bins), 0 below, eased between by `_eased`."""
    power = np.log(np.exp(2 * np.asarray(log_magnitudes, np.float64)).sum(axis=-2))
    loud = power >= power.max(axis=-1, keepdims=True) - QUIET_DB / 10 * math.log(10)
    return _eased(loud)[:, None, :]


def loud_mask(features: np.ndarray, representation: Any) -> np.ndarray:
    """`[clip, frame]` True on the loud frames (`loud_frames`) of `[clip, freq, frame]`
    features in the representation's scaling."""
    return loud_frames(representation.scaling.invert(features))[:, 0] > 0.5


def _eased(mask: np.ndarray) -> np.ndarray:
    """`[clip, frame]` 0/1 mask smoothed over frames by a Gaussian of one frame."""
    return np.asarray(mask, np.float32) @ _gaussian_matrix(mask.shape[-1], 1.0).T


def excitation(f0: np.ndarray, sample_rate: int, hop_length: int, samples: int) -> np.ndarray:
    """`[clip, samples]` unit-power harmonic sources: every harmonic of `[clip, frame]` f0
    (Hz; 0 where unvoiced, bridged by its neighbours) below 95% of Nyquist, in phase.

    The sum of cos(k phase) over harmonics k = 1..K is summed in closed form (the Dirichlet
    kernel, sin((K + 1/2) phase) / (2 sin(phase / 2)) - 1/2), K following the pitch."""
    f0 = np.asarray(f0, np.float64)
    if not len(f0):
        return np.zeros((0, samples), np.float32)
    frames = np.arange(f0.shape[-1]) * hop_length
    pitch = np.stack([np.interp(np.arange(samples), frames,
                                np.interp(frames, frames[contour > 0], contour[contour > 0])
                                if (contour > 0).any() else np.full(len(contour), F0_REFERENCE))
                      for contour in f0])
    phase = np.mod(2 * np.pi * np.cumsum(pitch, axis=-1) / sample_rate, 2 * np.pi)
    harmonics = np.floor(0.95 * sample_rate / 2 / pitch)
    half = np.sin(phase / 2)
    near = np.abs(half) < 1e-6  # at phase 0 every cosine is 1
    sources = np.where(near, harmonics, np.sin((harmonics + 0.5) * phase) /
                       (2 * np.where(near, 1.0, half)) - 0.5)
    power = np.sqrt(np.mean(sources**2, axis=-1, keepdims=True))
    return (sources / np.maximum(power, 1e-9)).astype(np.float32)


def comb(f0: np.ndarray, representation: Any) -> np.ndarray:
    """`[clip, freq, frame]` fine detail (in the representation's scaled log-magnitude) of
    the harmonic excitation at `[clip, frame]` f0."""
    return _comb_of(_excitation_of(f0, representation), representation)


def _excitation_of(f0: np.ndarray, representation: Any) -> np.ndarray:
    """`excitation` of `[clip, frame]` f0 at the representation's rate, hop and length."""
    settings = representation.settings
    return excitation(f0, settings.sample_rate, settings.hop_length, settings.clip_samples)


def _comb_of(sources: np.ndarray, representation: Any) -> np.ndarray:
    """`[clip, freq, frame]` fine detail of `[clip, sample]` harmonic sources (`comb`)."""
    return fine_detail(representation.features(sources))


def breath_detail(noise: np.ndarray, representation: Any) -> np.ndarray:
    """`[clip, freq, frame]` fine detail of `[clip, sample]` white noise: the texture of a
    breath, which `voice` adds at the spreads `fitted_breath` gives."""
    return fine_detail(representation.features(np.asarray(noise, np.float32)))


def voice(arrays: np.ndarray, f0: np.ndarray, voicing: np.ndarray, representation: Any,
          strength: float | np.ndarray, breath: np.ndarray | None = None,
          noise: np.ndarray | None = None, threshold: float = VOICED,
          smoothing: float = 0.0, filtered: bool = True) -> np.ndarray:
    """`[clip, freq, frame, 1]` arrays with the comb of `[clip, frame]` f0 (Hz) added,
    times `strength` (one number, or one per frequency bin: `fitted_strength`), to the
    frames that are voiced (`voicing` probability from `threshold`: `fitted_threshold`,
    or `VOICED` in checkpoints that predate it) and loud (`loud_frames` of the arrays
    themselves). The f0 is first smoothed over the voiced frames by a Gaussian of
    `smoothing` frames (`smoothed_f0`; `fitted_smoothing`, or none in checkpoints that
    predate it).

    With `breath` (`[2, freq]`, `fitted_breath`), the loud frames also get the detail of
    `[clip, sample]` white `noise` (`breath_detail`), at the first row's spread per bin
    where voiced and the second's where not (the detail the spoken clips lack); and the
    arrays gain a second channel, the phase of that source (`source_phase`) / pi, to be
    decoded with it (`representation.with_phase()`) rather than by Griffin-Lim. With
    `filtered` (false in checkpoints that predate it) that phase is the source's through
    the vocal tract: plus the minimum phase of the arrays' envelope (`filter_phase`)."""
    features, voiced_frames = arrays[..., 0], voicing >= threshold
    voiced = _eased(voiced_frames)[:, None, :]
    loud = loud_frames(representation.scaling.invert(features))
    f0 = smoothed_f0(f0, voiced_frames, smoothing)
    harmonic = _excitation_of(np.where(voiced_frames, f0, 0.0), representation)
    detail = _comb_of(harmonic, representation)
    gain = np.asarray(strength, np.float32)[..., None]  # [freq, 1] or [1]
    voiced_arrays = features + gain * loud * voiced * detail
    if breath is None:
        return voiced_arrays[..., None].astype(np.float32)
    spread = np.asarray(breath, np.float32)[..., None]  # [2, freq, 1]
    voiced_arrays = voiced_arrays + loud * (spread[0] * voiced + spread[1] * (1 - voiced)) * \
        breath_detail(noise, representation)
    phase = source_phase(harmonic, voiced_frames, noise, representation)
    if filtered:
        phase = np.angle(np.exp(1j * (phase + filter_phase(features, representation))))
    return np.stack([voiced_arrays, phase / np.pi], axis=-1).astype(np.float32)


def source_phase(harmonic: np.ndarray, voiced: np.ndarray, noise: np.ndarray,
                 representation: Any) -> np.ndarray:
    """`[clip, freq, frame]` STFT phase (radians) of the source `voice` draws: the
    `[clip, sample]` harmonic excitation (`excitation` of the voiced frames' f0) in the
    `[clip, frame]` voiced frames (true or 1), the breath's `[clip, sample]` white noise
    elsewhere, crossfaded sample by sample over the voicing (eased as `voice` eases it).

    Griffin-Lim, started from a random phase, makes a rough, phasey sound of a comb drawn
    onto a decoder's spectrogram; the phase of the source the comb comes from keeps each
    harmonic's phase running on from frame to frame, as a voice's does."""
    settings = representation.settings
    frames = np.arange(voiced.shape[-1]) * settings.hop_length
    weight = np.stack([np.interp(np.arange(settings.clip_samples), frames, eased)
                       for eased in _eased(np.asarray(voiced, bool))])
    mixed = weight * harmonic + (1 - weight) * np.asarray(noise, np.float32)
    return np.angle(audio.stft(mixed, settings.n_fft, settings.hop_length))


def filter_phase(features: np.ndarray, representation: Any) -> np.ndarray:
    """`[clip, freq, frame]` the minimum phase of `[clip, freq, frame]` features' magnitude
    (the representation's scaled log-magnitudes), from its real cepstrum folded onto
    positive quefrencies: the phase of the one causal, stable filter of that magnitude
    whose inverse is causal and stable too. A source-filter vocoder gives its source the
    vocal tract's phase so; the decoder's smooth spectrogram is that tract's envelope.

    The harmonic source holds every harmonic in phase: each pitch period is one sharp
    pulse, a buzz. Through the envelope's minimum phase each pulse rings and decays, as
    the formants make it do in a voice (`benchmarks/buzz_probe.py`)."""
    log_magnitude = np.asarray(representation.scaling.invert(features), np.float64)
    n_fft = 2 * (log_magnitude.shape[-2] - 1)
    cepstrum = np.fft.irfft(log_magnitude, n=n_fft, axis=-2)[..., :n_fft // 2 + 1, :]
    fold = np.r_[1.0, np.full(n_fft // 2 - 1, 2.0), 1.0][:, None]  # [quefrency, 1]
    return np.imag(np.fft.rfft(cepstrum * fold, n=n_fft, axis=-2))


def pitch_of(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`[clip, frame]` f0 (Hz) and voicing probability of a pitch model's `[clip, frame, 2]`
    outputs (the voicing's logit, log2(f0 / F0_REFERENCE))."""
    voicing = 1 / (1 + np.exp(-np.asarray(outputs[..., 0], np.float64)))
    return F0_REFERENCE * 2.0 ** outputs[..., 1], voicing


def fitted_threshold(voicing: np.ndarray, f0: np.ndarray, loud: np.ndarray) -> float:
    """The voicing probability from which a pitch model voices as many of the `[clip,
    frame]` loud frames (true) as pYIN voices (`[clip, frame]` f0 above 0), given its
    `[clip, frame]` voicing of the same clips (the training clips' reconstructions).

    A network fitted by cross-entropy need not voice, from one half (`VOICED`), as many
    frames as its targets do: the first bundled pitch model voiced 0.77 of the loud
    frames where pYIN voiced 0.69, and a fricative so voiced buzzes with a harmonic
    source (`benchmarks/voicing_share.py` counts the shares)."""
    share = np.mean(f0[loud] > 0) if loud.any() else 0.0
    if share <= 0:
        return 1.0
    return float(np.quantile(np.asarray(voicing, np.float64)[loud], 1 - share))


def smoothed_f0(f0: np.ndarray, voiced: np.ndarray, sigma: float) -> np.ndarray:
    """`[clip, frame]` f0 (Hz) with its log smoothed over the `[clip, frame]` voiced frames
    (true) by a Gaussian of `sigma` frames, each frame's neighbours weighed by whether
    they are voiced (unvoiced frames keep their f0, which `voice` does not use)."""
    f0 = np.asarray(f0, np.float64)
    if sigma <= 0 or not f0.size:
        return f0
    blur = _gaussian_matrix(f0.shape[-1], sigma).T.astype(np.float64)
    weight = np.asarray(voiced, np.float64)
    total = weight @ blur
    smoothed = (weight * np.log2(np.maximum(f0, 1.0))) @ blur / np.maximum(total, 1e-12)
    return np.where((weight > 0) & (total > 1e-12), 2.0 ** smoothed, f0)


def frame_to_frame(f0: np.ndarray, voiced: np.ndarray) -> float:
    """The mean absolute change of log2 f0 from each frame to the next of `[clip, frame]`
    f0 (Hz), over the pairs of frames both voiced (`[clip, frame]` true); 0 where none."""
    pairs = voiced[..., 1:] & voiced[..., :-1]
    steps = np.abs(np.diff(np.log2(np.maximum(np.asarray(f0, np.float64), 1.0)), axis=-1))
    return float(steps[pairs].mean()) if pairs.any() else 0.0


SMOOTHING_STEP = 0.25    # frames: the grid `fitted_smoothing` searches ...
SMOOTHING_MOST = 8.0     # ... up to this


def fitted_smoothing(f0: np.ndarray, voiced: np.ndarray, reference: np.ndarray) -> float:
    """The least smoothing (`smoothed_f0`, frames, on a grid of `SMOOTHING_STEP` up to
    `SMOOTHING_MOST`) at which a pitch model's `[clip, frame]` f0, in its `[clip, frame]`
    voiced frames, moves from frame to frame (`frame_to_frame`) no more than pYIN's
    `[clip, frame]` f0 of the same clips (`reference`, 0 where unvoiced) does.

    A regression fitted frame by frame wavers where pYIN's contour, a Viterbi path, holds
    still: a bundled model's f0 (before `clip_mean`) moved 0.42 semitones a frame on the
    test clips' reconstructions, pYIN's 0.16 (the same at pYIN's resolution of a tenth of
    a semitone), and a harmonic source so wavering warbles. `benchmarks/pitch_contour.py`
    shows both and what the outside listeners hear."""
    target = frame_to_frame(reference, reference > 0)
    for sigma in np.arange(0.0, SMOOTHING_MOST + SMOOTHING_STEP / 2, SMOOTHING_STEP):
        if frame_to_frame(smoothed_f0(f0, voiced, sigma), voiced) <= target:
            return float(sigma)
    return SMOOTHING_MOST


def pyin_frame_length(sample_rate: int) -> int:
    """pYIN's frame in samples: `PYIN_SECONDS` rounded to a power of two."""
    return 2 ** round(math.log2(PYIN_SECONDS * sample_rate))


def f0_contours(waveforms: np.ndarray, sample_rate: int, hop_length: int,
                prior: tuple[float, float] = PYIN_PRIOR) -> np.ndarray:
    """`[clip, frame]` f0 in Hz of `[clip, sample]` waveforms (0 where unvoiced), by pYIN
    (librosa, at half-semitone resolution, `prior` over its threshold), a frame every
    `hop_length` samples, centred as `audio.stft`'s. Training's: imports librosa."""
    import librosa
    from tqdm import tqdm

    contours, frame = [], pyin_frame_length(sample_rate)
    for waveform in tqdm(waveforms, desc="pitch (pYIN)", unit="clip", leave=False):
        f0, voiced, _ = librosa.pyin(np.asarray(waveform, np.float32), fmin=F0_RANGE[0],
                                     fmax=F0_RANGE[1], sr=sample_rate, frame_length=frame,
                                     hop_length=hop_length, resolution=0.5, center=True,
                                     beta_parameters=prior)
        contours.append(np.where(voiced, np.nan_to_num(f0), 0.0))
    return np.asarray(contours, np.float32)


def clips_f0(features: np.ndarray, phase: np.ndarray, representation: Any) -> np.ndarray:
    """`[clip, frame]` pYIN's f0 (Hz, 0 where unvoiced) of clips' waveforms, rebuilt from
    their `[clip, freq, frame]` features and phase, in their loud frames only
    (`loud_frames`): YIN's measure of periodicity ignores level, and hears the inverse
    STFT's faint ripple in silence as a 125 Hz voice. Training's: imports librosa."""
    settings = representation.settings
    f0 = f0_contours(clip_waveforms(features, phase, representation), settings.sample_rate,
                     settings.hop_length)
    return np.where(loud_mask(features, representation), f0, 0.0).astype(np.float32)


def clip_waveforms(features: np.ndarray, phase: np.ndarray, representation: Any) -> np.ndarray:
    """`[clip, sample]` waveforms of clips' `[clip, freq, frame]` features and phase, by
    the inverse STFT."""
    settings = representation.settings
    return audio.inverse_stft(representation.magnitude(features) * np.exp(1j * phase),
                              settings.hop_length, settings.clip_samples)


def voiced_and_loud(features: np.ndarray, f0: np.ndarray, representation: Any) -> np.ndarray:
    """`[clip, freq, frame]` True in the frames of `[clip, freq, frame]` features that are
    voiced (`[clip, frame]` f0 above 0) and loud (`loud_frames`): where a comb is added."""
    chosen = loud_mask(features, representation) & (f0 > 0)
    return np.broadcast_to(chosen[:, None, :], features.shape)


def fitted_strength(features: np.ndarray, f0: np.ndarray, representation: Any) -> np.ndarray:
    """`[freq]` strengths: in each frequency bin, the least-squares gain that takes the comb
    of real clips' f0 nearest to those clips' own fine detail, over their voiced, loud frames
    (`[clip, freq, frame]` features, `[clip, frame]` f0; never below 0).

    The comb explains the detail of the low harmonics (a gain near the ratio of their
    spreads) and less and less of it above: a harmonic's frequency is k times f0, so a
    small error of f0, or the jitter within a frame, moves the k-th harmonic k times as
    far, and the recordings' upper detail is breath more than harmonics. A comb at one
    strength everywhere adds a buzz there that the recordings lack."""
    chosen = voiced_and_loud(features, f0, representation)
    combs = np.where(chosen, comb(f0, representation), 0.0)
    covariance = (fine_detail(features) * combs).sum(axis=(0, 2), dtype=np.float64)
    power = (combs**2).sum(axis=(0, 2), dtype=np.float64)
    return np.clip(covariance / np.maximum(power, 1e-12), 0, None).astype(np.float32)


STRENGTH_SCALES = np.linspace(0.0, 1.0, 5)  # of `fitted_strength`'s, tried by `spoken_strength`
STRENGTH_BAND = 16  # bins (500 Hz at FSDD's 8 kHz and 256-point FFT) that share one scale


def spoken_strength(features: np.ndarray, drafts: np.ndarray, f0: np.ndarray,
                    strength: np.ndarray, noise: np.ndarray, representation: Any) -> np.ndarray:
    """`[freq]` the strengths fitted to the arrays (`fitted_strength`), scaled in each band
    of `STRENGTH_BAND` bins (the Nyquist bin with the last) by the one of
    `STRENGTH_SCALES` that takes the spoken clips' fine detail nearest the real clips'
    (squared error in the real clips' voiced, loud frames): `[clip, freq, frame]` drafts
    of the real clips `features` (a VAE's reconstructions), voiced at the clips' own
    `[clip, frame]` f0 (pYIN's, as `fitted_strength` takes it: what the comb does at the
    right f0) at each scaled strength without a breath, and spoken with their source's
    phase (`[clip, sample]` white `noise` where unvoiced) through their envelope's
    (`filter_phase`), then analysed again from the waveform (`spoken_unbreathed`). One scale a band, not a bin: scaled bin by bin, the
    bundled model's neighbouring bins alternated between scales whose errors were nearly
    equal.

    The source's phase makes the harmonics' detail itself, as it makes the breath's
    (`fitted_breath`): a smooth envelope spoken with a harmonic phase has a comb. Drawn
    onto the arrays as well, at the strength fitted to them, the comb came twice: the
    bundled model's spoken detail was further from the recordings' in every band than
    with no comb drawn at all (`benchmarks/comb_fit.py --spoken`)."""
    errors = spoken_errors(features, drafts, f0, strength, noise, representation)
    bands = strength_bands(len(strength))
    per_band = np.stack([np.bincount(bands, weights=row) for row in errors])  # [scale, band]
    return (STRENGTH_SCALES[np.argmin(per_band, axis=0)][bands] * strength).astype(np.float32)


def strength_bands(bins: int) -> np.ndarray:
    """`[bin]` the band of `STRENGTH_BAND` bins each of `bins` frequency bins falls in; a
    last bin left over (the Nyquist bin of an even FFT) joins the band below it."""
    return np.minimum(np.arange(bins) // STRENGTH_BAND, max(bins // STRENGTH_BAND - 1, 0))


def spoken_errors(features: np.ndarray, drafts: np.ndarray, f0: np.ndarray,
                  strength: np.ndarray, noise: np.ndarray, representation: Any) -> np.ndarray:
    """`[scale, freq]` for each of `STRENGTH_SCALES`, the mean square per bin of the spoken
    clips' fine detail less the real clips', in the real clips' voiced, loud frames: the
    drafts voiced at `scale * strength` and spoken as `spoken_strength` says."""
    chosen = voiced_and_loud(features, f0, representation)
    real = fine_detail(features)
    voicing = (f0 > 0).astype(np.float32)
    return np.stack([mean_square(fine_detail(spoken_unbreathed(
        drafts, f0, voicing, representation, scale * strength, noise)) - real, chosen)
        for scale in STRENGTH_SCALES])


def spoken_unbreathed(drafts: np.ndarray, f0: np.ndarray, voicing: np.ndarray,
                      representation: Any, strength: np.ndarray, noise: np.ndarray,
                      threshold: float = VOICED, smoothing: float = 0.0) -> np.ndarray:
    """`[clip, freq, frame]` the features of `[clip, freq, frame]` drafts as a pitch model
    says them without a breath, heard: voiced (`voice`, no breath), spoken with their
    source's phase (`noise` where unvoiced) through their envelope's (`filter_phase`),
    and analysed again from the waveform."""
    arrays = voice(drafts[..., None], f0, voicing, representation, strength,
                   np.zeros((2, len(strength))), noise, threshold, smoothing)
    return representation.features(representation.with_phase().decode(arrays))


BREATH_CLIPS = 100  # clips of white noise whose detail's spread `fitted_breath` measures


def fitted_breath(features: np.ndarray, spoken: np.ndarray, f0: np.ndarray,
                  representation: Any) -> np.ndarray:
    """`[2, freq]` spreads of the breath (`voice`): in each frequency bin, the root mean
    square of fine detail that the `[clip, freq, frame]` spoken clips lack of the real
    clips' `features` (`sqrt(real^2 - spoken^2)`, 0 where they lack none), in the real
    clips' voiced, loud frames (`[clip, frame]` pYIN f0 above 0; first row) and in their
    loud frames that are not voiced (second), each over white noise's (`breath_detail`,
    seeded). `spoken`: the same clips as a pitch model says them without a breath
    (its strengths, its source's phase, analysed again from the waveform).

    Spoken with its source's phase, a clip has fine detail the arrays did not hold: no
    smooth magnitude is consistent with that phase, and the inverse STFT makes detail of
    the mismatch, about as spread as the recordings' (`benchmarks/breath_probe.py`). A
    breath fitted to the arrays, before the inverse STFT, added to that: the spoken
    clips' detail rose above the recordings' in most bands."""
    voiced = voiced_and_loud(features, f0, representation)
    loud = np.broadcast_to(loud_mask(features, representation)[:, None, :], features.shape)

    def lacking(where: np.ndarray) -> np.ndarray:
        return np.sqrt(np.clip(mean_square(fine_detail(features), where) -
                               mean_square(fine_detail(spoken), where), 0, None))

    return (np.stack([lacking(voiced), lacking(loud & ~voiced)]) /
            noise_spread(representation)).astype(np.float32)


def mean_square(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`[freq]` the mean square of `[clip, freq, frame]` values over the entries `where`
    is true, per bin (0 where none)."""
    return np.sum(np.where(where, values**2, 0), axis=(0, 2), dtype=np.float64) / \
        np.maximum(where.sum(axis=(0, 2)), 1)


def noise_spread(representation: Any) -> np.ndarray:
    """`[freq]` the root mean square of white noise's fine detail (`breath_detail` of
    `BREATH_CLIPS` seeded clips): the unit of a breath's spreads."""
    noise = np.random.default_rng(0).standard_normal(
        (BREATH_CLIPS, representation.settings.clip_samples))
    return np.sqrt(np.mean(breath_detail(noise, representation) ** 2, axis=(0, 2)))
