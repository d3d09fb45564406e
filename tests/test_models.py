"""Model settings, conditioning, latent Gaussians and the VAE's networks."""

from __future__ import annotations

import numpy as np
import pytest

from spokendigits.errors import UsageError
from spokendigits.models import ModelConfig, build_condition, condition_dim, family_of
from spokendigits.sampling import fit_latent_gaussians, sample_latents

LABELS = {"digits": list(range(10)), "speakers": ["ann", "bob", "cid"]}


def build_model(config, *args, **kwargs):
    """A compiled model of `config`'s family, as training builds it."""
    return family_of(config).build(config, *args, **kwargs)


def test_family_defaults_are_written_into_the_config():
    assert (ModelConfig(family="cnn-vae").width, ModelConfig(family="cnn-vae").depth) == (8, 4)
    assert (ModelConfig(family="mlp-vae").width, ModelConfig(family="mlp-vae").depth) == (256, 2)
    assert ModelConfig(family="mlp-vae", width=64).width == 64
    with pytest.raises(UsageError, match="unknown model family 'gan'"):
        ModelConfig(family="gan")
    with pytest.raises(UsageError, match="dropout must be in"):
        ModelConfig(dropout=1.5)
    assert ModelConfig(dropout=0.1, batch_norm=True).regularization == "dropout 0.1, batch norm"
    assert ModelConfig().regularization == "none"
    assert ModelConfig(conditional=True, speaker_conditional=True).conditioning == "digit+speaker"
    with pytest.raises(UsageError, match="speaker_conditional needs conditional"):
        ModelConfig(speaker_conditional=True)


def test_model_flags_follow_the_family_given():
    import argparse

    from spokendigits.config import add_arguments, from_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser, ModelConfig)
    mlp = from_arguments(ModelConfig, parser.parse_args(["--family", "mlp-vae"]))
    assert (mlp.width, mlp.depth) == (256, 2)
    assert from_arguments(ModelConfig, parser.parse_args(["--family", "mlp-vae", "--width", "64"])).width == 64


def test_condition_is_one_hot_digit_then_speaker():
    config = ModelConfig(conditional=True, speaker_conditional=True)
    assert condition_dim(config, LABELS) == 13
    condition = build_condition(config, LABELS, [2, 0], ["cid", "ann"])
    assert condition.shape == (2, 13) and condition.dtype == np.float32
    assert np.flatnonzero(condition[0]).tolist() == [2, 12]
    assert np.flatnonzero(condition[1]).tolist() == [0, 10]
    assert build_condition(ModelConfig(), LABELS, [1, 2], ["ann", "bob"]).shape == (2, 0)
    with pytest.raises(UsageError, match=r"unknown label\(s\) \['zoe'\]"):
        build_condition(config, LABELS, [1], ["zoe"])


def test_latent_gaussians_fit_the_aggregate_posterior_and_sample():
    rng = np.random.default_rng(0)
    digits = np.repeat([0, 1], 2000)
    speakers = np.tile(["ann", "bob"], 2000)
    z = rng.standard_normal((4000, 2)) * [1.0, 0.5] + np.where(digits[:, None] == 1, 5.0, -5.0)
    # each clip's posterior has variance 0.25 around its mean: the fitted spread adds it
    gaussians = fit_latent_gaussians(z, np.log(np.full_like(z, 0.25)), digits, speakers)
    assert sorted(gaussians["digit"]) == ["0", "1"] and "1/bob" in gaussians["digit_speaker"]
    np.testing.assert_allclose(gaussians["digit"]["1"]["mean"], [5, 5], atol=0.1)
    np.testing.assert_allclose(np.diag(gaussians["digit"]["1"]["cov"]), [1.25, 0.5], atol=0.1)
    at_mean = sample_latents(gaussians, [1, 0], None, 2, 0.0, rng, "digit")
    np.testing.assert_allclose(at_mean, [gaussians["digit"]["1"]["mean"], gaussians["digit"]["0"]["mean"]])
    by_speaker = sample_latents(gaussians, [1, 1], ["ann", "bob"], 2, 0.0, rng)
    np.testing.assert_allclose(by_speaker, [gaussians["digit_speaker"]["1/ann"]["mean"],
                                            gaussians["digit_speaker"]["1/bob"]["mean"]])
    spread = sample_latents(gaussians, [1] * 4000, None, 2, 1.0, rng, "digit")
    np.testing.assert_allclose(spread.std(axis=0), [1.25**0.5, 0.5**0.5], atol=0.05)
    assert sample_latents(None, [3, 4], None, 5, 1.0, rng, "prior").shape == (2, 5)
    with pytest.raises(UsageError, match="no latent Gaussian for '7'"):
        sample_latents(gaussians, [7], None, 2, 1.0, rng)
    with pytest.raises(UsageError, match="needs latent densities"):
        sample_latents(None, [3], None, 2, 1.0, rng, "digit")
    with pytest.raises(UsageError, match="unknown sampler 'gmm'"):
        sample_latents(gaussians, [3], None, 2, 1.0, rng, "gmm")


