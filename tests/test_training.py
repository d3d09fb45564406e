"""Training runs: one short run per family, checkpoints, skip, resume, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import train_killed_after_epoch
from spokendigits.models import ModelConfig
from spokendigits.runs import Run, RunSpec, TrainConfig, export_inference, load_sweep, run_name
from spokendigits.errors import UsageError


def test_each_family_trains_and_its_files_reload(trained_runs, small_feature_set):
    import keras
    import onnxruntime

    for key, run in trained_runs.items():
        history = pd.read_csv(run.folder / "history.csv")
        assert history["epoch"].tolist() == [0, 1]
        # The model learns: its loss on the fixed validation clips falls. (The training loss
        # is a mean over five batches of whatever order the shuffle gives: too noisy to tell.)
        assert history["val_loss"].iloc[1] < history["val_loss"].iloc[0], key
        assert {"val_loss", "reconstruction", "kl", "seconds", "kl_weight"} <= set(history)
        assert run.checkpoints == [1, 2] and run.summary["checkpoints"][1]["epochs"] == 2
        assert not list(run.folder.glob("state-*")) and not list(run.folder.rglob("*.part*"))
        assert run.config["feature_set"] == small_feature_set.name
        assert run.featurizer.config == small_feature_set.config  # settings travel with the run
        checkpoint = run.checkpoint()
        metrics = json.loads((checkpoint / "metrics.json").read_text())
        assert set(metrics) == {"epoch", "train", "validation", "test"}
        decoder = keras.saving.load_model(checkpoint / "decoder.keras")
        session = onnxruntime.InferenceSession(str(checkpoint / "generator.onnx"))
        z = np.random.default_rng(0).standard_normal((2, run.model.latent_dim)).astype(np.float32)
        feeds = {"z": z}
        if run.model.conditional:
            feeds["condition"] = np.eye(16, dtype=np.float32)[[1, 12]]
        expected = decoder.predict(list(feeds.values()), verbose=0)
        np.testing.assert_allclose(session.run(None, feeds)[0], expected[..., None], atol=1e-4)
    for run in trained_runs.values():  # every model, conditional or not, can sample its digits
        latents = json.loads((run.checkpoint() / "latents.json").read_text())
        assert sorted(latents["digit"], key=int) == [str(d) for d in range(10)]


def test_a_finished_run_is_skipped(trained_runs, small_feature_set):
    from spokendigits.training import train_run

    run = trained_runs["mlp"]
    spec = RunSpec(run.model, run.training)
    again, status = train_run(spec, small_feature_set, run.folder.parent, verbose=0)
    assert status == "skipped" and again.folder == run.folder


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_last_epoch(small_feature_set, tmp_path, monkeypatch):
    from spokendigits import training

    spec = RunSpec(ModelConfig(family="mlp-vae", width=16), TrainConfig(epochs=(1, 3)))
    train_killed_after_epoch(spec, small_feature_set, tmp_path, monkeypatch, last=2)
    folder = tmp_path / run_name(spec, small_feature_set.name)
    assert not (folder / "summary.json").exists()  # nothing claims to be complete
    assert Run.open(folder).checkpoints == [1] and (folder / "state-e002.keras").exists()
    run, status = training.train_run(spec, small_feature_set, tmp_path, verbose=0)
    assert status == "resumed"
    assert pd.read_csv(folder / "history.csv")["epoch"].tolist() == [0, 1, 2]
    assert run.checkpoints == [1, 3] and run.summary is not None
    assert not list(folder.glob("state-*"))


@pytest.mark.slow
def test_the_same_seed_gives_the_same_loss_curve(small_feature_set, tmp_path):
    from spokendigits.training import train_run

    spec = RunSpec(ModelConfig(family="cnn-vae", conditional=True), TrainConfig(epochs=(2,), seed=3))
    curves = [pd.read_csv(train_run(spec, small_feature_set, tmp_path / name, verbose=0)[0].folder
                          / "history.csv")[["loss", "val_loss"]] for name in ("a", "b")]
    pd.testing.assert_frame_equal(curves[0], curves[1])
    other = RunSpec(spec.model, TrainConfig(epochs=(2,), seed=4))
    different = pd.read_csv(train_run(other, small_feature_set, tmp_path / "c", verbose=0)[0].folder
                            / "history.csv")
    assert not np.allclose(different["loss"], curves[0]["loss"])


def test_sweep_files_expand_and_say_what_is_wrong(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"training": {"epochs": [5, 10]},
                                "runs": [{"family": "mlp-vae"},
                                         {"family": "cnn-vae", "training": {"batch_size": 32}}]}))
    specs = load_sweep(path)
    assert [s.model.family for s in specs] == ["mlp-vae", "cnn-vae"]
    assert [s.training.batch_size for s in specs] == [64, 32] and specs[1].training.epochs == (5, 10)
    for bad, message in (({"runs": []}, "non-empty"), ({"runs": [{"famly": "x"}]}, "run 0: unknown"),
                         ({"runs": [{}], "trainig": {}}, "unknown key"),
                         ({"runs": [{}], "training": {"epochs": [10, 5]}}, "increasing")):
        path.write_text(json.dumps(bad))
        with pytest.raises(UsageError, match=message):
            load_sweep(path)


def test_shipped_sweeps_load():
    from conftest import ROOT

    sweeps = sorted((ROOT / "configs").glob("*.json"))  # features/ holds feature settings
    assert len(sweeps) > 10
    for path in sweeps:
        assert load_sweep(path), path


def test_export_copies_what_inference_needs(trained_runs, tmp_path):
    exported = Run.open(export_inference(trained_runs["mlp"], tmp_path / "shared", epoch=1))
    assert exported.checkpoints == [1] and exported.model == trained_runs["mlp"].model
    assert sorted(p.name for p in exported.checkpoint().iterdir()) == \
        ["generator.onnx", "latents.json", "metrics.json", "sampler.json"]
    with pytest.raises(UsageError, match="exists"):
        export_inference(trained_runs["mlp"], tmp_path / "shared")


def test_a_diverging_run_stops_with_a_clear_error_and_keeps_nothing_of_it(small_feature_set, tmp_path):
    from spokendigits.errors import DataError
    from spokendigits.training import train_run

    spec = RunSpec(ModelConfig(family="mlp-vae", width=16), TrainConfig(epochs=(1, 2), learning_rate=1e8))
    with pytest.raises(DataError, match=r"diverged \(loss NaN in epoch 1\)"):
        train_run(spec, small_feature_set, tmp_path, verbose=0)
    folder = tmp_path / run_name(spec, small_feature_set.name)
    assert not (folder / "summary.json").exists()
    for checkpoint in folder.glob("checkpoints/e*/metrics.json"):
        assert np.isfinite(json.loads(checkpoint.read_text())["train"]["loss"])


def test_label_sets_come_from_the_training_split(small_feature_set):
    from dataclasses import replace

    from spokendigits.training import label_sets

    speaker = small_feature_set.speakers[0]
    # the split by speakers some datasets use: one speaker's clips only in the test split
    by_speaker = replace(small_feature_set, is_test=small_feature_set.speakers == speaker)
    digit_only = RunSpec(ModelConfig(conditional=True), TrainConfig())
    labels = label_sets(by_speaker, digit_only)
    assert labels["digits"] == list(range(10))
    assert labels["speakers"] == sorted(set(small_feature_set.speakers) - {speaker})
    with pytest.raises(UsageError, match=f"unseen speaker.*{speaker}.*--split takes"):
        label_sets(by_speaker, RunSpec(ModelConfig(conditional=True, speaker_conditional=True),
                                       TrainConfig()))
