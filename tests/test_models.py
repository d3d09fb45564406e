"""Model settings, conditioning, latent Gaussians and the VAE's networks."""

from __future__ import annotations

import numpy as np
import pytest

from spokendigits.errors import UsageError
from spokendigits.latents import fit_latent_gaussians, sample_latents
from spokendigits.models import ModelConfig, build_condition, build_model, condition_dim

LABELS = {"digits": list(range(10)), "speakers": ["ann", "bob", "cid"]}


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


def test_latent_gaussians_fit_and_sample():
    rng = np.random.default_rng(0)
    digits = np.repeat([0, 1], 2000)
    speakers = np.tile(["ann", "bob"], 2000)
    z = rng.standard_normal((4000, 2)) * [1.0, 0.5] + np.where(digits[:, None] == 1, 5.0, -5.0)
    gaussians = fit_latent_gaussians(z, digits, speakers)
    assert sorted(gaussians["digit"]) == ["0", "1"] and "1/bob" in gaussians["digit_speaker"]
    np.testing.assert_allclose(gaussians["digit"]["1"]["mean"], [5, 5], atol=0.1)
    np.testing.assert_allclose(np.diag(gaussians["digit"]["1"]["cov"]), [1, 0.25], atol=0.1)
    at_mean = sample_latents(gaussians, [1, 0], None, 2, 0.0, rng)
    np.testing.assert_allclose(at_mean, [gaussians["digit"]["1"]["mean"], gaussians["digit"]["0"]["mean"]])
    by_speaker = sample_latents(gaussians, [1, 1], ["ann", "bob"], 2, 0.0, rng)
    np.testing.assert_allclose(by_speaker, [gaussians["digit_speaker"]["1/ann"]["mean"],
                                            gaussians["digit_speaker"]["1/bob"]["mean"]])
    spread = sample_latents(gaussians, [1] * 4000, None, 2, 1.0, rng)
    np.testing.assert_allclose(spread.std(axis=0), [1, 0.5], atol=0.05)
    assert sample_latents(None, [3, 4], None, 5, 1.0, rng).shape == (2, 5)
    with pytest.raises(UsageError, match="no latent Gaussian for '7'"):
        sample_latents(gaussians, [7], None, 2, 1.0, rng)


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
