"""`codes/features.py` end to end, as a user runs it."""

from __future__ import annotations

import os

from conftest import run_script, write_tone
from spokendigits.features import FeatureSet


def test_writes_a_feature_set_and_says_so(tone_folder, tmp_path):
    write_tone(tone_folder / "2_cid_0.wav", channels=2)
    write_tone(tone_folder / "2_cid_1.wav", sample_rate=16000)
    (tone_folder / "readme.wav").write_bytes(b"")
    result = run_script("features.py", "--dataset", "folder", "--data-dir", str(tone_folder),
                        "--out-dir", str(tmp_path / "features"), "--clip-seconds", "0.25",
                        "--workers", "2")
    assert result.returncode == 0, result.stderr
    (path,) = (tmp_path / "features").iterdir()
    line = result.stdout.splitlines()[0]
    assert line.startswith("122 clips (") and f"-> {path}" in line
    assert "1 skipped, 1 resampled to 8000 Hz, 1 mixed down to mono" in line
    assert "skipped readme.wav: name is not" in result.stdout
    features = FeatureSet.load(path)
    # 0.25 s = 2000 samples: 33 whole frames of 64, rounded up to 48 (frame_multiple 16)
    assert features.summary["clips"] == 122 and features.config.clip_samples == 47 * 64


def test_a_config_file_and_flags_combine(tone_folder, tmp_path):
    (tmp_path / "features.json").write_text('{"n_fft": 512, "frame_multiple": 1}')
    result = run_script("features.py", "--dataset", "folder", "--data-dir", str(tone_folder),
                        "--out-dir", str(tmp_path / "out"), "--config", str(tmp_path / "features.json"),
                        "--hop-length", "100")
    assert result.returncode == 0, result.stderr
    config = FeatureSet.load(next((tmp_path / "out").iterdir())).config
    assert (config.n_fft, config.hop_length, config.frame_multiple) == (512, 100, 1)


def test_the_environment_variable_points_at_fsdd(tmp_path, fsdd_dir):
    result = run_script("features.py", "--out-dir", str(tmp_path), "--workers", "2",
                        env={"FSDD_DIR": str(fsdd_dir)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("3000 clips (2700 train / 300 test), 0 skipped, ")


def usage_error(tmp_path, *args, env=None):
    """Run with bad input: exit code 2, a one-line message, nothing written."""
    out_dir = tmp_path / "features"
    result = run_script("features.py", "--out-dir", str(out_dir), *args, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert not out_dir.exists() or not os.listdir(out_dir)
    return result.stderr.strip().splitlines()[-1]


def test_bad_input_is_a_usage_error_that_names_the_problem(tmp_path):
    missing = tmp_path / "nowhere"
    assert f"data folder {missing} (from --data-dir) does not exist" in \
        usage_error(tmp_path, "--data-dir", str(missing))
    assert "(from $FSDD_DIR) does not exist" in usage_error(tmp_path, env={"FSDD_DIR": str(missing)})
    assert "needs --data-dir" in usage_error(tmp_path, "--dataset", "folder")
    (tmp_path / "empty").mkdir()
    assert "holds no wav named {digit}_{speaker}_{take}.wav" in \
        usage_error(tmp_path, "--dataset", "folder", "--data-dir", str(tmp_path / "empty"))
    assert "length_quantile must be in (0, 1]" in usage_error(tmp_path, "--length-quantile", "2")
    assert "invalid choice: 'mnist'" in usage_error(tmp_path, "--dataset", "mnist")
    assert "--workers must be at least 1" in \
        usage_error(tmp_path, "--dataset", "folder", "--data-dir", str(tmp_path), "--workers", "0")
    (tmp_path / "file").write_text("")
    assert "--out-dir" in usage_error(tmp_path, "--out-dir", str(tmp_path / "file"))
    (tmp_path / "bad.json").write_text('{"sample_rate": "16000"}')
    assert "sample_rate='16000' should be int or null" in \
        usage_error(tmp_path, "--config", str(tmp_path / "bad.json"))


def test_a_split_that_cannot_work_is_a_usage_error(tmp_path):
    for take in range(3):
        write_tone(tmp_path / "wavs" / f"1_ann_{take}.wav")
    message = usage_error(tmp_path, "--dataset", "folder", "--data-dir", str(tmp_path / "wavs"),
                          "--split", "takes")
    assert "split 'takes' leaves the training split empty" in message
