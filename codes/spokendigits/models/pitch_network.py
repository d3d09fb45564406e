"""The pitch model (`pitch`): its Keras side.

The network reads a VAE's spectrogram over time, its bins as channels: a
convolution to `width` channels, then `depth` residual convolutions (kernel 5,
SiLU: the ONNX exporter has no GELU), then two numbers a frame, the voicing's
logit and log2(f0 / `harmonics.F0_REFERENCE`). At depth 3, 17 frames (0.14 s at
FSDD's 8 ms hop) of spectrogram reach each output; with `clip_mean`, also the mean
of the first convolution over the clip's frames, through a dense layer.

Training decodes, for each clip of a batch, a spectrogram from a posterior
sample z ~ N(mu, sigma^2) of the clip by the VAE's frozen decoder (what the VAE
would say, as the refiner's drafts), and fits the voicing by binary
cross-entropy to pYIN's voiced frames, and log2 f0 by squared error (in
octaves, weighted by `PITCH_WEIGHT`) on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from ..harmonics import F0_REFERENCE, pitch_of
from . import ModelConfig
from .blocks import write_preview
from .flow_network import PREVIEW_EVERY, OnFrozenDecoder, write_split_losses

KERNEL = 5           # frames each convolution sees
PITCH_WEIGHT = 10.0  # of the squared log2-f0 error (octaves) against the voicing's entropy


def build_pitch(config: ModelConfig, feature_shape: tuple[int, int]) -> keras.Model:
    """`draft [batch, freq, frame]` -> `[batch, frame, 2]`: each frame's voicing logit and
    log2(f0 / F0_REFERENCE)."""
    draft = keras.Input(feature_shape, name="draft")
    hidden = layers.Conv1D(config.width, KERNEL, padding="same")(layers.Permute((2, 1))(draft))
    if config.clip_mean:  # the whole clip's context, the same in every frame
        clip = layers.Dense(config.width)(layers.GlobalAveragePooling1D(keepdims=True)(hidden))
        hidden = layers.Add()([hidden, clip])
    for _ in range(config.depth):
        block = layers.Conv1D(config.width, KERNEL, padding="same", activation="silu")(hidden)
        hidden = layers.Add()([hidden, layers.Dropout(config.dropout)(block)])
    return keras.Model(draft, layers.Conv1D(2, 1)(hidden), name="pitch")


@keras.saving.register_keras_serializable(package="spokendigits")
class PitchModel(OnFrozenDecoder):
    """Voicing and f0 from the VAE's spectrograms. Inputs are dicts: `{"features": [batch,
    freq, frame], "posterior": [batch, 2 * latent], "f0": [batch, frame], "condition":
    [batch, dim]}`."""

    def _build_networks(self) -> None:
        self.pitch = build_pitch(self.config, self.feature_shape)

    def _loss(self, inputs: dict, training: bool):
        """The voicing's mean cross-entropy per frame, plus `PITCH_WEIGHT` times the mean
        squared log2-f0 error per voiced frame."""
        outputs = self.pitch(self.draft(inputs), training=training)
        f0 = ops.cast(inputs["f0"], outputs.dtype)
        voiced = ops.cast(f0 > 0, outputs.dtype)
        entropy = ops.mean(ops.binary_crossentropy(voiced, outputs[..., 0], from_logits=True))
        octaves = ops.log2(ops.maximum(f0, 1.0) / F0_REFERENCE)
        squared = ops.sum(voiced * ops.square(outputs[..., 1] - octaves))
        return entropy + PITCH_WEIGHT * squared / ops.maximum(ops.sum(voiced), 1.0)


def build(config: ModelConfig, feature_shape: tuple[int, ...], seed: int, training: Any,
          vae: Any) -> PitchModel:
    """A `PitchModel` over the VAE's last decoder, Adam at `training.learning_rate`
    (default 1e-3)."""
    return PitchModel.over(vae, config, feature_shape, seed,
                           1e-3 if training is None else training.learning_rate)


def heard(model: PitchModel, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, tuple]:
    """`[clip, freq, frame]` the VAE's spectrograms of the posterior means of the clips of
    `inputs` ("posterior", and "condition" where given), and the model's `[clip, frame]`
    f0 and voicing of them (`harmonics.pitch_of`)."""
    mean = np.split(inputs["posterior"], 2, axis=-1)[0]
    condition = [inputs["condition"]] if "condition" in inputs else []
    draft = np.asarray(model.decoder.predict([mean, *condition], batch_size=64, verbose=0))
    return draft, pitch_of(np.asarray(model.pitch.predict(draft, batch_size=64, verbose=0)))


class Preview(keras.callbacks.Callback):
    """Every `PREVIEW_EVERY` epochs: one training clip of each digit as the VAE decodes its
    posterior mean, voiced by the model at `strength` (per bin), spoken with its source's
    phase (of a seeded noise where unvoiced) and no breath: `previews/eNNN.png` and `.wav`."""

    def __init__(self, folder: Path, representation: Any, inputs: dict[str, np.ndarray],
                 strength: np.ndarray):
        super().__init__()
        self.folder, self.representation, self.inputs = folder / "previews", representation, inputs
        self.strength = strength

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % PREVIEW_EVERY:
            return
        from ..harmonics import voice

        draft, (f0, voicing) = heard(self.model, self.inputs)
        noise = np.random.default_rng(0).standard_normal(
            (len(draft), self.representation.settings.clip_samples))
        arrays = voice(draft[..., None], f0, voicing, self.representation, self.strength,
                       np.zeros((2, len(self.strength))), noise)  # with the source's phase
        write_preview(self.folder, epoch + 1, arrays, self.representation.with_phase())


def save_checkpoint(model: PitchModel, staging: Path, epoch: int, logs: dict, data: dict,
                    batch_size: int) -> None:
    """`pitch.keras` and `pitch.onnx` (the network) and the loss of every split
    (`PitchFamily.export` writes the prior's files beside them)."""
    model.pitch.save(staging / "pitch.keras")
    model.pitch.export(str(staging / "pitch.onnx"), format="onnx", verbose=False)
    write_split_losses(model, staging, epoch, logs, data, batch_size)
