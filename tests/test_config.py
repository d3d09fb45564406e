"""Config helpers and the feature config's resolution."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from spokendigits.config import (add_arguments, config_hash, from_arguments, from_dict,
                                 load_json_config, to_dict)
from spokendigits.errors import UsageError
from spokendigits.features import FeatureConfig
from spokendigits.runs import Run, RunSpec, TrainConfig, run_name


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser, FeatureConfig)
    return parser.parse_args(list(argv))


def test_flags_override_only_what_is_given(tmp_path):
    (tmp_path / "features.json").write_text(json.dumps({"n_fft": 512, "phase": True}))
    base = load_json_config(FeatureConfig, tmp_path / "features.json")
    config = from_arguments(FeatureConfig, parse("--hop-length", "100", "--no-phase"), base)
    assert (config.n_fft, config.hop_length, config.phase) == (512, 100, False)
    assert config.length_quantile == FeatureConfig().length_quantile


def test_flags_are_typed_and_bad_values_exit_with_usage_error():
    assert from_arguments(FeatureConfig, parse("--clip-seconds", "1.5")).clip_seconds == 1.5
    with pytest.raises(SystemExit) as error:
        parse("--n-fft", "many")
    assert error.value.code == 2


def test_unknown_and_invalid_settings_are_named(tmp_path):
    with pytest.raises(UsageError, match=r"unknown FeatureConfig setting\(s\) \['nfft'\]"):
        from_dict(FeatureConfig, {"nfft": 256})
    with pytest.raises(UsageError, match="length_quantile must be in"):
        FeatureConfig(length_quantile=2)
    with pytest.raises(UsageError, match="split must be one of"):
        FeatureConfig(split="halves")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(UsageError, match="JSON object"):
        load_json_config(FeatureConfig, tmp_path / "list.json")
    with pytest.raises(UsageError, match="does not exist"):
        load_json_config(FeatureConfig, tmp_path / "missing.json")


@pytest.mark.parametrize("cls, flag, value", [
    (FeatureConfig, "--log-floor", "nan"), (FeatureConfig, "--clip-seconds", "inf"),
    (FeatureConfig, "--test-fraction", "-inf"), (FeatureConfig, "--seed", "-5"),
    (TrainConfig, "--learning-rate", "NaN"), (TrainConfig, "--seed", str(2**32))])
def test_float_flags_must_be_finite_and_seeds_in_range(cls, flag, value, capsys):
    """Every script's dataclass flags: NaN and infinities, which float() accepts, and seeds
    that numpy's generators refuse stop at parsing, with exit code 2."""
    parser = argparse.ArgumentParser()
    add_arguments(parser, cls)
    with pytest.raises(SystemExit) as error:
        parser.parse_args([flag, value])
    assert error.value.code == 2
    assert f"argument {flag}: " in capsys.readouterr().err
    assert from_arguments(cls, parser.parse_args(["--seed", str(2**32 - 1)])).seed == 2**32 - 1


def test_json_settings_must_be_finite_and_seeds_in_range(tmp_path):
    for text, message in (('{"log_floor": NaN}', "log_floor=nan should be a finite number"),
                          ('{"clip_seconds": Infinity}', "clip_seconds=inf should be a finite"),
                          ('{"test_fraction": 1e999}', "test_fraction=inf should be a finite"),
                          ('{"seed": -1}', r"seed=-1 should be in 0\.\.4294967295")):
        (tmp_path / "features.json").write_text(text)
        with pytest.raises(UsageError, match=message):
            load_json_config(FeatureConfig, tmp_path / "features.json")


