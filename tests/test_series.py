import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import config, series

SRC = Path(series.__file__).resolve().parents[1]


def _write_notebook(path, cells, parameters="profile = 'demo'\nrun_dir = None\n"):
    nb = {
        "cells": [
            {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": parameters,
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


@pytest.fixture
def fake_papermill(monkeypatch):
    """Record what each notebook would get instead of starting a kernel (fast)."""
    import papermill

    calls = []

    def execute_notebook(input_path, output_path, parameters, cwd, **kwargs):
        calls.append({"notebook": input_path, "output": output_path, "parameters": dict(parameters), "cwd": cwd})
        Path(output_path).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    return calls


def test_relative_paths_are_taken_from_the_callers_directory(tmp_path, monkeypatch, fake_papermill):
    nb_dir, work = tmp_path / "nbs", tmp_path / "work"
    nb_dir.mkdir(), work.mkdir()
    _write_notebook(nb_dir / "01_a.ipynb", ["x = 1"])
    monkeypatch.chdir(work)
    argv = ["--profile", "ci", "--notebooks", "../nbs", "--run-dir", "runs/a", "--figures-dir", "figs",
            "-p", "data_path", "data/x.npz", "-p", "dataset", "pneumoniamnist"]
    assert series.main(argv) == 0
    (call,) = fake_papermill
    assert call["cwd"] == str(nb_dir)  # the kernel runs in the notebooks' folder ...
    assert call["parameters"] == {  # ... so every path it gets is absolute, from where the command ran
        "profile": "ci", "run_dir": str(work / "runs" / "a"), "figures_dir": str(work / "figs"),
        "data_path": str(work / "data" / "x.npz"), "dataset": "pneumoniamnist",
    }
    assert Path(call["output"]) == work / "runs" / "a" / "notebooks" / "01_a.ipynb"
    # run_dir / figures_dir given as notebook parameters are the run's folders too
    series.run_series("ci", notebook_dir=nb_dir, parameters={"run_dir": "b", "figures_dir": "~/f"}, log=lambda *_: None)
    assert fake_papermill[-1]["parameters"]["run_dir"] == str(work / "b")
    assert fake_papermill[-1]["parameters"]["figures_dir"] == str(Path("~/f").expanduser().resolve())
    assert (work / "b" / "series_timings.json").exists()


def test_fresh_moves_the_old_run_folder_aside_once(tmp_path, fake_papermill):
    nb_dir, run = tmp_path / "nbs", tmp_path / "run"
    nb_dir.mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb"):
        _write_notebook(nb_dir / name, ["x = 1"])
    (run / "gan").mkdir(parents=True)
    (run / "gan" / "stale.npz").write_text("old")
    series.run_series("ci", run_dir=run, notebook_dir=nb_dir, log=lambda *_: None)
    assert (run / "gan" / "stale.npz").exists()  # without --fresh nothing moves
    assert series.main(["--profile", "ci", "--run-dir", str(run), "--notebooks", str(nb_dir), "--fresh"]) == 0
    assert not (run / "gan").exists() and (run / "notebooks" / "02_b.ipynb").exists()
    (old,) = tmp_path.glob("run.old-*")
    assert (old / "gan" / "stale.npz").read_text() == "old"
    assert all("fresh" not in c["parameters"] for c in fake_papermill)  # the runner moved it, once


def test_no_notebooks_is_an_error_not_an_empty_success(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for folder in ("empty", "missing"):
        assert series.main(["--profile", "ci", "--run-dir", str(tmp_path / "run"),
                            "--notebooks", str(tmp_path / folder)]) == 2
        err = capsys.readouterr().err
        assert "no numbered notebooks" in err and "--notebooks DIR" in err and folder in err
    assert not (tmp_path / "run").exists()


def test_default_folders_follow_the_working_directory(tmp_path, monkeypatch):
    assert series.default_notebook_dir() == config.REPO_ROOT / "notebooks"
    repo = config.REPO_ROOT
    monkeypatch.setattr(config, "REPO_ROOT", None)  # as if installed into site-packages
    monkeypatch.chdir(tmp_path)
    assert series.default_notebook_dir() == tmp_path / "notebooks"
    assert series.default_run_dir("ci") == tmp_path / "build" / "ci"
    monkeypatch.chdir(repo / "notebooks")  # inside a checkout: its notebooks/ and build/
    assert series.default_notebook_dir() == repo / "notebooks"
    assert series.default_run_dir("ci") == repo / "build" / "ci"


INSTALLED_CHECK = textwrap.dedent("""
    import json, sys
    import helpers
    from helpers import config
    cfg = config.resolve("ci")
    print(json.dumps({"file": helpers.__file__, "repo_root": str(config.REPO_ROOT), "run_dir": str(cfg.run_dir),
                      "stamp": config._git_short_sha(), "run_id": cfg.run_id}))
""")


def test_an_installed_copy_works_from_any_folder(tmp_path):
    """A non-editable install (the package outside a checkout) runs relative to the working directory."""
    site, work = tmp_path / "site-packages", tmp_path / "work"
    shutil.copytree(SRC / "helpers", site / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPERS_")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", INSTALLED_CHECK], cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert Path(info["file"]).parent == site / "helpers" and info["repo_root"] == "None"
    assert info["run_dir"] == str(work / "build" / "ci")
    assert info["stamp"].startswith("v") and f"@ {info['stamp']} " in info["run_id"]
    run = subprocess.run([sys.executable, "-m", "helpers.series", "--profile", "ci"], cwd=work, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 2 and "All 0" not in run.stdout
    assert f"no numbered notebooks (NN_name.ipynb) in {work / 'notebooks'}" in run.stderr


def test_plan_jobs_gives_each_run_its_own_folder(tmp_path, monkeypatch):
    jobs = series.plan_jobs(["ci"], run_dir=tmp_path / "b", seeds_each=[0, 2], parameters={"dataset": "phantom"})
    assert [(j.name, j.run_dir, j.merge_into, j.parameters) for j in jobs] == [
        ("seed0", tmp_path / "b" / "seed0", tmp_path / "b", {"dataset": "phantom", "seeds": [0]}),
        ("seed2", tmp_path / "b" / "seed2", tmp_path / "b", {"dataset": "phantom", "seeds": [2]}),
    ]
    jobs = series.plan_jobs(["ci", "demo"], run_dir=tmp_path / "b", seeds_each=[1])
    assert [(j.name, j.profile, j.run_dir) for j in jobs] == [
        ("ci/seed1", "ci", tmp_path / "b" / "ci" / "seed1"), ("demo/seed1", "demo", tmp_path / "b" / "demo" / "seed1")]
    monkeypatch.chdir(tmp_path)
    jobs = series.plan_jobs(["ci", "quick"])
    assert [(j.name, j.run_dir, j.merge_into) for j in jobs] == [
        ("ci", tmp_path / "build" / "ci", None), ("quick", tmp_path / "build" / "quick", None)]
    with pytest.raises(ValueError, match="--seeds-each or with -p seeds"):
        series.plan_jobs(["ci"], seeds_each=[0], parameters={"seeds": [1]})
    with pytest.raises(ValueError, match="repeats"):
        series.plan_jobs(["ci"], seeds_each=[0, 0])


def test_a_batch_never_merges_into_a_single_run(tmp_path, capsys):
    nb_dir, run = tmp_path / "nbs", tmp_path / "run"
    nb_dir.mkdir(), run.mkdir()
    _write_notebook(nb_dir / "01_a.ipynb", ["x = 1"])
    (run / "results.csv").write_text("notebook,seed\n4,0\n")
    argv = ["--profile", "ci", "--run-dir", str(run), "--notebooks", str(nb_dir), "--seeds-each", "0", "1"]
    assert series.main(argv) == 2
    assert "holds a run of its own" in capsys.readouterr().err
    assert (run / "results.csv").read_text() == "notebook,seed\n4,0\n" and not (run / "seed0").exists()


SEED_PARAMETERS = "profile = 'demo'\nrun_dir = None\nseeds = None\ndata_path = None\n"
SEED_CELL = """import pathlib
assert pathlib.Path(data_path).is_absolute(), data_path
if seeds == [fail_seed]:
    raise ValueError(f"seed {seeds[0]} is bad")
pathlib.Path(run_dir, "results.csv").write_text(f"notebook,seed,value\\n4,{seeds[0]},{pathlib.Path(data_path).read_text()}\\n")
"""


def _seed_notebooks(tmp_path, fail_seed):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    _write_notebook(nb_dir / "01_seed.ipynb", [f"fail_seed = {fail_seed}", SEED_CELL], SEED_PARAMETERS)
    (tmp_path / "data.txt").write_text("7")
    return nb_dir


def test_seeds_each_runs_parallel_processes_and_merges_their_results(tmp_path, monkeypatch, capsys):
    nb_dir = _seed_notebooks(tmp_path, fail_seed=None)
    monkeypatch.chdir(tmp_path)
    argv = ["--profile", "ci", "--run-dir", "batch", "--notebooks", str(nb_dir), "--seeds-each", "0", "1",
            "--jobs", "2", "-p", "data_path", "data.txt"]
    assert series.main(argv) == 0, capsys.readouterr()
    batch = tmp_path / "batch"
    for seed in (0, 1):
        assert (batch / f"seed{seed}" / "notebooks" / "01_seed.ipynb").exists()
        assert (batch / f"seed{seed}" / "series.log").exists()
    merged = (batch / "results.csv").read_text().splitlines()
    assert merged[0] == "notebook,seed,value" and sorted(merged[1:]) == ["4,0,7", "4,1,7"]
    assert "All 2 runs ran" in capsys.readouterr().out


def test_a_failed_job_fails_the_batch_naming_job_notebook_and_cell(tmp_path, capsys):
    nb_dir = _seed_notebooks(tmp_path, fail_seed=1)
    argv = ["--profile", "ci", "--run-dir", str(tmp_path / "batch"), "--notebooks", str(nb_dir),
            "--seeds-each", "0", "1", "--jobs", "2", "-p", "data_path", str(tmp_path / "data.txt")]
    assert series.main(argv) == 1
    err = capsys.readouterr().err
    # cell numbers are those of the executed copy (papermill inserts the injected-parameters cell)
    assert "job seed1 failed: 01_seed.ipynb failed at cell 3: ValueError: seed 1 is bad" in err
    assert "seed0" not in err.replace("seed1", "")
    assert (tmp_path / "batch" / "seed0" / "results.csv").exists()
    assert not (tmp_path / "batch" / "results.csv").exists()  # no merged table from a failed batch


def _finish(run_dir, *chapters):
    for chapter in chapters:
        (run_dir / "metrics").mkdir(parents=True, exist_ok=True)
        (run_dir / "metrics" / f"{chapter}.json").write_text("{}")


def test_missing_prerequisites_follow_the_chapters_needs(tmp_path):
    assert series.missing_prerequisites("01", tmp_path) == [] and series.missing_prerequisites("02", tmp_path) == []
    assert series.missing_prerequisites("03", tmp_path) == ["02"]
    assert series.missing_prerequisites(5, tmp_path) == ["02", "03"]  # not 01 nor 04: 05 reads neither
    assert series.missing_prerequisites("06", tmp_path) == ["02", "03", "04", "05"]
    _finish(tmp_path, "02")
    assert series.missing_prerequisites("05", tmp_path) == ["03"]
    _finish(tmp_path, "03", "04")
    assert series.missing_prerequisites("06", tmp_path) == ["05"]
    _finish(tmp_path, "05")
    assert series.missing_prerequisites("06", tmp_path) == []
    with pytest.raises(ValueError, match="unknown chapter"):
        series.missing_prerequisites("08", tmp_path)


def test_expected_time_says_measured_or_estimate():
    assert series.expected_time("ci", ["02", "03"]) == "about 47 s on a 2-core CPU (measured; 02: 23 s, 03: 24 s)"
    demo = series.expected_time("demo", ["02", "03", "05"])
    assert demo.startswith("about 14 min on a 2-core CPU (rough estimate;") and "02: 9 min" in demo
    assert series.expected_time("quick", ["02", "03", "05"]) == (
        "about 4.0 h on a 2-core CPU (rough estimate; 02: 113 min, 03: 5 min, 05: 2.0 h)")
    assert series.expected_time("colab", ["02"]) == "not measured for profile colab"
    assert series.expected_time("ci", ["05"], gpu=True).endswith("a GPU is typically 5-20x faster (not measured)")


def test_the_runners_kernels_run_no_prerequisites(tmp_path, monkeypatch):
    import papermill

    seen = []
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda *a, **k: seen.append(os.environ.get(series.NO_PREREQUISITES_ENV)))
    monkeypatch.delenv(series.NO_PREREQUISITES_ENV, raising=False)
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    _write_notebook(nb_dir / "01_a.ipynb", ["x = 1"])
    series.run_series("ci", run_dir=tmp_path / "run", notebook_dir=nb_dir, log=lambda *_: None)
    assert seen == ["1"] and series.NO_PREREQUISITES_ENV not in os.environ  # set for the kernels only


def test_an_installed_package_falls_back_to_its_own_notebooks(tmp_path, monkeypatch):
    packaged = tmp_path / "site-packages" / "helpers" / "_notebooks"
    packaged.mkdir(parents=True)
    for name in ("01_a.ipynb", "02_b.ipynb"):
        _write_notebook(packaged / name, ["x = 1"])
    monkeypatch.setattr(series, "_PACKAGED_NOTEBOOKS", packaged)
    monkeypatch.setattr(config, "REPO_ROOT", None)  # installed, run from a folder with one chapter
    work = tmp_path / "content"
    work.mkdir()
    _write_notebook(work / "02_b.ipynb", ["x = 1"])
    monkeypatch.chdir(work)
    assert series.packaged_notebook_dir() == packaged
    assert series.default_notebook_dir() == packaged
    assert series.notebook_dir_with(["01"]) == packaged
    (work / "notebooks").mkdir()  # ./notebooks with numbered notebooks wins over the packaged ones
    _write_notebook(work / "notebooks" / "01_a.ipynb", ["x = 1"])
    assert series.default_notebook_dir() == work / "notebooks"
    assert series.notebook_dir_with(["01"]) == work / "notebooks"
    assert series.notebook_dir_with(["02"]) == packaged  # ... unless it lacks a chapter that is needed
    with pytest.raises(series.NoNotebooks, match=r"\['03'\]"):
        series.notebook_dir_with(["03"])
    monkeypatch.setattr(series, "_PACKAGED_NOTEBOOKS", tmp_path / "nothing")
    assert series.packaged_notebook_dir() is None


def test_render_html_writes_pages_and_an_index(tmp_path):
    import nbformat

    executed = tmp_path / "notebooks"
    executed.mkdir()
    for name, title in (("01_a.ipynb", "Chapter 1: A"), ("02_b.ipynb", "Chapter 2: B")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\ntext"),
                                             nbformat.v4.new_code_cell("1 + 1")])
        nbformat.write(nb, executed / name)
    index = series.render_html(executed, tmp_path / "html", title="ci run")
    text = index.read_text()
    assert "Chapter 1: A" in text and "02_b.html" in text and text.index("01_a.html") < text.index("02_b.html")
    assert (tmp_path / "html" / "01_a.html").stat().st_size > 1000
