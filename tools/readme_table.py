"""Put a generated Markdown table into README.md between the ``<!-- results:start -->`` and
``<!-- results:end -->`` markers (``make figures`` runs it with chapter 6's Table 1).

    python tools/readme_table.py figures/06_table_1.md README.md
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
    if len(argv) != 2:
        print(__doc__)
        return 2
    table, readme = Path(argv[0]), Path(argv[1])
    if not table.exists():
        print(f"{table} does not exist: run `make figures` (chapter 6 writes it)")
        return 1
    readme.write_text(insert(table.read_text(), readme.read_text()))
    print(f"{readme}: results table updated from {table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
