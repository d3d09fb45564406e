"""WaveGAN's generator and critic bodies (Donahue et al. 2019), for `gan`'s training step.

DCGAN's layers flattened to one dimension: the generator maps `z` and the
condition through a dense layer to `[length / 4**depth, 8 * width]` (for depth
4), then multiplies the length by 4 `depth` times with transposed convolutions
of 25 taps and stride 4, ReLU between them and tanh at the end: 32 -> 128 ->
512 -> 2048 -> 8192 samples at depth 4, one layer fewer than the paper's
16384-sample model. With `upsampling` "resize" (the paper's "nn" option), each
layer instead repeats every sample 4 times and convolves with 25 taps: a
transposed convolution's uneven overlap leaves a periodic pattern, heard as a
steady tone at 8 kHz / 16 = 500 Hz, which this does not; it costs 4 times the
multiplications. The critic mirrors it with stride-4 convolutions and leaky
ReLUs, each but the last followed by phase shuffle. No batch normalization (the
paper has none; the config may still ask for it in the generator).

Phase shuffle moves each clip's activations by a random -n..n samples at each
critic layer, filling the edge by reflection: the transposed convolutions leave
a periodic pattern in generated waveforms, and the critic would otherwise learn
to reject clips by it alone.

The learned post-processing filter of the paper (one 512-tap convolution after
the last layer) is an option, off by default there and here.

So is a spectral critic (`spectral_critic`, `gan.build_critic`): beside the
waveform layers, the critic reads the clip's log-magnitude STFT, scaled as
the feature set's, through the conv GAN's 2-D critic layers, and both hidden
vectors feed the score and the digit classifier. With the paper's critic
alone, the classifier stayed at chance on FSDD: raw samples hide which digit
is said. The generator is WaveGAN's either way.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from . import ModelConfig
from ..distribute import ReplicaSeedGenerator
from .blocks import LEAK, generator_activation, normalized_relu, spectral, widths

KERNEL = 25
STRIDE = 4
POST_FILTER_TAPS = 512


@keras.saving.register_keras_serializable(package="spokendigits")
class PhaseShuffle(layers.Layer):
    """Shifts each clip of a `[batch, time, channel]` batch by its own random whole number
    of samples in -shift..shift, the edge it uncovers filled by reflection (the samples
    beside it, mirrored); in training only, else the identity.

    Args:
        shift: the largest shift, n (WaveGAN: 2); 0 is the identity.
        seed: seeds the shifts (None: one drawn from Keras's global seed).
    """

    def __init__(self, shift: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if shift < 0:
            raise ValueError(f"shift={shift} must not be negative")
        self.shift, self.seed = shift, seed
        self.seed_generator = ReplicaSeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or not self.shift:
            return inputs
        shape = ops.shape(inputs)
        shifts = keras.random.randint((shape[0], 1), -self.shift, self.shift + 1,
                                      seed=self.seed_generator)
        padded = tf.pad(inputs, [[0, 0], [self.shift, self.shift], [0, 0]], mode="REFLECT")
        source = ops.arange(shape[1])[None, :] - shifts + self.shift  # out[t] = in[t - shift]
        return tf.gather(padded, source, axis=1, batch_dims=1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "shift": self.shift, "seed": self.seed}


def generator_body(hidden: keras.KerasTensor, config: ModelConfig,
                   shape: tuple[int, int]) -> keras.KerasTensor:
    """The `[batch, samples, 1]` waveforms in [-1, 1] from the vector of `z` and condition."""
    channels = widths(config)
    length = shape[0] // STRIDE**config.depth
    if length * STRIDE**config.depth != shape[0] or length < 1:
        raise ValueError(f"wavegan of depth {config.depth} makes multiples of "
                         f"{STRIDE**config.depth} samples, not {shape[0]}")
    hidden = normalized_relu(layers.Dense(length * channels[-1],
                                          activation=generator_activation(config))(hidden), config)
    wave = layers.Reshape((length, channels[-1]))(hidden)
    for level in reversed(range(config.depth)):
        last = level == 0
        filters = shape[1] if last else channels[level - 1]
        activation = "tanh" if last else generator_activation(config)
        if config.upsampling == "resize":
            wave = layers.UpSampling1D(STRIDE)(wave)
            wave = layers.Conv1D(filters, KERNEL, padding="same", activation=activation)(wave)
        else:
            wave = layers.Conv1DTranspose(filters, KERNEL, strides=STRIDE, padding="same",
                                          activation=activation)(wave)
        wave = wave if last else normalized_relu(wave, config)
    if config.post_filter:
        wave = layers.Conv1D(shape[1], POST_FILTER_TAPS, padding="same", use_bias=False,
                             name="post_filter")(wave)
    return wave


def critic_body(wave: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """The critic's last hidden vector of `[batch, samples, channel]` waveforms."""
    channels = widths(config)
    for level, width in enumerate(channels):
        wave = spectral(layers.Conv1D(width, KERNEL, strides=STRIDE, padding="same"),
                        config)(wave)
        wave = layers.LeakyReLU(LEAK)(wave)
        if level < len(channels) - 1 and config.phase_shuffle:
            wave = PhaseShuffle(config.phase_shuffle)(wave)
    return layers.Flatten()(wave)
