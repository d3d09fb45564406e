"""The digit classifier, evaluation of runs, and evaluate.py end to end."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_script
from spokendigits.classifier import ClassifierConfig, train_classifier
from spokendigits.errors import UsageError
from spokendigits.evaluation import (FLOOR, EvaluationConfig, RealData, evaluate_run, reference_rows,
                                     results_table)
from spokendigits.listeners import MOS

# the outside listeners take 0.15 s a clip: heard in their own test alone
SMALL = EvaluationConfig(draws=2, griffin_lim_iterations=4, samplers=("prior", "digit"),
                         outside_draws=0)


def test_the_classifier_is_saved_like_a_run_and_reused(small_judge, small_feature_set):
    folder = small_judge.folder
    assert {p.name for p in folder.iterdir()} >= {"config.json", "classifier.keras",
                                                  "classifier.onnx", "history.csv", "metrics.json"}
    judged = small_judge.metrics
    assert judged["test_clips"] == 60
    assert set(judged["plain"]["per_speaker"]) == set(small_feature_set.speakers.tolist())
    assert 0 <= judged["griffin_lim"]["accuracy"] <= 1 and len(judged["plain"]["per_digit"]) == 10
    # chosen on a held-out tenth of the 300 training clips, among the 3 epochs trained
    assert judged["validation"]["clips"] == 30 and 1 <= judged["validation"]["epoch"] <= 3
    history = (folder / "history.csv").read_text().splitlines()
    assert "val_accuracy" in history[0] and len(history) == 1 + 3
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


def test_reference_rows_are_judged_at_equal_n(small_judge, small_feature_set):
    real = RealData.judge(small_feature_set, small_judge, SMALL)
    assert real.per_digit == 6 and len(real.digits) == 60  # the test split: take 0 of 6 speakers
    plain, heard, training, floor = reference_rows(small_feature_set, small_judge, real, SMALL)
    for row in (plain, heard):  # the test split against itself, or a copy of itself
        assert "fd" not in row and "kid" not in row and row["draws"] == 1
    assert plain["accuracy"] == pytest.approx(small_judge.metrics["plain"]["accuracy"])
    for row in (training, floor):
        assert row["draws"] == 2 and row["fd"] > 0 and row["kid_std"] is not None
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1
        assert row["fd_per_digit"] is None  # 6 clips per digit, 64 dimensions
    assert floor["run"] == FLOOR
    # every clip of a floor draw is one of ten mean spectrograms: it covers less of the
    # test split than real training clips do
    assert floor["recall"] < training["recall"]
    assert "listener" not in floor  # not asked: outside_draws 0


def test_the_outside_listeners_hear_the_references_and_the_last_checkpoint(
        trained_runs, small_judge, small_feature_set, tmp_path):
    from dataclasses import replace

    from spokendigits.runs import Run

    config = replace(SMALL, outside_draws=1)
    real = RealData.judge(small_feature_set, small_judge, config)
    plain, heard, training, floor = reference_rows(small_feature_set, small_judge, real, config)
    for row in (plain, heard, training, floor):  # the real recordings themselves, and the rest
        assert row["outside_draws"] == 1
        assert 0 <= row["listener"] <= 1 and all(1 <= row[name] <= 5 for name in MOS)
    assert plain["listener"] > floor["listener"] and plain["mos_sig"] > floor["mos_sig"]
    run = Run.open(shutil.copytree(trained_runs["cnn"].folder, tmp_path / "cnn"))
    results, _ = evaluate_run(run, small_judge, small_feature_set, real, config)
    last = results["checkpoints"]["2"]
    for scores in last["samplers"].values():
        assert scores["outside_draws"] == 1 and scores["listener_std"] is None  # one draw
        assert 0 <= scores["listener"] <= 1 and 1 <= scores["mos_ovrl"] <= 5
    assert 0 <= last["reconstruction_listener"] <= 1 and 1 <= last["reconstruction_mos_ovrl"] <= 5
    assert all("listener" not in scores  # earlier checkpoints: the judge alone
               for scores in results["checkpoints"]["1"]["samplers"].values())


def test_evaluate_run_writes_metrics_and_reuses_them(trained_runs, small_judge, small_feature_set):
    real = RealData.judge(small_feature_set, small_judge, SMALL)
    for run in trained_runs.values():
        results, reused = evaluate_run(run, small_judge, small_feature_set, real, SMALL)
        assert not reused and sorted(results["checkpoints"]) == ["1", "2"]
        last = results["checkpoints"]["2"]
        assert list(last["samplers"]) == (["prior", "digit"] if run.model.conditional else ["digit"])
        for scores in last["samplers"].values():
            assert scores["draws"] == 2 and 0 <= scores["accuracy"] <= 1
            assert 1 <= scores["inception_score"] <= 10 and scores["fd"] > 0
            assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1
            assert scores["kid_std"] >= 0 and len(scores["accuracy_per_digit"]) == 10
        assert last["test_spectral_convergence"] > 0 and 0 <= last["reconstruction_accuracy"] <= 1
        assert json.loads((run.folder / "metrics.json").read_text()) == \
            json.loads(json.dumps(results))
        again, reused = evaluate_run(run, small_judge, small_feature_set, real, SMALL)
        assert reused and again == json.loads(json.dumps(results))
    table = results_table(reference_rows(small_feature_set, small_judge, real, SMALL),
                          [(run, evaluate_run(run, small_judge, small_feature_set, real, SMALL)[0])
                           for run in trained_runs.values()])
    # 4 reference rows, then 2 checkpoints: the MLP with one sampler, the conditional CNN two
    assert len(table) == 4 + 2 + 2 * 2
    assert list(table["family"][:4]) == ["real", "real", "real", "floor"]
    assert all(value == "beats it" or value.startswith("no better on ")
               for value in table["versus_floor"][4:])
    assert table["versus_floor"][:4].isna().all()


@pytest.mark.slow
def test_a_judge_of_the_same_name_with_other_weights_judges_again(
        trained_runs, small_judge, small_feature_set, tmp_path):
    """The same settings give other weights on another machine: results are reused, and
    reported, only with the weights that made them."""
    import shutil

    from spokendigits.classifier import Judge
    from spokendigits.evaluation import load_results
    from spokendigits.runs import Run

    run = Run.open(shutil.copytree(trained_runs["cnn"].folder, tmp_path / "runs" / "cnn"))
    (run.folder / "metrics.json").unlink(missing_ok=True)  # another test's evaluation
    real = RealData.judge(small_feature_set, small_judge, SMALL)
    results, _ = evaluate_run(run, small_judge, small_feature_set, real, SMALL)
    assert results["settings"]["judge_weights"] == small_judge.fingerprint
    assert len(small_judge.fingerprint) == 12
    other = shutil.copytree(small_judge.folder, tmp_path / "elsewhere" / small_judge.name)
    onnx = other / "classifier.onnx"
    onnx.write_bytes(onnx.read_bytes().replace(b"digit_judge", b"digit_JUDGE"))  # other bytes
    elsewhere = Judge(other)
    assert elsewhere.name == small_judge.name and elsewhere.fingerprint != small_judge.fingerprint
    with pytest.raises(UsageError, match="weights differ"):
        load_results([run], small_feature_set, tmp_path / "elsewhere")
    assert load_results([run], small_feature_set, small_judge.folder.parent)[1].fingerprint == \
        small_judge.fingerprint
    _, reused = evaluate_run(run, elsewhere, small_feature_set, real, SMALL)
    assert not reused
    older = json.loads((run.folder / "metrics.json").read_text())  # as evaluated before
    del older["settings"]["judge_weights"]
    (run.folder / "metrics.json").write_text(json.dumps(older))
    with pytest.raises(UsageError, match="before evaluate.py recorded"):
        load_results([run], small_feature_set, small_judge.folder.parent)
    _, reused = evaluate_run(run, small_judge, small_feature_set, real, SMALL)
    assert not reused


@pytest.mark.slow
def test_evaluate_script_end_to_end(trained_runs, small_feature_set, tmp_path):
    features = small_feature_set.save(tmp_path / "features")
    result = run_script("evaluate.py", str(trained_runs["cnn"].folder), "--features", str(features),
                        "--draws", "1", "--griffin-lim-iterations", "2",
                        "--classifiers-dir", str(tmp_path / "classifiers"),
                        "--table", str(tmp_path / "tables" / "results.md"))
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "tables" / "results.md").read_text().splitlines()
    assert written[0].startswith("| model") and len(written) == 2 + 4 + 2  # header, rule, rows
    assert "classifier digits-" in result.stdout and "chosen on validation" in result.stdout
    evaluation = json.loads((trained_runs["cnn"].folder / "metrics.json").read_text())
    assert evaluation["settings"]["evaluation"]["draws"] == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == f"table -> {tmp_path / 'tables' / 'results.md'}"
    table = lines[lines.index(next(line for line in lines if line.lstrip().startswith("model"))):-1]
    assert "real test clips" in table[1] and "Griffin-Lim" in table[2] and "floor" in table[4]
    assert len(table) == 1 + 4 + 2
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


def test_samplers_a_run_cannot_use_are_refused_before_work_and_earlier_ones_are_kept(
        trained_runs, small_judge, small_feature_set, tmp_path):
    from dataclasses import replace

    from spokendigits.runs import Run

    run = Run.open(shutil.copytree(trained_runs["mlp"].folder, tmp_path / "mlp"))  # unconditional
    (run.folder / "metrics.json").unlink(missing_ok=True)
    real = RealData.judge(small_feature_set, small_judge, SMALL)
    digit = json.loads(json.dumps(evaluate_run(run, small_judge, small_feature_set, real, SMALL)[0]))
    written = (run.folder / "metrics.json").read_bytes()
    with pytest.raises(UsageError, match="cannot draw digits with --samplers prior; it offers "
                                         "digit mixture"):
        evaluate_run(run, small_judge, small_feature_set, real, replace(SMALL, samplers=("prior",)))
    assert (run.folder / "metrics.json").read_bytes() == written
    result = run_script("evaluate.py", str(run.folder), "--features",
                        str(small_feature_set.save(tmp_path / "features")), "--samplers", "prior",
                        "--classifiers-dir", str(tmp_path / "judges"))
    assert result.returncode == 2 and "it offers digit mixture" in result.stderr, result.stderr
    assert (run.folder / "metrics.json").read_bytes() == written
    assert not (tmp_path / "judges").exists()  # refused before the judge trained

    both, reused = evaluate_run(run, small_judge, small_feature_set, real,
                                replace(SMALL, samplers=("mixture",)))
    assert not reused and both["settings"]["evaluation"]["samplers"] == ["prior", "digit", "mixture"]
    for epoch, checkpoint in both["checkpoints"].items():  # the digit sampler's scores survive
        assert list(checkpoint["samplers"]) == ["digit", "mixture"]
        assert checkpoint["samplers"]["digit"] == digit["checkpoints"][epoch]["samplers"]["digit"]
    again, reused = evaluate_run(run, small_judge, small_feature_set, real, SMALL)
    assert reused and again == json.loads(json.dumps(both))


def test_evaluation_settings_found_bad_only_late_are_refused_first(trained_runs,
                                                                   small_feature_set, tmp_path):
    features = str(small_feature_set.save(tmp_path / "features"))
    for flags, message in ((["--neighbours", "100000"], "--neighbours 100000 must be below the "
                                                         "60 clips of a row"),
                           (["--table", str(tmp_path)], "is a folder; give a file name")):
        result = run_script("evaluate.py", str(trained_runs["cnn"].folder), "--features",
                            features, "--classifiers-dir", str(tmp_path / "judges"), *flags)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert not (tmp_path / "judges").exists()  # refused before the judge trained


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
    assert config.draws == 1 and judge.folder.parent == tiny_study.classifiers_dir
    assert len(table) == 4 + 2 * 2 and table["label"][0] == "real test clips"
    last = last_checkpoints(table, collect_summaries(runs))
    assert list(last["epochs"][4:]) == [2, 2] and last["accuracy"][4:].is_monotonic_decreasing
    assert last["test_loss"][4:].notna().all()
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


def test_a_model_is_told_where_it_does_not_beat_the_floor():
    from spokendigits.evaluation import versus_floor

    floor = {"accuracy": 1.0, "kid": 500.0, "recall": 0.0}
    assert versus_floor({"accuracy": 0.9, "kid": 10.0, "recall": 0.5}, floor) == \
        "no better on accuracy"
    assert versus_floor({"accuracy": 0.9, "kid": 900.0, "recall": 0.0}, floor) == \
        "no better on accuracy, KID, recall"
    assert versus_floor({"accuracy": 0.9, "kid": 10.0, "recall": 0.5},
                        {**floor, "accuracy": 0.6}) == "beats it"