def test_the_mixture_sampler_draws_speakers_in_proportion_to_their_clips():
    rng = np.random.default_rng(0)
    digits = np.zeros(400, int)
    speakers = np.array(["ann"] * 300 + ["bob"] * 100)
    z = np.where(speakers[:, None] == "ann", -10.0, 10.0) + 0.1 * rng.standard_normal((400, 1))
    gaussians = fit_latent_gaussians(z, np.full_like(z, -9.0), digits, speakers)
    samples = sample_latents(gaussians, [0] * 2000, None, 1, 1.0, rng, "mixture")[:, 0]
    assert np.all(np.abs(np.abs(samples) - 10) < 1)  # near one speaker, never between
    assert np.mean(samples < 0) == pytest.approx(0.75, abs=0.03)
    one_gaussian = sample_latents(gaussians, [0] * 2000, None, 1, 1.0, rng, "digit")[:, 0]
    assert np.mean(np.abs(one_gaussian) < 5) > 0.2  # the digit's one Gaussian spans the gap


@pytest.mark.parametrize("family", ["mlp-vae", "cnn-vae"])
@pytest.mark.parametrize("shape", [(129, 96), (65, 40)])
def test_networks_map_features_to_latents_and_back(family, shape):
    config = ModelConfig(family=family, width=8, depth=2 if family == "mlp-vae" else 3,
                         conditional=True, dropout=0.1, batch_norm=True, l2=1e-4)
    model = build_model(config, shape, condition_dim=10, seed=0)
    features = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    condition = np.eye(10, dtype=np.float32)[[1, 2, 3]]
    z_mean, z_log_var = model.encode({"features": features, "condition": condition})
    assert tuple(z_mean.shape) == tuple(z_log_var.shape) == (3, 16)
    reconstruction = model({"features": features, "condition": condition})
    assert tuple(reconstruction.shape) == (3, *shape)
    assert model.losses  # the L2 penalties exist


def test_residual_blocks_deepen_the_cnn_only():
    plain = build_model(ModelConfig(width=4, depth=2), (65, 40), 0, seed=0)
    deeper = build_model(ModelConfig(width=4, depth=2, residual_blocks=2), (65, 40), 0, seed=0)
    assert deeper.count_params() > plain.count_params()
    features = np.zeros((2, 65, 40), np.float32)
    assert tuple(deeper({"features": features}).shape) == (2, 65, 40)
    with pytest.raises(UsageError, match="residual_blocks is for cnn-vae only"):
        ModelConfig(family="mlp-vae", residual_blocks=1)
    assert ModelConfig(width=16, residual_blocks=1, latent_dim=32).size == "w16 d4 r1 z32"


@pytest.mark.parametrize("variance", ["shared", "per-bin"])
def test_the_sigma_vae_uses_the_maximum_likelihood_sigma(variance):
    from keras import ops

    model = build_model(ModelConfig(width=4, depth=2, decoder_variance=variance), (65, 40), 0, 0)
    rng = np.random.default_rng(0)
    # squared errors whose spread differs per frequency bin: 0.01 .. 4 (sigma 0.1 .. 2)
    scale = np.linspace(0.1, 2.0, 65)[None, :, None]
    squared = (rng.standard_normal((8, 65, 40)) * scale) ** 2
    log_sigma = ops.convert_to_numpy(model._log_sigma(ops.convert_to_tensor(squared)))
    if variance == "per-bin":
        assert log_sigma.shape == (65, 1)
        np.testing.assert_allclose(np.exp(log_sigma[:, 0]), np.sqrt(squared.mean(axis=(0, 2))),
                                   rtol=1e-5)
    else:
        np.testing.assert_allclose(np.exp(log_sigma), np.sqrt(squared.mean()), rtol=1e-5)
    assert ModelConfig(decoder_variance=variance).likelihood == f"sigma {variance}"


def test_free_bits_leave_small_kl_unpenalised():
    features = np.random.default_rng(1).standard_normal((4, 65, 40)).astype(np.float32)
    losses = {}
    for free_bits in (0.0, 50.0):
        model = build_model(ModelConfig(width=4, depth=2, latent_dim=3, free_bits=free_bits),
                            (65, 40), 0, seed=0)
        objective, squared_error, kl, _ = model._loss_terms({"features": features}, False)
        losses[free_bits] = (float(objective), float(squared_error), float(kl))
    # a fresh encoder's KL is far below 50 nats a dimension: 150 nats are charged instead
    objective, squared_error, kl = losses[50.0]
    assert kl < 150 and objective == pytest.approx(squared_error + 150, rel=1e-5)
    objective, squared_error, kl = losses[0.0]
    assert objective == pytest.approx(squared_error + kl, rel=1e-5)
