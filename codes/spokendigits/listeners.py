"""Listeners from outside the project: what a stranger's ear makes of the clips.

The project's judge (`classifier`) was trained on FSDD's training split. It hears
each digit's mean spectrogram as a perfect prototype, so on its own it cannot
tell a model that speaks from one that hums the average. Two models the project
did not train give the second opinion every results table carries:

- the listener: CMU PocketSphinx's US-English acoustic model (trained on other
  speech), restricted by a grammar to the ten words "zero" to "nine", so it must
  pick one. It is old and small, and recognises fewer real FSDD clips than a
  person would: read its rate against the real clips' row;
- the quality predictor: DNSMOS P.835 (Reddy et al. 2022), a network trained on
  human ratings of speech that predicts, without a reference, the mean opinion
  score (1-5) of the speech signal (SIG), of the background (BAK) and overall
  (OVRL). Its ONNX model ships in the `speechmos` wheel and runs offline.

Both hear each clip as `inference.py` delivers it: trimmed of silence and scaled
to the same peak, resampled to their 16 kHz. DNSMOS rates 9.01 s windows, so a
clip is repeated to fill one, as its reference scorer repeats short clips. Both
are deterministic. Nothing is trained, stopped or selected on these scores: they
report (`evaluation`), they never steer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import soxr

from . import audio
from .storage import onnx_session

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RATE = 16000               # both models' sample rate
PAD_SECONDS = 0.25         # silence either side: the recognizer expects to hear some
PEAK = 0.9                 # every clip's loudest sample, as inference.py's
DNSMOS_SECONDS = 9.01      # the window DNSMOS P.835 rates
# DNSMOS P.835's calibration of its raw outputs to the P.835 scale (the polynomials of
# its reference scorer, the non-personalised model): signal, background, overall.
CALIBRATION = {"sig": (-0.08397278, 1.22083953, 0.0052439),
               "bak": (-0.13166888, 1.60915514, -0.39604546),
               "ovrl": (-0.06766283, 1.11546468, 0.04602535)}
MOS = tuple(f"mos_{name}" for name in CALIBRATION)       # the predictor's scores
SCORES = ("listener", *MOS)                               # every outside score


def for_listeners(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """A `[sample]` clip as both listeners hear it: trimmed of silence, at 16 kHz, with its
    loudest sample at `PEAK` (silence stays silent)."""
    clip = soxr.resample(audio.trim_silence(np.asarray(waveform, np.float32), sample_rate),
                         sample_rate, RATE)
    return (clip * (PEAK / max(float(np.abs(clip).max(initial=0.0)), 1e-9))).astype(np.float32)


class Listener:
    """PocketSphinx with a grammar of the ten digit words."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder, get_model_path

        model = os.path.join(get_model_path(), "en-us")
        self.decoder = Decoder(hmm=os.path.join(model, "en-us"),
                               dict=os.path.join(model, "cmudict-en-us.dict"),
                               samprate=RATE, logfn=os.devnull)
        grammar = "#JSGF V1.0;\ngrammar digits;\npublic <digit> = " + " | ".join(WORDS) + " ;\n"
        self.decoder.add_jsgf_string("digits", grammar)
        self.decoder.activate_search("digits")

    def digit(self, clip: np.ndarray) -> int:
        """The digit heard in one `for_listeners` clip, or -1 for none."""
        padded = np.pad(clip, round(PAD_SECONDS * RATE))
        self.decoder.start_utt()
        self.decoder.process_raw((padded * 32767).astype(np.int16).tobytes(), full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        word = hypothesis.hypstr.strip() if hypothesis else ""
        return WORDS.index(word) if word in WORDS else -1


class QualityPredictor:
    """DNSMOS P.835's signal, background and overall scores of one clip."""

    def __init__(self) -> None:
        self.session = onnx_session(
            resources.files("speechmos") / "dnsmos_models" / "sig_bak_ovr.onnx")
        self.window = round(DNSMOS_SECONDS * RATE)

    def scores(self, clips: list[np.ndarray]) -> np.ndarray:
        """`[clip, 3]` calibrated SIG, BAK and OVRL of `for_listeners` clips."""
        windows = np.stack([np.resize(clip if len(clip) else np.zeros(1, np.float32),
                                      self.window) for clip in clips]).astype(np.float32)
        raw = np.concatenate([self.session.run(None, {"input_1": windows[start:start + 16]})[0]
                              for start in range(0, len(windows), 16)])
        return np.stack([np.polyval(CALIBRATION[name], raw[:, column])
                         for column, name in enumerate(CALIBRATION)], axis=1)


@cache
def _listeners() -> tuple[Listener, QualityPredictor]:
    """One of each per process: loading them takes about a second."""
    return Listener(), QualityPredictor()


@dataclass(frozen=True)
class Heard:
    """What the outside listeners made of a set of clips, clip by clip."""

    digits: np.ndarray   # [clip] the digit recognised, -1 for none
    mos: np.ndarray      # [clip, 3] SIG, BAK, OVRL

    def scores(self, asked: np.ndarray, clips: np.ndarray | None = None) -> dict[str, float]:
        """The listener's rate of recognising the `asked` digits and the mean of each MOS
        score, over `clips` (index array; default all)."""
        clips = np.arange(len(asked)) if clips is None else clips
        means = self.mos[clips].mean(axis=0)
        return {"listener": float(np.mean(self.digits[clips] == np.asarray(asked)[clips])),
                **{name: float(mean) for name, mean in zip(MOS, means)}}


def hear(waveforms: Any, sample_rate: int) -> Heard:
    """The outside listeners' verdict on each `[sample]` waveform of `waveforms`."""
    listener, predictor = _listeners()
    clips = [for_listeners(waveform, sample_rate) for waveform in waveforms]
    return Heard(np.array([listener.digit(clip) for clip in clips], int),
                 predictor.scores(clips))
