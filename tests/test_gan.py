"""The GAN family: its settings, losses and layers, and short runs of each variant that
train, resume, are judged and speak through the same path as the VAEs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from conftest import run_script
from spokendigits.errors import UsageError
from spokendigits.models import ModelConfig, family_of
from spokendigits.runs import Run, RunSpec, TrainConfig, export_inference
from spokendigits.synthesis import Synthesizer

# 4 clips a critic step, 2 critic steps a generator step: 300 training clips give 37 steps
TINY_GAN = {"epochs": (1, 2), "batch_size": 4, "learning_rate": 1e-4}
VARIANTS = {
    "magnitude": ModelConfig(family="cwgan-gp", conditional=True, width=2, critic_steps=2,
                             minibatch_std=True),
    "magnitude-phase": ModelConfig(family="cwgan-gp", conditional=True, width=2, critic_steps=2,
                                   representation="magnitude-phase", upsampling="resize"),
    "phase-conditional": ModelConfig(family="cwgan-gp", conditional=True, width=2,
                                     critic_steps=2, phase_conditional=True,
                                     consistency_weight=1.0),
    "magnitude-if": ModelConfig(family="cwgan-gp", conditional=True, width=2, critic_steps=2,
                                representation="magnitude-if"),
    "log-mel": ModelConfig(family="cwgan-gp", conditional=True, width=2, critic_steps=2,
                           representation="log-mel"),
    "1-D, magnitude-phase": ModelConfig(family="cwgan-gp", conditional=True, width=4,
                                        critic_steps=2, representation="magnitude-phase",
                                        convolution="1d", minibatch_std=True),
    "wavegan": ModelConfig(family="wavegan", conditional=True, width=2, critic_steps=2,
                           post_filter=True, spectral_critic=True, upsampling="resize"),
    "mlp, digit+speaker, hinge": ModelConfig(
        family="mlp-cwgan-gp", conditional=True, speaker_conditional=True, width=8, depth=2,
        critic_steps=1, loss="hinge", gradient_penalty=0.0, spectral_norm=True, ema=0.9,
        augment=True, auxiliary_weight=1.0),
}


@pytest.fixture(scope="module")
def gan_runs(small_feature_set, tmp_path_factory):
    from spokendigits.training import train_run

    root = tmp_path_factory.mktemp("gan-runs")
    return {key: train_run(RunSpec(config, TrainConfig(**TINY_GAN)), small_feature_set, root,
                           verbose=0)[0]
            for key, config in VARIANTS.items()}


def test_settings_of_one_kind_of_family_are_refused_by_the_other():
    with pytest.raises(UsageError, match="for VAEs only"):
        ModelConfig(family="cwgan-gp", beta=2.0)
    with pytest.raises(UsageError, match="for GANs only"):
        ModelConfig(family="cnn-vae", critic_steps=1)
    with pytest.raises(UsageError, match="consistency_weight needs phase_conditional"):
        ModelConfig(family="cwgan-gp", consistency_weight=1.0)
    with pytest.raises(UsageError, match="phase_conditional needs representation"):
        ModelConfig(family="cwgan-gp", phase_conditional=True, representation="magnitude-phase")
    with pytest.raises(UsageError, match="auxiliary_weight needs conditional"):
        ModelConfig(family="cwgan-gp", auxiliary_weight=1.0)
    assert ModelConfig(family="cwgan-gp").width == 8
    assert ModelConfig(family="cwgan-gp", loss="hinge", gradient_penalty=0, spectral_norm=True,
                       critic_steps=1).likelihood == "hinge, SN, 1 critic steps"


def test_wavegan_settings():
    from spokendigits.models import FAMILIES

    assert all(family.label for family in FAMILIES.values())  # every family has a name in tables
    config = ModelConfig(family="wavegan")
    assert (config.representation, config.phase_shuffle, config.width, config.depth) == \
        ("waveform", 2, 16, 4)
    assert ModelConfig(family="wavegan", phase_shuffle=0).phase_shuffle == 0
    assert ModelConfig(family="cwgan-gp").phase_shuffle is None  # old runs keep their names
    for wrong, message in (({"family": "wavegan", "representation": "log-mel"}, "waveform"),
                           ({"family": "cwgan-gp", "representation": "waveform"}, "waveform"),
                           ({"family": "cwgan-gp", "phase_shuffle": 2}, "wavegan only"),
                           ({"family": "cwgan-gp", "post_filter": True}, "wavegan only"),
                           ({"family": "cwgan-gp", "spectral_critic": True}, "wavegan only"),
                           ({"family": "wavegan", "augment": True}, "spectrogram GANs"),
                           ({"family": "wavegan", "upsampling": "linear"}, "upsampling"),
                           ({"family": "wavegan", "phase_shuffle": -1}, "negative"),
                           ({"family": "cwgan-gp", "convolution": "3d"}, "convolution must"),
                           ({"family": "wavegan", "convolution": "1d"}, "1d is for cwgan-gp"),
                           ({"family": "mlp-cwgan-gp", "convolution": "1d"}, "1d is for"),
                           ({"family": "cwgan-gp", "convolution": "1d",
                             "phase_conditional": True}, "without phase_conditional"),
                           ({"family": "mlp-cwgan-gp", "minibatch_std": True}, "for cwgan-gp"),
                           ({"family": "cnn-vae", "minibatch_std": True}, "GANs only")):
        with pytest.raises(UsageError, match=message):
            ModelConfig(**wrong)


def test_model_arrays_put_the_phase_where_the_config_asks(small_feature_set):
    from spokendigits.representations import for_feature_set

    features, phase = small_feature_set.features[:3], small_feature_set.phase[:3]
    n_freq, n_frames = features.shape[1:]

    def arrays(key, phase):
        spec = RunSpec(VARIANTS[key], TrainConfig())
        return family_of(spec.model).model_arrays(
            spec.model, features, phase,
            for_feature_set(spec.model.decoded_representation, small_feature_set),
            small_feature_set.digits[:3], small_feature_set.speakers[:3])

    two = arrays("magnitude-phase", phase)
    assert two["features"].shape == (3, n_freq, n_frames, 2)
    np.testing.assert_allclose(two["features"][..., 1], phase / np.pi, atol=1e-6)
    given = arrays("phase-conditional", phase)
    assert given["features"].shape == given["phase"].shape == (3, n_freq, n_frames, 1)
    assert set(arrays("magnitude", None)) == {"features"}
    assert arrays("log-mel", None)["features"].shape == (3, 64, n_frames, 1)
    assert arrays("wavegan", phase)["features"].shape == (3, 8192, 1)
    for key in ("magnitude-phase", "magnitude-if", "wavegan"):
        with pytest.raises(UsageError, match="--phase"):
            arrays(key, None)


def test_phase_shuffle_shifts_each_clip_within_n_with_reflected_edges():
    import keras

    from spokendigits.models.wavegan_network import PhaseShuffle

    n, length = 2, 12
    clips = np.stack([np.arange(length) + 100 * clip for clip in range(64)]).astype(np.float32)
    clips = np.stack([clips, -clips], axis=-1)                 # [clip, time, 2 channels]
    layer = PhaseShuffle(n, seed=3)
    shifted = keras.ops.convert_to_numpy(layer(clips, training=True))
    seen = set()
    for clip, out in zip(clips, shifted):
        matches = []
        for shift in range(-n, n + 1):                           # out[t] = in[t - shift]
            source = np.arange(length) - shift
            source = np.abs(source)                              # reflected at the start
            source = np.where(source >= length, 2 * (length - 1) - source, source)  # and end
            if np.array_equal(out, clip[source]):
                matches.append(shift)
        assert len(matches) == 1, matches                       # every channel alike
        seen.add(matches[0])
    assert seen == set(range(-n, n + 1))                         # each shift drawn, none beyond
    np.testing.assert_array_equal(layer(clips, training=False), clips)
    rebuilt = PhaseShuffle.from_config(layer.get_config())
    assert (rebuilt.shift, rebuilt.seed) == (n, 3)
    with pytest.raises(ValueError, match="negative"):
        PhaseShuffle(-1)


def test_the_gradient_penalty_reaches_waveform_critics():
    import keras

    from spokendigits.models.gan_network import build

    config = ModelConfig(family="wavegan", conditional=True, width=2, critic_steps=1)
    model = build(config, (8192, 1), 10, seed=0)
    rng = np.random.default_rng(0)
    batch = {"features": rng.uniform(-0.5, 0.5, (4, 8192, 1)).astype(np.float32),
             "condition": np.eye(10, dtype=np.float32)[rng.integers(0, 10, 4)]}
    batch = {name: keras.ops.convert_to_tensor(value) for name, value in batch.items()}
    _, _, penalty, _ = model._critic_terms(batch, training=True)
    assert float(penalty) > 0
    assert model.generator.output.shape[1:] == (8192, 1)


def test_only_transposed_convolutions_leave_a_periodic_pattern_in_waveforms():
    """Fed the same vector at every time step, a resize generator makes a steady signal
    (away from the edges' zero padding); a transposed one, the same repeating pattern."""
    import keras

    from spokendigits.models.wavegan_network import generator_body

    def output(upsampling: str) -> np.ndarray:
        keras.utils.set_random_seed(0)
        config = ModelConfig(family="wavegan", width=2, upsampling=upsampling)
        hidden = keras.Input((4,))
        model = keras.Model(hidden, generator_body(hidden, config, (8192, 1)))
        for layer in model.layers:  # positive kernels that keep the level: no ReLU zeroes
            if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv1DTranspose)):  # a channel
                kernel, bias = layer.get_weights()
                gain = layer.filters * layer.strides[0] / np.abs(kernel).sum()
                layer.set_weights([np.abs(kernel) * gain, np.zeros_like(bias)])
        dense = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
        kernel, bias = dense.get_weights()
        steady = np.tile(np.linspace(0.5, 1.5, bias.size // 32), 32)  # the same at each step
        dense.set_weights([np.zeros_like(kernel), steady.astype(np.float32)])
        return keras.ops.convert_to_numpy(model(np.zeros((1, 4), np.float32)))[0, 2048:6144, 0]

    transposed, resized = output("transpose"), output("resize")
    assert 0.1 < np.abs(resized).mean() < 0.99  # a signal, not silence nor tanh's limit
    assert np.ptp(resized) < 1e-5               # and steady
    assert np.ptp(transposed) > 1e-3
    np.testing.assert_allclose(transposed[:-256], transposed[256:], atol=1e-5)  # 4**4 samples


def test_a_1d_generator_draws_each_frames_bins_and_channels_from_its_last_layers_channels():
    """The last 1-D layer's channel `bin * channels + channel` is that bin and channel of
    every frame; frames beyond a multiple of 2**depth are padded with zeros, as in 2-D."""
    import keras

    from spokendigits.models.gan_network import build_critic, build_generator

    shape = (5, 35, 2)  # 35 frames: 32 made, 3 padded
    config = ModelConfig(family="cwgan-gp", width=2, depth=4, convolution="1d",
                         upsampling="resize")
    generator = build_generator(config, shape, condition_dim=0)
    last = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv1D)][-1]
    kernel, bias = last.get_weights()
    assert bias.shape == (5 * 2,)
    last.set_weights([np.zeros_like(kernel), np.arange(10, dtype=np.float32)])
    images = keras.ops.convert_to_numpy(generator([np.ones((1, config.latent_dim), np.float32)]))
    assert images.shape == (1, *shape)
    expected = np.arange(10, dtype=np.float32).reshape(5, 1, 2)  # [bin, frame, channel]
    np.testing.assert_array_equal(images[0, :, :32], np.broadcast_to(expected, (5, 32, 2)))
    np.testing.assert_array_equal(images[0, :, 32:], 0)
    critic = build_critic(config, shape, condition_dim=0)
    first = next(layer for layer in critic.layers if isinstance(layer, keras.layers.Conv1D))
    assert first.get_weights()[0].shape == (5, 5 * 2, 2)  # 5 taps over frames, every bin in
    # and it reads frame t's bin b, channel c at b * channels + c, as the generator makes them
    frames = keras.Model(critic.inputs, first.input)
    image = np.arange(5 * 35 * 2, dtype=np.float32).reshape(1, *shape)
    read = keras.ops.convert_to_numpy(frames([image]))
    assert read.shape == (1, 32, 10)
    np.testing.assert_array_equal(read[0], image[0, :, :32].transpose(1, 0, 2).reshape(32, 10))


