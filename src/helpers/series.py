"""Run the numbered notebooks in order with papermill: ``python -m helpers.series --profile demo``.

Executed copies go to ``<run_dir>/notebooks/``; the run prints progress and per-notebook wall time
and exits non-zero naming the notebook and cell that failed.

* Relative paths (``--run-dir``, ``--figures-dir``, ``-p data_path``/``run_dir``/``figures_dir``) are
  taken from the directory the command runs in, and passed to the notebooks as absolute paths.
* Without ``--run-dir`` a run goes to ``build/<profile>/`` of the checkout of this repository the
  command runs in, else to ``./build/<profile>/``.
* ``--notebooks DIR`` names the notebooks folder (default: the checkout's ``notebooks/``, else
  ``./notebooks``, else the notebooks shipped inside the installed package); a folder without
  numbered notebooks is an error, not an empty success.
* ``--fresh`` moves the run folder aside (``<run_dir>.old-<time>``) before the first notebook.
* ``--seeds-each 0 1 2 --jobs 2`` runs the series once per seed, two processes at a time, into
  ``<run_dir>/seed<k>/`` with ``-p seeds [k]``, then concatenates their ``results.csv`` (and
  ``fidelity.csv``) into ``<run_dir>/``; ``--profile quick paper`` runs one series per profile.

A chapter opened on its own (``notebook.setup(..., chapter="05")``) runs the chapters it builds on
through :func:`run_series` first (:data:`CHAPTER_NEEDS`, :func:`missing_prerequisites`); the kernels
the runner starts get ``HELPERS_NO_PREREQUISITES=1``, so they never do that themselves.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import config as _config
from helpers.core.artifacts import atomic_write, load_json, save_json

__all__ = [
    "PATH_PARAMETERS",
    "render_html",
    "MERGED_TABLES",
    "Job",
    "NotebookFailed",
    "NoNotebooks",
    "BatchFailed",
    "NO_PREREQUISITES_ENV",
    "CHAPTER_NEEDS",
    "CHAPTER_SECONDS",
    "MEASURED_SECONDS",
    "chapter_finished",
    "missing_prerequisites",
    "expected_time",
    "packaged_notebook_dir",
    "notebook_dir_with",
    "default_notebook_dir",
    "default_run_dir",
    "absolute_paths",
    "discover_notebooks",
    "run_series",
    "plan_jobs",
    "run_batch",
    "merge_tables",
    "main",
]

#: Notebook parameters that are paths: made absolute (from the caller's working directory) before
#: they reach a kernel, which runs in the notebooks' folder.
PATH_PARAMETERS = ("data_path", "run_dir", "figures_dir", "tables_dir", "export_dir")
#: Tables a batch concatenates from its runs into the batch folder (their rows carry their seed).
MERGED_TABLES = ("results.csv", "fidelity.csv", "results_07.csv")
BATCH_FILE = "batch.json"  # marks a folder that holds a batch's runs (seed<k>/ ...), not one run
_POLL_SECONDS = 0.5

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
    "ci": {"01": 8, "02": 12, "03": 15, "04": 15, "05": 90, "06": 10, "07": 27},
    "demo": {"01": 8, "02": 552, "03": 32, "04": 111, "05": 255, "06": 14, "07": 207},
    "quick": {"01": 9, "02": 3104, "03": 157, "04": 693, "05": 4500, "06": 20, "07": 900},
    # estimated from the 64-px unit costs of benchmarks/bench_64px.py (CPU seconds over 2 cores)
    "kermany64": {"01": 60, "02": 2460, "03": 480, "04": 780, "05": 3660, "06": 60, "07": 900},
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


@dataclass(frozen=True)
class Job:
    """One series run of a batch: a name, a profile, its own run folder and its notebook parameters."""

    name: str
    profile: str
    run_dir: Path
    parameters: dict[str, Any] = field(default_factory=dict, hash=False)
    merge_into: Path | None = None  # the batch folder its tables are concatenated into

    @property
    def log_path(self) -> Path:
        return self.run_dir / "series.log"


class BatchFailed(RuntimeError):
    """One or more runs of a batch failed; names each failed job, its notebook and cell."""

    def __init__(self, failures: Sequence[tuple[Job, str]], not_started: Sequence[Job] = ()):
        self.failures, self.not_started = list(failures), list(not_started)
        lines = [f"job {job.name} failed: {detail} (log: {job.log_path})" for job, detail in self.failures]
        if self.not_started:
            lines.append("not started after the failure: " + ", ".join(j.name for j in self.not_started))
        super().__init__("\n".join(lines))


def packaged_notebook_dir() -> Path | None:
    """The notebooks shipped inside the installed package (``helpers/_notebooks/`` of a wheel or of
    ``pip install git+...``), or None (a checkout's ``src/helpers`` has none: it uses ``notebooks/``)."""
    return _PACKAGED_NOTEBOOKS if discover_notebooks(_PACKAGED_NOTEBOOKS) else None


def default_notebook_dir() -> Path:
    """The checkout's ``notebooks/`` (where the package is imported from, else the one the working
    directory is in); outside any checkout ``./notebooks`` when it holds numbered notebooks, else
    the notebooks shipped with the installed package (:func:`packaged_notebook_dir`), else
    ``./notebooks`` (which then names the missing folder in the error)."""
    if _config.REPO_ROOT is not None and (_config.REPO_ROOT / "notebooks").is_dir():
        return _config.REPO_ROOT / "notebooks"
    local = _config.work_root() / "notebooks"
    packaged = packaged_notebook_dir()
    return packaged if packaged is not None and not discover_notebooks(local) else local


def notebook_dir_with(chapters: Sequence[str]) -> Path:
    """The first of :func:`default_notebook_dir` and :func:`packaged_notebook_dir` that holds every
    chapter of ``chapters``; raises :class:`NoNotebooks` naming where it looked."""
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
    """The earlier chapters ``chapter`` needs (:data:`CHAPTER_NEEDS`, transitively) that have not
    finished in ``run_dir``, in the order to run them. A finished chapter's own needs are not asked for."""
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
    """How long ``chapters`` take with ``profile``, from :data:`CHAPTER_SECONDS`, saying whether the
    numbers were measured or are rough estimates, and (``gpu=True``) that a GPU was not measured."""
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


def default_run_dir(profile: str) -> Path:
    """``build/<profile>`` of the checkout the working directory is in, else ``./build/<profile>``."""
    return _config.work_root() / "build" / profile


def absolute_paths(parameters: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``parameters`` whose :data:`PATH_PARAMETERS` are absolute (``~`` expanded)."""
    out = dict(parameters)
    for key in PATH_PARAMETERS:
        value = out.get(key)
        if isinstance(value, (str, os.PathLike)) and str(value):
            out[key] = str(Path(value).expanduser().resolve())
    return out


def _absolute(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def discover_notebooks(notebook_dir: str | os.PathLike | None = None, only: Sequence[str] = ()) -> list[Path]:
    """The numbered notebooks (``NN_slug.ipynb``) in order; ``only`` filters by number prefix.

    ``notebook_dir`` defaults to :func:`default_notebook_dir`.
    """
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


def run_series(
    profile: str = "demo",
    *,
    run_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    only: Sequence[str] = (),
    parameters: dict[str, Any] | None = None,
    notebook_dir: str | os.PathLike | None = None,
    fresh: bool = False,
    html: bool = True,
    log: Callable[[str], Any] = print,
) -> dict[str, float]:
    """Execute the notebooks in order; return ``{notebook: seconds}``. Raises :class:`NotebookFailed`.

    With ``html`` (default) the executed notebooks are rendered as one HTML report with an index page
    (``<run_dir>/html/index.html``, :func:`render_html`) at the end, also when a notebook failed.

    Relative paths (``run_dir``, ``figures_dir`` and the :data:`PATH_PARAMETERS` in ``parameters``)
    are taken from the current working directory; ``run_dir``/``figures_dir`` in ``parameters`` are
    used when the keywords are not given. ``fresh=True`` moves an existing run folder aside first.
    Raises :class:`NoNotebooks` when ``notebook_dir`` holds no numbered notebook.
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
    """Render every executed notebook in ``executed_dir`` to HTML (nbconvert) with an index page.

    Returns the index page's path. Each page is written atomically; the index lists the chapters in
    order with their first heading.
    """
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


def plan_jobs(
    profiles: Sequence[str],
    *,
    run_dir: str | os.PathLike | None = None,
    seeds_each: Sequence[int] = (),
    parameters: dict[str, Any] | None = None,
) -> list[Job]:
    """The runs of a batch: one per profile, times one per seed of ``seeds_each``.

    Each profile's batch folder is ``run_dir`` (``run_dir/<profile>`` for several profiles), or
    ``build/<profile>`` without ``run_dir``. With ``seeds_each`` each seed runs into
    ``<batch folder>/seed<k>/`` with ``seeds=[k]``, and its tables are merged into the batch folder.
    """
    profiles = list(dict.fromkeys(profiles))
    if not profiles:
        raise ValueError("name at least one profile")
    params = absolute_paths(parameters or {})
    for key in ("run_dir", "figures_dir"):
        if key in params:
            raise ValueError(f"pass {key} to the batch itself (--{key.replace('_', '-')}), not as a notebook parameter")
    seeds = [int(s) for s in seeds_each]
    if seeds and "seeds" in params:
        raise ValueError("give the seeds with --seeds-each or with -p seeds, not both")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds-each repeats a seed: {seeds}")
    jobs = []
    for profile in profiles:
        if run_dir is None:
            base = default_run_dir(profile)
        else:
            base = _absolute(run_dir) / profile if len(profiles) > 1 else _absolute(run_dir)
        if not seeds:
            jobs.append(Job(profile, profile, base, params))
        for seed in seeds:
            name = f"seed{seed}" if len(profiles) == 1 else f"{profile}/seed{seed}"
            jobs.append(Job(name, profile, base / f"seed{seed}", {**params, "seeds": [seed]}, merge_into=base))
    return jobs


def _prepare_batch_folder(base: Path, jobs: Sequence[Job]) -> None:
    """Refuse to merge into a folder that holds a single run (its results.csv would be replaced)."""
    marker = base / BATCH_FILE
    if base.is_dir() and any(base.iterdir()) and not marker.exists():
        raise ValueError(
            f"{base} holds a run of its own, not a batch: merging the seeds' results into it would "
            "replace its results.csv. Pass another --run-dir, or --fresh to move it aside first."
        )
    base.mkdir(parents=True, exist_ok=True)
    save_json(marker, {"jobs": [j.name for j in jobs], "run_dirs": [str(j.run_dir) for j in jobs]})


def merge_tables(run_dirs: Sequence[str | os.PathLike], into: str | os.PathLike,
                 names: Sequence[str] = MERGED_TABLES) -> dict[str, int]:
    """Concatenate each table of ``names`` found in ``run_dirs`` into ``into``; return row counts."""
    import pandas as pd

    counts = {}
    for name in names:
        parts = [pd.read_csv(Path(d) / name) for d in run_dirs if (Path(d) / name).exists()]
        if not parts:
            continue
        table = pd.concat(parts, ignore_index=True)
        with atomic_write(Path(into) / name) as tmp:
            table.to_csv(tmp, index=False)
        counts[name] = len(table)
    return counts


def _job_command(job: Job, notebook_dir: Path, only: Sequence[str], figures_dir: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "helpers.series", "--profile", job.profile, "--run-dir", str(job.run_dir),
           "--notebooks", str(notebook_dir)]
    if only:
        cmd += ["--only", *map(str, only)]
    if figures_dir is not None:
        cmd += ["--figures-dir", str(figures_dir / job.name)]
    for name, value in job.parameters.items():
        cmd += ["-p", name, repr(value)]  # read back with ast.literal_eval
    return cmd


def _failure_detail(job: Job, returncode: int) -> str:
    """The child's own ``FAILED: <notebook> failed at cell <n>: ...`` line, else its last words."""
    try:
        lines = [ln.strip() for ln in job.log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    failed = [ln[len("FAILED: "):] for ln in lines if ln.startswith("FAILED: ")]
    if failed:
        return failed[-1]
    return f"exit status {returncode}" + (f": {lines[-1]}" if lines else "")


def run_batch(
    jobs: Sequence[Job],
    *,
    parallel: int = 1,
    notebook_dir: str | os.PathLike | None = None,
    only: Sequence[str] = (),
    figures_dir: str | os.PathLike | None = None,
    fresh: bool = False,
    log: Callable[[str], Any] = print,
) -> dict[str, float]:
    """Run each job's series as its own process, ``parallel`` at a time; return ``{job: seconds}``.

    Each job logs to ``<its run_dir>/series.log``. After a failure no new job starts; the running
    ones finish, and :class:`BatchFailed` names each failed job with its notebook and cell. When all
    succeed, the tables of jobs that share a batch folder are concatenated into it
    (:func:`merge_tables`). ``fresh=True`` moves each batch folder (or lone run folder) aside first;
    ``figures_dir`` gets one sub-folder per job.
    """
    if parallel < 1:
        raise ValueError(f"--jobs must be at least 1, got {parallel}")
    names = [j.name for j in jobs]
    if len(set(names)) != len(names) or len({j.run_dir for j in jobs}) != len(jobs):
        raise ValueError(f"the jobs of a batch need distinct names and run folders: {names}")
    notebook_dir = _absolute(notebook_dir) if notebook_dir is not None else default_notebook_dir()
    _notebooks_or_raise(notebook_dir, only)
    figures_dir = _absolute(figures_dir) if figures_dir is not None else None
    bases = list(dict.fromkeys(j.merge_into for j in jobs if j.merge_into is not None))
    if fresh:
        from helpers.core.provenance import move_aside

        for folder in bases + [j.run_dir for j in jobs if j.merge_into is None]:
            move_aside(folder)
    for base in bases:
        _prepare_batch_folder(base, [j for j in jobs if j.merge_into == base])

    env = dict(os.environ)
    if _config.REPO_ROOT is not None:  # the children import this very package, even from src/
        src = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    pending, running = list(jobs), {}
    failures: list[tuple[Job, str]] = []
    timings: dict[str, float] = {}
    batch_start = time.perf_counter()
    try:
        while pending or running:
            while pending and len(running) < parallel and not failures:
                job = pending.pop(0)
                job.run_dir.mkdir(parents=True, exist_ok=True)
                handle = open(job.log_path, "w")  # closed when the job ends
                proc = subprocess.Popen(_job_command(job, notebook_dir, only, figures_dir),
                                        stdout=handle, stderr=subprocess.STDOUT, env=env)
                running[job.name] = (job, proc, handle, time.perf_counter())
                log(f"[{job.name}] started: profile {job.profile}, run folder {job.run_dir} (log: {job.log_path})")
            if not pending and not running:
                break
            time.sleep(_POLL_SECONDS)
            for name, (job, proc, handle, start) in list(running.items()):
                if proc.poll() is None:
                    continue
                handle.close()
                del running[name]
                seconds = round(time.perf_counter() - start, 1)
                if proc.returncode == 0:
                    timings[name] = seconds
                    log(f"[{name}] done in {seconds:.0f} s")
                else:
                    failures.append((job, _failure_detail(job, proc.returncode)))
                    log(f"[{name}] FAILED after {seconds:.0f} s: {failures[-1][1]}")
            if failures and not running:
                break
    finally:
        for _job, proc, handle, _start in running.values():  # interrupted: stop the children we started
            proc.terminate()
            proc.wait()
            handle.close()
    if failures:
        raise BatchFailed(failures, pending)
    for base in bases:
        members = [j.run_dir for j in jobs if j.merge_into == base]
        counts = merge_tables(members, base)
        for table, n in counts.items():
            log(f"merged {n} rows of {table} from {len(members)} runs into {base / table}")
    log(f"batch of {len(jobs)} runs done in {time.perf_counter() - batch_start:.0f} s")
    return timings


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
            timings = run_batch(jobs, parallel=args.jobs, notebook_dir=args.notebooks, only=args.only,
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
