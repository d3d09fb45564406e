"""What `pitch_contour.py` and `breath_probe.py` share: a breathing pitch model and the test
clips it voices. Not a script: they import it once their options are read."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class VoicedTest:
    """The feature set and its test split, a pitch model, the VAE's reconstructions of the
    test clips and pYIN's f0 of the real ones."""

    feature_set: Any
    pitch: Any              # a breathing pitch model's `Synthesizer`
    vae: Any                # the VAE's `Run`
    test: np.ndarray        # [clip] the test split's mask
    drafts: np.ndarray      # [clip, freq, frame] the VAE's reconstructions (posterior means)
    pyin: np.ndarray        # [clip, frame] pYIN's f0 (Hz, 0 unvoiced) of the real clips


def voiced_test(features: Path | None, pitch: Path, vae: Path) -> VoicedTest:
    """`VoicedTest` of the feature set `features` (default: the one in dataset/features), the
    pitch run `pitch` and its VAE run `vae`; exits naming the run that is not what is needed."""
    from spokendigits import harmonics
    from spokendigits.evaluation import reconstructions
    from spokendigits.features import FeatureSet
    from spokendigits.runs import Run
    from spokendigits.synthesis import Synthesizer
    from train import find_feature_set

    feature_set = FeatureSet.load(find_feature_set(features))
    synthesizer = Synthesizer(Run.open(pitch))
    if synthesizer.pitch is None or synthesizer.sampler.breath is None:
        sys.exit(f"{pitch} is not a breathing pitch model: it has no pitch.onnx or breath")
    run = Run.open(vae)
    drafts = reconstructions(run, None, feature_set)
    if drafts is None:
        sys.exit(f"{vae} has no encoder (an exported copy): give the trained run")
    test = feature_set.split_mask("test")
    pyin = harmonics.clips_f0(feature_set.features[test], feature_set.phase[test],
                              feature_set.featurizer.representation)
    return VoicedTest(feature_set, synthesizer, run, test, drafts, pyin)