def test_the_spectral_critic_sees_the_feature_sets_own_features(small_feature_set):
    import keras

    from spokendigits.models.gan_network import ScaledLogMagnitude, stft_settings

    featurizer = small_feature_set.featurizer
    config, analysis = featurizer.config, featurizer.representation
    waveforms = np.random.default_rng(0).uniform(-0.5, 0.5, (2, config.clip_samples)
                                                 ).astype(np.float32)
    padded = np.pad(waveforms, [(0, 0), (0, 8192 - config.clip_samples)])[..., None]
    layer = ScaledLogMagnitude(stft_settings(analysis))
    images = keras.ops.convert_to_numpy(layer(padded))
    assert images.shape == (2, config.n_freq, 1 + 8192 // config.hop_length, 1)
    # the clip's frames are the features; frames wholly in the padding are the floor's
    np.testing.assert_allclose(images[:, :, :config.n_frames, 0], analysis.features(waveforms),
                               atol=1e-3)
    silent = (config.clip_samples + config.n_fft // 2) // config.hop_length + 1
    floor = featurizer.scaling.apply(np.full((config.n_freq, 1), np.log(config.log_floor),
                                             np.float32))
    np.testing.assert_allclose(images[:, :, silent:, 0],
                               np.broadcast_to(floor, images[:, :, silent:, 0].shape), atol=1e-4)
    rebuilt = ScaledLogMagnitude.from_config(layer.get_config())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(rebuilt(padded)), images)

    import tensorflow as tf

    silence = tf.zeros((1, 8192, 1))  # |STFT| has no gradient there; the floor keeps it finite
    with tf.GradientTape() as tape:
        tape.watch(silence)
        total = tf.reduce_sum(layer(silence))
    assert np.isfinite(keras.ops.convert_to_numpy(tape.gradient(total, silence))).all()


def test_a_spectral_critic_joins_the_waveform_critic_and_loads_back(small_feature_set, tmp_path):
    import keras

    from spokendigits.models.gan_network import ScaledLogMagnitude, build

    spectral = ModelConfig(family="wavegan", conditional=True, width=2, critic_steps=1,
                           loss="hinge", gradient_penalty=0.0, spectral_critic=True)
    model = build(spectral, (8192, 1), 10, seed=0,
                  representation=small_feature_set.featurizer.representation)
    plain = build(dataclasses.replace(spectral, spectral_critic=False), (8192, 1), 10, seed=0)
    assert any(isinstance(layer, ScaledLogMagnitude) for layer in model.critic.layers)
    assert model.critic.count_params() > plain.critic.count_params()
    inputs = [np.random.default_rng(0).uniform(-0.3, 0.3, (2, 8192, 1)).astype(np.float32),
              np.eye(10, dtype=np.float32)[[3, 7]]]
    model.save(tmp_path / "model.keras")  # as a run's state is saved, to resume
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.critic(inputs)),
                               keras.ops.convert_to_numpy(model.critic(inputs)), atol=1e-6)
    with pytest.raises(UsageError, match="STFT settings"):
        build(spectral, (8192, 1), 10, seed=0)  # no representation


