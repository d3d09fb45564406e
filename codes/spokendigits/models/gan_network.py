"""The GAN families' Keras side (`gan`, `wavegan`): conditional Wasserstein GANs with a
gradient penalty (WGAN-GP) on spectrogram images and waveforms.

Three bodies share one training step (a family's `body` names its own):

- `cwgan-gp` (SpecGAN-like): the generator maps `z` and a one-hot condition
  through a dense layer to a small image, then doubles it `depth` times with
  5x5 stride-2 transposed convolutions (with `batch_norm`, each hidden layer
  batch-normalized before its ReLU, as in DCGAN and SNGAN generators); the critic mirrors it with 5x5
  stride-2 convolutions and leaky ReLUs, without batch normalization (the
  gradient penalty is per sample). Bins and frames beyond a multiple of
  `2**depth` (FSDD's Nyquist bin) are cropped on the way in and padded back on
  the way out. With `convolution` "1d", the same layers are one-dimensional,
  over frames alone (only frames are cropped): every frequency bin is a
  channel, so each layer sees the whole spectrum of nearby frames, and the
  generator's last layer draws every bin of a frame at once (a pitch's
  harmonics are one pattern across channels, not a texture a 5x5 kernel must
  repeat up the image).
- `mlp-cwgan-gp`: the small fully connected generator and critic of the
  reference the study reproduces (audio-digits-generator): the generator
  widens through `depth` leaky-ReLU layers (width 128, depth 3: 128, 256, 512),
  the critic has two layers of the widest size. The reference's batch
  normalization in the generator, dropout in the critic and concatenated label
  embeddings are left out: the label goes through the projection below, as for
  the convolutional body.
- `wavegan`: WaveGAN's 1-D layers on the raw waveform, with phase shuffle in
  the critic (see `wavegan`).

The critic sees the label through a projection (Miyato & Koyama 2018): its
output is `dense(h) + <h, embed(condition)>` for its last hidden vector `h`.
A projection costs one matrix product, asks the critic "is this a real clip
of that digit" at the level of the whole clip, and has worked better for
class-conditional GANs than label channels concatenated to the input.

A phase-conditional generator also reads a phase image (phase / pi): small
stride-2 convolutions bring it down to every resolution of the generator,
where it is concatenated (a U-Net's skips); the critic takes it as a second
input channel beside the magnitude, so it judges the pair.

Training follows Gulrajani et al. 2017, Algorithm 1: each step takes
`critic_steps` real batches, updates the critic once on each (loss
D(fake) - D(real) + lambda * (||grad D(mix)|| - 1)^2 on random mixes of real and
fake), then the generator once (loss -D(fake)). Adam with beta1 0.5 and
beta2 0.9, one optimizer per network; both are saved with the model, so a
run resumes where it stopped.

Options for what trains best in little time (see the README's results):
the hinge loss, max(0, 1 - D(real)) + max(0, 1 + D(fake)), with a spectrally
normalized critic and no penalty (SNGAN), which needs no second backward
pass; a moving average of the generator's weights (EMA), which is the
generator a checkpoint keeps; DiffAugment of everything the critic sees; and an
auxiliary classifier on the critic (AC-GAN, Odena et al. 2017): a second head
on the critic's last hidden vector learns to name the labels of real clips
(cross-entropy against the condition, normalized to sum 1), and the generator
is also trained to make clips that head names as asked. It is the critic's own
head, learnt with it from the training clips; the judge never enters training.
The projection asks "is this a real clip of that digit"; the classifier adds
"which digit is this", a dense signal from the first steps. With `minibatch_std`, the conv
critic's last convolution also reads how much the batch varies (ProGAN's minibatch standard
deviation), against a generator that draws too little variety. Each score then depends
on the whole batch (each replica's, under a strategy), as in ProGAN, also on the gradient
penalty's mixes.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from . import FAMILIES, ModelConfig, wavegan_network
from .blocks import (LEAK, batch_norm, crop, generator_activation, latent_inputs, normalized_relu, spectral,
                     widths, write_preview)
from ..config import from_dict, to_dict
from ..distribute import (BuiltAtConstruction, ReplicaSeedGenerator, pipeline, replica_share,
                          step_logs)
from ..errors import UsageError
from ..metrics import COLLAPSE_RATIO
from ..runs import RAW_GENERATOR
from ..sampling import sampler_file
from ..storage import atomic_write, write_json

KERNEL = 5
ADAM = {"beta_1": 0.5, "beta_2": 0.9}
PHASE_BANK = 8            # phase images kept per digit for inference (phase-conditional models)
PREVIEW_EVERY = 5         # epochs between previews
COLLAPSE_AFTER = 10       # epochs: a generator starts from near-constant output


def _phase_pyramid(phase: keras.KerasTensor, config: ModelConfig) -> list[keras.KerasTensor]:
    """Features of the `[freq, frame, 1]` phase image at each halving, finest first."""
    cut = crop(tuple(phase.shape[1:]), config.depth)
    image = layers.Cropping2D(((0, cut[0]), (0, cut[1])))(phase)
    pyramid = []
    for channels in widths(config):
        image = layers.Conv2D(channels, KERNEL, strides=2, padding="same")(image)
        image = layers.LeakyReLU(LEAK)(image)
        pyramid.append(image)
    return pyramid


def _layers(config: ModelConfig) -> tuple[type, type, type]:
    """The conv GAN's convolution, transposed convolution and upsampling layers: 2-D, or
    1-D over frames (`convolution` "1d")."""
    if config.convolution == "1d":
        return layers.Conv1D, layers.Conv1DTranspose, layers.UpSampling1D
    return layers.Conv2D, layers.Conv2DTranspose, layers.UpSampling2D


def _doubled(image: keras.KerasTensor, channels: int, activation: str | None,
             config: ModelConfig) -> keras.KerasTensor:
    """`image` (`[batch, freq, frame, channel]`, or `[batch, frame, channel]` in 1-D) at
    twice its resolution with `channels` channels: a stride-2 transposed convolution of 5
    (x 5) taps, or (upsampling "resize") nearest-neighbour doubling and a convolution of 3
    (x 3)."""
    convolution, transposed, upsampling = _layers(config)
    if config.upsampling == "resize":
        image = upsampling(2)(image)  # nearest-neighbour, in both
        return convolution(channels, 3, padding="same", activation=activation)(image)
    return transposed(channels, KERNEL, strides=2, padding="same", activation=activation)(image)


def build_generator(config: ModelConfig, shape: tuple[int, int, int],
                    condition_dim: int) -> keras.Model:
    """`z [batch, latent]` (+ `condition [batch, C]`, + `phase [batch, freq, frame, 1]`) ->
    `[batch, freq, frame, channel]` arrays of the representation (linear output), or for
    wavegan `[batch, sample, 1]` waveforms."""
    inputs, hidden = latent_inputs(config, condition_dim)
    pyramid = []
    if config.phase_conditional:
        phase = keras.Input((*shape[:2], 1), name="phase")
        inputs.append(phase)
        pyramid = _phase_pyramid(phase, config)
    body = GENERATOR_BODIES[FAMILIES[config.family].body]
    return keras.Model(inputs, body(hidden, config, shape, pyramid), name="generator")


def _mlp_generator(hidden: keras.KerasTensor, config: ModelConfig, shape: tuple[int, ...],
                   pyramid: list) -> keras.KerasTensor:
    """`mlp-cwgan-gp`'s generator: `depth` dense layers widening from `width`."""
    for units in widths(config):  # e.g. 128, 256, 512
        hidden = layers.Dense(units)(hidden)
        if config.batch_norm:
            hidden = batch_norm()(hidden)
        hidden = layers.LeakyReLU(LEAK)(hidden)
    return layers.Reshape(shape)(layers.Dense(math.prod(shape))(hidden))


