"""Keep the notebook series tidy: badges, navigation lines, stripped outputs, stable JSON.

    python tools/nbtools.py fix     # rewrite badge + navigation cells, strip outputs, normalise JSON
    python tools/nbtools.py check   # exit 1 and list problems if `fix` would change anything

The badge and navigation cells are generated from the notebooks' real file names, so they never
drift (the idea of jakevdp's handbook and tensorflow/docs' nbfmt). Forks change GITHUB_REPO only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GITHUB_REPO = "gan-cxr/gan-oversampling-chest-xray"
BRANCH = "main"
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def title_of(path: Path) -> str:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def badge_cell_source(path: Path) -> str:
    rel = f"notebooks/{path.name}"
    colab = f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/{rel}"
    github = f"https://github.com/{GITHUB_REPO}/blob/{BRANCH}/{rel}"
    return (
        "<table align=\"left\"><tr>\n"
        f"<td><a target=\"_blank\" href=\"{colab}\"><img src=\"https://colab.research.google.com/assets/colab-badge.svg\" alt=\"Open In Colab\"/></a></td>\n"
        f"<td><a target=\"_blank\" href=\"{github}\"><img src=\"https://img.shields.io/badge/view%20on-GitHub-black?logo=github\" alt=\"View on GitHub\"/></a></td>\n"
        "</tr></table>\n<br clear=\"left\"/>\n\n" + nav_line(path)
    )


def nav_line(path: Path) -> str:
    paths = notebooks()
    i = paths.index(path)
    prev = f"[< {title_of(paths[i - 1])}]({paths[i - 1].name})" if i > 0 else ""
    nxt = f"[{title_of(paths[i + 1])} >]({paths[i + 1].name})" if i + 1 < len(paths) else ""
    contents = "[Contents](../README.md#the-chapters)"
    return " | ".join(p for p in (prev, contents, nxt) if p)


def _md(source: str, tag: str) -> dict:
    return {"cell_type": "markdown", "metadata": {"tags": [tag]}, "source": source.splitlines(keepends=True)}


def fixed(path: Path) -> str:
    """The notebook's canonical JSON text."""
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if not set(c.get("metadata", {}).get("tags", [])) & {"nav-top", "nav-bottom"}]
    # title cell stays first; badges + nav second; nav again last
    cells.insert(1, _md(badge_cell_source(path), "nav-top"))
    cells.append(_md("---\n" + nav_line(path), "nav-bottom"))
    for cell in cells:
        cell.pop("id", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        md = cell.get("metadata", {})
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            md.pop(key, None)
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    nb["cells"] = cells
    nb["metadata"] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
        "accelerator": "GPU",
    }
    nb["nbformat"], nb["nbformat_minor"] = 4, 4
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


COLAB_PAGE = ROOT / "colab" / "README.md"
BADGE_START, BADGE_END = "<!-- badges:start -->", "<!-- badges:end -->"


def colab_table() -> str:
    rows = ["| chapter | open |", "|---|---|"]
    for path in notebooks():
        colab = f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/notebooks/{path.name}"
        rows.append(f"| {title_of(path)} | [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) |")
    return "\n".join(rows)


def fixed_colab_page() -> str:
    text = COLAB_PAGE.read_text()
    start, end = text.index(BADGE_START) + len(BADGE_START), text.index(BADGE_END)
    return text[:start] + "\n" + colab_table() + "\n" + text[end:]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("fix", "check"):
        print(__doc__)
        return 2
    wanted = {path: fixed(path) for path in notebooks()}
    wanted[COLAB_PAGE] = fixed_colab_page()
    problems = []
    for path, text in wanted.items():
        if path.read_text() == text:
            continue
        if argv[0] == "fix":
            path.write_text(text)
            print(f"fixed {path.relative_to(ROOT)}")
        else:
            problems.append(str(path.relative_to(ROOT)))
    if problems:
        print("Not canonical (run `python tools/nbtools.py fix`): " + ", ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