def test_a_real_spectrogram_is_consistent_and_a_random_phase_is_not(small_feature_set):
    from spokendigits.models.gan_network import stft_inconsistency, stft_settings

    stft = stft_settings(small_feature_set.featurizer.representation)
    loud = np.argsort(small_feature_set.features.mean(axis=(1, 2)))[-4:]  # little log floor
    magnitude = small_feature_set.features[loud][..., None]
    phase = (small_feature_set.phase[loud] / np.pi)[..., None]
    real = float(stft_inconsistency(magnitude, phase, stft))
    scrambled = float(stft_inconsistency(
        magnitude, np.random.default_rng(0).uniform(-1, 1, phase.shape).astype(np.float32), stft))
    assert real < 0.01 and scrambled > 0.3, (real, scrambled)


def test_augmentation_shifts_and_cuts_and_passes_gradients():
    import keras
    import tensorflow as tf

    from spokendigits.models.gan_network import augment

    images = tf.random.normal((8, 32, 24, 1), seed=1)
    with tf.GradientTape() as tape:
        tape.watch(images)
        augmented = augment(images, keras.random.SeedGenerator(0))
        total = tf.reduce_sum(augmented)
    zeros = np.mean(augmented.numpy() == 0, axis=(1, 2, 3))
    assert augmented.shape == images.shape
    assert np.all(zeros >= 0.25 - 1e-6) and np.all(zeros <= 0.25 + 3 / 24 + 1e-6)  # cut, shifted
    gradient = tape.gradient(total, images).numpy()
    assert set(np.unique(gradient)) <= {0.0, 1.0} and gradient.sum() == augmented.numpy().size - \
        (augmented.numpy() == 0).sum()  # each kept value comes from one input value


