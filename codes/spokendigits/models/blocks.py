"""The pieces every network is made of: the widths of each resolution, the regularized
block, residual blocks, the generators' normalized ReLU, spectral normalization, and
the inputs every generator (or decoder) takes; and the preview files of a training run."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from . import ModelConfig

LEAK = 0.2  # slope of the critics' leaky ReLUs


def posterior_sample(posterior, seed_generator):
    """A draw z ~ N(mu, sigma^2) of each row of `[batch, 2 * latent]` posteriors (a VAE's
    means, then log-variances), with `seed_generator`'s next seed."""
    mean, log_var = ops.split(posterior, 2, axis=-1)
    return mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean),
                                                                seed=seed_generator)


def widths(config: ModelConfig) -> list[int]:
    """Channels at each resolution, narrowest first: e.g. width 16, depth 4 -> [16, 32,
    64, 128]."""
    return [config.width * 2**i for i in range(config.depth)]


def crop(shape: tuple[int, ...], depth: int) -> tuple[int, int]:
    """Bins and frames of a `[freq, frame, ...]` image to drop so both halve `depth` times."""
    factor = 2**depth
    return shape[0] % factor, shape[1] % factor


def generator_activation(config: ModelConfig) -> str | None:
    """A hidden generator layer's own activation: ReLU, or none where batch normalization
    comes between it and its ReLU (`normalized_relu`)."""
    return None if config.batch_norm else "relu"


def normalized_relu(hidden: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """Batch normalization and ReLU after a layer, where the config asks for batch norm."""
    if not config.batch_norm:
        return hidden
    return layers.Activation("relu")(batch_norm()(hidden))


def spectral(layer: layers.Layer, config: ModelConfig) -> layers.Layer:
    """`layer`, spectrally normalized where the config asks (one power iteration a step)."""
    return layers.SpectralNormalization(layer) if config.spectral_norm else layer


def regularizer(config: ModelConfig) -> keras.regularizers.Regularizer | None:
    """L2 on kernels, if the config asks for it."""
    return keras.regularizers.L2(config.l2) if config.l2 else None


def batch_norm() -> layers.BatchNormalization:
    """Batch normalization; over the global batch where the model is built under a strategy
    of several replicas (each replica's statistics alone would drift apart)."""
    return layers.BatchNormalization(
        synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1)


def block(layer: layers.Layer, inputs: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """`layer`, then batch normalization, ReLU and dropout as the config asks."""
    hidden = layer(inputs)
    if config.batch_norm:
        hidden = batch_norm()(hidden)
    hidden = layers.Activation("relu")(hidden)
    if config.dropout:
        hidden = layers.Dropout(config.dropout)(hidden)
    return hidden


def residual_block(image: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """Two 3x3 convolutions of the image's own width added back to it, then ReLU: more
    depth at one resolution without a harder path for the gradient."""
    channels = image.shape[-1]
    hidden = block(layers.Conv2D(channels, 3, padding="same",
                                 kernel_regularizer=regularizer(config)), image, config)
    hidden = layers.Conv2D(channels, 3, padding="same", kernel_regularizer=regularizer(config))(hidden)
    return layers.Activation("relu")(layers.Add()([image, hidden]))


def latent_inputs(config: ModelConfig, condition_dim: int
                  ) -> tuple[list[keras.KerasTensor], keras.KerasTensor]:
    """A generator's (or decoder's) inputs, `z [batch, latent]` and, where `condition_dim`,
    a one-hot `condition [batch, C]`, and the vector of both side by side."""
    z = keras.Input((config.latent_dim,), name="z")
    if not condition_dim:
        return [z], z
    condition = keras.Input((condition_dim,), name="condition")
    return [z, condition], layers.Concatenate()([z, condition])


def write_preview(folder: Path, epoch: int, arrays: np.ndarray, representation: Any,
                  writer: Any = None) -> None:
    """`folder/eNNN.png`, a spectrogram grid of `[clip, ...]` generated arrays (one of each
    digit), and `folder/eNNN.wav`, those clips in a row at one peak level; the grid also
    to TensorBoard's `writer` where one is given. Non-finite arrays write nothing."""
    from .. import plots
    from ..audio import write_wav

    if not np.isfinite(arrays).all():
        return
    folder.mkdir(exist_ok=True)
    stem = folder / f"e{epoch:03d}"
    figure = plots.spectrogram_grid(representation.log_magnitude(arrays)[None], representation,
                                    f"Epoch {epoch}: one sample of each digit",
                                    column_titles=[str(digit) for digit in range(10)])
    if writer is not None:  # before `save` closes the figure
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=60)
        with writer.as_default():
            tf.summary.image("preview", tf.image.decode_png(buffer.getvalue())[None], step=epoch)
    plots.save(figure, stem.with_suffix(".png"))
    clips = representation.decode(arrays, n_iter=32)
    clips *= 0.9 / max(float(np.abs(clips).max()), 1e-6)
    write_wav(stem.with_suffix(".wav"), clips.reshape(-1), representation.settings.sample_rate)
