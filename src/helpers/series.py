"""Run the numbered notebooks in order with papermill: ``python -m helpers.series --profile demo``.

Executed copies go to ``<run_dir>/notebooks/``; the run prints per-notebook wall time and exits
non-zero naming the notebook and cell that failed. Relative paths are taken from the working
directory; without ``--run-dir`` a run goes to ``build/<profile>/`` of the checkout you are in.
``--fresh`` moves the run folder aside first. ``--seeds-each 0 1 2 --jobs 2`` and ``--profile quick
paper`` run batches (:mod:`helpers.series_batch`). A chapter opened on its own runs the chapters
it builds on first (:data:`CHAPTER_NEEDS`); the kernels the runner starts get
``HELPERS_NO_PREREQUISITES=1``, so they never do that themselves.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from helpers import config as _config
from helpers.config import PATH_PARAMETERS, absolute_paths, default_run_dir
from helpers.core.artifacts import load_json, save_json
from helpers.series_batch import MERGED_TABLES, BatchFailed, Job, merge_tables, plan_jobs, run_batch

__all__ = ["PATH_PARAMETERS", "MERGED_TABLES", "NO_PREREQUISITES_ENV", "CHAPTER_NEEDS", "CHAPTER_SECONDS",
           "MEASURED_SECONDS", "Job", "NotebookFailed", "NoNotebooks", "BatchFailed", "chapter_finished",
           "missing_prerequisites", "expected_time", "packaged_notebook_dir", "notebook_dir_with",
           "default_notebook_dir", "default_run_dir", "absolute_paths", "discover_notebooks", "run_series",
           "render_html", "plan_jobs", "run_batch", "merge_tables", "main"]

#: Set to "1" for the kernels :func:`run_series` starts: their ``notebook.setup(chapter=...)`` then
#: runs no earlier chapters (the runner runs the chapters in order itself; no recursion).
NO_PREREQUISITES_ENV = "HELPERS_NO_PREREQUISITES"
#: The earlier chapters whose artifacts a chapter reads (chapter 01 only describes the data: any
#: chapter's ``cfg.load_splits()`` binds the run folder to its data).
CHAPTER_NEEDS: dict[str, tuple[str, ...]] = {
    "01": (), "02": (), "03": ("02",), "04": ("03",), "05": ("03",), "06": ("04", "05"),
    "07": (),  # its own data, GANs and classifiers (run_dir/nih/)
}
#: Seconds per chapter and profile on a 2-core CPU without a GPU. Only the profiles in
#: :data:`MEASURED_SECONDS` were measured; the others are rough estimates.
CHAPTER_SECONDS: dict[str, dict[str, int]] = {
    "ci": {"01": 11, "02": 23, "03": 24, "04": 39, "05": 131, "06": 30, "07": 24},
    "demo": {"01": 8, "02": 552, "03": 32, "04": 111, "05": 255, "06": 14, "07": 207},
    "quick": {"01": 9, "02": 6759, "03": 294, "04": 703, "05": 7200, "06": 42, "07": 996},
    # one run on 2 shared cores (results/kermany64); 07 is the NIH study's estimate, not run at 64 px
    "kermany64": {"01": 8, "02": 3354, "03": 236, "04": 795, "05": 6700, "06": 25, "07": 900},
}
MEASURED_SECONDS: tuple[str, ...] = ("ci",)
#: Where an installed package keeps the numbered notebooks it was built with (see pyproject.toml).
_PACKAGED_NOTEBOOKS = Path(__file__).resolve().parent / "_notebooks"


class NotebookFailed(RuntimeError):
    """A notebook of the series raised; names the notebook and the cell."""

    def __init__(self, notebook: Path, cell: int | None, detail: str, executed: Path | None = None):
        self.notebook, self.cell, self.detail, self.executed = notebook, cell, detail, executed
        where = f"cell {cell}" if cell is not None else "start-up"
        super().__init__(f"{notebook.name} failed at {where}: {detail}")


class NoNotebooks(FileNotFoundError):
    """The notebooks folder holds no numbered notebook (``NN_name.ipynb``)."""






def packaged_notebook_dir() -> Path | None:
    """The notebooks shipped inside the installed package (``helpers/_notebooks/``), or None."""
    return _PACKAGED_NOTEBOOKS if discover_notebooks(_PACKAGED_NOTEBOOKS) else None


def default_notebook_dir() -> Path:
    """The checkout's ``notebooks/``; outside a checkout ``./notebooks`` when it holds numbered
    notebooks, else the packaged ones, else ``./notebooks`` (named in the error)."""
    if _config.REPO_ROOT is not None and (_config.REPO_ROOT / "notebooks").is_dir():
        return _config.REPO_ROOT / "notebooks"
    local = _config.work_root() / "notebooks"
    packaged = packaged_notebook_dir()
    return packaged if packaged is not None and not discover_notebooks(local) else local


def notebook_dir_with(chapters: Sequence[str]) -> Path:
    """The first of the default and the packaged notebook folders holding every chapter of ``chapters``."""
    wanted = {str(c).zfill(2) for c in chapters}
    tried = list(dict.fromkeys(d for d in (default_notebook_dir(), packaged_notebook_dir()) if d is not None))
    for folder in tried:
        if wanted <= {p.name[:2] for p in discover_notebooks(folder)}:
            return folder
    raise NoNotebooks(
        f"chapters {sorted(wanted)} are not among the numbered notebooks in {', '.join(map(str, tried))}: "
        "run from the repository, or install the package (pip install git+https://...) that ships them"
    )


def chapter_finished(run_dir: str | os.PathLike, chapter: str) -> bool:
    """True when ``chapter`` ran to its end in ``run_dir`` (it wrote ``metrics/<chapter>.json``)."""
    return (Path(run_dir) / "metrics" / f"{str(chapter).zfill(2)}.json").is_file()


def missing_prerequisites(chapter: str | int, run_dir: str | os.PathLike) -> list[str]:
    """The earlier chapters ``chapter`` needs (transitively) that have not finished in ``run_dir``, in order."""
    chapter = str(chapter).zfill(2)
    if chapter not in CHAPTER_NEEDS:
        raise ValueError(f"unknown chapter {chapter!r}; the chapters are {sorted(CHAPTER_NEEDS)}")
    missing: set[str] = set()

    def visit(current: str) -> None:
        for need in CHAPTER_NEEDS[current]:
            if need not in missing and not chapter_finished(run_dir, need):
                missing.add(need)
                visit(need)

    visit(chapter)
    return sorted(missing)  # a chapter only needs lower-numbered ones


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def expected_time(profile: str, chapters: Sequence[str], *, gpu: bool = False) -> str:
    """How long ``chapters`` take with ``profile`` (:data:`CHAPTER_SECONDS`), measured or estimated."""
    chapters = [str(c).zfill(2) for c in chapters]
    table = CHAPTER_SECONDS.get(profile, {})
    if not chapters or any(c not in table for c in chapters):
        text = f"not measured for profile {profile}"
    else:
        kind = "measured" if profile in MEASURED_SECONDS else "rough estimate"
        each = ", ".join(f"{c}: {_duration(table[c])}" for c in chapters)
        text = f"about {_duration(sum(table[c] for c in chapters))} on a 2-core CPU ({kind}; {each})"
    if gpu:
        text += "; a GPU is typically 5-20x faster (not measured)"
    return text






def _absolute(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def discover_notebooks(notebook_dir: str | os.PathLike | None = None, only: Sequence[str] = ()) -> list[Path]:
    """The numbered notebooks (``NN_slug.ipynb``) in order; ``only`` filters by number prefix."""
    notebook_dir = Path(notebook_dir) if notebook_dir is not None else default_notebook_dir()
    paths = sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {str(o).zfill(2) for o in only}
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            raise ValueError(f"no notebook numbered {sorted(unknown)} in {notebook_dir}")
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


def _notebooks_or_raise(notebook_dir: Path, only: Sequence[str]) -> list[Path]:
    notebooks = discover_notebooks(notebook_dir, only)
    if not notebooks:
        why = "" if notebook_dir.is_dir() else " (no such folder)"
        raise NoNotebooks(
            f"no numbered notebooks (NN_name.ipynb) in {notebook_dir}{why}: run from the repository, "
            "or pass the notebooks folder with --notebooks DIR"
        )
    return notebooks


def run_series(profile: str = "demo", *, run_dir: str | os.PathLike | None = None,
               figures_dir: str | os.PathLike | None = None, only: Sequence[str] = (),
               parameters: dict[str, Any] | None = None, notebook_dir: str | os.PathLike | None = None,
               fresh: bool = False, html: bool = True, log: Callable[[str], Any] = print) -> dict[str, float]:
    """Execute the notebooks in order; return ``{notebook: seconds}``. Raises :class:`NotebookFailed`.

    ``html``: render the executed notebooks with an index (``<run_dir>/html/index.html``) at the end,
    also after a failure. ``run_dir``/``figures_dir`` in ``parameters`` apply when the keywords are
    not given. ``fresh=True`` moves an existing run folder aside first.
    """
    import papermill as pm

    params = absolute_paths(parameters or {})
    given_run_dir, given_figures_dir = params.pop("run_dir", None), params.pop("figures_dir", None)
    run_dir = given_run_dir if run_dir is None else run_dir
    figures_dir = given_figures_dir if figures_dir is None else figures_dir
    run_dir = _absolute(run_dir) if run_dir is not None else default_run_dir(profile)
    notebook_dir = _absolute(notebook_dir) if notebook_dir is not None else default_notebook_dir()
    notebooks = _notebooks_or_raise(notebook_dir, only)
    params.update(profile=profile, run_dir=str(run_dir))
    if figures_dir is not None:
        params["figures_dir"] = str(_absolute(figures_dir))
    if fresh:
        from helpers.core.provenance import move_aside

        move_aside(run_dir)
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    # The runner's choices must reach the kernels even where env vars would win in resolve().
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow start-up chatter out of the outputs
    env_backup = {k: os.environ.pop(k) for k in list(os.environ)
                  if k in ("HELPERS_PROFILE", "HELPERS_RUN_DIR", "HELPERS_FIGURES_DIR", NO_PREREQUISITES_ENV)}
    os.environ[NO_PREREQUISITES_ENV] = "1"  # the kernels run in order here: none runs earlier chapters itself
    try:
        for i, nb in enumerate(notebooks, 1):
            log(f"[{i}/{len(notebooks)}] {nb.name} (profile {profile}) ...")
            start = time.perf_counter()
            executed = out_dir / nb.name
            try:
                pm.execute_notebook(
                    str(nb), str(executed), parameters=params, cwd=str(nb.parent),
                    kernel_name="python3", progress_bar=False, log_output=False,
                )
            except pm.PapermillExecutionError as err:
                raise NotebookFailed(nb, err.cell_index, f"{err.ename}: {err.evalue}", executed) from err
            except Exception as err:  # kernel died, bad JSON, ...
                raise NotebookFailed(nb, None, f"{type(err).__name__}: {err}", executed) from err
            timings[nb.name] = round(time.perf_counter() - start, 1)
            log(f"    done in {timings[nb.name]:.1f} s")
    finally:
        os.environ.pop(NO_PREREQUISITES_ENV, None)
        os.environ.update(env_backup)
        path = run_dir / "series_timings.json"  # merged, so `--only 06` keeps the other notebooks' times
        old = load_json(path) if path.exists() else {}
        merged = {**(old.get("seconds", {}) if old.get("profile") == profile else {}), **timings}
        save_json(path, {"profile": profile, "seconds": merged})
        if html:
            try:
                index = render_html(out_dir, run_dir / "html", title=f"{profile} run: {run_dir.name}")
                log(f"HTML report: {index}")
            except Exception as exc:  # e.g. nbconvert without its templates: the run itself succeeded
                log(f"HTML report skipped ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
    return timings


def render_html(executed_dir: str | os.PathLike, out_dir: str | os.PathLike, title: str = "Report") -> Path:
    """Render every executed notebook in ``executed_dir`` to HTML (nbconvert); the index page's path."""
    import html as _html

    import nbformat
    from nbconvert import HTMLExporter

    from helpers.core.artifacts import atomic_write

    executed_dir, out_dir = Path(executed_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    items = []
    for path in sorted(executed_dir.glob("[0-9][0-9]_*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
            body, _ = exporter.from_notebook_node(nb)
        except Exception as exc:  # a kernel that died mid-write: list it, render the others
            items.append(f"<li>{_html.escape(path.name)}: not rendered ({_html.escape(type(exc).__name__)})</li>")
            continue
        page = out_dir / f"{path.stem}.html"
        with atomic_write(page) as tmp:
            tmp.write_text(body, encoding="utf-8")
        heading = next((line.lstrip("# ").strip() for c in nb.cells if c.cell_type == "markdown"
                        for line in c.source.splitlines() if line.startswith("# ")), path.stem)
        items.append(f'<li><a href="{page.name}">{_html.escape(heading)}</a></li>')
    index = out_dir / "index.html"
    with atomic_write(index) as tmp:
        tmp.write_text(f"<!doctype html><meta charset='utf-8'><title>{_html.escape(title)}</title>"
                       f"<h1>{_html.escape(title)}</h1><ol>{''.join(items)}</ol>\n", encoding="utf-8")
    return index














def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m helpers.series``, or ``helpers-series`` when installed)."""
    prog = "helpers-series" if Path(sys.argv[0]).name == "helpers-series" else "python -m helpers.series"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--profile", nargs="+", default=["demo"], choices=sorted(_config.PROFILES),
                        help="default demo; several profiles run one series each")
    parser.add_argument("--run-dir", default=None,
                        help="default: build/<profile> of the checkout you are in, else ./build/<profile>")
    parser.add_argument("--figures-dir", default=None, help="default: <run-dir>/figures; `make report` uses figures/")
    parser.add_argument("--notebooks", default=None, metavar="DIR",
                        help="folder of the numbered notebooks (default: the checkout's notebooks/, else "
                             "./notebooks, else those shipped with the installed package)")
    parser.add_argument("--only", nargs="*", default=(), help="notebook numbers to run, e.g. 01 02")
    parser.add_argument("--fresh", action="store_true",
                        help="move the run folder aside (<run-dir>.old-<time>) before the first notebook")
    parser.add_argument("--seeds-each", nargs="+", type=int, default=[], metavar="SEED",
                        help="one run per seed into <run-dir>/seed<k>/ (-p seeds [k]); their results.csv "
                             "rows are concatenated into <run-dir>/results.csv")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="how many runs of --seeds-each / several profiles go at once (processes)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra notebook parameter, e.g. -p dataset kaggle_pneumonia -p data_path ~/chest_xray")
    args = parser.parse_args(argv)
    extra: dict[str, Any] = {name: _parse_value(value) for name, value in args.parameter}
    for name, option in (("profile", "--profile"), ("fresh", "--fresh")):
        if name in extra:
            parser.error(f"use {option}, not -p {name} (the runner applies it once for the whole series)")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    start = time.perf_counter()
    try:
        if len(args.profile) == 1 and not args.seeds_each:
            timings = run_series(args.profile[0], run_dir=args.run_dir, figures_dir=args.figures_dir,
                                 only=args.only, parameters=extra, notebook_dir=args.notebooks, fresh=args.fresh)
            what = "notebooks"
        else:
            run_dir, figures_dir = extra.pop("run_dir", args.run_dir), extra.pop("figures_dir", args.figures_dir)
            jobs = plan_jobs(args.profile, run_dir=args.run_dir or run_dir, seeds_each=args.seeds_each, parameters=extra)
            notebook_dir = _absolute(args.notebooks) if args.notebooks is not None else default_notebook_dir()
            _notebooks_or_raise(notebook_dir, args.only)
            timings = run_batch(jobs, parallel=args.jobs, notebook_dir=notebook_dir, only=args.only,
                                figures_dir=args.figures_dir or figures_dir, fresh=args.fresh)
            what = "runs"
    except NotebookFailed as err:
        print(f"FAILED: {err}", file=sys.stderr)
        if err.executed is not None:
            print(f"The executed copy with the traceback is {err.executed}", file=sys.stderr)
        return 1
    except BatchFailed as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    except (NoNotebooks, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    total = time.perf_counter() - start
    print(f"All {len(timings)} {what} ran in {total:.0f} s: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
