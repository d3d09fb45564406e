"""The regularized block every network body is made of."""

from __future__ import annotations

import keras
from keras import layers

from . import ModelConfig


def regularizer(config: ModelConfig) -> keras.regularizers.Regularizer | None:
    """L2 on kernels, if the config asks for it."""
    return keras.regularizers.L2(config.l2) if config.l2 else None


def block(layer: layers.Layer, inputs: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """`layer`, then batch normalization, ReLU and dropout as the config asks."""
    hidden = layer(inputs)
    if config.batch_norm:
        hidden = layers.BatchNormalization()(hidden)
    hidden = layers.Activation("relu")(hidden)
    if config.dropout:
        hidden = layers.Dropout(config.dropout)(hidden)
    return hidden
