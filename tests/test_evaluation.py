"""The digit classifier, evaluation of runs, and evaluate.py end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_script
from spokendigits.classifier import ClassifierConfig, train_classifier
from spokendigits.errors import UsageError
from spokendigits.evaluation import EvaluationConfig, RealData, evaluate_run, real_rows, results_table

SMALL = EvaluationConfig(per_digit=4, splits=2, griffin_lim_iterations=4)


def test_the_classifier_is_saved_like_a_run_and_reused(small_judge, small_feature_set):
    folder = small_judge.folder
    assert {p.name for p in folder.iterdir()} >= {"config.json", "classifier.keras",
                                                  "classifier.onnx", "history.csv", "metrics.json"}
    judged = small_judge.metrics
    assert judged["test_clips"] == 60
    assert set(judged["plain"]["per_speaker"]) == set(small_feature_set.speakers.tolist())
    assert 0 <= judged["griffin_lim"]["accuracy"] <= 1 and len(judged["plain"]["per_digit"]) == 10
    probabilities, embeddings = small_judge.run(small_feature_set.features[:5])
    assert probabilities.shape == (5, 10) and embeddings.shape == (5, 64)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    config = ClassifierConfig(epochs=3, griffin_lim_iterations=4)
    assert train_classifier(small_feature_set, config, folder.parent).folder == folder  # reused


def test_the_judge_refuses_features_made_otherwise(small_judge, small_feature_set):
    import dataclasses

    from spokendigits.features import Featurizer

    other = Featurizer(dataclasses.replace(small_feature_set.config, n_fft=512, hop_length=128),
                       small_feature_set.featurizer.scaling)
    with pytest.raises(UsageError, match="other feature settings"):
        small_judge.check_features(other)


def test_real_reference_rows_are_consistent(small_judge, small_feature_set):
    real = RealData.judge(small_feature_set, small_judge, SMALL)
    plain, heard = real_rows(real, SMALL)
    for row in (plain, heard):  # the test split against itself, or a copy of itself
        assert row["fd_test"] is None and row["kid_test"] is None
    assert plain["accuracy"] == pytest.approx(small_judge.metrics["plain"]["accuracy"])
    assert heard["fd_train"] > plain["fd_train"] > 0 and plain["diversity"] > 0


def test_evaluate_run_writes_metrics_and_reuses_them(trained_runs, small_judge, small_feature_set):
    real = RealData.judge(small_feature_set, small_judge, SMALL)
    for run in trained_runs.values():
        results, reused = evaluate_run(run, small_judge, small_feature_set, real, SMALL)
        assert not reused and sorted(results["checkpoints"]) == ["1", "2"]
        last = results["checkpoints"]["2"]
        assert 0 <= last["accuracy"] <= 1 and 1 <= last["inception_score"] <= 10
        assert last["fd_train"] > 0 and len(last["fd_train_per_digit"]) == 10
        assert last["test_spectral_convergence"] > 0
        assert json.loads((run.folder / "metrics.json").read_text()) == \
            json.loads(json.dumps(results))
        again, reused = evaluate_run(run, small_judge, small_feature_set, real, SMALL)
        assert reused and again == json.loads(json.dumps(results))
    table = results_table(real_rows(real, SMALL),
                          [(run, evaluate_run(run, small_judge, small_feature_set, real, SMALL)[0])
                           for run in trained_runs.values()])
    assert len(table) == 2 + 4 and list(table["family"][:2]) == ["real", "real"]


def test_evaluate_script_end_to_end(trained_runs, small_feature_set, tmp_path):
    features = small_feature_set.save(tmp_path / "features")
    result = run_script("evaluate.py", str(trained_runs["cnn"].folder), "--features", str(features),
                        "--per-digit", "3", "--splits", "1", "--griffin-lim-iterations", "2",
                        "--classifiers-dir", str(tmp_path / "classifiers"))
    assert result.returncode == 0, result.stderr
    assert "classifier digits-" in result.stdout and "test accuracy" in result.stdout
    evaluation = json.loads((trained_runs["cnn"].folder / "metrics.json").read_text())
    assert evaluation["settings"]["evaluation"]["per_digit"] == 3
    lines = result.stdout.splitlines()
    table = lines[lines.index(next(line for line in lines if line.lstrip().startswith("run"))):]
    assert "real test clips" in table[1] and "Griffin-Lim" in table[2] and len(table) == 1 + 4
    assert [p.name[:7] for p in (tmp_path / "classifiers").iterdir()] == ["digits-"]


def test_a_run_without_checkpoints_is_refused_before_anything_is_written(
        small_judge, small_feature_set, trained_runs, tmp_path):
    import shutil

    from spokendigits.runs import Run

    copy = tmp_path / "young"
    shutil.copytree(trained_runs["cnn"].folder, copy)
    shutil.rmtree(copy / "checkpoints")
    (copy / "metrics.json").unlink(missing_ok=True)  # left by an earlier evaluation
    real = RealData.judge(small_feature_set, small_judge, SMALL)
    with pytest.raises(UsageError, match="no checkpoint yet"):
        evaluate_run(Run.open(copy), small_judge, small_feature_set, real, SMALL)
    assert not (copy / "metrics.json").exists()


def test_evaluate_script_bad_input(tmp_path, trained_runs):
    result = run_script("evaluate.py", "--runs-dir", str(tmp_path))
    assert result.returncode == 2 and "no finished run" in result.stderr
    result = run_script("evaluate.py", str(trained_runs["cnn"].folder), "--features",
                        str(tmp_path / "none.pkl"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_load_results_reads_the_evaluation_and_remakes_the_real_rows(tiny_study, small_feature_set):
    from spokendigits.evaluation import last_checkpoints, load_results
    from spokendigits.runs import collect_summaries, finished_runs

    runs = finished_runs(root=tiny_study.runs_dir)
    table, judge, config = load_results(runs, small_feature_set, tiny_study.classifiers_dir)
    assert config.per_digit == 4 and judge.folder.parent == tiny_study.classifiers_dir
    assert len(table) == 2 + 2 * 2 and table["label"][0] == "real test clips"
    last = last_checkpoints(table, collect_summaries(runs))
    assert list(last["epochs"][2:]) == [2, 2] and last["accuracy"][2:].is_monotonic_decreasing
    assert last["test_loss"][2:].notna().all()
    with pytest.raises(UsageError, match="not in"):
        load_results(runs, small_feature_set, tiny_study.classifiers_dir / "elsewhere")


def test_latent_views_project_the_test_split(trained_runs, small_feature_set):
    from spokendigits.latents import LatentViews

    views = LatentViews.of(trained_runs["mlp"], small_feature_set, "test", seed=0)
    clips = small_feature_set.split_mask("test").sum()
    assert views.z.shape == (clips, trained_runs["mlp"].model.latent_dim)
    assert {method: points.shape for method, points in views.projections.items()} == \
        {"pca": (clips, 2), "tsne": (clips, 2)}
    assert all(-1 <= score <= 1 for score in views.separation.values())
