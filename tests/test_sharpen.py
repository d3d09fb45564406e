"""The sharpened VAE: a VAE's decoder fine-tuned against a critic keeps the VAE's encoder and
latent, speaks with its samplers, and decodes a latent flow of the same VAE."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_TRAINING
from spokendigits.errors import UsageError
from spokendigits.models import FAMILIES, ModelConfig


def on_vae(family: str, vae, **settings) -> ModelConfig:
    return ModelConfig(family=family, vae_run=str(vae.folder), latent_dim=vae.model.latent_dim,
                       conditional=True, speaker_conditional=True, **settings)


@pytest.fixture(scope="module")
def sharpened_run(trained_runs, small_feature_set, tmp_path_factory):
    """The digit+speaker CNN VAE of `trained_runs`, its decoder sharpened for 2 epochs."""
    from spokendigits.runs import RunSpec, TrainConfig
    from spokendigits.training import train_run

    spec = RunSpec(on_vae("sharpened-vae", trained_runs["cnn"]),
                   TrainConfig(**{**TINY_TRAINING, "batch_size": 16}))
    return train_run(spec, small_feature_set, tmp_path_factory.mktemp("sharpened"), verbose=0)[0]


def test_the_sharpened_decoder_keeps_the_vae_s_encoder_and_latent_and_changes_its_decoder(
        sharpened_run, trained_runs, small_feature_set):
    vae = trained_runs["cnn"]
    checkpoint = sharpened_run.checkpoint(None)
    assert {"encoder.keras", "decoder.keras", "generator.onnx", "latents.json",
            "sampler.json"} <= {path.name for path in checkpoint.iterdir()}
    assert (checkpoint / "latents.json").read_bytes() == \
        (vae.checkpoint(None) / "latents.json").read_bytes()
    test = small_feature_set.split_mask("test")
    clips = (small_feature_set.features[test][:8], small_feature_set.digits[test][:8],
             small_feature_set.speakers[test][:8])
    family = FAMILIES["sharpened-vae"]
    np.testing.assert_allclose(family.encode(sharpened_run, None, *clips),
                               FAMILIES["cnn-vae"].encode(vae, None, *clips), atol=1e-5)
    sharpened = family.reconstruct(sharpened_run, None, *clips)
    assert sharpened.shape == clips[0].shape and np.isfinite(sharpened).all()
    assert not np.allclose(sharpened, FAMILIES["cnn-vae"].reconstruct(vae, None, *clips))
    history = sharpened_run.history
    assert {"l1", "feature_matching", "adversarial", "critic", "val_reconstruction"} <= \
        set(history.columns)


def test_the_sharpened_vae_speaks_with_the_vae_s_samplers(sharpened_run):
    from spokendigits.synthesis import Synthesizer, parse_digits

    synthesizer = Synthesizer(sharpened_run)
    assert set(synthesizer.samplers) == {"prior", "digit", "mixture"}
    speech = synthesizer.speak(parse_digits("07"), seed=1, n_iter=4)
    assert np.isfinite(speech).all() and len(speech) > 0


def test_a_flow_speaks_through_a_sharpened_decoder_of_its_own_vae_only(
        sharpened_run, trained_runs, small_feature_set, tmp_path):
    from spokendigits.runs import RunSpec, TrainConfig
    from spokendigits.synthesis import Synthesizer, parse_digits
    from spokendigits.training import train_run

    vae = trained_runs["cnn"]
    spec = RunSpec(on_vae("latent-flow", vae, decoder_run=str(sharpened_run.folder), width=16,
                          depth=1), TrainConfig(epochs=(1,), batch_size=64))
    flow = train_run(spec, small_feature_set, tmp_path, verbose=0)[0]
    assert (flow.checkpoint(None) / "generator.onnx").read_bytes() == \
        (sharpened_run.checkpoint(None) / "generator.onnx").read_bytes()
    assert "sharpened decoder" in flow.label
    assert np.isfinite(Synthesizer(flow).speak(parse_digits("3"), n_iter=4)).all()
    other = on_vae("latent-flow", vae, decoder_run=str(vae.folder))  # a VAE, not sharpened
    with pytest.raises(UsageError, match="not a trained sharpened-vae run"):
        FAMILIES["latent-flow"].decoding_run(other)
