"""House rules for the notebooks (what tensorflow/docs' nbfmt and the handbook's nav script enforce)."""

import json
import subprocess
import sys
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
    assert f"blob/main/notebooks/{path.name}" in badge and "colab.research.google.com/github/" in badge
    assert sum("parameters" in c["metadata"].get("tags", []) for c in cells) == 1
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            assert not cell["outputs"], f"cell {i} has outputs saved"
            assert len("".join(cell["source"]).splitlines()) <= 15, f"cell {i} is long: move logic to src/helpers"


def test_colab_install_line_points_at_the_badge_repository():
    for path in NOTEBOOKS:
        text = path.read_text()
        assert f"github.com/{nbtools.GITHUB_REPO}.git" in text, path.name


def test_readme_lists_every_chapter():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"(notebooks/{path.name})" in readme, f"README's chapter table lacks {path.name}"