def test_the_minibatch_std_channel_tells_a_varied_batch_from_a_uniform_one():
    from spokendigits.models.gan_network import MinibatchStd, build_critic

    rng = np.random.default_rng(0)
    varied = rng.standard_normal((6, 5, 4, 3)).astype(np.float32)
    out = np.asarray(MinibatchStd()(varied))
    assert out.shape == (6, 5, 4, 4)
    np.testing.assert_array_equal(out[..., :3], varied)
    np.testing.assert_allclose(out[..., 3], varied.std(axis=0).mean(), rtol=1e-5)  # everywhere
    uniform = np.repeat(varied[:1], 6, axis=0)  # a collapsed batch: one clip six times
    assert np.abs(np.asarray(MinibatchStd()(uniform))[..., 3]).max() < 1e-3
    config = ModelConfig(family="cwgan-gp", conditional=True, width=2, minibatch_std=True)
    convolutions = [layer for layer in build_critic(config, (16, 16, 1), 10).layers
                    if "conv" in layer.name]
    assert [layer.input.shape[-1] for layer in convolutions] == [1, 2, 4, 8 + 1]  # the last


def test_the_auxiliary_classifier_is_scored_on_the_labels_of_the_condition():
    import keras

    from spokendigits.models.gan_network import build

    shape, rng = (8, 4, 1), np.random.default_rng(0)
    features = rng.standard_normal((2, *shape)).astype(np.float32)
    condition = np.array([[1, 0, 0, 1], [0, 1, 1, 0]], np.float32)  # 2 digits, then 2 speakers
    config = ModelConfig(family="mlp-cwgan-gp", conditional=True, speaker_conditional=True,
                         width=4, depth=1, auxiliary_weight=1.0)
    model = build(config, shape, 4, seed=0)
    score, loss = model.score(features, {"condition": condition})
    logits = keras.ops.convert_to_numpy(model.critic([features, condition])[1])
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(condition / 2 * log_softmax).sum(axis=1).mean()  # half on each label
    assert score.shape == (2, 1)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    plain = build(dataclasses.replace(config, auxiliary_weight=0.0), shape, 4, seed=0)
    assert float(plain.score(features, {"condition": condition})[1]) == 0.0
    assert len(plain.critic.outputs) == 1  # no classifier head without the option


