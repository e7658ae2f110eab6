"""The package's layers hold: no import cycle, no import from a lower layer to a higher one, README names every module."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("architecture", ROOT / "tools" / "architecture.py")
architecture = importlib.util.module_from_spec(_spec)
sys.modules["architecture"] = architecture
_spec.loader.exec_module(architecture)


def test_the_package_keeps_its_layers_and_readme_names_every_module():
    pkg = architecture.read_package(ROOT)
    assert architecture.problems(pkg, (ROOT / "README.md").read_text()) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "src" / "helpers" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_check_finds_an_upward_import_a_cycle_and_an_unnamed_module(tmp_path):
    root = _write(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/artifacts.py": "from helpers.report import plots\n",  # core may not import report
        "report/__init__.py": "",
        "report/plots.py": "from . import results\n",
        "report/results.py": "def f():\n    from helpers.report import plots\n",  # a lazy import closes a cycle
    })
    found = architecture.problems(architecture.read_package(root), "## Layout\ncore artifacts report results\n")
    assert any("core.artifacts imports report.plots" in p for p in found)
    assert any(p.startswith("import cycle: report.plots <-> report.results") for p in found)
    assert any("does not name `report.plots`" in p for p in found)


def test_the_figure_is_drawn(tmp_path):
    architecture.draw(architecture.read_package(ROOT), tmp_path / "architecture.png")
    assert (tmp_path / "architecture.png").stat().st_size > 10_000
