"""The variational autoencoder of the MLP and CNN families (`vae`): its Keras side.

Encoder and decoder are functional models around a family's body (`mlp`,
`cnn`); conditioning appends a one-hot `condition` vector (digit, and speaker
where asked) to the encoder's hidden vector and to the decoder's latent input.

Loss per clip: the decoder's negative log-likelihood plus `beta` times the KL
divergence of the posterior from N(0, I), summed over latent dimensions.

- `decoder_variance="fixed"`: the squared error summed over all `[freq, frame]`
  bins (a Gaussian of variance 1/2, constants dropped). On standardised
  features that weighs the KL term far more than the data's real noise level
  would, and the decoder blurs.
- `"shared"` / `"per-bin"` (the sigma-VAE, Rybkin et al. 2021): a Gaussian of
  learned standard deviation σ, one value or one per frequency bin:
  sum of (x - x̂)² / 2σ² + log σ. σ takes its maximum-likelihood value given
  the decoder, the root mean squared error of the batch (over all bins, or
  per bin), which the paper found better than learning it by gradient: a
  learned σ moved by Adam needed tens of epochs to leave 1 here. The
  likelihood then finds its own balance with the KL term instead of a
  hand-set beta.

`reconstruction` is always the summed squared error, so it compares across
likelihoods. Free bits leave each latent dimension's first `free_bits` nats of
KL (batch mean) unpenalised, so no dimension is pushed to collapse early. L2
penalties are optimised but not reported, so losses compare across
regularization.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from . import FAMILIES, ModelConfig, cnn, mlp
from .blocks import latent_inputs
from ..config import from_dict, to_dict
from ..distribute import (BuiltAtConstruction, ReplicaSeedGenerator, replica_share,
                          step_logs)
from ..sampling import fit_latent_gaussians, sampler_file
from ..storage import write_json

BODIES = {"mlp": mlp, "cnn": cnn}  # a family's `body` names its encoder and decoder
LOG_VARIANCE_BOUND = 8.0  # posterior standard deviations between e^-4 and e^4
# The decoder's sigma stays above e^-5 (0.7% of a standardised bin's spread): a floor
# the data never reaches, so that a bin of constant value cannot drive it to 0.
LOG_SIGMA_FLOOR = -5.0


def build_encoder(config: ModelConfig, feature_shape: tuple[int, int],
                  condition_dim: int) -> keras.Model:
    """`features [batch, freq, frame]` (+ `condition`) -> `z_mean`, `z_log_var` `[batch, latent]`."""
    features = keras.Input(feature_shape, name="features")
    inputs, hidden = [features], BODIES[FAMILIES[config.family].body].encoder_body(features, config)
    if condition_dim:
        condition = keras.Input((condition_dim,), name="condition")
        inputs.append(condition)
        hidden = layers.Concatenate()([hidden, condition])
    z_mean = layers.Dense(config.latent_dim, name="z_mean")(hidden)
    # The log-variance starts at 0 (unit variance) and is bounded softly to
    # +-LOG_VARIANCE_BOUND: unbounded, one large value made z, then the decoder's
    # output, then the loss overflow (the plain MLP diverged to NaN at epoch 28).
    raw = layers.Dense(config.latent_dim, kernel_initializer="zeros")(hidden)
    bounded = layers.Activation("tanh")(layers.Rescaling(1 / LOG_VARIANCE_BOUND)(raw))
    z_log_var = layers.Rescaling(LOG_VARIANCE_BOUND, name="z_log_var")(bounded)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(config: ModelConfig, feature_shape: tuple[int, int],
                  condition_dim: int) -> keras.Model:
    """`z [batch, latent]` (+ `condition`) -> features `[batch, freq, frame]`."""
    inputs, hidden = latent_inputs(config, condition_dim)
    features = BODIES[FAMILIES[config.family].body].decoder_body(hidden, config, feature_shape)
    return keras.Model(inputs, features, name="decoder")


@keras.saving.register_keras_serializable(package="spokendigits")
class VAE(BuiltAtConstruction, keras.Model):
    """A (conditional) VAE with `train_step` / `test_step` and a loss tracker per term.

    Inputs are dicts: `{"features": [batch, freq, frame], "condition": [batch, C]}`,
    `condition` only when `condition_dim > 0`.
    """

    def __init__(self, config: ModelConfig, feature_shape: tuple[int, int], condition_dim: int,
                 seed: int, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.feature_shape = tuple(feature_shape)
        self.condition_dim = condition_dim
        self.seed = seed
        self.encoder = build_encoder(config, self.feature_shape, condition_dim)
        self.decoder = build_decoder(config, self.feature_shape, condition_dim)
        # The KL weight is a variable so that warm-up can change it between epochs.
        self.kl_weight = keras.Variable(0.0 if config.kl_warmup_epochs else config.beta,
                                        trainable=False, name="kl_weight")
        self.seed_generator = ReplicaSeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.sigma_tracker = keras.metrics.Mean(name="decoder_sigma")
        self.built = True  # encoder and decoder are built functional models

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        trackers = [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]
        return trackers + ([self.sigma_tracker] if self.config.decoder_variance != "fixed" else [])

    def _condition(self, inputs: dict) -> list:
        return [inputs["condition"]] if self.condition_dim else []

    def encode(self, inputs: dict, training: bool = False):
        """Posterior `z_mean`, `z_log_var`, each `[batch, latent]`."""
        return self.encoder([inputs["features"], *self._condition(inputs)], training=training)

    def call(self, inputs: dict, training: bool = False):
        """Reconstruction through the posterior mean: `[batch, freq, frame]`."""
        z_mean, _ = self.encode(inputs, training=training)
        return self.decoder([z_mean, *self._condition(inputs)], training=training)

    def _log_sigma(self, squared):
        """The maximum-likelihood log sigma of `[batch, freq, frame]` squared errors, as a
        constant: `[]` (shared) or `[freq, 1]` (per-bin)."""
        axes = (0, 2) if self.config.decoder_variance == "per-bin" else (0, 1, 2)
        variance = ops.mean(ops.stop_gradient(squared), axis=axes)
        log_sigma = ops.maximum(0.5 * ops.log(variance), LOG_SIGMA_FLOOR)
        return ops.expand_dims(log_sigma, -1) if self.config.decoder_variance == "per-bin" \
            else log_sigma

    def _loss_terms(self, inputs: dict, training: bool):
        """Objective, reconstruction (squared error), KL (each a batch mean per clip) and
        the decoder's sigma (geometric mean over bins; 1 where fixed)."""
        z_mean, z_log_var = self.encode(inputs, training=training)
        noise = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * noise
        reconstruction = self.decoder([z, *self._condition(inputs)], training=training)
        squared = ops.square(inputs["features"] - reconstruction)
        squared_error = ops.mean(ops.sum(squared, axis=(1, 2)))
        if self.config.decoder_variance == "fixed":
            likelihood, log_sigma = squared_error, ops.zeros(())
        else:
            log_sigma = self._log_sigma(squared)
            nll = 0.5 * squared * ops.exp(-2.0 * log_sigma) + log_sigma
            likelihood = ops.mean(ops.sum(nll, axis=(1, 2)))
        kl_per_dim = ops.mean(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)),
                              axis=0)
        kl = ops.sum(kl_per_dim)
        penalised_kl = ops.sum(ops.maximum(kl_per_dim, self.config.free_bits)) \
            if self.config.free_bits else kl
        return (likelihood + self.kl_weight * penalised_kl, squared_error, kl,
                ops.exp(ops.mean(log_sigma)))

    def _track(self, loss, reconstruction, kl, sigma) -> dict:
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        self.sigma_tracker.update_state(sigma)
        return step_logs({metric.name: metric.result() for metric in self.metrics})

    def train_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss, reconstruction, kl, sigma = self._loss_terms(inputs, training=True)
            penalty = ops.sum(self.losses) if self.losses else 0.0  # L2 on kernels
            share = replica_share(loss + penalty)
        gradients = tape.gradient(share, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._track(loss, reconstruction, kl, sigma)

    def test_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        return self._track(*self._loss_terms(inputs, training=False))

    def get_config(self) -> dict:
        return {**super().get_config(), "config": to_dict(self.config),
                "feature_shape": list(self.feature_shape), "condition_dim": self.condition_dim,
                "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict) -> "VAE":
        config = dict(config)
        model_config = from_dict(ModelConfig, config.pop("config"))
        return cls(model_config, tuple(config.pop("feature_shape")), config.pop("condition_dim"),
                   config.pop("seed"), **config)


class KLWarmUp(keras.callbacks.Callback):
    """Raise the model's KL weight linearly from beta/epochs to beta over the warm-up epochs,
    and log it (`kl_weight`) with each epoch."""

    def __init__(self, beta: float, epochs: int):
        super().__init__()
        self.beta, self.epochs = beta, epochs

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        weight = self.beta * min(1.0, (epoch + 1) / self.epochs) if self.epochs else self.beta
        self.model.kl_weight.assign(weight)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["kl_weight"] = float(self.model.kl_weight.numpy())


# What the family (`vae.VAEFamily`) calls.

def build(config: ModelConfig, feature_shape: tuple[int, ...], condition_dim: int, seed: int,
          training: Any = None, representation: Any = None) -> VAE:
    """A `VAE` compiled with Adam at `training.learning_rate` (default 1e-3)."""
    model = VAE(config, feature_shape, condition_dim, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3 if training is None
                                                  else training.learning_rate))
    model.optimizer.build(model.trainable_variables)  # whole before fit (BuiltAtConstruction)
    return model


def save_checkpoint(model: VAE, staging: Path, epoch: int, logs: dict, data: dict,
                    batch_size: int) -> None:
    """Encoder and decoder (Keras), the decoder as `generator.onnx` (its output given the
    channel axis every generator has), the latent Gaussians of the training clips
    (`latents.json`, every model) named by `sampler.json`, and the losses of every split
    (`metrics.json`)."""
    model.encoder.save(staging / "encoder.keras")
    model.decoder.save(staging / "decoder.keras")
    shape = tuple(model.decoder.output.shape[1:])
    generator = keras.Model(model.decoder.inputs,
                            layers.Reshape((*shape, 1))(model.decoder.output), name="generator")
    generator([np.zeros((1, *put.shape[1:]), np.float32) for put in generator.inputs])  # export
    # needs a model that has been called once
    generator.export(str(staging / "generator.onnx"), format="onnx", verbose=False)
    losses = FAMILIES[model.config.family].losses
    test = model.evaluate(data["test"].inputs, batch_size=batch_size, verbose=0, return_dict=True)
    write_json(staging / "metrics.json", {
        "epoch": epoch, "train": {key: float(logs[key]) for key in losses},
        "validation": {key: float(logs[f"val_{key}"]) for key in losses},
        "test": {key: float(value) for key, value in test.items()}})
    train = data["train"]
    z_mean, z_log_var = model.encoder.predict(
        [train.inputs["features"], *model._condition(train.inputs)], batch_size=batch_size,
        verbose=0)
    write_json(staging / "latents.json",
               fit_latent_gaussians(z_mean, z_log_var, train.digits, train.speakers))
    write_json(staging / "sampler.json", sampler_file(model.config.latent_dim,
                                                      gaussians="latents.json"))
