"""The helper package's architecture, read from its source: layers, modules, import arrows, sizes.

``python tools/architecture.py``            prints the measures (lines per module, widest signature, arrows, cycles)
``python tools/architecture.py --figure F`` also draws the one-screen figure (docs/architecture.png)
``python tools/architecture.py --check``    fails on an import cycle, an import from a lower layer to a higher one,
                                            or a sub-package or module that README's Layout section does not name
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Bottom to top: a module may import from its own layer or a lower one only (lazy imports included).
LAYERS = ("core", "data", "evaluation", "gan", "oversampling", "classifiers", "report", "profiles", "config",
          "multilabel", "series_batch", "series", "notebook")
ROLES = {
    "core": "files, provenance, seeds and devices",
    "data": "datasets, images, augmentation",
    "evaluation": "fidelity and classifier metrics",
    "gan": "the paper's DCGAN, limited-data pieces, training",
    "oversampling": "strategies and their training sets",
    "classifiers": "ResNet-18 features, DT/RF/SVM, ANN, CNN, DenseNet121",
    "report": "results tables, verdicts, figures",
    "profiles": "sizes and budgets per profile",
    "config": "a run's resolved settings",
    "multilabel": "chapter 7: NIH ChestX-ray14",
    "notebook": "each chapter's setup",
    "series_batch": "batches: seeds and profiles",
    "series": "the papermill runner",
}


@dataclass
class Package:
    """The parsed package: module name (``gan.training``) -> file, lines, and import arrows between modules."""

    modules: dict[str, Path]
    lines: dict[str, int] = field(default_factory=dict)
    arrows: set[tuple[str, str]] = field(default_factory=set)
    functions: list[tuple[int, int, str]] = field(default_factory=list)  # (lines, parameters, name), public only


def _module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def _targets(pkg: Package, current: str, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = current.split(".")
        base = base if pkg.modules[current].name == "__init__.py" else base[:-1]
        base = base[: len(base) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    elif node.module == "helpers":
        module = ""
    elif node.module and node.module.startswith("helpers."):
        module = node.module[len("helpers."):]
    else:
        return []
    found = []
    for alias in node.names:
        full = f"{module}.{alias.name}" if module else alias.name
        found.append(full if full in pkg.modules else module)
    return [t for t in found if t in pkg.modules]


def read_package(root: Path = ROOT) -> Package:
    src = root / "src" / "helpers"
    pkg = Package({_module_name(p, src): p for p in sorted(src.rglob("*.py"))})
    for name, path in pkg.modules.items():
        text = path.read_text()
        pkg.lines[name] = text.count("\n")
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                pkg.arrows |= {(name, t) for t in _targets(pkg, name, node) if t != name and not name.startswith(t + ".")}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                a = node.args
                pkg.functions.append((node.end_lineno - node.lineno + 1,
                                      len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs), f"{name}.{node.name}"))
    return pkg


def layer(module: str) -> int:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else -1


def cycles(pkg: Package) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in pkg.arrows:
        graph.setdefault(a, set()).add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in pkg.modules:
        if v not in index:
            visit(v)
    return found


def problems(pkg: Package, readme: str) -> list[str]:
    """Everything ``--check`` fails on."""
    out = [f"import cycle: {' <-> '.join(c)}" for c in cycles(pkg)]
    out += [f"{a} imports {b}: a lower layer may not import a higher one ({' < '.join(LAYERS)})"
            for a, b in sorted(pkg.arrows) if layer(b) > layer(a)]
    out += [f"{m}: not in any layer of tools/architecture.py" for m in pkg.modules if m != "__init__" and layer(m) < 0]
    layout = readme.split("## Layout", 1)[-1].split("\n## ", 1)[0]
    for m in pkg.modules:
        leaf = m.split(".")[-1]
        if m != "__init__" and not re.search(rf"\b{re.escape(leaf)}\b", layout):
            out.append(f"README's Layout section does not name `{m}`")
    return out


def measures(pkg: Package) -> str:
    vals = sorted(pkg.lines.values())
    biggest = max(pkg.lines, key=pkg.lines.get)
    longest = max(pkg.functions)
    widest = max(pkg.functions, key=lambda f: f[1])
    between = {(a.split(".")[0], b.split(".")[0]) for a, b in pkg.arrows if a.split(".")[0] != b.split(".")[0]}
    return "\n".join([
        f"modules {len(vals)}, lines {sum(vals)}, per module: max {max(vals)} ({biggest}), median {statistics.median(vals):g}",
        f"longest public function {longest[2]} ({longest[0]} lines); widest signature {widest[2]} ({widest[1]} parameters)",
        f"import arrows {len(pkg.arrows)} between modules, {len(between)} between sub-packages; cycles {len(cycles(pkg))}",
    ])


def draw(pkg: Package, path: Path) -> None:
    """One row per layer (bottom: core), each module a box sized by its lines; right: what the layer imports."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(13, 7.5))
    scale = 9.0 / max(sum(v for m, v in pkg.lines.items() if m.split(".")[0] == top) for top in LAYERS)
    for row, top in enumerate(LAYERS):
        mods = sorted((m for m in pkg.modules if m.split(".")[0] == top), key=lambda m: (m != top, m))
        ax.text(-0.15, row + 0.4, f"{top}\n{ROLES[top]}", ha="right", va="center", fontsize=8.5)
        x = 0.0
        for m in mods:
            w = max(pkg.lines[m] * scale, 0.25)
            ax.add_patch(FancyBboxPatch((x, row + 0.1), w - 0.04, 0.6, boxstyle="round,pad=0.01",
                                        fc=plt.cm.tab20(row % 20), ec="0.3", lw=0.6))
            label = "__init__" if pkg.modules[m].name == "__init__.py" else m.split(".")[-1]
            size = 6.5 if w > 0.065 * len(label) else 5 if w > 0.05 * len(label) else 0
            ax.text(x + w / 2, row + 0.4, f"{label}\n{pkg.lines[m]}" if size else label, ha="center", va="center",
                    fontsize=size or 5, rotation=0 if size else 90)
            x += w
        below = sorted({b.split(".")[0] for a, b in pkg.arrows if a.split(".")[0] == top and b.split(".")[0] != top},
                       key=LAYERS.index)
        ax.text(9.3, row + 0.4, textwrap.fill("imports " + (", ".join(below) if below else "nothing of helpers"), 44),
                va="center", fontsize=7.5, color="0.35")
    ax.set_xlim(-3.2, 12.6)
    ax.set_ylim(-0.2, len(LAYERS) + 0.2)
    ax.axis("off")
    ax.set_title("src/helpers, layers bottom-up: a module imports only from its own layer or below "
                 "(box width = lines of code)", fontsize=10)
    fig.text(0.01, 0.01, measures(pkg), fontsize=7.5, color="0.3", va="bottom")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    pkg = read_package(args.root)
    print(measures(pkg))
    if args.figure:
        draw(pkg, args.figure)
        print(f"figure: {args.figure}")
    if args.check:
        found = problems(pkg, (args.root / "README.md").read_text())
        for p in found:
            print(p, file=sys.stderr)
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
