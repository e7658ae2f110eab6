"""Colab and the classroom: a chapter opened on its own runs the chapters it builds on, Drive keeps a
run, and (marked ``notebook``) an end-to-end check that does what Colab does: the package installed
from a wheel into a fresh environment, one chapter copied into an empty folder and run there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import types
from pathlib import Path

import pytest

from helpers import config, notebook, series
from helpers.core import runtime

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_gpu(clean_env):
    clean_env.setattr(runtime, "has_gpu", lambda: False)  # keeps TensorFlow out of these tests
    clean_env.delenv(series.NO_PREREQUISITES_ENV, raising=False)
    return clean_env


@pytest.fixture
def runs(no_gpu):
    """The calls notebook.run_prerequisites makes to the runner (none executes a notebook)."""
    calls = []

    def run_series(profile, **kwargs):
        calls.append({"profile": profile, **kwargs})
        return {f"{c}_x.ipynb": 1.0 for c in kwargs["only"]}

    no_gpu.setattr(series, "run_series", run_series)
    return calls


def _finish(run_dir, *chapters):
    (run_dir / "metrics").mkdir(parents=True, exist_ok=True)
    for chapter in chapters:
        (run_dir / "metrics" / f"{chapter}.json").write_text("{}")


def test_a_chapter_opened_alone_runs_what_it_needs_with_the_same_parameters(runs, tmp_path):
    cfg = config.resolve("ci", run_dir=tmp_path / "run", figures_dir=tmp_path / "figs", seeds=[3, 4],
                         data_path=str(tmp_path / "data.npz"))
    lines = []
    assert notebook.run_prerequisites(cfg, "05", log=lines.append) == ["02", "03"]
    (call,) = runs
    assert call["profile"] == "ci" and call["only"] == ["02", "03"]
    assert call["run_dir"] == cfg.run_dir and call["figures_dir"] == cfg.figures_dir
    assert call["parameters"] == {"dataset": "phantom", "image_size": 32, "seeds": [3, 4],
                                  "data_path": str(tmp_path / "data.npz")}
    assert call["notebook_dir"] == series.default_notebook_dir()
    said = "\n".join(lines)
    assert "Chapter 05 builds on chapters 02, 03" in said and "02_dcgan_training.ipynb" in said
    assert "about 47 s on a 2-core CPU (measured" in said and "goes on" in said
    _finish(cfg.run_dir, "02", "03")
    assert notebook.run_prerequisites(cfg, "05", log=lines.append) == [] and len(runs) == 1
    assert notebook.run_prerequisites(cfg, 6, log=lines.append) == ["04", "05"]


def test_the_runner_and_auto_prerequisites_false_only_name_them(runs, tmp_path):
    cfg = config.resolve("ci", run_dir=tmp_path)
    lines = []
    assert notebook.run_prerequisites(cfg, "04", auto=False, log=lines.append) == []
    runs_env = dict(os.environ)
    os.environ[series.NO_PREREQUISITES_ENV] = "1"
    try:
        assert notebook.run_prerequisites(cfg, "04", log=lines.append) == []
    finally:
        os.environ.clear()
        os.environ.update(runs_env)
    assert runs == []
    assert all("02, 03" in line and "--only 02 03" in line for line in lines) and len(lines) == 2


def test_a_failed_prerequisite_names_the_chapter_and_its_executed_copy(no_gpu, tmp_path):
    def run_series(profile, **kwargs):
        raise series.NotebookFailed(tmp_path / "02_x.ipynb", 9, "ValueError: bad", tmp_path / "out" / "02_x.ipynb")

    no_gpu.setattr(series, "run_series", run_series)
    with pytest.raises(RuntimeError, match=r"02_x.ipynb failed at cell 9.*out/02_x.ipynb"):
        notebook.run_prerequisites(config.resolve("ci", run_dir=tmp_path), "03", log=lambda *_: None)


def test_drive_puts_the_run_folder_on_drive_on_colab_only(no_gpu, tmp_path, capsys):
    no_gpu.setattr(runtime, "IS_COLAB", False)
    assert notebook._run_dir_on_drive({"profile": "ci"}) == {"profile": "ci"}
    assert "only be mounted on Colab" in capsys.readouterr().out
    mounted = []
    fake = types.ModuleType("google.colab")
    fake.drive = types.SimpleNamespace(mount=lambda path: mounted.append(path) or Path(path, "MyDrive").mkdir(parents=True, exist_ok=True))
    no_gpu.setitem(sys.modules, "google.colab", fake)
    no_gpu.setattr(runtime, "IS_COLAB", True)
    no_gpu.setattr(runtime, "DRIVE_MOUNT", tmp_path / "drive")
    params = notebook._run_dir_on_drive({"profile": None, "seeds": None})
    assert mounted == [str(tmp_path / "drive")]
    assert params == {"profile": None, "seeds": None, "run_dir": tmp_path / "drive" / "MyDrive" / "gan-cxr" / "colab"}
    assert notebook._run_dir_on_drive({"profile": "ci", "run_dir": "mine"})["run_dir"] == "mine"  # a given one stays


# --- what Colab does, end to end -------------------------------------------------------------------

CHAPTER = "03_generation_visual_qa.ipynb"  # builds on chapter 02, which it runs itself


def _run(cmd, **kwargs):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return out


def _setuptools_builds_this_project() -> bool:
    """Whether this environment's setuptools can build pyproject.toml without build isolation."""
    from importlib import metadata

    try:
        return int(metadata.version("setuptools").split(".")[0]) >= 77
    except (metadata.PackageNotFoundError, ValueError):
        return False


