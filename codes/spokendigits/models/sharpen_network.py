"""The sharpened VAE decoder (`sharpen`): its Keras side.

The VAE's decoder is fine-tuned, its encoder frozen, by the recipe of
latent-diffusion autoencoders and HiFi-GAN: a patch critic judges small
time-frequency patches of log-magnitude spectrograms, real against decoded,
with the hinge loss; the decoder is trained on

    reconstruction_weight * |x - x̂| + feature_matching_weight * FM + adversarial,

where FM is the mean absolute difference of the critic's hidden features of x
and x̂ (every layer), and adversarial is -D(x̂). The L1 term keeps what the
decoder says; the critic and feature matching give back the fine structure
(harmonics) a Gaussian likelihood blurs. The decoder decodes a posterior sample
z ~ N(mu, sigma^2) of each clip, as it did in the VAE's training, so the latent
codes it answers to stay those of the sampler and the flow.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from ..config import from_dict, to_dict
from ..distribute import BuiltAtConstruction, ReplicaSeedGenerator, replica_share, step_logs
from ..sampling import sampler_file
from ..storage import write_json
from . import ModelConfig
from .blocks import LEAK, posterior_sample

CRITIC_WIDTHS = (32, 64, 128)   # channels of the critic's stride-2 convolutions
ADAM = {"beta_1": 0.5, "beta_2": 0.9}  # as the GANs' (gan_network)


def build_critic(feature_shape: tuple[int, int]) -> keras.Model:
    """`[batch, freq, frame]` -> a patch map of scores, and the hidden features of each
    layer (for feature matching)."""
    features = keras.Input(feature_shape, name="features")
    hidden, outputs = layers.Reshape((*feature_shape, 1))(features), []
    for width in CRITIC_WIDTHS:
        hidden = layers.LeakyReLU(LEAK)(layers.Conv2D(width, 4, strides=2, padding="same")(hidden))
        outputs.append(hidden)
    scores = layers.Conv2D(1, 3, padding="same")(hidden)
    return keras.Model(features, [scores, *outputs], name="critic")


@keras.saving.register_keras_serializable(package="spokendigits")
class SharpenedDecoder(BuiltAtConstruction, keras.Model):
    """The decoder and its critic. Inputs are dicts: `{"features": [batch, freq, frame],
    "posterior": [batch, 2 * latent], "condition": [batch, dim]}` (condition where the VAE
    is conditional)."""

    def __init__(self, config: ModelConfig, feature_shape: tuple[int, int], condition_dim: int,
                 seed: int, learning_rates: tuple[float, float],
                 decoder: keras.Model | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config, self.feature_shape = config, tuple(feature_shape)
        self.condition_dim, self.seed = condition_dim, seed
        self.learning_rates = tuple(learning_rates)  # the decoder's, the critic's
        if decoder is None:  # from a saved state: the weights are loaded after
            from .vae_network import build_decoder

            decoder = build_decoder(self.vae_config(config), self.feature_shape, condition_dim)
        self.decoder = decoder
        self.critic = build_critic(self.feature_shape)
        self.decoder_optimizer = keras.optimizers.Adam(learning_rates[0], **ADAM)
        self.critic_optimizer = keras.optimizers.Adam(learning_rates[1], **ADAM)
        # Built now, so that a saved model's optimizer state loads back into them.
        self.decoder_optimizer.build(self.decoder.trainable_variables)
        self.critic_optimizer.build(self.critic.trainable_variables)
        self.seed_generator = ReplicaSeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in (
            "reconstruction", "l1", "feature_matching", "adversarial", "critic")}
        self.built = True

    @staticmethod
    def vae_config(config: ModelConfig) -> ModelConfig:
        """The VAE's model settings (its decoder's architecture)."""
        from ..runs import Run
        from .on_vae import OnVAE

        return Run.open(OnVAE.folder(config.vae_run)).model

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def compile_from_config(self, config: dict) -> None:
        """Compiled again on loading, with no optimizer of Keras's own: the model holds one
        per network, whose state loads with the rest of it."""
        self.compile(optimizer=None)

    def _decode(self, inputs: dict, training: bool, sample: bool = True):
        z = posterior_sample(inputs["posterior"], self.seed_generator) if sample else \
            ops.split(inputs["posterior"], 2, axis=-1)[0]
        condition = [inputs["condition"]] if self.condition_dim else []
        return self.decoder([z, *condition], training=training)

    def _decoder_terms(self, inputs: dict, decoded, training: bool):
        """Reconstruction (summed squared error per clip, as the VAE's), L1, feature
        matching and adversarial terms, and the decoder's objective."""
        real = inputs["features"]
        real_scores, *real_hidden = self.critic(real, training=training)
        fake_scores, *fake_hidden = self.critic(decoded, training=training)
        l1 = ops.mean(ops.abs(real - decoded))
        matching = sum(ops.mean(ops.abs(ops.stop_gradient(a) - b))
                       for a, b in zip(real_hidden, fake_hidden)) / len(real_hidden)
        adversarial = -ops.mean(fake_scores)
        objective = self.config.reconstruction_weight * l1 + \
            self.config.feature_matching_weight * matching + \
            self.config.adversarial_weight * adversarial
        squared = ops.mean(ops.sum(ops.square(real - decoded), axis=(1, 2)))
        return objective, {"reconstruction": squared, "l1": l1, "feature_matching": matching,
                           "adversarial": adversarial}

    def _critic_loss(self, inputs: dict, decoded, training: bool):
        """The hinge loss of the critic's patch scores."""
        real_scores = self.critic(inputs["features"], training=training)[0]
        fake_scores = self.critic(ops.stop_gradient(decoded), training=training)[0]
        return ops.mean(ops.relu(1.0 - real_scores)) + ops.mean(ops.relu(1.0 + fake_scores))

    def _track(self, values: dict) -> dict:
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return step_logs({name: tracker.result() for name, tracker in self.trackers.items()})

    def train_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        decoded = self._decode(inputs, training=True)
        with tf.GradientTape() as tape:
            critic = self._critic_loss(inputs, decoded, training=True)
            share = replica_share(critic)
        gradients = tape.gradient(share, self.critic.trainable_weights)
        self.critic_optimizer.apply(gradients, self.critic.trainable_weights)
        with tf.GradientTape() as tape:
            decoded = self._decode(inputs, training=True)
            objective, terms = self._decoder_terms(inputs, decoded, training=True)
            share = replica_share(objective)
        gradients = tape.gradient(share, self.decoder.trainable_weights)
        self.decoder_optimizer.apply(gradients, self.decoder.trainable_weights)
        return self._track({**terms, "critic": critic})

    def test_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        decoded = self._decode(inputs, training=False, sample=False)
        _, terms = self._decoder_terms(inputs, decoded, training=False)
        return self._track({**terms, "critic": self._critic_loss(inputs, decoded, False)})

    def get_config(self) -> dict:
        return {**super().get_config(), "config": to_dict(self.config),
                "feature_shape": list(self.feature_shape), "condition_dim": self.condition_dim,
                "seed": self.seed, "learning_rates": list(self.learning_rates)}

    @classmethod
    def from_config(cls, config: dict) -> SharpenedDecoder:
        config = dict(config)
        return cls(from_dict(ModelConfig, config.pop("config")), tuple(config.pop("feature_shape")),
                   config.pop("condition_dim"), config.pop("seed"), config.pop("learning_rates"),
                   **config)


def build(config: ModelConfig, feature_shape: tuple[int, ...], condition_dim: int, seed: int,
          training: Any, vae: Any) -> SharpenedDecoder:
    """The VAE's last decoder (weights and all) and a new critic, each with its Adam: at
    `training.learning_rate`, and the critic at `training.critic_learning_rate` (default the
    same)."""
    decoder = keras.saving.load_model(vae.checkpoint(None) / "decoder.keras")
    rates = (1e-4, 1e-4) if training is None else \
        (training.learning_rate, training.critic_learning_rate or training.learning_rate)
    model = SharpenedDecoder(config, feature_shape, condition_dim, seed, rates, decoder)
    model.compile(optimizer=None)  # the model holds one optimizer per network
    return model


def save_checkpoint(model: SharpenedDecoder, staging: Path, epoch: int, logs: dict, data: dict,
                    batch_size: int, vae: Any) -> None:
    """The VAE's checkpoint with the decoder replaced: `decoder.keras` and `generator.onnx`
    (fine-tuned), the VAE's `encoder.keras` and latent Gaussians (copied: the codes stay
    put), `sampler.json`, and the losses of every split (`metrics.json`)."""
    source = vae.checkpoint(None)
    for name in ("encoder.keras", "latents.json"):
        shutil.copyfile(source / name, staging / name)
    model.decoder.save(staging / "decoder.keras")
    shape = tuple(model.decoder.output.shape[1:])
    channel = layers.Reshape((*shape, 1), name="generator_channel")  # a name the decoder lacks
    generator = keras.Model(model.decoder.inputs, channel(model.decoder.output), name="generator")
    generator([np.zeros((1, *put.shape[1:]), np.float32) for put in generator.inputs])
    generator.export(str(staging / "generator.onnx"), format="onnx", verbose=False)
    write_json(staging / "sampler.json", sampler_file(model.config.latent_dim,
                                                      gaussians="latents.json"))
    names = list(model.trackers)
    test = model.evaluate(data["test"].inputs, batch_size=batch_size, verbose=0, return_dict=True)
    write_json(staging / "metrics.json", {
        "epoch": epoch, "train": {name: float(logs[name]) for name in names},
        "validation": {name: float(logs[f"val_{name}"]) for name in names},
        "test": {name: float(test[name]) for name in names}})
