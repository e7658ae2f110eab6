import json

import pytest

from helpers import series


def _write_notebook(path, cells):
    nb = {
        "cells": [
            {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "profile = 'demo'\nrun_dir = None\n",
             "outputs": [], "execution_count": None}
        ]
        + [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    path.write_text(json.dumps(nb))


def test_discovery_is_ordered_and_filterable(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "10_c.ipynb", "notes.ipynb"):
        _write_notebook(tmp_path / name, ["x = 1"])
    assert [p.name for p in series.discover_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]
    assert [p.name for p in series.discover_notebooks(tmp_path, only=["2"])] == ["02_b.ipynb"]
    with pytest.raises(ValueError, match="no notebook numbered"):
        series.discover_notebooks(tmp_path, only=["07"])


def test_the_real_series_is_discovered():
    names = [p.name for p in series.discover_notebooks()]
    assert names and names[0].startswith("01_data_exploration")


def test_a_failing_notebook_is_named_with_its_cell(tmp_path):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    _write_notebook(nb_dir / "01_ok.ipynb", ["print(profile, run_dir)"])
    _write_notebook(nb_dir / "02_bad.ipynb", ["x = 1", "raise ValueError('boom')"])
    _write_notebook(nb_dir / "03_never.ipynb", ["x = 1"])
    lines = []
    with pytest.raises(series.NotebookFailed) as info:
        series.run_series("ci", run_dir=tmp_path / "run", notebook_dir=nb_dir, log=lines.append)
    err = info.value
    assert err.notebook.name == "02_bad.ipynb"
    assert "02_bad.ipynb failed at cell" in str(err) and "ValueError: boom" in str(err)
    assert (tmp_path / "run" / "notebooks" / "01_ok.ipynb").exists()
    assert not (tmp_path / "run" / "notebooks" / "03_never.ipynb").exists()
    timings = json.loads((tmp_path / "run" / "series_timings.json").read_text())
    assert list(timings["seconds"]) == ["01_ok.ipynb"]
    assert any("02_bad" in line for line in lines)


def test_main_exits_non_zero_on_failure(tmp_path, monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise series.NotebookFailed(tmp_path / "05_x.ipynb", 7, "KeyError: 'auc'")

    monkeypatch.setattr(series, "run_series", boom)
    assert series.main(["--profile", "ci", "--run-dir", str(tmp_path)]) == 1
    assert "05_x.ipynb failed at cell 7" in capsys.readouterr().err


def test_parameters_are_passed_to_the_notebook(tmp_path):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    _write_notebook(nb_dir / "01_echo.ipynb", ["import pathlib\npathlib.Path(run_dir, 'seen.txt').write_text(profile)"])
    series.run_series("quick", run_dir=tmp_path / "run", notebook_dir=nb_dir, log=lambda *_: None)
    assert (tmp_path / "run" / "seen.txt").read_text() == "quick"
    _write_notebook(nb_dir / "02_more.ipynb", ["x = 1"])
    series.run_series("quick", run_dir=tmp_path / "run", notebook_dir=nb_dir, only=["02"], log=lambda *_: None)
    timings = json.loads((tmp_path / "run" / "series_timings.json").read_text())["seconds"]
    assert set(timings) == {"01_echo.ipynb", "02_more.ipynb"}  # a partial re-run keeps earlier times