def test_each_variant_trains_and_speaks(gan_runs, small_feature_set):
    for key, run in gan_runs.items():
        history = pd.read_csv(run.folder / "history.csv")
        assert history["epoch"].tolist() == [0, 1], key
        assert {"critic_loss", "generator_loss", "wasserstein", "gradient_penalty", "spread",
                "digit_spread", "val_wasserstein", "seconds"} <= set(history), key
        assert np.isfinite(history.drop(columns="epoch").to_numpy()).all(), key
        assert run.checkpoints == [1, 2] and run.summary["seconds_per_step"] > 0
        steps = pd.read_csv(run.folder / "steps.csv")  # each step's own losses
        assert steps.groupby("epoch").size().tolist() == [270 // (4 * run.model.critic_steps)] * 2
        np.testing.assert_allclose(steps.groupby("epoch")["critic_loss"].mean(),
                                   history["critic_loss"], rtol=1e-3, atol=1e-4)
        files = {path.name for path in run.checkpoint().iterdir()}
        assert {"generator.onnx", "sampler.json", "metrics.json"} <= files, key
        assert ("phases.npy" in files) == run.model.phase_conditional
        synthesizer = Synthesizer(run)
        arrays = synthesizer.arrays([3, 7], seed=1)
        assert arrays.shape == (2, *run.representation.shape) and np.isfinite(arrays).all()
        assert np.array_equal(arrays, synthesizer.arrays([3, 7], seed=1))  # seeded
        waveform = synthesizer.speak([3, None, 7], n_iter=2)
        assert np.isfinite(waveform).all() and np.abs(waveform).max() <= 0.9 + 1e-6
        with pytest.raises(UsageError, match="GAN"):
            synthesizer.arrays([1], sampler="mixture")


def test_the_phase_conditional_model_speaks_with_training_phases(gan_runs, small_feature_set):
    run = gan_runs["phase-conditional"]
    arrays = Synthesizer(run).arrays([4, 4, 4], seed=0)
    train_phases = (small_feature_set.phase[~small_feature_set.is_test] / np.pi)
    for clip in arrays[..., 1]:  # the phase channel is one of digit 4's training clips
        matches = np.abs(train_phases - clip).max(axis=(1, 2)) < 1e-3  # float16 in the bank
        assert matches.any()
        assert set(small_feature_set.digits[~small_feature_set.is_test][matches]) == {4}


def test_the_moving_average_follows_the_generator_and_is_what_is_saved():
    from spokendigits.models.gan_network import build

    config = ModelConfig(family="mlp-cwgan-gp", conditional=True, width=4, depth=1, ema=0.9,
                         critic_steps=1, loss="hinge", gradient_penalty=0.0)
    model = build(config, (6, 4, 1), 10, seed=0)
    before = [weight.numpy() for weight in model.generator.weights]
    rng = np.random.default_rng(0)
    model.train_on_batch({"features": rng.standard_normal((8, 6, 4, 1)).astype(np.float32),
                          "condition": np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)]})
    after = [weight.numpy() for weight in model.generator.weights]
    assert not np.allclose(before[0], after[0])  # the generator moved
    decay = min(0.9, 2 / 11)  # warming up: (1 + t) / (10 + t) after the first update
    for average, old, new in zip(model.ema_generator.weights, before, after):
        np.testing.assert_allclose(average.numpy(), decay * old + (1 - decay) * new, rtol=1e-5,
                                   atol=1e-6)
    assert model.saved_generator is model.ema_generator


