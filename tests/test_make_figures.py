"""`make figures`: chapter 6 and the README's generated sections rebuilt offline from the committed results/."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from helpers import report, series

pytestmark = pytest.mark.notebook
ROOT = Path(__file__).resolve().parents[1]


def _readme_table():
    spec = importlib.util.spec_from_file_location("readme_table", ROOT / "tools" / "readme_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_figures_rebuilds_table_1_verdict_and_readme_offline(tmp_path):
    results_dir = ROOT / "results"
    if not (results_dir / "results.csv").exists():
        pytest.skip("no committed results/ yet")
    figures = tmp_path / "figures"
    series.run_series("quick", only=["06"], run_dir=tmp_path / "run", figures_dir=figures,
                      parameters={"tables_dir": str(results_dir), "n_boot": 200},  # intervals' width not checked
                      html=False, log=print)
    run_id = json.loads((results_dir / "run.json").read_text())["run_id"]
    from helpers.notebook import read_metrics

    assert read_metrics(tmp_path / "run", "06")["n_runs"] == len(pd.read_csv(results_dir / "results.csv"))
    assert run_id in (figures / "06_table_1.md").read_text() and "without DCGAN" in (figures / "06_table_1.md").read_text()
    assert (figures / "06_gan_differences.png").stat().st_size > 1000

    table = pd.read_csv(figures / "06_table_1.csv")
    published = table[table["published_roc_auc"].notna()]
    assert len(published) == len(report.PUBLISHED_TABLE_1) == 12
    for row in published.itertuples():
        assert report.PUBLISHED_TABLE_1[(row.Classifier, row.strategy)][3] == row.published_roc_auc
    assert (table["roc_auc_low"] <= table["roc_auc"]).all() and (table["roc_auc"] <= table["roc_auc_high"]).all()
    assert table["roc_auc_per_seed"].str.count(";").eq(table["seeds"] - 1).all()

    verdict = (figures / "06_verdict.md").read_text()
    results = pd.read_csv(results_dir / "results.csv")
    for clf, part in results.groupby("classifier"):
        if "none" in set(part["strategy"]) and set(part["strategy"]) & {"gan", "gan_improved"}:
            line = next(line for line in verdict.splitlines() if line.startswith(f"* {clf} ("))
            assert "− none = " in line, clf
    assert run_id in verdict and run_id in (figures / "06_provenance.md").read_text()
    for png in figures.glob("*.png"):
        with Image.open(png) as im:
            assert im.size[0] <= 2000, png.name

    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    parts = [str(figures / n) for n in ("06_table_1.md", "06_verdict.md", "06_provenance.md")]
    assert _readme_table().main([*parts, f"lessons={figures / '06_lessons.md'}", str(readme)]) == 0
    text = readme.read_text()
    assert "Ghosh & Dutta: P / R / F1 / ROC-AUC (positive class not named)" in text
    assert "From the committed run" in text.split("<!-- lessons:start -->")[1]


def test_make_figures_rebuilds_the_64px_kermany_report_offline(tmp_path):
    tables = ROOT / "results" / "kermany64"
    if not (tables / "run.json").exists():
        pytest.skip("no committed 64-px run yet")
    figures = tmp_path / "figures"
    series.run_series("kermany64", only=["06"], run_dir=tmp_path / "run", figures_dir=figures,
                      parameters={"tables_dir": str(tables), "n_boot": 200}, html=False, log=print)
    run_id = json.loads((tables / "run.json").read_text())["run_id"]
    table = pd.read_csv(figures / "06_table_1.csv")
    assert run_id.startswith("kermany64/kaggle_pneumonia/64px/") and run_id in (figures / "06_table_1.md").read_text()
    assert len(table[table["published_roc_auc"].notna()]) == 12 and set(table["seeds"]) == {3}
    verdict = (figures / "06_verdict.md").read_text()
    for clf in pd.read_csv(tables / "results.csv")["classifier"].unique():
        line = next(line for line in verdict.splitlines() if line.startswith(f"* {clf} ("))
        assert "gan − none = " in line and "gan_improved − none = " in line, clf
    assert "rebuilt from `results/kermany64/`" in (figures / "06_provenance.md").read_text()
