"""A study's light copy answers as its runs do, and the committed copy is what the scripts
write: the runs' own files, and a table whose rows their metrics.json give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from spokendigits.errors import DataError, UsageError
from spokendigits.evaluation import is_model, results_table
from spokendigits.storage import read_json
from spokendigits.study import LIGHT, LIGHT_KEYS, RESULTS, RUN_FILES, SHEET, Study

COMMITTED = [ROOT / "reports" / name / "study" for name in ("vae-study", "representations")]


@pytest.fixture(scope="module")
def studies(tiny_study, tmp_path_factory):
    """The tiny study read from its runs, and its light copy written and read back."""
    study = Study.open(tiny_study.runs_dir, tiny_study.features_dir, tiny_study.classifiers_dir)
    folder = tmp_path_factory.mktemp("light") / "study"
    study.write(folder)
    return study, Study.open(folder), folder


def test_a_light_copy_answers_as_its_runs(studies):
    study, light, _ = studies
    assert light.is_light and not study.is_light
    pd.testing.assert_frame_equal(light.results, study.results)
    pd.testing.assert_frame_equal(light.summaries, study.summaries)
    assert light.judge == study.judge and light.evaluation == study.evaluation
    assert [run.name for run in light.ranked] == [run.name for run in study.ranked]
    assert [run.name for run in light.interpolated] == [run.name for run in study.interpolated]
    for run, copy in zip(study.runs, light.runs):
        for name in RUN_FILES:
            assert (copy.folder / name).read_bytes() == (run.folder / name).read_bytes()
        views, copied = study.latents(run), light.latents(copy)
        assert (views is None) == (copied is None) == (not run.has_encoder())
        if views is not None:
            np.testing.assert_allclose(copied.z, views.z, rtol=1e-6)
            assert (copied.digits == views.digits).all()
            assert (copied.speakers == views.speakers).all()
            assert copied.separation == pytest.approx(views.separation)
        np.testing.assert_allclose(light.spoken(copy), study.spoken(run), atol=1 / 32767)
        assert light.realtime_factor(copy) == study.realtime_factor(run)


def test_the_light_copy_keeps_what_the_notebooks_show_and_says_so_for_the_rest(studies):
    study, light, _ = studies
    best, copy = study.ranked[0], light.ranked[0]
    assert light.grid(copy).shape == (SHEET.grid_rows, 10, *study.feature_set.features.shape[1:])
    np.testing.assert_allclose(light.grid(copy), study.grid(best), atol=2e-2)
    for run, copied in zip(study.interpolated, light.interpolated):
        np.testing.assert_allclose(light.interpolation(copied), study.interpolation(run),
                                   atol=2e-2)
    for run, copied in zip(study.runs, light.runs):
        np.testing.assert_allclose(light.sample(copied), study.sample(run), atol=2e-2)
    other = light.ranked[1]
    with pytest.raises(DataError, match=f"{LIGHT} keeps no grid.*runs folder"):
        light.grid(other)


def test_a_light_copy_refuses_arrays_it_did_not_write(studies, tmp_path):
    import shutil

    _, light, folder = studies
    copy = shutil.copytree(folder, tmp_path / "study")
    run = copy / "runs" / light.runs[0].name
    np.savez(run / LIGHT, model_weights=np.zeros(3))
    with pytest.raises(DataError, match="not a run's light results"):
        Study.open(copy).spoken(Study.open(copy).runs[0])
    (run / LIGHT).write_bytes(b"not a zip")
    with pytest.raises(DataError, match="damaged"):
        Study.open(copy).spoken(Study.open(copy).runs[0])
    with pytest.raises(UsageError, match="not a folder"):
        Study.open(tmp_path / "nothing")


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda folder: folder.parent.name)
def test_the_committed_study_is_what_evaluate_and_report_write(studies, folder):
    """Same fields as today's code writes, and the same numbers as each run's metrics.json."""
    _, written, _ = studies
    committed = Study.open(folder)
    assert list(committed.results.columns) == list(written.results.columns)
    assert set(committed.judge) == set(written.judge)
    model_rows = committed.results[is_model(committed.results)]
    assert set(model_rows["run"]) == {run.name for run in committed.runs}
    references = [{key: value for key, value in row.items()
                   if not (isinstance(value, float) and np.isnan(value))}
                  for row in committed.results[~is_model(committed.results)].to_dict("records")]
    metrics = [(run, read_json(run.folder / "metrics.json")) for run in committed.runs]
    rebuilt = results_table(references, metrics)
    pd.testing.assert_frame_equal(rebuilt[list(committed.results.columns)], committed.results)
    for run, judged in metrics:
        assert judged["settings"]["judge_weights"] == committed.judge["weights"]
        assert sorted(path.name for path in run.folder.iterdir()) == sorted([*RUN_FILES, LIGHT])
        with np.load(run.folder / LIGHT) as arrays:
            assert set(arrays.files) <= set(LIGHT_KEYS)
            if "z" in arrays.files:
                assert arrays["z"].shape == (len(arrays["digits"]), run.model.latent_dim)
    assert (folder / RESULTS).is_file()
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    assert size < 8 * 2**20, f"the light copy holds {size:,} bytes; keep it to a few MB"


def test_a_copied_run_is_summarised_under_its_folders_name(tiny_study, tmp_path):
    """A bundled model is a run folder renamed (pretrained/gan): its rows join its judged rows."""
    import shutil

    from spokendigits.runs import Run, collect_summaries

    original = next(tiny_study.runs_dir.iterdir())
    copy = Run.open(shutil.copytree(original, tmp_path / "renamed"))
    assert set(collect_summaries([copy])["run"]) == {"renamed"}
