"""The spectrogram flow (`refine`): its Keras side.

The network is a small U-Net over time: a spectrogram's frames are its
steps and its bins its channels (the shape of Matcha-TTS's decoder), at `width`
channels and `depth` resolutions, two residual blocks at each and one at the
bottom. Each block adds an embedding of t to its hidden channels
(`GroupNorm, SiLU, Conv1D, + t, GroupNorm, SiLU, Conv1D`, and the input back).
The noisy spectrogram and the draft come in side by side as channels.

Training decodes, for each clip of a batch, a draft from a posterior sample
z ~ N(mu, sigma^2) of the clip by the VAE's frozen decoder (the blurred
spectrogram the VAE would say), starts the flow at x0 = draft + draft_noise * e,
e ~ N(0, I), and takes x_t = (1 - t) x0 + t x1 on the straight line to the clip
itself, x1. The U-Net predicts the clip, as the draft plus what it lacks:
x̂1 = draft + U(x_t, t, draft), by squared error. That is conditional flow
matching in the clip's parametrization (the velocity's squared error weighted
by (1 - t)^2): the velocity at x_t is (x̂1 - x_t) / (1 - t), which the exported
network gives. An untrained U-Net gives the draft back, and a half-trained one
a denoised guess rather than noise left over (the velocity's parametrization
leaves the noise it fails to predict in the sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from ..errors import UsageError
from . import ModelConfig
from .blocks import write_preview
from .flow_network import PREVIEW_EVERY, OnFrozenDecoder, TimeEmbedding, write_split_losses
from .refine import GROUPS

MIN_REMAINING = 1e-3  # 1 - t is held above this where the velocity divides by it


@keras.saving.register_keras_serializable(package="spokendigits")
class VelocityOfClip(layers.Layer):
    """`[clip x̂1, x, t]` -> the velocity (x̂1 - x) / (1 - t) of the straight line from x
    at time t to x̂1 at time 1."""

    def call(self, clip, x, t):
        remaining = ops.maximum(1.0 - ops.reshape(t, (-1, 1, 1, 1)), MIN_REMAINING)
        return (clip - x) / remaining


def _block(hidden: keras.KerasTensor, time: keras.KerasTensor, width: int) -> keras.KerasTensor:
    inner = layers.Conv1D(width, 3, padding="same")(
        layers.Activation("silu")(layers.GroupNormalization(GROUPS)(hidden)))
    inner = layers.Add()([inner, layers.Reshape((1, width))(layers.Dense(width)(time))])
    inner = layers.Conv1D(width, 3, padding="same")(
        layers.Activation("silu")(layers.GroupNormalization(GROUPS)(inner)))
    if hidden.shape[-1] != width:
        hidden = layers.Conv1D(width, 1)(hidden)
    return layers.Add()([hidden, inner])


def build_networks(config: ModelConfig, feature_shape: tuple[int, int]
                   ) -> tuple[keras.Model, keras.Model]:
    """The predictor and the velocity (sharing their weights): each takes `[x [batch, freq,
    frame, 1], t [batch, 1], draft [batch, freq, frame, 1]]`; the predictor gives the clip
    x̂1 and the velocity (x̂1 - x) / (1 - t), each `[batch, freq, frame, 1]`."""
    bins, frames = feature_shape
    if frames % 2 ** (config.depth - 1):
        raise UsageError(f"a spectrogram flow of depth {config.depth} halves the frames "
                         f"{config.depth - 1} times, and {frames} do not halve so: lower depth")
    x = keras.Input((bins, frames, 1), name="x")
    t = keras.Input((1,), name="t")
    draft = keras.Input((bins, frames, 1), name="draft")
    time = layers.Dense(config.width)(layers.Dense(config.width, activation="silu")(
        TimeEmbedding()(t)))
    over_time = layers.Permute((2, 1))  # [batch, freq, frame] -> [batch, frame, freq]
    pair = layers.Concatenate()([over_time(layers.Reshape((bins, frames))(x)),
                                 over_time(layers.Reshape((bins, frames))(draft))])
    hidden, skips = layers.Conv1D(config.width, 3, padding="same")(pair), []
    for level in range(config.depth):
        hidden = _block(_block(hidden, time, config.width), time, config.width)
        skips.append(hidden)
        if level < config.depth - 1:
            hidden = layers.Conv1D(config.width, 3, strides=2, padding="same")(hidden)
    hidden = _block(hidden, time, config.width)
    for level in reversed(range(config.depth - 1)):
        hidden = layers.Concatenate()([layers.UpSampling1D()(hidden), skips[level]])
        hidden = _block(_block(hidden, time, config.width), time, config.width)
    lacking = layers.Conv1D(bins, 3, padding="same")(
        layers.Activation("silu")(layers.GroupNormalization(GROUPS)(hidden)))
    clip = layers.Add()([draft, layers.Reshape((bins, frames, 1))(
        layers.Permute((2, 1))(lacking))])
    return (keras.Model([x, t, draft], clip, name="predictor"),
            keras.Model([x, t, draft], VelocityOfClip()(clip, x, t), name="refiner"))


@keras.saving.register_keras_serializable(package="spokendigits")
class SpectrogramFlow(OnFrozenDecoder):
    """Flow matching from the VAE's drafts to the clips. Inputs are dicts: `{"features":
    [batch, freq, frame], "posterior": [batch, 2 * latent], "condition": [batch, dim]}`."""

    def _build_networks(self) -> None:
        self.predictor, self.velocity = build_networks(self.config, self.feature_shape)

    def _loss(self, inputs: dict, training: bool):
        """The batch mean of the squared error of the predicted clip, per bin and frame."""
        draft = ops.expand_dims(self.draft(inputs), -1)
        target = ops.expand_dims(inputs["features"], -1)
        start = draft + self.config.draft_noise * keras.random.normal(
            ops.shape(draft), seed=self.seed_generator)
        t = keras.random.uniform((ops.shape(target)[0], 1), seed=self.seed_generator)
        at = t[:, :, None, None]
        predicted = self.predictor([(1 - at) * start + at * target, t, draft], training=training)
        return ops.mean(ops.square(predicted - target))


def build(config: ModelConfig, feature_shape: tuple[int, ...], seed: int, training: Any,
          vae: Any) -> SpectrogramFlow:
    """A `SpectrogramFlow` over the VAE's last decoder, Adam at `training.learning_rate`
    (default 5e-4)."""
    return SpectrogramFlow.over(vae, config, feature_shape, seed,
                                5e-4 if training is None else training.learning_rate)


class Preview(keras.callbacks.Callback):
    """Every `PREVIEW_EVERY` epochs: one training clip of each digit as the VAE drafts it
    from its posterior mean, carried to t = 1 (`flow.refine`'s default steps, fixed noise):
    `previews/eNNN.png` and `.wav`."""

    def __init__(self, folder: Path, representation: Any, inputs: dict[str, np.ndarray]):
        super().__init__()
        self.folder, self.representation, self.inputs = folder / "previews", representation, inputs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % PREVIEW_EVERY:
            return
        from ..flow import refine

        mean = np.split(self.inputs["posterior"], 2, axis=-1)[0]
        condition = [self.inputs["condition"]] if "condition" in self.inputs else []
        draft = self.model.decoder.predict_on_batch([mean, *condition])[..., None]
        arrays = refine(lambda x, t, d: self.model.velocity.predict_on_batch([x, t, d]),
                        draft, np.random.default_rng(0).standard_normal(draft.shape),
                        self.model.config.draft_noise)
        write_preview(self.folder, epoch + 1, arrays, self.representation)


def save_checkpoint(model: SpectrogramFlow, staging: Path, epoch: int, logs: dict, data: dict,
                    batch_size: int) -> None:
    """`refiner.keras` and `refiner.onnx` (the velocity network) and the flow-matching loss
    of every split (`RefineFamily.export` writes the prior's files beside them)."""
    model.velocity.save(staging / "refiner.keras")
    model.velocity([np.zeros((1, *put.shape[1:]), np.float32) for put in model.velocity.inputs])
    model.velocity.export(str(staging / "refiner.onnx"), format="onnx", verbose=False)
    write_split_losses(model, staging, epoch, logs, data, batch_size)
