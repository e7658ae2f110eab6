"""tools/readme_table.py: the README's results section is replaced between its markers only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "readme_table", Path(__file__).resolve().parents[1] / "tools" / "readme_table.py")
readme_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_table)


def test_insert_replaces_only_between_the_markers():
    text = "intro\n<!-- results:start -->\nold\n<!-- results:end -->\noutro\n"
    out = readme_table.insert("| a |\n|---|\n| 1 |", text)
    assert out.startswith("intro\n<!-- results:start -->\n| a |") and out.endswith("<!-- results:end -->\noutro\n")
    assert "old" not in out and readme_table.insert("x", out).count("results:start") == 1
    with pytest.raises(SystemExit):
        readme_table.insert("x", "no markers")


def test_main_joins_parts(tmp_path):
    (tmp_path / "t.md").write_text("table")
    (tmp_path / "v.md").write_text("verdict")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results:start -->\n<!-- results:end -->\n")
    assert readme_table.main([str(tmp_path / "t.md"), str(tmp_path / "v.md"), str(readme)]) == 0
    assert "table\n\nverdict" in readme.read_text()
    assert readme_table.main([str(tmp_path / "missing.md"), str(readme)]) == 1


def test_named_sections_go_between_their_own_markers(tmp_path):
    (tmp_path / "t.md").write_text("table")
    (tmp_path / "l.md").write_text("- a lesson")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results:start -->\nold\n<!-- results:end -->\nmiddle\n<!-- lessons:start -->\n"
                      "old lesson\n<!-- lessons:end -->\n")
    assert readme_table.main([str(tmp_path / "t.md"), f"lessons={tmp_path / 'l.md'}", str(readme)]) == 0
    text = readme.read_text()
    assert "<!-- results:start -->\ntable\n<!-- results:end -->\nmiddle" in text
    assert "<!-- lessons:start -->\n- a lesson\n<!-- lessons:end -->" in text and "old" not in text
    readme.write_text("<!-- results:start -->\n<!-- results:end -->\n")  # no lessons markers
    with pytest.raises(SystemExit, match="lessons:start"):
        readme_table.main([f"lessons={tmp_path / 'l.md'}", str(readme)])