def _wave_generator(hidden: keras.KerasTensor, config: ModelConfig, shape: tuple[int, ...],
                    pyramid: list) -> keras.KerasTensor:
    return wavegan_network.generator_body(hidden, config, shape)


def _conv_generator(hidden: keras.KerasTensor, config: ModelConfig, shape: tuple[int, ...],
                    pyramid: list) -> keras.KerasTensor:
    """`cwgan-gp`'s generator: a dense layer to a small image, doubled `depth` times (2-D,
    or 1-D over frames), the phase pyramid's levels concatenated on the way."""
    cut = _crop(shape, config)
    factor = 2**config.depth
    one_d = config.convolution == "1d"
    # 1-D: frames alone are halved; the last layer makes every bin of every channel
    small = ((shape[1] - cut[1]) // factor,) if one_d else \
        ((shape[0] - cut[0]) // factor, (shape[1] - cut[1]) // factor)
    channels = widths(config)
    hidden = normalized_relu(layers.Dense(math.prod(small) * channels[-1],
                                           activation=generator_activation(config))(hidden), config)
    image = layers.Reshape((*small, channels[-1]))(hidden)
    for level in reversed(range(config.depth)):
        if pyramid:
            image = layers.Concatenate()([image, pyramid[level]])
        if level == 0:
            image = _doubled(image, shape[0] * shape[2] if one_d else shape[2], None, config)
        else:
            image = normalized_relu(_doubled(image, channels[level - 1], generator_activation(config),
                                              config), config)
    if one_d:  # [frame, freq * channel] -> [freq, frame, channel]
        image = layers.Reshape((small[0] * factor, shape[0], shape[2]))(image)
        image = layers.Permute((2, 1, 3))(image)
    return layers.ZeroPadding2D(((0, cut[0]), (0, cut[1])))(image)


def _crop(shape: tuple[int, ...], config: ModelConfig) -> tuple[int, int]:
    """Bins and frames to drop from `[freq, frame, ...]` images so that the conv GAN's
    layers halve them `depth` times (in 1-D, frames alone)."""
    cut = crop(shape, config.depth)
    return (0, cut[1]) if config.convolution == "1d" else cut


def _image_critic_body(image: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """The conv critic's last hidden vector of `[batch, freq, frame, channel]` images: 5x5
    stride-2 convolutions and leaky ReLUs, after cropping to a multiple of `2**depth` (1-D:
    5-tap convolutions over frames, every bin of every channel an input channel)."""
    shape = tuple(image.shape[1:])
    cut = _crop(shape, config)
    image = layers.Cropping2D(((0, cut[0]), (0, cut[1])))(image)
    if config.convolution == "1d":  # [freq, frame, channel] -> [frame, freq * channel]
        image = layers.Permute((2, 1, 3))(image)
        image = layers.Reshape((shape[1] - cut[1], shape[0] * shape[2]))(image)
    convolution = _layers(config)[0]
    for index, channels in enumerate(widths(config)):
        if config.minibatch_std and index == config.depth - 1:  # before the last
            image = MinibatchStd()(image)
        image = spectral(convolution(channels, KERNEL, strides=2, padding="same"), config)(image)
        image = layers.LeakyReLU(LEAK)(image)
    return layers.Flatten()(image)


@keras.saving.register_keras_serializable(package="spokendigits")
class MinibatchStd(layers.Layer):
    """`[batch, ..., channel]` -> `[batch, ..., channel + 1]`: the input and one channel that
    holds, everywhere, the standard deviation over the batch of each of the input's features,
    averaged (Karras et al. 2018). A critic that reads it can tell a batch of generated clips
    that vary less than real ones do, a signal that no single clip carries. A batch of one
    clip gets about 0 (the square root of the `1e-8` floor)."""

    def call(self, inputs):
        std = ops.mean(ops.sqrt(ops.var(inputs, axis=0) + 1e-8))
        return ops.concatenate([inputs, ops.ones_like(inputs[..., :1]) * std], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


def build_critic(config: ModelConfig, shape: tuple[int, int, int], condition_dim: int,
                 stft: dict[str, Any] | None = None) -> keras.Model:
    """`features [batch, freq, frame, channel]` (wavegan: `[batch, sample, 1]`; + `condition`,
    + `phase`) -> `[batch, 1]`
    scores: higher is "more real" (and, with an auxiliary classifier, `[batch, condition]`
    logits: which labels the critic hears). `stft` (`stft_settings`) is what a wavegan
    critic with `spectral_critic` needs to compute its scaled log-magnitudes."""
    features = keras.Input(shape, name="features")
    inputs, image = [features], features
    if config.phase_conditional:
        phase = keras.Input((*shape[:2], 1), name="phase")
        inputs.append(phase)
        image = layers.Concatenate()([features, phase])
    hidden = CRITIC_BODIES[FAMILIES[config.family].body](image, config, stft)
    score = spectral(layers.Dense(1), config)(hidden)
    if condition_dim:
        condition = keras.Input((condition_dim,), name="condition")
        inputs.insert(1, condition)
        embedded = spectral(layers.Dense(hidden.shape[-1], use_bias=False, name="projection"),
                               config)(condition)
        score = layers.Add()([score, layers.Dot(axes=1)([hidden, embedded])])
    if config.auxiliary_weight:  # AC-GAN: logits of the labels in the condition
        return keras.Model(inputs, [score, layers.Dense(condition_dim, name="classifier")(hidden)],
                           name="critic")
    return keras.Model(inputs, score, name="critic")


def _mlp_critic(image: keras.KerasTensor, config: ModelConfig,
                stft: dict[str, Any] | None) -> keras.KerasTensor:
    """`mlp-cwgan-gp`'s critic: two dense layers as wide as the generator's widest."""
    hidden = layers.Flatten()(image)
    for _ in range(2):  # e.g. 512, 512
        hidden = spectral(layers.Dense(config.width * 2**(config.depth - 1)), config)(hidden)
        hidden = layers.LeakyReLU(LEAK)(hidden)
    return hidden


def _wave_critic(wave: keras.KerasTensor, config: ModelConfig,
                 stft: dict[str, Any] | None) -> keras.KerasTensor:
    """WaveGAN's critic, and beside it (`spectral_critic`) the conv critic's layers over the
    clip's scaled log-magnitude STFT."""
    hidden = wavegan_network.critic_body(wave, config)
    if config.spectral_critic:
        spectrogram = ScaledLogMagnitude(stft)(wave)
        hidden = layers.Concatenate()([hidden, _image_critic_body(spectrogram, config)])
    return hidden


def _conv_critic(image: keras.KerasTensor, config: ModelConfig,
                 stft: dict[str, Any] | None) -> keras.KerasTensor:
    return _image_critic_body(image, config)


# A family's `body` names its generator and critic.
GENERATOR_BODIES = {"conv": _conv_generator, "mlp": _mlp_generator, "wave": _wave_generator}
CRITIC_BODIES = {"conv": _conv_critic, "mlp": _mlp_critic, "wave": _wave_critic}


def augment(images, seed_generator):
    """DiffAugment for spectrograms (Zhao et al. 2020): each `[batch, freq, frame, channel]`
    image is shifted in time by up to an eighth of its frames (filled with 0, the scaled
    mean) and has a random quarter of its area (half its bins by half its frames) set to 0.
    Differentiable in `images`, so it applies to generated clips as to real ones."""
    shape = ops.shape(images)
    batch, n_freq, n_frames = shape[0], shape[1], shape[2]
    max_shift = n_frames // 8
    shift = keras.random.randint((batch, 1), -max_shift, max_shift + 1, seed=seed_generator)
    source = ops.arange(n_frames)[None, :] - shift                        # [batch, frame]
    inside = ops.cast((source >= 0) & (source < n_frames), images.dtype)
    shifted = tf.gather(images, ops.clip(source, 0, n_frames - 1), axis=2, batch_dims=1)
    shifted = shifted * inside[:, None, :, None]
    corner_freq = keras.random.randint((batch, 1), 0, n_freq - n_freq // 2 + 1, seed=seed_generator)
    corner_time = keras.random.randint((batch, 1), 0, n_frames - n_frames // 2 + 1,
                                       seed=seed_generator)
    freq = ops.arange(n_freq)[None, :] - corner_freq
    time = ops.arange(n_frames)[None, :] - corner_time
    cut = ((freq >= 0) & (freq < n_freq // 2))[:, :, None] & \
        ((time >= 0) & (time < n_frames // 2))[:, None, :]
    return shifted * ops.cast(~cut, images.dtype)[..., None]


def _frames(signal, n_fft: int, hop_length: int):
    """TensorFlow twin of `audio.stft`: `[batch, sample]` -> `[batch, freq, frame]` complex."""
    padded = tf.pad(signal, [[0, 0], [n_fft // 2, n_fft // 2]])
    frames = tf.signal.frame(padded, n_fft, hop_length) * tf.signal.hann_window(n_fft, periodic=True)
    return tf.transpose(tf.signal.rfft(frames), [0, 2, 1])


def _inverse(spectrogram, n_fft: int, hop_length: int, length: int):
    """TensorFlow twin of `audio.inverse_stft`: `[batch, freq, frame]` -> `[batch, length]`."""
    window = tf.signal.hann_window(n_fft, periodic=True)
    frames = tf.signal.irfft(tf.transpose(spectrogram, [0, 2, 1]), [n_fft]) * window
    signal = tf.signal.overlap_and_add(frames, hop_length)
    window_sum = tf.signal.overlap_and_add(
        tf.broadcast_to(tf.square(window), tf.shape(frames)[1:]), hop_length)
    signal = signal / tf.where(window_sum > 1e-8, window_sum, tf.ones_like(window_sum))
    return signal[:, n_fft // 2:n_fft // 2 + length]


def stft_settings(representation: Any) -> dict[str, Any]:
    """What `stft_inconsistency` and `ScaledLogMagnitude` need of a fitted representation, as
    plain (saveable) data: its log-magnitude scaling statistics, and the STFT's bins, hop,
    clip length and log floor."""
    settings = representation.settings
    return {"mean": representation.scaling.mean.tolist(),
            "std": representation.scaling.std.tolist(), "n_freq": settings.n_freq,
            "hop_length": settings.hop_length, "clip_samples": settings.clip_samples,
            "log_floor": settings.log_floor}


def _stft_scaling(stft: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int]:
    """The `[freq, 1]` mean and std of `stft_settings`, and the STFT's window `n_fft`."""
    return (np.asarray(stft["mean"], np.float32)[:, None],
            np.asarray(stft["std"], np.float32)[:, None], 2 * (stft["n_freq"] - 1))


@keras.saving.register_keras_serializable(package="spokendigits")
class ScaledLogMagnitude(layers.Layer):
    """`[batch, sample, 1]` waveforms to `[batch, freq, frame, 1]` log-magnitude STFTs,
    standardized by the feature set's statistics: the images the spectrogram critics see,
    differentiable in the waveform. The magnitude is `sqrt(|S|^2 + floor^2)`, a smooth
    stand-in for the feature set's `max(|S|, floor)` whose gradient stays finite at silence.

    Args:
        stft: `stft_settings` of the run's representation.
    """

    def __init__(self, stft: dict[str, Any], **kwargs):
        super().__init__(**kwargs)
        self.stft = stft
        self.mean, self.std, self.n_fft = _stft_scaling(stft)

    def call(self, waveforms):
        spectrogram = _frames(waveforms[..., 0], self.n_fft, self.stft["hop_length"])
        power = ops.square(ops.real(spectrogram)) + ops.square(ops.imag(spectrogram))
        log_magnitude = 0.5 * ops.log(power + self.stft["log_floor"] ** 2)
        return ((log_magnitude - self.mean) / self.std)[..., None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.stft["n_freq"],
                1 + input_shape[1] // self.stft["hop_length"], 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "stft": self.stft}


def stft_inconsistency(log_magnitude, phase, stft: dict[str, Any]):
    """`||STFT(iSTFT(S)) - S||^2 / ||S||^2` per clip, `S = M e^(i pi phase)`, for scaled
    `[batch, freq, frame, 1]` log-magnitudes (M after undoing the scaling) and phase / pi.
    0 for a spectrogram some waveform has; the mean over the batch."""
    mean, std, n_fft = _stft_scaling(stft)
    magnitude = tf.exp(log_magnitude[..., 0] * std + mean)
    angle = np.pi * phase[..., 0]
    spectrogram = tf.complex(magnitude * tf.cos(angle), magnitude * tf.sin(angle))
    hop_length = stft["hop_length"]
    again = _frames(_inverse(spectrogram, n_fft, hop_length, stft["clip_samples"]), n_fft,
                    hop_length)
    error = tf.reduce_sum(tf.square(tf.abs(again - spectrogram)), axis=[1, 2])
    return tf.reduce_mean(error / tf.reduce_sum(tf.square(magnitude), axis=[1, 2]))


@keras.saving.register_keras_serializable(package="spokendigits")
class ConditionalWGAN(BuiltAtConstruction, keras.Model):
    """Generator and critic with a WGAN-GP `train_step`; inputs are dicts of batches:
    `{"features": [batch * critic_steps, freq, frame, channel], "condition", "phase"}`.

    `stft` (`stft_settings`) is needed only for the consistency term and a spectral critic.
    """

    def __init__(self, config: ModelConfig, feature_shape: tuple[int, ...], condition_dim: int,
                 seed: int, learning_rates: tuple[float, float] = (1e-4, 1e-4),
                 stft: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.feature_shape = tuple(feature_shape)
        self.condition_dim = condition_dim
        self.seed = seed
        self.learning_rates = tuple(learning_rates)
        if stft is None and config.needs_stft:
            raise UsageError("consistency_weight and spectral_critic need the feature set's STFT "
                             "settings: build the model with the run's representation")
        self.stft = stft
        self.generator = build_generator(config, self.feature_shape, condition_dim)
        self.critic = build_critic(config, self.feature_shape, condition_dim, stft)
        # The average of the generator's weights, which is what a checkpoint saves.
        self.ema_generator = None
        if config.ema:
            self.ema_generator = build_generator(config, self.feature_shape, condition_dim)
            self.ema_generator.set_weights(self.generator.get_weights())
        self.generator_optimizer = keras.optimizers.Adam(learning_rates[0], **ADAM)
        self.critic_optimizer = keras.optimizers.Adam(learning_rates[1], **ADAM)
        # Built now, so that a saved model's optimizer state loads back into them.
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.critic_optimizer.build(self.critic.trainable_variables)
        self.seed_generator = ReplicaSeedGenerator(seed)
        losses = FAMILIES[config.family].losses
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         (*losses, *(("consistency",) if config.consistency_weight else ()),
                          *(("classification",) if config.auxiliary_weight else ()))}
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    @property
    def saved_generator(self) -> keras.Model:
        """The generator a checkpoint keeps: the weights' moving average, where kept."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def _conditions(self, batch: dict) -> list:
        return [batch["condition"]] if self.condition_dim else []

    def _phase(self, batch: dict) -> list:
        return [batch["phase"]] if self.config.phase_conditional else []

    def generate(self, batch: dict, training: bool = False):
        """Generated arrays for the conditions of `batch`, from fresh noise."""
        size = ops.shape(batch["features"])[0]
        z = keras.random.normal((size, self.config.latent_dim), seed=self.seed_generator)
        return self.generator([z, *self._conditions(batch), *self._phase(batch)],
                              training=training)

    def score(self, features, batch: dict, training: bool = False):
        """The critic's `[batch, 1]` scores of `features` under the conditions of `batch`
        (augmented first, in training, where the config asks), and its auxiliary
        classifier's loss on them (0 without one)."""
        if self.config.augment and training:
            features = augment(features, self.seed_generator)
        outputs = self.critic([features, *self._conditions(batch), *self._phase(batch)],
                              training=training)
        if not self.config.auxiliary_weight:
            return outputs, ops.zeros(())
        score, logits = outputs
        condition = batch["condition"]  # one label (the digit), or two (and the speaker)
        target = condition / ops.sum(condition, axis=-1, keepdims=True)
        return score, ops.mean(ops.categorical_crossentropy(target, logits, from_logits=True))

    def _critic_terms(self, batch: dict, training: bool):
        """Critic loss, Wasserstein estimate (mean real score minus mean generated one) and
        gradient penalty (0 where its weight is) on one batch."""
        real = batch["features"]
        fake = self.generate(batch, training=training)
        real_score, classification = self.score(real, batch, training=training)
        fake_score, _ = self.score(fake, batch, training=training)  # classifies real clips only
        wasserstein = ops.mean(real_score) - ops.mean(fake_score)
        if self.config.loss == "hinge":
            loss = ops.mean(ops.relu(1.0 - real_score)) + ops.mean(ops.relu(1.0 + fake_score))
        else:
            loss = -wasserstein
        penalty = ops.zeros(())
        if self.config.gradient_penalty:
            clip_axes = tuple(range(1, len(real.shape)))  # images or waveforms
            mix = keras.random.uniform((ops.shape(real)[0],) + (1,) * len(clip_axes),
                                       seed=self.seed_generator)
            mixed = mix * real + (1 - mix) * fake
            with tf.GradientTape() as tape:
                tape.watch(mixed)
                mixed_score, _ = self.score(mixed, batch, training=training)
            gradient = tape.gradient(mixed_score, mixed)
            norm = ops.sqrt(ops.sum(ops.square(gradient), axis=clip_axes) + 1e-12)
            penalty = ops.mean(ops.square(norm - 1.0))
        loss += self.config.gradient_penalty * penalty + \
            self.config.auxiliary_weight * classification
        return loss, wasserstein, penalty, classification

    def _generator_terms(self, batch: dict, training: bool):
        fake = self.generate(batch, training=training)
        fake_score, classification = self.score(fake, batch, training=training)
        loss = -ops.mean(fake_score)  # WGAN and hinge alike
        consistency = stft_inconsistency(fake, batch["phase"], self.stft) \
            if self.config.consistency_weight else ops.zeros(())
        loss += self.config.consistency_weight * consistency + \
            self.config.auxiliary_weight * classification
        return loss, consistency

    def train_step(self, data):
        batch = data[0] if isinstance(data, tuple) else data
        chunks = [dict(zip(batch, parts)) for parts in
                  zip(*(ops.split(value, self.config.critic_steps) for value in batch.values()))]
        for chunk in chunks:
            with tf.GradientTape() as tape:
                critic_loss, wasserstein, penalty, classification = self._critic_terms(
                    chunk, training=True)
                share = replica_share(critic_loss)
            gradients = tape.gradient(share, self.critic.trainable_variables)
            self.critic_optimizer.apply(gradients, self.critic.trainable_variables)
        with tf.GradientTape() as tape:
            generator_loss, consistency = self._generator_terms(chunks[0], training=True)
            share = replica_share(generator_loss)
        gradients = tape.gradient(share, self.generator.trainable_variables)
        self.generator_optimizer.apply(gradients, self.generator.trainable_variables)
        if self.ema_generator is not None:
            # The decay warms up, (1 + t) / (10 + t) at update t, as TensorFlow's moving
            # averages do: at 0.999 from the start, the average of a run of a few hundred
            # steps would still be mostly the initial weights.
            steps = ops.cast(self.generator_optimizer.iterations, "float32")
            decay = ops.minimum(self.config.ema, (1.0 + steps) / (10.0 + steps))
            for average, weight in zip(self.ema_generator.weights, self.generator.weights):
                average.assign(decay * average + (1 - decay) * weight)
        return self._track(critic_loss, generator_loss, wasserstein, penalty, consistency,
                           classification)

    def test_step(self, data):
        batch = data[0] if isinstance(data, tuple) else data
        critic_loss, wasserstein, penalty, classification = self._critic_terms(batch,
                                                                              training=False)
        generator_loss, consistency = self._generator_terms(batch, training=False)
        return self._track(critic_loss, generator_loss, wasserstein, penalty, consistency,
                           classification)

    def _track(self, critic_loss, generator_loss, wasserstein, penalty, consistency,
               classification) -> dict:
        values = dict(zip(FAMILIES[self.config.family].losses,
                          (critic_loss, generator_loss, wasserstein, penalty)))
        if self.config.consistency_weight:
            values["consistency"] = consistency
        if self.config.auxiliary_weight:
            values["classification"] = classification  # of real clips
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return step_logs({name: tracker.result() for name, tracker in self.trackers.items()})

    def get_config(self) -> dict:
        return {**super().get_config(), "config": to_dict(self.config),
                "feature_shape": list(self.feature_shape), "condition_dim": self.condition_dim,
                "seed": self.seed, "learning_rates": list(self.learning_rates), "stft": self.stft}

    def compile_from_config(self, config: dict) -> None:
        """Compiled again on loading, with no optimizer of Keras's own: the model holds one
        per network, whose state loads with the rest of it."""
        self.compile(optimizer=None)

    @classmethod
    def from_config(cls, config: dict) -> "ConditionalWGAN":
        config = dict(config)
        model_config = from_dict(ModelConfig, config.pop("config"))
        return cls(model_config, tuple(config.pop("feature_shape")), config.pop("condition_dim"),
                   config.pop("seed"), tuple(config.pop("learning_rates")), config.pop("stft"),
                   **config)


# What the families (`gan.GANFamily`) call.

def build(config: ModelConfig, feature_shape: tuple[int, ...], condition_dim: int, seed: int,
          training: Any = None, representation: Any = None) -> ConditionalWGAN:
    """A compiled `ConditionalWGAN`; `training` (a `TrainConfig`) gives the generator's
    learning rate and the critic's, `representation` the STFT of the consistency term and of
    a spectral critic."""
    rates = (1e-4, 1e-4) if training is None else \
        (training.learning_rate, training.critic_learning_rate or training.learning_rate)
    stft = stft_settings(representation) if config.needs_stft and representation is not None \
        else None
    model = ConditionalWGAN(config, feature_shape, condition_dim, seed, rates, stft)
    model.compile(optimizer=None)  # the model holds one optimizer per network
    return model


def fit_data(config: ModelConfig, inputs: dict[str, np.ndarray], batch_size: int, seed: int,
             training: bool = True) -> tuple[tf.data.Dataset, dict[str, Any]]:
    """The input pipeline of `inputs` (`distribute.pipeline`): for training, in whole steps
    of `critic_steps` batches (a step needs them all); for validation, plain batches."""
    if training:
        return pipeline(inputs, batch_size * config.critic_steps, seed, training=True,
                        drop_remainder=True), {"shuffle": False}  # shuffled by the pipeline
    return pipeline(inputs, batch_size, seed, training=False), {}


def callbacks(config: ModelConfig, folder: Path, data: dict, tensorboard: bool,
              representation: Any) -> list[keras.callbacks.Callback]:
    return [StepLog(folder / "steps.csv"), CollapseWatch(data["train"], config, representation),
            Preview(folder, data, tensorboard, representation, config)]


class StepLog(keras.callbacks.Callback):
    """Writes `steps.csv` after every epoch, whole and atomically: one row per generator
    step (`epoch`, `step` within it) with that step's own losses. Keras logs running means
    over the epoch; the step's value is recovered from two of them,
    `t * mean_t - (t - 1) * mean_(t-1)`. With `steps_per_execution` above 1 Keras logs
    every few steps, and a row holds the mean of the steps since the last. A resumed run
    keeps the rows of its saved epochs."""

    def __init__(self, path: Path):
        super().__init__()
        self.path, self.rows, self.means = path, [], {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        import pandas as pd

        if self.path.is_file():  # steps of the epochs a resumed run has kept
            first = self.model.generator_optimizer.iterations.numpy() // max(
                self.params.get("steps") or 1, 1)
            kept = pd.read_csv(self.path)
            self.rows = kept[kept["epoch"] < first].to_dict("records")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch, self.means, self.logged = epoch, {}, 0  # steps logged so far this epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        means = {name: float(value) for name, value in (logs or {}).items()}
        steps = batch + 1 - self.logged
        self.rows.append({"epoch": self.epoch, "step": batch, **{
            name: ((batch + 1) * mean - self.logged * self.means.get(name, 0.0)) / steps
            for name, mean in means.items()}})
        self.means, self.logged = means, batch + 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import pandas as pd

        with atomic_write(self.path, "w") as file:
            pd.DataFrame(self.rows).to_csv(file, index=False, na_rep="nan")


def _fixed_inputs(data, config: ModelConfig, per_digit: int, seed: int) -> dict:
    """Generator inputs for `per_digit` clips of each digit, fixed by `seed`: z, the
    condition of a training clip of that digit (and its phase)."""
    rng = np.random.default_rng(seed)
    index = np.concatenate([rng.choice(np.flatnonzero(data.digits == digit), per_digit)
                            for digit in range(10)])
    inputs = [rng.standard_normal((len(index), config.latent_dim)).astype(np.float32)]
    inputs += [data.inputs["condition"][index]] if "condition" in data.inputs else []
    inputs += [data.inputs["phase"][index]] if config.phase_conditional else []
    return {"inputs": inputs, "index": index}


def _spreads(arrays: np.ndarray, digits: np.ndarray) -> tuple[float, float]:
    """Mean spread of one digit's clips (std over clips, averaged over bins) and spread of
    the digits' mean arrays, of `[clip, ...]` arrays."""
    within = np.mean([arrays[digits == digit].std(axis=0).mean() for digit in range(10)])
    between = np.stack([arrays[digits == digit].mean(axis=0) for digit in range(10)]).std(axis=0)
    return float(within), float(between.mean())


class CollapseWatch(keras.callbacks.Callback):
    """Logs `spread` and `digit_spread`: the spread of generated clips of one digit, and
    between digits, each over that of real training clips; warns of mode collapse (all
    clips alike, e.g. one tone or one noise) and of digits that do not differ. Spreads are
    of log-magnitudes (`Representation.log_magnitude`), whatever the model makes."""

    def __init__(self, train, config: ModelConfig, representation: Any):
        super().__init__()
        self.fixed = _fixed_inputs(train, config, per_digit=16, seed=1)
        # a phase-conditional generator makes the log-magnitude channel alone
        self.magnitude = (lambda arrays: arrays[..., 0]) if config.phase_conditional else \
            representation.log_magnitude
        self.digits = train.digits[self.fixed["index"]]
        self.real = _spreads(self.magnitude(train.inputs["features"][self.fixed["index"]]),
                             self.digits)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        generated = self.magnitude(self.model.saved_generator.predict(self.fixed["inputs"],
                                                                      verbose=0))
        within, between = _spreads(generated, self.digits)
        logs["spread"], logs["digit_spread"] = within / self.real[0], between / self.real[1]
        for name, what in (("spread", "clips of one digit are nearly alike (mode collapse)"),
                           ("digit_spread", "the digits hardly differ from one another")):
            if logs[name] < COLLAPSE_RATIO and epoch + 1 >= COLLAPSE_AFTER:
                warnings.warn(f"epoch {epoch + 1}: {what}: generated {name} is "
                              f"{logs[name]:.2f} of the real one", stacklevel=1)


class Preview(keras.callbacks.Callback):
    """Every `PREVIEW_EVERY` epochs: a spectrogram grid of one fixed-z sample of each
    digit (`previews/eNNN.png`) and those ten clips as one wav (`previews/eNNN.wav`),
    and the grid in TensorBoard where it is written."""

    def __init__(self, folder: Path, data: dict, tensorboard: bool, representation: Any,
                 config: ModelConfig):
        super().__init__()
        self.folder = folder / "previews"
        self.fixed = _fixed_inputs(data["train"], config, per_digit=1, seed=0)
        self.representation = representation
        self.phase = self.fixed["inputs"][-1] if config.phase_conditional else None
        self.writer = tf.summary.create_file_writer(str(folder / "tensorboard" / "preview")) \
            if tensorboard else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % PREVIEW_EVERY:
            return
        arrays = self.model.saved_generator.predict(self.fixed["inputs"], verbose=0)
        if self.phase is not None:
            arrays = np.concatenate([arrays, self.phase], axis=-1)
        write_preview(self.folder, epoch + 1, arrays, self.representation, self.writer)


def save_checkpoint(model: ConditionalWGAN, staging: Path, epoch: int, logs: dict, data: dict,
                    batch: int) -> None:
    """`generator.keras`, `generator.onnx`, `sampler.json` (z from N(0, I); with a phase
    bank `phases.npy` for phase-conditional models) and `metrics.json`; with `ema`, the
    generator's own weights too (`RAW_GENERATOR`), to hear what the average changes."""
    model.saved_generator.save(staging / "generator.keras")
    model.saved_generator.export(str(staging / "generator.onnx"), format="onnx", verbose=False)
    if model.ema_generator is not None:
        model.generator.export(str(staging / RAW_GENERATOR), format="onnx", verbose=False)
    phase_bank = None
    if model.config.phase_conditional:
        train = data["train"]
        rng = np.random.default_rng(model.seed)
        index = np.concatenate([rng.choice(np.flatnonzero(train.digits == digit), PHASE_BANK,
                                           replace=False) for digit in range(10)])
        with atomic_write(staging / "phases.npy", "wb") as file:
            np.save(file, train.inputs["phase"][index].astype(np.float16), allow_pickle=False)
        phase_bank = {"file": "phases.npy", "digits": train.digits[index].tolist()}
    write_json(staging / "sampler.json", sampler_file(model.config.latent_dim,
                                                      phase_bank=phase_bank))
    names = [name for name in logs if not name.startswith("val_") and f"val_{name}" in logs]
    write_json(staging / "metrics.json", {
        "epoch": epoch,
        "train": {name: float(logs[name]) for name in names},
        "validation": {name: float(logs[f"val_{name}"]) for name in names}})
