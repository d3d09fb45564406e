"""The latent flow (`flow`): its Keras side.

The velocity network is a residual MLP over a VAE's latent: the noisy latent,
a sinusoidal embedding of t and the one-hot condition go in; each of `depth`
blocks adds `Dense(SiLU(Dense(SiLU(LayerNorm(h) + c))))` to its input, where c
embeds t and the condition, through `dropout` in training; a last Dense gives
the velocity.

Training draws, for each clip of a batch, a latent x1 from its VAE posterior
N(mu, sigma^2) (so the flow learns the aggregate posterior, not its means), a
noise x0 ~ N(0, I) and t ~ U(0, 1), and regresses the velocity x1 - x0 at
x_t = (1 - t) x0 + t x1 by squared error (`flow`'s docstring). The condition is
zeroed in `label_dropout` of the clips: the unconditional velocity that
classifier-free guidance needs.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from ..config import from_dict, to_dict
from ..distribute import BuiltAtConstruction, ReplicaSeedGenerator, replica_share, step_logs
from ..sampling import sampler_file
from ..storage import onnx_session, write_json
from . import ModelConfig
from .blocks import posterior_sample, write_preview

TIME_FREQUENCIES = 16   # sinusoids of t: periods from 1 to 1/1000 of the unit interval
PREVIEW_EVERY = 10      # epochs between preview grids and wavs


@keras.saving.register_keras_serializable(package="spokendigits")
class TimeEmbedding(layers.Layer):
    """`[batch, 1]` t in [0, 1] -> `[batch, 2 * TIME_FREQUENCIES]` sines and cosines."""

    def call(self, t):
        frequencies = ops.exp(ops.linspace(0.0, math.log(1000.0), TIME_FREQUENCIES))
        angles = t * ops.cast(frequencies, t.dtype)[None, :] * math.pi
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)


def build_velocity(config: ModelConfig, condition_dim: int) -> keras.Model:
    """`[z [batch, latent], t [batch, 1], condition [batch, dim]]` -> `[batch, latent]`."""
    z = keras.Input((config.latent_dim,), name="z")
    t = keras.Input((1,), name="t")
    condition = keras.Input((condition_dim,), name="condition")
    context = layers.Dense(config.width)(layers.Concatenate()([TimeEmbedding()(t), condition]))
    hidden = layers.Dense(config.width)(z)
    for _ in range(config.depth):
        inner = layers.Add()([layers.LayerNormalization()(hidden), context])
        inner = layers.Dense(config.width, activation="silu")(layers.Activation("silu")(inner))
        hidden = layers.Add()([hidden, layers.Dropout(config.dropout)(layers.Dense(config.width)(
            inner))])
    velocity = layers.Dense(config.latent_dim)(
        layers.Activation("silu")(layers.LayerNormalization()(hidden)))
    return keras.Model([z, t, condition], velocity, name="velocity")


class FlowMatching(BuiltAtConstruction, keras.Model):
    """A model trained on one loss, `_loss(inputs, training)`, over its trainable weights,
    and logging it as "loss": the latent flow, the spectrogram flow (`refine_network`) and
    the pitch model (`pitch_network`, which regresses rather than matches a flow).
    Subclasses set `loss_tracker` (`keras.metrics.Mean(name="loss")`)."""

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker]

    def _loss(self, inputs: dict, training: bool):
        raise NotImplementedError

    def train_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss = self._loss(inputs, training=True)
            share = replica_share(loss)
        gradients = tape.gradient(share, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.loss_tracker.update_state(loss)
        return step_logs({"loss": self.loss_tracker.result()})

    def test_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        self.loss_tracker.update_state(self._loss(inputs, training=False))
        return step_logs({"loss": self.loss_tracker.result()})


class OnFrozenDecoder(FlowMatching):
    """A one-loss model over a VAE's frozen decoder (its weights are not trained), which
    turns a posterior sample of each clip into what the VAE would say of it (`draft`): the
    spectrogram flow (`refine_network`) and the pitch model (`pitch_network`). Subclasses
    make their networks in `_build_networks`."""

    def __init__(self, config: ModelConfig, feature_shape: tuple[int, int], seed: int,
                 decoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.config, self.feature_shape, self.seed = config, tuple(feature_shape), seed
        self.decoder = decoder
        self.decoder.trainable = False
        self._build_networks()
        self.seed_generator = ReplicaSeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    def _build_networks(self) -> None:
        raise NotImplementedError

    def draft(self, inputs: dict):
        """`[batch, freq, frame]` the decoder's spectrogram (in inference mode) of a posterior
        sample of each clip of `inputs` (its "posterior", and "condition" where given)."""
        z = posterior_sample(inputs["posterior"], self.seed_generator)
        condition = [inputs["condition"]] if "condition" in inputs else []
        return self.decoder([z, *condition], training=False)

    def get_config(self) -> dict:
        return {**super().get_config(), "config": to_dict(self.config),
                "feature_shape": list(self.feature_shape), "seed": self.seed,
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config: dict) -> OnFrozenDecoder:
        config = dict(config)
        return cls(from_dict(ModelConfig, config.pop("config")), tuple(config.pop("feature_shape")),
                   config.pop("seed"), keras.saving.deserialize_keras_object(config.pop("decoder")),
                   **config)

    @classmethod
    def over(cls, vae: Any, config: ModelConfig, feature_shape: tuple[int, ...], seed: int,
             learning_rate: float) -> OnFrozenDecoder:
        """One over `vae`'s last decoder, compiled with Adam at `learning_rate`, its
        optimizer built whole before fit."""
        decoder = keras.saving.load_model(vae.checkpoint(None) / "decoder.keras")
        model = cls(config, tuple(feature_shape[:2]), seed, decoder)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
        model.optimizer.build(model.trainable_variables)
        return model


@keras.saving.register_keras_serializable(package="spokendigits")
class LatentFlow(FlowMatching):
    """Conditional flow matching on VAE posteriors. Inputs are dicts: `{"features":
    [batch, 2 * latent] (posterior means, then log-variances), "condition": [batch, dim]}`."""

    def __init__(self, config: ModelConfig, condition_dim: int, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.config, self.condition_dim, self.seed = config, condition_dim, seed
        self.velocity = build_velocity(config, condition_dim)
        self.seed_generator = ReplicaSeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    def _loss(self, inputs: dict, training: bool):
        """The batch mean of the squared velocity error, per latent dimension."""
        target = posterior_sample(inputs["features"], self.seed_generator)
        batch = ops.shape(target)[0]
        noise = keras.random.normal(ops.shape(target), seed=self.seed_generator)
        t = keras.random.uniform((batch, 1), seed=self.seed_generator)
        condition = inputs["condition"]
        if training and self.config.label_dropout:
            kept = keras.random.uniform((batch, 1), seed=self.seed_generator) >= \
                self.config.label_dropout
            condition = condition * ops.cast(kept, condition.dtype)
        predicted = self.velocity([(1 - t) * noise + t * target, t, condition],
                                  training=training)
        return ops.mean(ops.square(predicted - (target - noise)))

    def get_config(self) -> dict:
        return {**super().get_config(), "config": to_dict(self.config),
                "condition_dim": self.condition_dim, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict) -> LatentFlow:
        config = dict(config)
        return cls(from_dict(ModelConfig, config.pop("config")), config.pop("condition_dim"),
                   config.pop("seed"), **config)


def build(config: ModelConfig, condition_dim: int, seed: int, training: Any = None
          ) -> LatentFlow:
    """A `LatentFlow` compiled with Adam at `training.learning_rate` (default 1e-3)."""
    model = LatentFlow(config, condition_dim, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3 if training is None
                                                  else training.learning_rate))
    model.optimizer.build(model.trainable_variables)  # whole before fit (BuiltAtConstruction)
    return model


class StepTimes(keras.callbacks.Callback):
    """Adds `step_seconds` to each epoch's logs (history.csv): the median wall time of its
    training steps, each timed alone."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.times: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter() - self.started)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["step_seconds"] = float(np.median(self.times)) if self.times else float("nan")