def test_a_checkpoint_keeps_the_generators_own_weights_beside_their_average(gan_runs,
                                                                             tmp_path):
    averaged = gan_runs["mlp, digit+speaker, hinge"]  # trained with ema
    plain = gan_runs["magnitude"]
    assert (averaged.checkpoint(None) / "generator-raw.onnx").is_file()
    assert not (plain.checkpoint(None) / "generator-raw.onnx").exists()
    copies = {raw: export_inference(averaged, tmp_path / f"raw-{raw}", raw=raw)
              for raw in (False, True)}
    speech = {raw: Synthesizer(Run.open(folder)).features([3, 7], seed=1)
              for raw, folder in copies.items()}
    assert speech[False].shape == speech[True].shape
    assert not np.allclose(speech[False], speech[True])  # two different sets of weights
    assert not (Run.open(copies[True]).checkpoint(None) / "generator-raw.onnx").exists()
    with pytest.raises(UsageError, match="keeps no generator-raw.onnx"):
        export_inference(plain, tmp_path / "refused", raw=True)
    assert not (tmp_path / "refused").exists()

@pytest.mark.slow
def test_a_gan_resumes_with_both_optimizers(small_feature_set, tmp_path, monkeypatch):
    import keras

    from spokendigits import training

    spec = RunSpec(VARIANTS["magnitude"], TrainConfig(**{**TINY_GAN, "epochs": (1, 2)}))
    save = training.SaveState.on_epoch_end
    iterations = {}

    def killed_after_epoch_one(self, epoch, logs=None):
        save(self, epoch, logs)
        state = keras.saving.load_model(next(self.folder.glob("state-*.keras")))
        iterations["saved"] = (int(state.generator_optimizer.iterations.numpy()),
                               int(state.critic_optimizer.iterations.numpy()))
        raise KeyboardInterrupt

    monkeypatch.setattr(training.SaveState, "on_epoch_end", killed_after_epoch_one)
    with pytest.raises(KeyboardInterrupt):
        training.train_run(spec, small_feature_set, tmp_path, verbose=0)
    steps = 270 // (4 * 2)  # the 300 training clips less validation, in whole steps
    assert iterations["saved"] == (steps, 2 * steps)
    monkeypatch.undo()
    run, status = training.train_run(spec, small_feature_set, tmp_path, verbose=0)
    assert status == "resumed" and run.checkpoints == [1, 2]
    assert pd.read_csv(run.folder / "history.csv")["epoch"].tolist() == [0, 1]
    assert pd.read_csv(run.folder / "steps.csv")["epoch"].value_counts().sort_index().tolist() \
        == [steps, steps]  # the first epoch's steps kept once


