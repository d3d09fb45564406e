"""Bad input to inference.py, export_run.py and evaluate.py, as a hostile user would give it:
each gets a message that names the problem and exit code 2 (usage) or 1 (damaged files),
no traceback, and no file written. Uses the bundled model; no TensorFlow needed."""

from __future__ import annotations

import json
import math
import runpy
import shutil
import sys

import pytest

from conftest import ROOT, run_script
from spokendigits import storage
from spokendigits.errors import UsageError
from spokendigits.synthesis import MAX_TOKENS, bundled_run

CODES = ROOT / "codes"


def run_in_process(monkeypatch, capsys, script: str, *argv: str) -> tuple[int, str]:
    """Run `codes/<script>` here as `cli.run` does (fast: the imports are warm); its exit
    code and stderr."""
    monkeypatch.setattr(sys, "argv", [script, *argv])
    try:
        runpy.run_path(str(CODES / script), run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code
    return code, capsys.readouterr().err


@pytest.fixture
def infer(monkeypatch, capsys):
    return lambda *argv: run_in_process(monkeypatch, capsys, "inference.py", *argv)


@pytest.fixture
def run_copy(tmp_path):
    """A copy of the bundled VAE (a VAE checkpoint of an earlier version: `decoder.onnx` and
    `latents.json`), free to damage."""
    return shutil.copytree(bundled_run("vae"), tmp_path / "run")


def test_a_normal_string_still_speaks(infer, tmp_path):
    out = tmp_path / "speech" / "1234.wav"
    assert infer("12 34", "--out", str(out), "--iterations", "4") == (0, "")
    assert out.is_file()


@pytest.mark.parametrize("argv, message", [
    (["1" * (MAX_TOKENS + 1)], f"at most {MAX_TOKENS} digits and pauses"),
    (["12" + " " * MAX_TOKENS], f"at most {MAX_TOKENS} digits and pauses"),  # long pauses
    ([""], "at least one digit"),
    ([" - "], "at least one digit"),
    (["١٢"], "'١' at position 1"),
    (["12", "--temperature", "nan"], "'nan' is not a finite number"),
    (["12", "--temperature", "inf"], "'inf' is not a finite number"),
    (["12", "--temperature", "-1"], "temperature -1 must be 0 to 10"),
    (["12", "--temperature", "11"], "temperature 11 must be 0 to 10"),
    (["12", "--seed", "-5"], "--seed: -5 is not in 0..4294967295"),
    (["12", "--seed", str(2**32)], "is not in 0..4294967295"),
    (["12", "--iterations", "-1"], "--iterations: -1 is not in 0..1000"),
    (["12", "--iterations", "100000"], "--iterations: 100000 is not in 0..1000"),
    (["12", "--epoch", "5"], "no checkpoint at epoch 5; it has ["),
    # the default knows FSDD's six voices; the bundled flow, conditioned on the digit
    # alone, has none to choose
    (["12", "--speaker", "zoe"], "unknown speaker 'zoe'; this model knows"),
    (["12", "--model", "flow", "--speaker", "theo"], "conditioned on digits only; --speaker needs"),
    (["12", "--sampler", "mean"], "invalid choice: 'mean'"),
])
def test_bad_arguments_are_usage_errors(infer, tmp_path, argv, message):
    out = tmp_path / "out.wav"
    code, error = infer(*argv, "--out", str(out))
    assert code == 2 and message in error and "Traceback" not in error, error
    assert list(tmp_path.iterdir()) == []


def test_bad_out_and_run_paths_are_usage_errors(infer, tmp_path):
    (tmp_path / "file").write_text("")
    (tmp_path / "folder.wav").mkdir()
    for argv, message in (
            (["--out", str(tmp_path / "file" / "x.wav")], f"{tmp_path / 'file'} is a file"),
            (["--out", str(tmp_path / "folder.wav")], "is a folder"),
            (["--out", str(tmp_path / "speech.mp3")], "should end in .wav"),
            (["--run", str(tmp_path / "file")], "is a file, not a folder"),
            (["--run", str(tmp_path / "missing")], "does not exist")):
        code, error = infer("12", *argv)
        assert code == 2 and message in error and "Traceback" not in error, error
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["file", "folder.wav"]


def test_read_only_folders_are_refused_before_any_work(tmp_path, monkeypatch):
    """Root may write in a chmod read-only folder, so the refusal is checked with os.access
    itself faked."""
    monkeypatch.setattr(storage.os, "access", lambda path, mode: False)
    with pytest.raises(UsageError, match="is read-only for this user"):
        storage.check_writable_folder(tmp_path / "new", "--out")


def test_default_names_fit_and_never_collide():
    namespace = runpy.run_path(str(CODES / "inference.py"), run_name="inference")
    default_out = namespace["default_out"]
    assert default_out("555 01-99").name == "555-01-99.wav"  # today's names stay
    long_names = {default_out("1" * 70 + tail).name for tail in ("2", "3", " 2")}
    assert len(long_names) == 3
    assert all(len(name) < 100 for name in long_names)
    assert default_out("1" * MAX_TOKENS).parent == default_out("1").parent


def damage_config(edit):
    def damage(run):
        path = run / "config.json"
        config = json.loads(path.read_text())
        edit(config)
        path.write_text(json.dumps(config))
        return path
    return damage


def damage_latents(edit):
    def damage(run):
        (path,) = run.glob("checkpoints/*/latents.json")
        latents = json.loads(path.read_text())
        edit(latents)
        path.write_text(json.dumps(latents))
        return path
    return damage


def write_text(name, text):
    def damage(run):
        path = next(run.rglob(name))
        path.write_text(text)
        return path
    return damage


LATENT = json.loads((bundled_run("vae") / "config.json").read_text())["model"]["latent_dim"]
DAMAGES = {
    "config: not JSON": (write_text("config.json", "{"), "damaged"),
    "config: a list": (write_text("config.json", "[]"), "no JSON object"),
    "config: missing model": (damage_config(lambda c: c.pop("model")), "missing key(s) ['model']"),
    "config: unknown key": (damage_config(lambda c: c.update(attention=True)),
                            "unknown key(s) ['attention']"),
    "config: newer format": (damage_config(lambda c: c.update(format=2)), "format 2 is newer"),
    "config: unknown setting": (damage_config(lambda c: c["model"].update(heads=4)),
                                "unknown ModelConfig setting(s) ['heads']"),
    "config: wrong type": (damage_config(lambda c: c["model"].update(latent_dim="16")),
                           "latent_dim='16' should be int"),
    "config: NaN setting": (damage_config(lambda c: c["training"].update(learning_rate=math.nan)),
                            "learning_rate=nan should be a finite number"),
    "config: unresolved features": (damage_config(lambda c: c["featurizer"]["config"].update(
        n_fft=None)), "not resolved"),
    "config: short scaling": (damage_config(lambda c: c["featurizer"]["scaling"]["mean"].pop()),
                              "129 finite values"),
    "config: labels": (damage_config(lambda c: c["labels"].update(digits=[1, 2])),
                       "digits [0, 1, ..., 9]"),
    "config: other latent size": (damage_config(lambda c: c["model"].update(latent_dim=LATENT + 1)),
                                  "decoder.onnx takes and gives sizes"),
    "latents: not JSON": (write_text("latents.json", "{\"digit\": "), "damaged"),
    "latents: missing table": (damage_latents(lambda g: g.pop("digit_speaker")), "it has keys"),
    "latents: newer format": (damage_latents(lambda g: g.update(format=2)), "format 2 is newer"),
    "latents: short mean": (damage_latents(lambda g: g["digit"]["3"]["mean"].pop()),
                            f"mean of shape ({LATENT - 1},)"),
    "latents: NaN mean": (damage_latents(lambda g: g["digit"]["3"].update(
        mean=[math.nan] * LATENT)), "NaN or infinite"),
    "latents: unknown key": (damage_latents(lambda g: g["digit"]["3"].update(weight=1)),
                             "should hold exactly"),
    "latents: singular cov": (damage_latents(lambda g: g["digit"]["3"].update(
        cov=[[0.0] * LATENT] * LATENT)), "not positive definite"),
    "latents: bad count": (damage_latents(lambda g: g["digit_speaker"]["3/theo"].update(
        count="many")), "not a positive integer"),
}


@pytest.mark.parametrize("damage, message", DAMAGES.values(), ids=DAMAGES.keys())
def test_damaged_run_files_are_data_errors_naming_the_file(run_copy, tmp_path, damage, message):
    damaged = damage(run_copy)
    out = tmp_path / "speech" / "out.wav"
    result = run_script("inference.py", "3", "--run", str(run_copy), "--out", str(out),
                        "--iterations", "2")
    assert result.returncode == 1, result.stderr
    assert str(damaged) in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.parent.exists()


def test_export_refuses_existing_nested_and_impossible_destinations(monkeypatch, capsys, tmp_path,
                                                                    run_copy):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("")
    for destination, message in ((tmp_path / "full", "exists"),
                                 (run_copy / "copy", "inside the run"),
                                 (run_copy, "exists"),
                                 (tmp_path / "file" / "copy", "cannot be a folder")):
        code, error = run_in_process(monkeypatch, capsys, "export_run.py", str(run_copy),
                                     str(destination))
        assert code == 2 and message in error, error
    code, error = run_in_process(monkeypatch, capsys, "export_run.py", str(run_copy),
                                 str(tmp_path / "new"), "--epoch", "7")
    assert code == 2 and "no checkpoint at epoch 7" in error
    assert not (tmp_path / "new").exists() and not (run_copy / "copy").exists()
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert run_in_process(monkeypatch, capsys, "export_run.py", str(run_copy),
                          str(tmp_path / "new"))[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-5"], "--seed: -5 is not in 0..4294967295"),
    (["--temperature", "nan"], "'nan' is not a finite number"),
    (["--griffin-lim-iterations", "-1"], "Griffin-Lim iterations -1 must be 0 to 1000"),
    (["--classifiers-dir", __file__], "is a file; give a folder"),
    ([__file__], "is a file, not a folder"),
])
def test_evaluate_refuses_bad_arguments_before_any_work(argv, message):
    result = run_script("evaluate.py", *argv)
    assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize("model", ["vae", "gan", "wavegan"])
def test_the_top_of_the_temperature_range_speaks(model):
    """At the documented top, 10, the bundled decoder's log-magnitudes once overflowed into
    NaN (11 of 60 seeds of ten digits, every 100-digit string): a bin is now never louder
    than a clip in [-1, 1] allows."""
    import numpy as np

    from spokendigits.runs import Run
    from spokendigits.synthesis import MAX_TEMPERATURE, Synthesizer, bundled_run, parse_digits

    synthesizer = Synthesizer(Run.open(bundled_run(model)))
    for seed, text in ((8, "0123456789"), (0, "0123456789" * 10)):
        waveform = synthesizer.speak(parse_digits(text), seed=seed, temperature=MAX_TEMPERATURE,
                                     n_iter=2)
        assert np.isfinite(waveform).all() and np.abs(waveform).max() <= 0.9 + 1e-6
