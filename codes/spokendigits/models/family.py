"""The contract of a model family: what generic code may ask of one.

A family is one `Family` object, made in that family's own module (`vae`,
`gan`, `wavegan`) and listed in `models.FAMILIES` by one line. Training, runs,
synthesis, evaluation and reports ask it; none of them names a family. What it
answers:

- who it is: `name` (in run folders and configs), `label` (in tables and
  legends), `kind` and `groups` (plurals that name it with families alike in
  messages, e.g. "VAEs", "spectrogram GANs"), `table` (which report table
  lists its losses);
- its settings: `settings`, the dataclass of its own settings (beside the
  shared ones of `ModelConfig`; every other family must leave them at their
  defaults), `defaults` for the settings it resolves where they are unset,
  `representations` it can make, `checks` of its own, `likelihood` and
  `label_parts` in words;
- what its checkpoints offer: `has_encoder` (with `encode` and `reconstruct`,
  which latent views and the evaluation's reconstructions use), `samplers`, the
  `losses` its history logs;
- its Keras side: `model_arrays`, `build`, `fit_data`, `callbacks`, `export` (a checkpoint's
  files, `synthesis`'s contract) and `summary`. Each imports the family's
  network module when called, so reading a run's settings (inference) needs no
  Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..sampling import offered_samplers

if TYPE_CHECKING:
    from ..runs import Run
    from . import ModelConfig


@dataclass(frozen=True)
class NoSettings:
    """The settings of a family that reads only the shared ones."""


class Family:
    """One model family (see the module's docstring). Subclasses set the class attributes
    and the Keras methods; an instance per family name."""

    kind = ""                      # plural, e.g. "VAEs": named where others give its settings
    table = ""                     # the report table of its losses (`reports.STUDY_TABLES`)
    representations: tuple[str, ...] = ("log-magnitude",)
    has_encoder = False
    fits_latents = False           # its checkpoints hold Gaussians of the encoded training clips
    losses: tuple[str, ...] = ()

    def __init__(self, name: str, label: str, defaults: dict[str, Any],
                 settings: type = NoSettings, groups: tuple[str, ...] = ()):
        self.name, self.label, self.defaults = name, label, dict(defaults)
        self.settings = settings
        self.groups = (self.kind, *groups)  # names of families alike, in messages

    @property
    def own_settings(self) -> tuple[str, ...]:
        """The names of `settings`' fields."""
        return tuple(setting.name for setting in fields(self.settings))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def checks(self, config: "ModelConfig") -> list[tuple[bool, str]]:
        """Checks of the settings this family alone reads: (condition, message) pairs."""
        return []

    def samplers(self, config: "ModelConfig") -> tuple[str, ...]:
        """The latent samplers (`sampling.SAMPLERS`) that can ask this model for a digit."""
        return offered_samplers(config.conditional, self.fits_latents)

    def likelihood(self, config: "ModelConfig") -> str:
        """What the model is fitted by, in words."""
        raise NotImplementedError

    def label_parts(self, config: "ModelConfig") -> list[str]:
        """What a run's label says of the family's own settings where they are not the
        defaults (`runs.Run.label` adds size, conditioning and representation)."""
        return []

    def clips_per_step(self, config: "ModelConfig", batch_size: int) -> int:
        """Training clips one training step needs: one (the default `fit_data` keeps a last,
        short batch)."""
        return 1

    def model_arrays(self, config: "ModelConfig", features: np.ndarray,
                     phase: np.ndarray | None, representation: Any, digits: np.ndarray,
                     speakers: np.ndarray) -> dict[str, np.ndarray]:
        """What the model trains on, from a feature set's `[clip, freq, frame]` scaled
        log-magnitudes (and phases in radians) of clips of `[clip]` digits and speakers:
        `{"features": ...}` and any more inputs."""
        return {"features": features}

    # The Keras side: each imports the family's network module.

    @staticmethod
    def network() -> Any:
        """The family's Keras module (None: it has none of its own). Importing it registers
        the classes of its saved models, which resuming a run needs."""
        return None

    def build(self, config: "ModelConfig", feature_shape: tuple[int, ...], condition_dim: int,
              seed: int, training: Any = None, representation: Any = None) -> Any:
        """A compiled Keras model for arrays of `feature_shape`; `training` (a `TrainConfig`)
        gives the learning rates, `representation` (fitted: its STFT and scaling) what the
        model needs to know of the arrays beyond their shape."""
        raise NotImplementedError

    def fit_data(self, config: "ModelConfig", inputs: dict[str, np.ndarray], batch_size: int,
                 seed: int, training: bool = True) -> tuple[Any, dict[str, Any]]:
        """The input pipeline of `inputs` (`distribute.pipeline`: shuffled by `seed` for
        training), and `fit`'s options."""
        from ..distribute import pipeline

        return pipeline(inputs, batch_size, seed, training), {"shuffle": False} if training else {}

    def callbacks(self, config: "ModelConfig", folder: Path, data: dict, tensorboard: bool,
                  representation: Any) -> list[Any]:
        """Keras callbacks of the family's own, beside training's; `representation` makes
        the arrays and turns them back into sound and spectrograms."""
        return []

    def export(self, model: Any, staging: Path, epoch: int, logs: dict, data: dict,
               batch_size: int) -> None:
        """Write checkpoint `epoch` into `staging`: `generator.onnx` (or, VAEs,
        `decoder.onnx`), how to draw z, `metrics.json`, and Keras files to reload."""
        raise NotImplementedError

    def summary(self, model: Any) -> dict[str, Any]:
        """Parameter counts for the run's `summary.json`."""
        raise NotImplementedError

    # A family that `has_encoder`: the encoder of a checkpoint that keeps it (`Run.has_encoder`).

    def encode(self, run: "Run", epoch: int | None, features: np.ndarray, digits: np.ndarray,
               speakers: np.ndarray) -> np.ndarray:
        """`[clip, latent]` codes of `[clip, freq, frame]` features (with each clip's digit
        and speaker) under checkpoint `epoch` (default: the last). Imports TensorFlow."""
        raise NotImplementedError(f"{self.name} has no encoder")

    def reconstruct(self, run: "Run", epoch: int | None, features: np.ndarray,
                    digits: np.ndarray, speakers: np.ndarray) -> np.ndarray:
        """`[clip, freq, frame]` features decoded from their own codes (`encode`)."""
        raise NotImplementedError(f"{self.name} has no encoder")
