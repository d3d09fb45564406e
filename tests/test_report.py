"""codes/report.py and the library behind it: a folder that renders, figures that read."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from PIL import Image

from conftest import run_script


def report_arguments(study, out):
    return ["--runs-dir", str(study.runs_dir), "--classifiers-dir", str(study.classifiers_dir),
            "--features", str(next(study.features_dir.glob("*.pkl"))), "--out", str(out)]


def test_report_writes_a_folder_whose_links_all_resolve(tiny_study, small_feature_set, tmp_path):
    out = tmp_path / "reports"
    result = run_script("report.py", *report_arguments(tiny_study, out), "--grid-rows", "2")
    assert result.returncode == 0, result.stderr
    text = (out / "README.md").read_text()
    images = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    sounds = re.findall(r"\]\((audio/[^)]+\.wav)\)", text)
    assert len(images) == 7 + 2 * 2 and len(sounds) == 2 * 3  # 2 runs, 3 wavs each
    for image in images:
        assert not image.startswith("/") and Image.open(out / image).size[0] > 300
    for sound in sounds:
        waveform, rate = soundfile.read(out / sound)
        assert rate == small_feature_set.config.sample_rate and np.abs(waveform).max() > 0
    assert sorted(path.name for path in (out / "figures").iterdir()) == sorted(
        Path(image).name for image in images)
    results = pd.read_csv(out / "results.csv")
    assert results["run"].tolist()[:4] == ["real test clips", "real test clips, Griffin-Lim",
                                           "real training clips, Griffin-Lim",
                                           "floor: digit means, Griffin-Lim"]
    assert len(results) == 4 + 2 * 2 and len(pd.read_csv(out / "vae_study.csv")) == 2 * 2
    shown = (out / "results.md").read_text()
    assert "Made by `python" in shown and "equal n" in shown and "against the floor" in shown
    models = results[~results["family"].isin(["real", "floor"])]
    last = models[models["epochs"] == models.groupby("run")["epochs"].transform("max")]
    sections = re.findall(r"^### (.+) \(`([^`]+)`\)$", text, flags=re.MULTILINE)
    assert sorted(run for _, run in sections) == sorted(models["run"].unique())
    assert sections[0][1] == last.loc[last["accuracy"].idxmax(), "run"]  # best first
    assert f"is **{sections[0][0]}**" in text


def test_runs_that_share_a_label_are_told_apart():
    from spokendigits.runs import Run, labels

    runs = [Run(Path(name), {"model": {"family": "mlp-vae", "beta": beta}})
            for name, beta in (("mlp-vae-a", 0.5), ("mlp-vae-b", 1.0), ("cnn-vae-c", 1.0))]
    runs[2].config["model"]["family"] = "cnn-vae"
    assert labels(runs) == {"mlp-vae-a": "MLP, unconditional (mlp-vae-a)",
                            "mlp-vae-b": "MLP, unconditional (mlp-vae-b)",
                            "cnn-vae-c": "CNN, unconditional"}
    sigma = Run(Path("cnn-vae-d"), {"model": {"family": "cnn-vae", "width": 16, "latent_dim": 32,
                                              "decoder_variance": "per-bin", "free_bits": 0.5}})
    assert sigma.label == "CNN w16 d4 z32, unconditional, σ per-bin, free bits 0.5"


def test_a_second_report_replaces_the_first_whole_but_keeps_the_reports_inside_it(
        tiny_study, tmp_path):
    out = tmp_path / "reports"
    inner = run_script("report.py", *report_arguments(tiny_study, out / "older"), "--grid-rows", "1")
    assert inner.returncode == 0, inner.stderr
    first = run_script("report.py", *report_arguments(tiny_study, out), "--grid-rows", "1")
    assert first.returncode == 0, first.stderr  # a folder holding only reports is no foreign one
    (out / "figures" / "stale.png").write_bytes(b"old")
    (out / "older" / "figures" / "kept.png").write_bytes(b"old")
    (out / "findings.md").write_text("# What we found\n")  # written by people: kept too
    result = run_script("report.py", *report_arguments(tiny_study, out), "--grid-rows", "1")
    assert result.returncode == 0, result.stderr
    assert not (out / "figures" / "stale.png").exists() and (out / "README.md").is_file()
    assert (out / "older" / "figures" / "kept.png").read_bytes() == b"old"
    assert "[older/](older/README.md)" in (out / "README.md").read_text()
    assert (out / "findings.md").read_text() == "# What we found\n"
    assert "[findings.md](findings.md)" in (out / "README.md").read_text()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]
    assert not [path for path in out.iterdir() if path.name.startswith(".older")]


def test_report_refuses_unevaluated_runs_and_foreign_folders(tiny_study, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(tiny_study.runs_dir, runs)
    next(runs.glob("*/metrics.json")).unlink()
    out = tmp_path / "reports"
    out.mkdir()
    (out / "README.md").write_text("the previous report")
    (out / ".spokendigits-report").write_text("")
    arguments = report_arguments(tiny_study, out)
    arguments[1] = str(runs)
    result = run_script("report.py", *arguments)
    assert result.returncode == 2 and "run codes/evaluate.py first" in result.stderr
    assert (out / "README.md").read_text() == "the previous report"

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "README.md").write_text("mine, not a report")
    result = run_script("report.py", *report_arguments(tiny_study, foreign))
    assert result.returncode == 2 and "no report made by codes/report.py" in result.stderr
    assert (foreign / "README.md").read_text() == "mine, not a report"
    result = run_script("report.py", *report_arguments(tiny_study, foreign / "README.md"))
    assert result.returncode == 2 and "is a file" in result.stderr
    result = run_script("report.py", *report_arguments(tiny_study, foreign / "README.md" / "out"))
    assert result.returncode == 2 and "is a file" in result.stderr, result.stderr


def test_spectrogram_grid_labels_its_axes_and_digit_columns(small_feature_set, tmp_path):
    from spokendigits import plots

    test = small_feature_set.split_mask("test")
    grid = plots.digit_columns(small_feature_set.features[test], small_feature_set.digits[test], 2)
    assert grid.shape == (2, 10, *small_feature_set.features.shape[1:])
    figure = plots.spectrogram_grid(grid, small_feature_set.featurizer.representation, "Real",
                                    [f"digit {d}" for d in range(10)])
    panels = figure.axes[:20]
    assert [ax.get_title() for ax in panels[:10]] == [f"digit {d}" for d in range(10)]
    assert panels[0].get_ylabel() == "kHz" and panels[-1].get_xlabel() == "s"
    assert figure.axes[-1].get_ylabel() == "magnitude (dB)"  # the colour bar
    path = plots.save(figure, tmp_path / "grid.png")
    assert Image.open(path).mode == "P"  # a 256-colour palette
    with pytest.raises(ValueError, match="digit 0 has 6 clips"):
        plots.digit_columns(small_feature_set.features[test], small_feature_set.digits[test], 7)


def _stage(parent: Path, name: str, new_complete: bool, old: bool) -> Path:
    """What a report.py killed while swapping leaves: a stage holding the new report (complete
    or not) and, between the two renames, the old one as `replaced`."""
    from spokendigits.reports import MARKER

    stage = parent / f".{name}.k1ll3d_x"
    (stage / name / "figures").mkdir(parents=True)
    if new_complete:
        (stage / name / "README.md").write_text("new")
        (stage / name / MARKER).write_text("")
    if old:
        (stage / "replaced").mkdir()
        (stage / "replaced" / "README.md").write_text("old")
        (stage / "replaced" / MARKER).write_text("")
    return stage


def test_recover_stages_clears_stale_stages_and_restores_a_report_lost_mid_swap(tmp_path):
    from spokendigits.reports import recover_stages

    out = tmp_path / "reports"
    out.mkdir()
    (out / "README.md").write_text("current")
    stale = _stage(tmp_path, "reports", new_complete=False, old=False)
    mine = tmp_path / ".reports.notes"  # not a stage: other content, other name
    (mine / "todo").mkdir(parents=True)
    assert recover_stages(out) == [f"removed {stale}, left by an interrupted report.py"]
    assert not stale.exists() and mine.is_dir() and (out / "README.md").read_text() == "current"

    shutil.rmtree(out)  # killed between the renames, the new report not complete: roll back
    _stage(tmp_path, "reports", new_complete=False, old=True)
    assert recover_stages(out)[0].startswith(f"restored {out}")
    assert (out / "README.md").read_text() == "old"

    shutil.rmtree(out)  # the new report was complete: roll forward
    _stage(tmp_path, "reports", new_complete=True, old=True)
    recover_stages(out)
    assert (out / "README.md").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".reports.notes", "reports"]


def test_report_recovers_a_killed_swap_and_leaves_out_unfinished_runs(tiny_study, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(tiny_study.runs_dir, runs)
    killed = runs / "mlp-vae-00000000"  # killed in its first epoch, by an older version
    killed.mkdir()
    shutil.copy(next(runs.glob("*/config.json")), killed / "config.json")
    (killed / "history.csv").write_text("")
    out = tmp_path / "reports"
    _stage(tmp_path, "reports", new_complete=False, old=True)
    arguments = report_arguments(tiny_study, out)
    arguments[1] = str(runs)
    result = run_script("report.py", *arguments, "--grid-rows", "1")
    assert result.returncode == 0, result.stderr
    assert f"restored {out}" in result.stdout
    assert "left out 1 unfinished runs (no summary.json yet): mlp-vae-00000000" in result.stdout
    assert (out / "README.md").read_text() != "old" and "mlp-vae-00000000" not in \
        (out / "README.md").read_text()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_one_report_at_a_time_writes_beside_a_folder(tmp_path):
    from spokendigits.errors import DataError
    from spokendigits.reports import write_report
    from spokendigits.storage import try_lock

    lock = try_lock(tmp_path)  # another report.py writing into tmp_path
    try:
        with pytest.raises(DataError, match="another report.py is writing a report in"):
            write_report([], None, tmp_path / "reports", "")
    finally:
        os.close(lock)
    assert not list(tmp_path.iterdir())


def test_report_refuses_more_grid_rows_than_clips_and_bad_seeds(tiny_study, tmp_path):
    out = tmp_path / "reports"
    result = run_script("report.py", *report_arguments(tiny_study, out), "--grid-rows", "100")
    assert result.returncode == 2 and "more than the 6 test clips of the rarest digit" in \
        result.stderr, result.stderr
    result = run_script("report.py", *report_arguments(tiny_study, out), "--seed", "-1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not out.exists()
