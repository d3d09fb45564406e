"""The notebooks run top to bottom on a tiny study (07 on the bundled models alone), and
the committed copies hold the outputs of the real one, or none at all.

A notebook that reads the study's runs is committed without outputs when the runs
behind `reports/` were not at hand to run it on: no output beats an output of other
runs. The data notebook needs only the dataset, so it always holds its outputs."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ROOT, TINY_TRAINING, TinyStudy

nbformat = pytest.importorskip("nbformat", reason="install requirements-dev.txt")
from nbclient import NotebookClient  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def outputs(notebook, kind: str) -> list:
    """Every output of `notebook` whose data holds the MIME type `kind`."""
    return [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if kind in output.get("data", {})]


def test_there_are_seven_notebooks():
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.fixture(scope="module")
def representation_study(tiny_study, small_feature_set, small_judge, tmp_path_factory):
    """The tiny study with a WaveGAN and a magnitude + IF GAN beside its VAEs, for the
    representations notebook's ceilings and decoders."""
    import shutil

    from spokendigits.evaluation import EvaluationConfig, RealData, evaluate_run
    from spokendigits.models import ModelConfig
    from spokendigits.runs import RunSpec, TrainConfig
    from spokendigits.training import train_run

    runs = shutil.copytree(tiny_study.runs_dir, tmp_path_factory.mktemp("study") / "runs")
    config = EvaluationConfig(draws=1, griffin_lim_iterations=2, outside_draws=0)  # as the tiny study's
    real = RealData.judge(small_feature_set, small_judge, config)
    for model in (ModelConfig(family="wavegan", conditional=True, width=2, critic_steps=1),
                  ModelConfig(family="cwgan-gp", conditional=True, width=2, critic_steps=1,
                              representation="magnitude-if")):
        run = train_run(RunSpec(model, TrainConfig(**TINY_TRAINING)), small_feature_set, runs,
                        verbose=0)[0]
        evaluate_run(run, small_judge, small_feature_set, real, config)
    return TinyStudy(runs, tiny_study.features_dir, tiny_study.classifiers_dir)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom_on_a_tiny_study(path, tiny_study, fsdd_dir, monkeypatch,
                                                     request):
    if path.stem.startswith("06"):  # other representations than the VAEs' log-magnitude
        tiny_study = request.getfixturevalue("representation_study")
    for name, value in {**tiny_study.environment, "FSDD_DIR": str(fsdd_dir),
                        "MPLBACKEND": "module://matplotlib_inline.backend_inline"}.items():
        monkeypatch.setenv(name, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    assert outputs(notebook, "image/png"), f"{path.name} drew no figure"
    text = "".join(output.get("text", "") for cell in notebook.cells
                   for output in cell.get("outputs", []))
    assert "Error" not in text
    players = [output for output in outputs(notebook, "text/html")
               if "<audio" in output["data"]["text/html"]]
    if path.stem.startswith("04"):
        assert len(players) >= 10
    if path.stem.startswith("07"):  # the draft and the voiced digit, then two models' ten
        assert len(players) == 4
    if path.stem.startswith("06"):  # a round trip per representation, then each run speaks
        assert len(players) == 5 + 4
        shown = "".join(output["data"][kind] for kind in ("text/plain", "text/html")
                        for output in outputs(notebook, kind))
        for ceiling in ("magnitude-if", "waveform"):
            assert f"real test clips, {ceiling} round trip" in shown


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_notebooks_ran_top_to_bottom_or_hold_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code = code_cells(notebook)
    assert not notebook.metadata.get("jupytext")
    if path.stem.startswith("01") or any(cell.outputs for cell in code):
        assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), \
            "run the notebook top to bottom before committing it"
        assert not [output for cell in code for output in cell.outputs
                    if output.output_type == "error"]
        assert outputs(notebook, "image/png")
    else:
        assert all(cell.execution_count is None for cell in code), "clear every output, or none"


def test_committed_study_notebooks_show_the_committed_study_if_they_have_outputs():
    """02-05 are committed with the outputs of the study in reports/vae-study, not the tiny
    test study: 02 names its VAEs, 05 labels every run as its table does."""
    from spokendigits.reports import by_table
    from spokendigits.runs import labels
    from spokendigits.study import Study

    study = Study.open(ROOT / "reports" / "vae-study" / "study")
    for stem, names in (("02_training_comparison",
                         [run.name for run in by_table(study.runs)["vae_study"]]),
                        ("05_model_comparison", labels(study.runs).values())):
        notebook = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
        shown = "".join(str(output.get("data", {}).get(kind, "")) for cell in code_cells(notebook)
                        for output in cell.outputs for kind in ("text/plain", "text/html"))
        assert not shown or all(name in shown for name in names), stem


def test_committed_representations_notebook_shows_the_runs_of_its_report_if_it_has_outputs():
    """06 is committed with the outputs of the runs behind reports/representations."""
    notebook = nbformat.read(ROOT / "notebooks" / "06_representations.ipynb", as_version=4)
    shown = "".join(output["data"]["text/markdown"]
                    for output in outputs(notebook, "text/markdown"))
    results = pd.read_csv(ROOT / "reports" / "representations" / "results.csv")
    runs = set(results.loc[~results["family"].isin(["real", "floor"]), "run"])
    assert runs
    assert not shown or all(run in shown for run in runs)
