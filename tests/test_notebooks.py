"""The notebooks run top to bottom on a tiny study, and the committed copies hold the
outputs of the real one, or none at all.

A notebook that reads the study's runs is committed without outputs when the runs
behind `reports/` were not at hand to run it on: no output beats an output of other
runs. The data notebook needs only the dataset, so it always holds its outputs."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat", reason="install requirements-dev.txt")
from nbclient import NotebookClient  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def outputs(notebook, kind: str) -> list:
    """Every output of `notebook` whose data holds the MIME type `kind`."""
    return [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if kind in output.get("data", {})]


def test_there_are_five_notebooks():
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom_on_a_tiny_study(path, tiny_study, fsdd_dir, monkeypatch):
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
    if path.stem.startswith("04"):
        assert len([output for output in outputs(notebook, "text/html")
                    if "<audio" in output["data"]["text/html"]]) >= 10


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


def test_committed_training_notebook_shows_the_runs_of_the_report_if_it_has_outputs():
    """The notebooks and reports/ come from the same runs, not the tiny test study."""
    notebook = nbformat.read(ROOT / "notebooks" / "02_training_comparison.ipynb", as_version=4)
    shown = "".join(str(output.get("data", {}).get("text/plain", ""))
                    for cell in code_cells(notebook) for output in cell.outputs)
    results = pd.read_csv(ROOT / "reports" / "results.csv")
    runs = set(results.loc[~results["family"].isin(["real", "floor"]), "run"])
    assert runs
    assert not shown or all(run in shown for run in runs)
