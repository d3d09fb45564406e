"""The MLP body of a VAE: fully connected layers over the flattened spectrogram."""

from __future__ import annotations

import math

import keras
from keras import layers

from . import ModelConfig
from .blocks import block, regularizer

def _hidden_units(config: ModelConfig) -> list[int]:
    """Widest first: e.g. width 256, depth 2 -> [512, 256]."""
    return [config.width * 2 ** (config.depth - 1 - i) for i in range(config.depth)]


def encoder_body(features: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """`[batch, freq, frame]` features to a `[batch, units]` hidden vector."""
    hidden = layers.Flatten()(features)
    for units in _hidden_units(config):
        hidden = block(layers.Dense(units, kernel_regularizer=regularizer(config)), hidden, config)
    return hidden


def decoder_body(hidden: keras.KerasTensor, config: ModelConfig,
                 feature_shape: tuple[int, int]) -> keras.KerasTensor:
    """A `[batch, units]` vector to `[batch, freq, frame]` features (linear output)."""
    for units in reversed(_hidden_units(config)):
        hidden = block(layers.Dense(units, kernel_regularizer=regularizer(config)), hidden, config)
    output = layers.Dense(math.prod(feature_shape), kernel_regularizer=regularizer(config))(hidden)
    return layers.Reshape(feature_shape)(output)