def test_gans_are_judged_and_speak_through_the_scripts(gan_runs, small_feature_set, small_judge,
                                                        tmp_path):
    from spokendigits.evaluation import EvaluationConfig, RealData, evaluate_run, reference_rows

    config = EvaluationConfig(draws=1, griffin_lim_iterations=2, samplers=("mixture", "prior"),
                              outside_draws=0)
    real = RealData.judge(small_feature_set, small_judge, config)
    rows = {row["run"]: row for row in reference_rows(
        small_feature_set, small_judge, real, config,
        [gan_runs[key] for key in ("magnitude", "log-mel", "wavegan", "magnitude-if")])}
    ceilings = [name for name in rows if "round trip" in name]
    assert ceilings == [f"real test clips, {name} round trip"
                        for name in ("log-mel", "magnitude-if", "waveform")]
    for name in ceilings[1:]:  # exact round trips: what the real clips score
        assert rows[name]["accuracy"] == rows["real test clips"]["accuracy"], name
    assert "fd" not in rows[ceilings[0]] and 0 <= rows[ceilings[0]]["accuracy"] <= 1
    for key in ("magnitude-phase", "phase-conditional", "log-mel", "wavegan"):
        run = gan_runs[key]
        results, _ = evaluate_run(run, small_judge, small_feature_set, real, config)
        scores = results["checkpoints"]["2"]["samplers"]
        assert list(scores) == ["prior"] and 0 <= scores["prior"]["accuracy"] <= 1, key
    exported = export_inference(gan_runs["phase-conditional"], tmp_path / "exported")
    out = tmp_path / "speech.wav"
    result = run_script("inference.py", "12 3", "--run", str(exported), "--out", str(out),
                        "--iterations", "2")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000
    result = run_script("inference.py", "1", "--run", str(exported), "--sampler", "digit",
                        "--out", str(out))
    assert result.returncode == 2 and "N(0, I) only" in result.stderr


def test_one_report_compares_gans_with_vaes(gan_runs, tiny_study, small_feature_set,
                                           small_judge, tmp_path):
    import re
    import shutil

    from spokendigits.evaluation import EvaluationConfig, RealData, evaluate_run

    runs = shutil.copytree(tiny_study.runs_dir, tmp_path / "runs")
    gan = Run.open(shutil.copytree(gan_runs["magnitude"].folder, runs / gan_runs["magnitude"].name))
    (gan.folder / "metrics.json").unlink(missing_ok=True)
    config = EvaluationConfig(draws=1, griffin_lim_iterations=2, outside_draws=0)  # as the tiny study's
    evaluate_run(gan, small_judge, small_feature_set,
                 RealData.judge(small_feature_set, small_judge, config), config)
    out = tmp_path / "reports"
    result = run_script("report.py", "--runs-dir", str(runs), "--classifiers-dir",
                        str(tiny_study.classifiers_dir), "--features",
                        str(next(tiny_study.features_dir.glob("*.pkl"))), "--out", str(out),
                        "--grid-rows", "2")
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(out / "results.csv")
    assert results.loc[results["run"] == gan.name, "sampler"].tolist() == ["prior", "prior"]
    assert pd.read_csv(out / "gan_study.csv")["run"].tolist() == [gan.name] * 2
    assert gan.name not in pd.read_csv(out / "vae_study.csv")["run"].tolist()
    text = (out / "README.md").read_text()
    assert text.startswith("# Spoken digits with VAEs and GANs") and "## GAN losses" in text
    assert f"(`{gan.name}`)" in text
    for image in re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text):
        assert (out / image).is_file(), image
    table = text[text.index("| model"):].split("\n\n")[0].splitlines()
    header = [cell.strip() for cell in table[0].split("|")]
    speeds = [row.split("|")[header.index("x real time")].strip() for row in table[2:]]
    assert sum(float(speed) > 0 for speed in speeds if speed) == 3  # every model, no reference
