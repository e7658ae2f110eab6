"""Put generated Markdown (tables, verdicts) into README.md between the ``<!-- results:start -->`` and
``<!-- results:end -->`` markers (``make figures`` runs it with chapter 6's Table 1, seed ensembles and verdict).

    python tools/readme_table.py figures/06_table_1.md figures/06_seed_ensembles_deep.md figures/06_verdict.md README.md
"""

from __future__ import annotations

import sys
from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"


def insert(table_md: str, readme: str) -> str:
    """``readme`` with the text between the markers replaced by ``table_md``."""
    if START not in readme or END not in readme:
        raise SystemExit(f"README has no {START} ... {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table_md.strip()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    parts, readme = [Path(p) for p in argv[:-1]], Path(argv[-1])
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        print(f"{', '.join(missing)} missing: run `make figures` (chapter 6 writes them)")
        return 1
    text = "\n\n".join(p.read_text().strip() for p in parts)
    readme.write_text(insert(text, readme.read_text()))
    print(f"{readme}: results section updated from {', '.join(map(str, parts))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