def _build_wheel(tmp_path: Path) -> Path:
    """``pip wheel`` of a copy of the working tree (what ``pip install git+...`` builds on Colab)."""
    tree, dist = tmp_path / "tree", tmp_path / "dist"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, tree / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    shutil.copytree(REPO / "src", tree / "src", ignore=ignore)
    shutil.copytree(REPO / "notebooks", tree / "notebooks", ignore=ignore)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, tree]
    if _setuptools_builds_this_project():
        cmd.insert(4, "--no-build-isolation")
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if out.returncode != 0 and any(s in out.stderr for s in ("No matching distribution", "Could not find a version",
                                                            "NewConnectionError", "Network is unreachable")):
        pytest.skip(f"building the wheel needs setuptools>=77 from the package index, which is out of reach:\n{out.stderr[-1500:]}")
    assert out.returncode == 0, out.stderr[-5000:]
    (wheel,) = dist.glob("gan_cxr_helpers-*.whl")
    return wheel


@pytest.mark.notebook
def test_one_chapter_copied_into_an_empty_folder_runs_from_the_installed_package(tmp_path):
    start = time.perf_counter()
    wheel = _build_wheel(tmp_path)
    # A fresh environment with the wheel installed (not editable); TensorFlow and the other
    # dependencies come from this test's environment through a .pth path entry added afterwards
    # (a plain path: its own .pth files, such as an editable install of this checkout, are not read).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel])
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "zz_test_environment.pth").write_text("".join(f"{p}\n" for p in ours))
    # No trace of this checkout or of the test run: no HELPERS_* variables, no PYTHONPATH.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELPERS_", "COVERAGE_", "PYTEST_")) and k not in ("PYTHONPATH", "JUPYTER_PATH")}
    jupyter = tmp_path / "jupyter"
    env.update(JUPYTER_PATH=str(jupyter / "share" / "jupyter"), TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    # "python3", the kernel papermill and the runner ask for, is the fresh environment's Python
    _run([python, "-m", "ipykernel", "install", "--prefix", jupyter, "--name", "python3"], env=env)
    content = tmp_path / "content"  # Colab's /content: nothing there but the chapter
    content.mkdir()
    shutil.copy2(REPO / "notebooks" / CHAPTER, content / CHAPTER)
    where = json.loads(_run([python, "-c", "import helpers, json; from helpers import config, series; "
                             "print(json.dumps([helpers.__file__, str(config.REPO_ROOT), str(series.default_notebook_dir())]))"],
                            cwd=content, env=env).stdout)
    installed = site / "helpers"
    assert where == [str(installed / "__init__.py"), "None", str(installed / "_notebooks")]

    _run([python, "-m", "papermill", CHAPTER, "executed.ipynb", "-k", "python3", "-p", "profile", "ci",
          "--cwd", content, "--no-progress-bar"], cwd=content, env=env, timeout=900)
    seconds = time.perf_counter() - start
    print(f"the Colab simulation (wheel, environment, chapters 02 and 03) took {seconds:.0f} s")

    executed = json.loads((content / "executed.ipynb").read_text())
    text = "".join(str(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    assert "Chapter 03 builds on chapter 02" in text and str(installed / "_notebooks") in text
    run_dir = content / "build" / "ci"
    assert sorted(p.name for p in (run_dir / "notebooks").glob("*.ipynb")) == [
        "02_dcgan_training.ipynb"]  # run by the runner, from the package
    assert sorted(p.stem for p in (run_dir / "metrics").glob("*.json")) == ["02", "03"]
    assert (run_dir / "fidelity.csv").exists() and (run_dir / "gan" / "plan.json").exists()
