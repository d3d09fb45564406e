"""`codes/features.py` end to end, as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run_script, write_tone
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
    assert "--workers must be at least 1 and at most" in \
        usage_error(tmp_path, "--dataset", "folder", "--data-dir", str(tmp_path), "--workers", "100000")
    (tmp_path / "file").write_text("")
    assert "--out-dir" in usage_error(tmp_path, "--out-dir", str(tmp_path / "file"))
    assert f"--config {tmp_path} is a folder; give a JSON file" in \
        usage_error(tmp_path, "--config", str(tmp_path))
    for flag, value, message in [
            ("--sample-rate", "100", "sample_rate must be 1000 to 384000 Hz"),
            ("--n-fft", "255", "n_fft must be even"),
            ("--clip-seconds", "5000", "clip_seconds must be more than 0 and at most 3600"),
            ("--clip-seconds", "nan", "clip"),  # refused by the flag's type, or by the settings
            ("--clip-seconds", "inf", "clip"),
            ("--log-floor", "inf", "log"),
            ("--frame-multiple", "5000", "frame_multiple must be 1 to 1024")]:
        assert message in usage_error(tmp_path, flag, value).replace("-", "_"), (flag, value)
    (tmp_path / "bad.json").write_text('{"sample_rate": "16000"}')
    assert "sample_rate='16000' should be int or null" in \
        usage_error(tmp_path, "--config", str(tmp_path / "bad.json"))


def test_a_split_that_cannot_work_is_a_usage_error(tmp_path):
    for take in range(3):
        write_tone(tmp_path / "wavs" / f"1_ann_{take}.wav")
    message = usage_error(tmp_path, "--dataset", "folder", "--data-dir", str(tmp_path / "wavs"),
                          "--split", "takes")
    assert "split 'takes' leaves the training split empty" in message


def test_features_too_large_for_memory_are_a_usage_error(tone_folder, tmp_path):
    message = usage_error(tmp_path, "--dataset", "folder", "--data-dir", str(tone_folder),
                          "--clip-seconds", "3000", "--n-fft", "65536", "--hop-length", "16")
    assert "GiB, more than this machine's" in message and "shorter --clip-seconds" in message


def test_an_out_dir_that_cannot_be_written_is_found_before_extraction(tmp_path, fsdd_dir):
    (tmp_path / "file").write_text("")
    result = run_script("features.py", "--data-dir", str(fsdd_dir),
                        "--out-dir", str(tmp_path / "file" / "features"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "reading headers" not in result.stderr  # no wav was looked at
    assert result.stderr.strip() == (f"error: --out-dir {tmp_path / 'file' / 'features'} cannot be "
                                     f"a folder: {tmp_path / 'file'} is a file; give --out-dir a "
                                     "folder path")
    (tmp_path / "locked").mkdir(mode=0o555)
    if not os.access(tmp_path / "locked", os.W_OK):  # root writes anywhere: tested in test_storage
        result = run_script("features.py", "--data-dir", str(fsdd_dir),
                            "--out-dir", str(tmp_path / "locked"))
        assert result.returncode == 2 and "is read-only for this user" in result.stderr


def _alive(process) -> bool:
    """Whether a psutil process still runs (a zombie has ended)."""
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_a_stopped_run_leaves_no_worker_and_the_next_run_cleans_up(tmp_path, fsdd_dir, tone_folder,
                                                                    signal_number):
    psutil = pytest.importorskip("psutil")
    out_dir = tmp_path / "features"
    # Output to files, not pipes: workers left alive would hold a pipe open for ever.
    with open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen([sys.executable, str(ROOT / "codes" / "features.py"),
                                    "--data-dir", str(fsdd_dir), "--out-dir", str(out_dir),
                                    "--workers", "2"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and process.poll() is None and time.monotonic() < deadline:
            workers = psutil.Process(process.pid).children()
            time.sleep(0.02)
        assert len(workers) == 2, ("the workers did not start", (tmp_path / "stderr").read_text())
        process.send_signal(signal_number)
        process.wait(timeout=30)
        deadline = time.monotonic() + 5
        while any(_alive(worker) for worker in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [worker.pid for worker in workers if _alive(worker)], \
            ("workers outlived the run", [worker.cmdline() for worker in workers if _alive(worker)])
    finally:
        for worker in workers:
            if _alive(worker):
                worker.kill()
        if process.poll() is None:
            process.kill()
            process.wait()
    errors = (tmp_path / "stderr").read_text()
    if signal_number != signal.SIGKILL:  # SIGINT is Ctrl-C
        code, word = (143, "terminated") if signal_number == signal.SIGTERM else (130, "interrupted")
        assert process.returncode == code and word in errors.splitlines(), \
            (process.returncode, errors)
        assert "Traceback" not in errors, errors
    assert not out_dir.exists() or not os.listdir(out_dir), os.listdir(out_dir)
    # What a SIGKILL during the save leaves; the next run removes it and says so.
    out_dir.mkdir(exist_ok=True)
    part = out_dir / f".fsdd-67a12987.pkl.{process.pid}.k1ll3d_x.part"
    part.write_bytes(b"half a feature set")
    result = run_script("features.py", "--dataset", "folder", "--data-dir", str(tone_folder),
                        "--out-dir", str(out_dir))
    assert result.returncode == 0, result.stderr
    assert not part.exists() and f"removed {part.name}, left by an interrupted run" in result.stderr
