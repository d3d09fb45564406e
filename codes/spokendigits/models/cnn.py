"""The CNN body of a VAE: stride-2 2-D convolutions over the spectrogram as an image.

Each side halves (or doubles) frequency and time `depth` times; the decoder's
last transposed convolution goes straight to one channel, since a full-size
convolution over many channels made an epoch 4x slower on CPU. Bins beyond a
multiple of `2**depth` (FSDD's Nyquist bin: 129 -> 128) are cropped on the way
in and padded back on the way out: a padded bin decodes to 0, its training
mean in scaled features.
"""

from __future__ import annotations

import keras
from keras import layers

from . import ModelConfig
from .blocks import block, crop, regularizer, residual_block, widths

KERNEL = 3


def encoder_body(features: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """`[batch, freq, frame]` features to a `[batch, units]` hidden vector."""
    crop_freq, crop_time = crop(tuple(features.shape[1:]), config.depth)
    image = layers.Reshape((*features.shape[1:], 1))(features)
    image = layers.Cropping2D(((0, crop_freq), (0, crop_time)))(image)
    for channels in widths(config):
        image = block(layers.Conv2D(channels, KERNEL, strides=2, padding="same",
                                    kernel_regularizer=regularizer(config)), image, config)
        for _ in range(config.residual_blocks):
            image = residual_block(image, config)
    return layers.Flatten()(image)


def decoder_body(hidden: keras.KerasTensor, config: ModelConfig,
                 feature_shape: tuple[int, int]) -> keras.KerasTensor:
    """A `[batch, units]` vector to `[batch, freq, frame]` features (linear output)."""
    crop_freq, crop_time = crop(feature_shape, config.depth)
    factor = 2**config.depth
    small = ((feature_shape[0] - crop_freq) // factor, (feature_shape[1] - crop_time) // factor)
    channels = widths(config)
    hidden = block(layers.Dense(small[0] * small[1] * channels[-1],
                                kernel_regularizer=regularizer(config)), hidden, config)
    image = layers.Reshape((*small, channels[-1]))(hidden)
    for width in reversed(channels[:-1]):
        for _ in range(config.residual_blocks):
            image = residual_block(image, config)
        image = block(layers.Conv2DTranspose(width, KERNEL, strides=2, padding="same",
                                             kernel_regularizer=regularizer(config)), image, config)
    for _ in range(config.residual_blocks):
        image = residual_block(image, config)
    image = layers.Conv2DTranspose(1, KERNEL, strides=2, padding="same",
                                   kernel_regularizer=regularizer(config))(image)
    image = layers.ZeroPadding2D(((0, crop_freq), (0, crop_time)))(image)
    return layers.Reshape(feature_shape)(image)
