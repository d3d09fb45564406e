"""Speaking digit strings with a trained run, without TensorFlow.

For each digit a latent vector is drawn (by default from that digit's latent
Gaussian, fitted to the encoded training clips; conditional models can also
draw it from N(0, I) and rely on the digit as condition), decoded
by the run's ONNX decoder, turned back into sound by Griffin-Lim, trimmed of
silence, scaled below full scale and joined with short gaps into one waveform.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnxruntime

from . import audio
from .config import check_settings
from .errors import DataError, UsageError
from .latents import DEFAULT_SAMPLER, check_latent_gaussians, sample_latents
from .models import build_condition, condition_dim
from .runs import Run
from .storage import read_json

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_RUN = PACKAGE_ROOT / "pretrained" / "default"
PAUSES = " -"              # characters that mean a pause between digits
DIGIT_GAP_SECONDS = 0.08   # between two digits: a speaker's breath
PAUSE_SECONDS = 0.35       # for each pause character
# Digits and pauses in one string. Time and memory grow with the string (all digits are
# decoded at once): 100 digits give 51 s of audio in 3.4 s and 210 MB at peak (2 busy
# cores), and cover any phone, card or account number; 2000 took 134 s and 2.2 GB.
MAX_TOKENS = 100
MAX_ITERATIONS = 1000      # Griffin-Lim: 64 converge (README); 1000 take 15x as long
# Latent spread: by 20 the bundled decoder's log-magnitudes overflow into NaN; a spread of
# 3 already draws far outside what the model was trained on.
MAX_TEMPERATURE = 10.0
# The loudest sample of a digit's clip: 0.9 dB below full scale. Decoded clips at
# temperature 1 peak anywhere from 0.2 to over 6 (a quarter of 40 ten-digit strings
# went over 1), so clips louder than this are scaled down to it, quieter ones kept.
MAX_PEAK = 0.9


def check_sampling(temperature: float = 1.0, n_iter: int = 64) -> None:
    """Raise UsageError unless the latent spread and the Griffin-Lim iterations are in the
    ranges every caller (inference, evaluation, reports) accepts."""
    check_settings("sampling settings", [
        (math.isfinite(temperature) and 0 <= temperature <= MAX_TEMPERATURE,
         f"temperature {temperature:g} must be 0 to {MAX_TEMPERATURE:g}"),
        (0 <= n_iter <= MAX_ITERATIONS,
         f"Griffin-Lim iterations {n_iter} must be 0 to {MAX_ITERATIONS}"),
    ])


def parse_digits(text: str) -> list[int | None]:
    """Digits of `text` in order, None for each pause; raises UsageError for anything else,
    or for more than `MAX_TOKENS` characters."""
    if len(text) > MAX_TOKENS:
        raise UsageError(f"{len(text)} characters is too long: give at most {MAX_TOKENS} digits "
                         "and pauses at a time, and join the wavs of longer strings")
    tokens: list[int | None] = []
    for position, character in enumerate(text):
        if character.isascii() and character.isdigit():
            tokens.append(int(character))
        elif character in PAUSES:
            tokens.append(None)
        else:
            raise UsageError(f"{text!r} has {character!r} at position {position + 1}: give digits "
                             f"0-9, with spaces or dashes for pauses")
    if not any(token is not None for token in tokens):
        raise UsageError("give at least one digit to speak, e.g. \"1234\"")
    return tokens


class Synthesizer:
    """A run's decoder and what it needs to turn digits into sound."""

    def __init__(self, run: Run, epoch: int | None = None):
        self.run, self.model = run, run.model
        self.checkpoint = run.checkpoint(epoch)
        decoder = self.checkpoint / "decoder.onnx"
        if not decoder.is_file():
            raise DataError(f"{self.checkpoint} lacks decoder.onnx, which inference needs")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(decoder), options,
                                                        providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own classes for bad files
            raise DataError(f"{decoder} is damaged ({error}); train the run again") from None
        self.labels = run.config["labels"]
        self._check_decoder(decoder)
        latents = self.checkpoint / "latents.json"
        if not latents.is_file() and not self.model.conditional:
            raise DataError(f"{self.checkpoint} lacks latents.json, which an unconditional "
                            "model needs to choose digits")
        # Conditional runs of older versions have none: they can use the prior only.
        self.gaussians = check_latent_gaussians(read_json(latents), self.model.latent_dim,
                                                latents) if latents.is_file() else None

    def _check_decoder(self, decoder: Path) -> None:
        """Raise DataError unless the decoder's inputs and output have the sizes the run's
        config.json gives: `[clip, latent]` z (and `[clip, dim]` condition) to
        `[clip, freq, frame]` features."""
        config = self.run.featurizer.config
        wanted = {"z": [self.model.latent_dim]}
        if condition_dim(self.model, self.labels):
            wanted["condition"] = [condition_dim(self.model, self.labels)]
        wanted["output"] = [config.n_freq, config.n_frames]
        found = {put.name: put.shape[1:] for put in self.session.get_inputs()}
        found["output"] = self.session.get_outputs()[0].shape[1:]
        if found != wanted:
            raise DataError(f"{decoder} takes and gives sizes {found}, but "
                            f"{self.run.folder / 'config.json'} describes {wanted}: they come from "
                            "different runs; export the run again")

    @property
    def sample_rate(self) -> int:
        return self.run.featurizer.config.sample_rate

    def features(self, digits: list[int], speaker: str | list[str] | None = None, seed: int = 0,
                 temperature: float = 1.0, sampler: str = DEFAULT_SAMPLER) -> np.ndarray:
        """`[clip, freq, frame]` scaled features, one clip per digit.

        Args:
            speaker: one voice for all clips, a voice per clip, or None (speaker-conditional
                models then draw one voice for all).
            sampler: how z is drawn (`latents.sample_latents`).
        """
        speakers = [speaker] * len(digits) if speaker is None or isinstance(speaker, str) \
            else list(speaker)
        if set(speakers) - {None} and self.model.conditional and not self.model.speaker_conditional:
            raise UsageError(f"run {self.run.name} is conditioned on digits only; --speaker needs a "
                             "speaker-conditional or an unconditional model")
        unknown = sorted(set(speakers) - {None} - set(self.labels["speakers"]))
        if unknown:
            raise UsageError(f"unknown speaker {unknown[0]!r}; this model knows {self.labels['speakers']}")
        rng = np.random.default_rng(seed)
        if self.model.speaker_conditional and speakers[0] is None:  # one voice for the whole string
            speakers = [str(rng.choice(self.labels["speakers"]))] * len(digits)
        self._check_sampler(sampler)
        check_sampling(temperature)
        z = sample_latents(self.gaussians, digits, speakers, self.model.latent_dim, temperature,
                           rng, sampler)
        return self._decode(z, self._condition(digits, speakers))

    def digit_grid(self, rows: int, seed: int = 0, temperature: float = 1.0,
                   sampler: str = DEFAULT_SAMPLER) -> np.ndarray:
        """`[row, digit, freq, frame]` features: `rows` samples of each digit 0-9."""
        digits = np.tile(np.arange(10), rows).tolist()
        features = self.features(digits, seed=seed, temperature=temperature, sampler=sampler)
        return features.reshape(rows, 10, *features.shape[1:])

    def interpolate(self, start: int, end: int, steps: int = 8, speaker: str | None = None,
                    seed: int = 0, temperature: float = 1.0,
                    sampler: str = DEFAULT_SAMPLER) -> np.ndarray:
        """`[step, freq, frame]` features morphing digit `start` into digit `end`.

        Both ends share one seeded noise vector, placed in the first digit's latent
        density and in the second's (or both in the prior), so the voice stays while
        the digit changes: the model walks the straight line between them, and a
        conditional one also blends the two one-hot digit conditions. Both ends use
        `speaker`'s Gaussians where one is given; a speaker-conditional model
        defaults to its first speaker, and the mixture sampler to a seeded one.
        """
        self._check_sampler(sampler)
        if self.model.speaker_conditional:
            speaker = speaker or self.labels["speakers"][0]
        elif speaker is None and sampler == "mixture":  # one voice at both ends
            speaker = str(np.random.default_rng(seed).choice(self.labels["speakers"]))
        weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        ends = [sample_latents(self.gaussians, [digit], [speaker], self.model.latent_dim,
                               temperature, np.random.default_rng(seed), sampler)[0]
                for digit in (start, end)]
        z = (1 - weights) * ends[0] + weights * ends[1]
        speakers = [speaker] * steps
        conditions = [self._condition([digit] * steps, speakers) for digit in (start, end)]
        if conditions[0] is None:
            return self._decode(z, None)
        return self._decode(z, (1 - weights) * conditions[0] + weights * conditions[1])

    def _check_sampler(self, sampler: str) -> None:
        if sampler == "prior" and not self.model.conditional:
            raise UsageError(f"run {self.run.name} is unconditional: the prior says nothing of "
                             "the digit; use --sampler digit or mixture")

    def _condition(self, digits: list[int], speakers: list[str | None]) -> np.ndarray | None:
        if not condition_dim(self.model, self.labels):
            return None
        return build_condition(self.model, self.labels, digits, speakers)

    def _decode(self, z: np.ndarray, condition: np.ndarray | None) -> np.ndarray:
        """`[clip, freq, frame]` features of `[clip, latent]` z (and `[clip, dim]` condition)."""
        feeds = {"z": z.astype(np.float32)}
        if condition is not None:
            feeds["condition"] = condition.astype(np.float32)
        return self.session.run(None, feeds)[0]

    def speak(self, tokens: list[int | None], speaker: str | None = None, seed: int = 0,
              temperature: float = 1.0, n_iter: int = 64,
              sampler: str = DEFAULT_SAMPLER) -> np.ndarray:
        """One `[sample]` waveform speaking the digits of `tokens` (None: a pause), each
        digit's clip scaled down to a peak of `MAX_PEAK` where it is louder."""
        check_sampling(temperature, n_iter)
        digits = [token for token in tokens if token is not None]
        features = self.features(digits, speaker, seed, temperature, sampler)
        clips = iter(self.run.featurizer.decode(features, n_iter=n_iter, seed=seed))
        gap = np.zeros(round(DIGIT_GAP_SECONDS * self.sample_rate), np.float32)
        pause = np.zeros(round(PAUSE_SECONDS * self.sample_rate), np.float32)
        pieces = []
        for token in tokens:
            pieces += [pause] if token is None else [_below_full_scale(
                audio.trim_silence(next(clips), self.sample_rate)), gap]
        return np.concatenate(pieces[:-1] if tokens[-1] is not None else pieces)


def _below_full_scale(clip: np.ndarray) -> np.ndarray:
    """`clip` scaled down to a peak of `MAX_PEAK` if it is louder (NaN stays NaN, for
    `audio.write_wav` to refuse)."""
    peak = np.max(np.abs(clip), initial=0.0)
    return clip * np.float32(MAX_PEAK / peak) if peak > MAX_PEAK else clip
