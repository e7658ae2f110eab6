"""House rules for the notebooks (what tensorflow/docs' nbfmt and the handbook's nav script enforce)."""

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbtools  # noqa: E402

NOTEBOOKS = nbtools.notebooks()


def test_notebooks_are_canonical():
    """Badges, navigation and stripped outputs are what `tools/nbtools.py fix` writes."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "nbtools.py"), "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_contract(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# "), "title first"
    badge = "".join(cells[1]["source"])
    repo, ref = nbtools.repository()
    assert f"{repo}/blob/{ref}/notebooks/{path.name}" in badge and "colab.research.google.com/github/" in badge
    assert sum("parameters" in c["metadata"].get("tags", []) for c in cells) == 1
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            assert not cell["outputs"], f"cell {i} has outputs saved"
            # from-scratch teaching cells (tagged) may show a whole idea in up to 25 lines
            limit = 25 if "from-scratch" in cell["metadata"].get("tags", []) else 15
            assert len("".join(cell["source"]).splitlines()) <= limit, f"cell {i} is long: move logic to src/helpers"


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_one_install_cell_pins_the_badge_ref_before_the_parameters(path):
    cells = json.loads(path.read_text())["cells"]
    installs = [i for i, c in enumerate(cells) if nbtools.INSTALL_TAG in _tags(c)]
    params = [i for i, c in enumerate(cells) if "parameters" in _tags(c)]
    assert len(installs) == 1 and installs[0] < params[0]
    source = "".join(cells[installs[0]]["source"])
    assert source == nbtools.install_cell_source()
    repo, ref = nbtools.repository()
    assert f'"git+https://github.com/{repo}.git@{ref}"' in source and "%pip" not in source


def _run_install_cell(monkeypatch, returncode=0, stderr="", installed=False, appears=True):
    """Run the install cell "on Colab" with pip faked; ``helpers`` importable from the start
    (``installed``) or once pip succeeded (``appears``)."""
    calls, state = [], {"helpers": installed}
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return (real_find_spec(name) if state["helpers"] else None) if name == "helpers" else real_find_spec(name, *args)

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        state["helpers"] = returncode == 0 and appears
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    exec(compile(nbtools.install_cell_source(), "install-cell", "exec"), {})
    return calls


def test_the_install_cell_installs_the_pinned_ref_on_colab_once(monkeypatch, capsys):
    calls = _run_install_cell(monkeypatch)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", nbtools.install_spec()]]
    assert capsys.readouterr().out.startswith("pip installed:")
    assert _run_install_cell(monkeypatch, installed=True) == []  # a re-run installs nothing


def test_the_install_cell_fails_loudly(monkeypatch):
    with pytest.raises(RuntimeError, match="pip install git\\+https://.*failed:\n.*no such ref"):
        _run_install_cell(monkeypatch, returncode=1, stderr="ERROR: no such ref")
    with pytest.raises(ModuleNotFoundError, match="helpers is not installed: pip install git\\+https://"):
        _run_install_cell(monkeypatch, appears=False)


def test_outside_colab_the_install_cell_only_checks_the_import(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip ran outside Colab"))
    exec(compile(nbtools.install_cell_source(), "install-cell", "exec"), {})


def test_one_setting_moves_every_badge_and_install_cell(monkeypatch):
    repo, _ = nbtools.repository()
    monkeypatch.setattr(nbtools, "REPOSITORY", "someone/their-fork@v2.0")
    for path in NOTEBOOKS:
        text = nbtools.fixed(path)
        assert repo not in text, path.name
        assert f"colab.research.google.com/github/someone/their-fork/blob/v2.0/notebooks/{path.name}" in text
        assert "git+https://github.com/someone/their-fork.git@v2.0" in text
    page = nbtools.fixed_colab_page()
    assert repo not in page and page.count("someone/their-fork/blob/v2.0/notebooks/") == len(NOTEBOOKS)
    assert "pip install git+https://github.com/someone/their-fork.git@v2.0" in page
    assert "github.com/someone/their-fork.git series && git -C series checkout -q v2.0" in page
    monkeypatch.setattr(nbtools, "REPOSITORY", "no-ref")
    with pytest.raises(ValueError, match="owner/name@ref"):
        nbtools.repository()


def test_the_repository_is_named_in_one_place():
    repo, _ = nbtools.repository()
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml",
             *(ROOT / "src").rglob("*.py"), *(ROOT / "tools").rglob("*.py")]
    named = [p.relative_to(ROOT) for p in files if repo in p.read_text()]
    assert named == [Path("tools/nbtools.py")]


def test_fix_replaces_an_old_pip_cell_and_adds_a_missing_one(tmp_path, monkeypatch):
    def notebook(name, cells):
        nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": f"# {name}\n"}] + cells,
              "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
        (tmp_path / name).write_text(json.dumps(nb))

    def code(source, tags=()):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source, "outputs": [], "execution_count": 3}

    old = 'import sys\nif "google.colab" in sys.modules:\n    %pip install -q "git+https://github.com/x/y.git"'
    notebook("01_a.ipynb", [code(old), code("profile = 'ci'", ["parameters"]), code("x = 1")])
    notebook("02_b.ipynb", [code("profile = 'ci'", ["parameters"]), code(old)])
    monkeypatch.setattr(nbtools, "NOTEBOOKS", tmp_path)
    for path in nbtools.notebooks():
        cells = json.loads(nbtools.fixed(path))["cells"]
        installs = [i for i, c in enumerate(cells) if nbtools.INSTALL_TAG in _tags(c)]
        params = [i for i, c in enumerate(cells) if "parameters" in _tags(c)]
        assert len(installs) == 1 and installs[0] < params[0], path.name
        assert "".join(cells[installs[0]]["source"]) == nbtools.install_cell_source()
        assert not any("%pip" in "".join(c["source"]) for c in cells)


def test_readme_lists_every_chapter():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"(notebooks/{path.name})" in readme, f"README's chapter table lacks {path.name}"
