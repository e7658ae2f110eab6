"""Keep the notebook series tidy: badges, install cells, navigation lines, stripped outputs, stable JSON.

    python tools/nbtools.py fix     # rewrite badge, install + navigation cells, strip outputs, normalise JSON
    python tools/nbtools.py check   # exit 1 and list problems if `fix` would change anything

The badge, Colab-install and navigation cells (and the Colab page's table and install line) are
generated from the notebooks' real file names and from one setting, REPOSITORY (``owner/name@ref``),
so they never drift (the idea of jakevdp's handbook and tensorflow/docs' nbfmt). A fork or a release
changes REPOSITORY only, then runs ``fix``: the badges open that ref and the install cells pin it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: The one setting: the GitHub repository (owner/name) and the git ref (branch, tag or commit) that
#: every badge opens and every install cell installs.
REPOSITORY = "gan-cxr/gan-oversampling-chest-xray@main"
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


INSTALL_TAG = "colab-install"


def repository() -> tuple[str, str]:
    """``(owner/name, ref)`` from :data:`REPOSITORY`."""
    repo, _, ref = REPOSITORY.partition("@")
    if repo.count("/") != 1 or not ref:
        raise ValueError(f"REPOSITORY must read owner/name@ref, got {REPOSITORY!r}")
    return repo, ref


def install_spec() -> str:
    """What pip installs on Colab: the package at the pinned ref."""
    repo, ref = repository()
    return f"git+https://github.com/{repo}.git@{ref}"


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


def colab_url(path: Path) -> str:
    repo, ref = repository()
    return f"https://colab.research.google.com/github/{repo}/blob/{ref}/notebooks/{path.name}"


def badge_cell_source(path: Path) -> str:
    repo, ref = repository()
    colab = colab_url(path)
    github = f"https://github.com/{repo}/blob/{ref}/notebooks/{path.name}"
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


def install_cell_source() -> str:
    """The Colab install cell: pip at the pinned ref (runtime dependencies only, no dev extras), raising
    on failure (``%pip`` would not, and "Run all" would go on to a ModuleNotFoundError); it prints
    the packages pip added or changed, and runs pip only while ``helpers`` is missing (a re-run
    installs nothing); then a check that ``helpers`` imports."""
    return (
        "# Setup: on Colab, install this series' helpers package at a pinned ref (locally, `make install` did it).\n"
        "import importlib.metadata, importlib.util, subprocess, sys\n"
        "\n"
        f"SPEC = \"{install_spec()}\"\n"
        "if \"google.colab\" in sys.modules and importlib.util.find_spec(\"helpers\") is None:\n"
        "    had = {d.metadata[\"Name\"]: d.version for d in importlib.metadata.distributions()}\n"
        "    pip = subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", SPEC], capture_output=True, text=True)\n"
        "    if pip.returncode:\n"
        "        raise RuntimeError(f\"pip install {SPEC} failed:\\n{pip.stderr[-3000:]}\")\n"
        "    importlib.invalidate_caches()\n"
        "    new = {d.metadata[\"Name\"]: d.version for d in importlib.metadata.distributions()}\n"
        "    print(\"pip installed:\", \", \".join(f\"{n} {had[n]} -> {v}\" if n in had else f\"{n} {v}\" for n, v in sorted(new.items()) if had.get(n) != v))\n"
        "if importlib.util.find_spec(\"helpers\") is None:\n"
        "    raise ModuleNotFoundError(f\"helpers is not installed: pip install {SPEC} (in a clone: make install)\")"
    )


def _is_install_cell(cell: dict) -> bool:
    if INSTALL_TAG in cell.get("metadata", {}).get("tags", []):
        return True
    source = "".join(cell["source"])
    return cell["cell_type"] == "code" and "google.colab" in source and "pip install" in source


def _md(source: str, tag: str) -> dict:
    return {"cell_type": "markdown", "metadata": {"tags": [tag]}, "source": source.splitlines(keepends=True)}


def _install_cell() -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {"tags": [INSTALL_TAG]}, "outputs": [],
            "source": install_cell_source().splitlines(keepends=True)}


def fixed(path: Path) -> str:
    """The notebook's canonical JSON text."""
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if not set(c.get("metadata", {}).get("tags", [])) & {"nav-top", "nav-bottom"}]
    # title cell stays first; badges + nav second; nav again last
    cells.insert(1, _md(badge_cell_source(path), "nav-top"))
    cells.append(_md("---\n" + nav_line(path), "nav-bottom"))
    # one install cell, regenerated where it stands if that is before the parameters cell, else
    # (missing, or too late) moved to just before the parameters cell
    at = next((i for i, c in enumerate(cells) if _is_install_cell(c)), len(cells))
    cells = [c for c in cells if not _is_install_cell(c)]
    params = next((i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])), 2)
    cells.insert(min(at, params), _install_cell())
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


def colab_table() -> str:
    rows = ["| chapter | open |", "|---|---|"]
    for path in notebooks():
        rows.append(f"| {title_of(path)} | [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)}) |")
    return "\n".join(rows)


def colab_install_line() -> str:
    return f"`pip install {install_spec()}`"


def colab_clone_block() -> str:
    repo, ref = repository()
    return "\n".join([
        "```python",
        f"!git clone -q https://github.com/{repo}.git series && git -C series checkout -q {ref}",
        "%cd series",
        "!pip install -q -e .",
        "!python -m helpers.series --profile paper --run-dir /content/drive/MyDrive/gan-cxr/paper",
        "```",
    ])


def fixed_colab_page() -> str:
    """The Colab page with its generated blocks (``<!-- name:start -->`` ... ``<!-- name:end -->``) rewritten."""
    text = COLAB_PAGE.read_text()
    for name, block in (("badges", colab_table()), ("install", colab_install_line()), ("clone", colab_clone_block())):
        start_mark, end_mark = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        start, end = text.index(start_mark) + len(start_mark), text.index(end_mark)
        text = text[:start] + "\n" + block + "\n" + text[end:]
    return text


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
