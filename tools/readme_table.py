"""Put generated Markdown (tables, verdicts, lessons) into README.md between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers (``make figures`` runs it with chapter 6's outputs).

    python tools/readme_table.py figures/06_table_1.md figures/06_verdict.md lessons=figures/06_lessons.md README.md

A plain path goes to the ``results`` section; ``NAME=path`` to section ``NAME``. Parts of one section
are joined with blank lines, in the order given.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"


def markers(section: str) -> tuple[str, str]:
    """The start and end markers of ``section``."""
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


def insert(table_md: str, readme: str, section: str = "results") -> str:
    """``readme`` with the text between ``section``'s markers replaced by ``table_md``."""
    start, end = markers(section)
    if start not in readme or end not in readme:
        raise SystemExit(f"README has no {start} ... {end} markers")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table_md.strip()}\n{end}{tail}"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    readme = Path(argv[-1])
    sections: dict[str, list[Path]] = {}
    for arg in argv[:-1]:
        name, _, path = arg.rpartition("=") if "=" in arg else ("results", "", arg)
        sections.setdefault(name, []).append(Path(path))
    missing = [str(p) for parts in sections.values() for p in parts if not p.exists()]
    if missing:
        print(f"{', '.join(missing)} missing: run `make figures` (chapter 6 writes them)")
        return 1
    text = readme.read_text()
    for name, parts in sections.items():
        text = insert("\n\n".join(p.read_text().strip() for p in parts), text, name)
    _write_atomic(readme, text)
    print(f"{readme}: sections {', '.join(sections)} updated from {', '.join(map(str, argv[:-1]))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