class Preview(keras.callbacks.Callback):
    """Every `PREVIEW_EVERY` epochs: one sample of each digit from fixed noise (guidance 1,
    16 Heun steps), decoded by the generator of `decoding_run` (the VAE, or a sharpened
    decoder of it): `previews/eNNN.png` and `.wav`."""

    def __init__(self, folder: Path, decoding_run: Any, representation: Any,
                 condition: np.ndarray):
        super().__init__()
        self.folder = folder / "previews"
        self.decoder = onnx_session(decoding_run.checkpoint(None) / "generator.onnx")
        self.representation, self.condition = representation, condition
        latent_dim = decoding_run.model.latent_dim
        self.noise = np.random.default_rng(0).standard_normal((10, latent_dim), np.float32)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % PREVIEW_EVERY:
            return
        from ..flow import integrate

        def velocity(x, t, condition):
            return self.model.velocity.predict_on_batch([x, t, condition])

        z = integrate(velocity, self.noise, self.condition, guidance=1.0, steps=16)
        arrays = self.decoder.run(None, {"z": z, "condition": self.condition})[0]
        write_preview(self.folder, epoch + 1, arrays, self.representation)


def save_checkpoint(model: LatentFlow, staging: Path, epoch: int, logs: dict, data: dict,
                    batch_size: int, decoding_run: Any) -> None:
    """`velocity.keras` and `velocity.onnx`; the generator of `decoding_run`'s last checkpoint
    (`generator.onnx`: the VAE's decoder, or a sharpened one; copied); `sampler.json` (z from
    the flow) and `metrics.json` (the flow-matching loss of every split)."""
    model.velocity.save(staging / "velocity.keras")
    model.velocity.export(str(staging / "velocity.onnx"), format="onnx", verbose=False)
    shutil.copyfile(decoding_run.checkpoint(None) / "generator.onnx", staging / "generator.onnx")
    write_json(staging / "sampler.json", sampler_file(model.config.latent_dim,
                                                      flow="velocity.onnx"))
    write_split_losses(model, staging, epoch, logs, data, batch_size)


def write_split_losses(model: keras.Model, staging: Path, epoch: int, logs: dict, data: dict,
                       batch_size: int) -> None:
    """A one-loss model's (`FlowMatching`'s) `metrics.json`: its loss on every split."""
    test = model.evaluate(data["test"].inputs, batch_size=batch_size, verbose=0,
                          return_dict=True)
    write_json(staging / "metrics.json", {
        "epoch": epoch, "train": {"loss": float(logs["loss"])},
        "validation": {"loss": float(logs["val_loss"])},
        "test": {"loss": float(test["loss"])}})