def test_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [2, 3]}) == config_hash({"b": [2, 3], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert from_dict(FeatureConfig, to_dict(FeatureConfig(n_fft=512))) == FeatureConfig(n_fft=512)


def test_resolve_chooses_from_the_data_and_is_idempotent():
    durations = [0.2 + 0.01 * i for i in range(100)]  # 0.2 .. 1.19 s
    config = FeatureConfig().resolve(durations, [8000] * 100, "takes")
    assert (config.sample_rate, config.n_fft, config.hop_length, config.split) == (8000, 256, 64, "takes")
    assert config.n_frames % 16 == 0 and config.n_freq == 129
    assert config.clip_samples == (config.n_frames - 1) * 64
    fitting = sum(d * 8000 <= config.clip_samples for d in durations) / len(durations)
    assert fitting >= 0.95
    assert config.resolve(durations, [8000] * 100, "random") == config


def test_resolve_caps_the_rate_and_respects_explicit_settings():
    config = FeatureConfig().resolve([1.0], [48000], "speakers")
    assert (config.sample_rate, config.n_fft, config.hop_length) == (22050, 1024, 256)
    explicit = FeatureConfig(sample_rate=16000, clip_seconds=1.0, frame_multiple=1,
                             hop_length=160, split="random").resolve([0.5], [8000], "takes")
    assert (explicit.sample_rate, explicit.n_fft, explicit.clip_samples, explicit.split) == \
        (16000, 512, 16000, "random")
    most_common = FeatureConfig().resolve([1, 1, 1], [16000, 8000, 16000], "takes")
    assert most_common.sample_rate == 16000


def test_shipped_feature_configs_load():
    from conftest import ROOT

    paths = sorted((ROOT / "configs" / "features").glob("*.json"))
    assert paths
    for path in paths:
        assert isinstance(load_json_config(FeatureConfig, path), FeatureConfig)


def test_run_names_hash_only_the_settings_that_differ_from_their_defaults():
    from spokendigits.config import non_defaults
    from spokendigits.models import ModelConfig
    from spokendigits.runs import RunSpec, TrainConfig, run_name

    # width and depth default to None and are resolved per family, so they always count
    assert non_defaults(ModelConfig(family="mlp-vae", dropout=0.1)) == \
        {"family": "mlp-vae", "width": 256, "depth": 2, "dropout": 0.1}
    plain = RunSpec(ModelConfig(), TrainConfig())
    assert run_name(plain, "fsdd-1") == run_name(
        RunSpec(ModelConfig(free_bits=0.0, decoder_variance="fixed"), TrainConfig(seed=0)), "fsdd-1")
    assert run_name(plain, "fsdd-1") != run_name(RunSpec(ModelConfig(free_bits=0.5), TrainConfig()),
                                                  "fsdd-1")
    assert run_name(plain, "fsdd-1") != run_name(plain, "fsdd-2")


def test_runs_of_earlier_versions_keep_their_names():
    """The bundled model's config.json was written before the GAN settings existed: it
    still opens, and its settings still hash to the name of the run it was exported from,
    since a hash covers only settings that differ from their defaults."""
    from spokendigits.synthesis import bundled_run

    run = Run.open(bundled_run("vae"))
    assert "critic_steps" not in run.config["model"]  # older than the GAN settings
    assert run_name(RunSpec(run.model, run.training), run.config["feature_set"]) == \
        run.summary["run"] == "cnn-vae-9e35b601"


@pytest.mark.parametrize("write, message", [
    (lambda path: path.write_text("[" * 100_000 + "]" * 100_000), "deeper than can be read"),
    (lambda path: path.write_text('{"seed": ' + "7" * 5000 + "}"), "cannot be read as JSON"),
    (lambda path: os.truncate(path, 2**30), "1,073,741,824 bytes"),  # sparse: no disk used
], ids=["deep", "long number", "huge"])
def test_hostile_json_is_refused_with_the_file_named(tmp_path, write, message):
    from spokendigits.errors import DataError
    from spokendigits.runs import Run, load_sweep
    from spokendigits.storage import read_json

    path = tmp_path / "config.json"
    path.touch()
    write(path)
    with pytest.raises(UsageError, match=message) as refused:
        load_sweep(path)
    assert str(path) in str(refused.value)
    with pytest.raises(DataError, match=f"{path} is damaged"):
        read_json(path)
    with pytest.raises(DataError, match="cannot be used|is damaged"):
        Run.open(tmp_path)


@pytest.mark.parametrize("sweep, message", [
    ({"training": [1], "runs": [{}]}, '"training" should be an object'),
    ({"training": "x", "runs": [{}]}, '"training" should be an object'),
    ({"runs": [{"training": 5}]}, '"training" should be an object'),
    ({"runs": [{"base": "missing.json"}]}, "does not exist"),
    ({"runs": [{"base": "config.json"}]}, "leads back to itself"),
], ids=["list", "text", "run's number", "missing base", "own base"])
def test_sweeps_of_the_wrong_shape_name_the_problem(tmp_path, sweep, message):
    from spokendigits.runs import load_sweep

    path = tmp_path / "config.json"
    path.write_text(json.dumps(sweep))
    with pytest.raises(UsageError, match=message):
        load_sweep(path)
