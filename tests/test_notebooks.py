"""Every numbered notebook runs top to bottom with the ci profile (papermill), and records numbers
that are in range. New notebooks are found automatically; nbval runs them a second time (pytest
collects notebooks/ with --nbval-lax, see pyproject.toml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import series
from helpers.notebook import read_metrics

NOTEBOOKS = series.discover_notebooks()
pytestmark = pytest.mark.notebook


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """Run the whole series once with the ci profile; remember what failed instead of raising."""
    run_dir = tmp_path_factory.mktemp("ci-run")
    try:
        timings = series.run_series("ci", run_dir=run_dir, log=print)
        failure = None
    except series.NotebookFailed as err:
        timings, failure = {}, err
    return run_dir, timings, failure


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_ci_profile(ci_run, notebook: Path):
    run_dir, timings, failure = ci_run
    if failure is not None:
        order = [p.name for p in NOTEBOOKS]
        if order.index(notebook.name) >= order.index(failure.notebook.name):
            pytest.fail(str(failure))
    executed = run_dir / "notebooks" / notebook.name
    assert executed.exists()
    nb = json.loads(executed.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # every chapter records its key numbers for the tests and for notebook 06
    assert read_metrics(run_dir, notebook.name[:2])


def _metrics(ci_run, chapter):
    run_dir, _, failure = ci_run
    if failure is not None:
        pytest.skip(f"series failed: {failure}")
    return read_metrics(run_dir, chapter)


def test_01_numbers_are_sensible(ci_run):
    m = _metrics(ci_run, "01")
    assert m["dataset"] == "phantom" and m["minority_class"] == "NORMAL"
    assert 2.0 < m["train_imbalance_ratio"] < 4.0  # phantom default is about 1 : 2.9
    assert m["cross_split_duplicate_groups"] == 0
    assert set(m["counts"]) == {"train", "val", "test"}
    figures = {p.name for p in (ci_run[0] / "figures").glob("01_*.png")}
    assert {"01_class_balance.png", "01_mean_images.png", "01_intensity_histograms.png",
            "01_label_cooccurrence.png", "01_samples_normal.png"} <= figures
