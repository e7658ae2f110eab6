"""Batches of series runs: one process per profile and seed (``--seeds-each 0 1 2 --jobs 2``).

Each run goes to ``<batch folder>/seed<k>/`` with ``-p seeds [k]`` (or ``<run_dir>/<profile>`` for
several profiles); when all succeed their ``results.csv`` (and ``fidelity.csv``) rows are
concatenated into the batch folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import config as _config
from helpers.core.artifacts import atomic_write, save_json

__all__ = ["MERGED_TABLES", "Job", "BatchFailed", "plan_jobs", "run_batch", "merge_tables"]

#: Tables a batch concatenates from its runs into the batch folder (their rows carry their seed).
MERGED_TABLES = ("results.csv", "fidelity.csv", "results_07.csv")
BATCH_FILE = "batch.json"  # marks a folder that holds a batch's runs (seed<k>/ ...), not one run
_POLL_SECONDS = 0.5


def _absolute(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


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


def plan_jobs(profiles: Sequence[str], *, run_dir: str | os.PathLike | None = None, seeds_each: Sequence[int] = (),
              parameters: dict[str, Any] | None = None) -> list[Job]:
    """The runs of a batch: one per profile (batch folder ``run_dir``, ``run_dir/<profile>`` for several,
    else ``build/<profile>``), times one per seed of ``seeds_each`` (into ``<batch folder>/seed<k>/``)."""
    profiles = list(dict.fromkeys(profiles))
    if not profiles:
        raise ValueError("name at least one profile")
    params = _config.absolute_paths(parameters or {})
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
            base = _config.default_run_dir(profile)
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


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    if _config.REPO_ROOT is not None:  # the children import this very package, even from src/
        src = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def _run_processes(jobs: Sequence[Job], commands: dict[str, list[str]], parallel: int,
                   log: Callable[[str], Any]) -> tuple[dict[str, float], list[tuple[Job, str]], list[Job]]:
    """Run the jobs' commands ``parallel`` at a time, none after a failure; ``(timings, failures, not started)``."""
    env = _child_env()
    pending, running = list(jobs), {}
    failures: list[tuple[Job, str]] = []
    timings: dict[str, float] = {}
    try:
        while pending or running:
            while pending and len(running) < parallel and not failures:
                job = pending.pop(0)
                job.run_dir.mkdir(parents=True, exist_ok=True)
                handle = open(job.log_path, "w")  # closed when the job ends
                proc = subprocess.Popen(commands[job.name], stdout=handle, stderr=subprocess.STDOUT, env=env)
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
    return timings, failures, pending


def run_batch(jobs: Sequence[Job], *, parallel: int = 1, notebook_dir: Path, only: Sequence[str] = (),
              figures_dir: str | os.PathLike | None = None, fresh: bool = False,
              log: Callable[[str], Any] = print) -> dict[str, float]:
    """Run each job's series as its own process, ``parallel`` at a time; return ``{job: seconds}``.

    Each job logs to ``<its run_dir>/series.log``. After a failure no new job starts and
    :class:`BatchFailed` names the failures; when all succeed, tables of jobs sharing a batch
    folder are merged into it. ``notebook_dir`` is the (checked) notebooks folder.
    """
    if parallel < 1:
        raise ValueError(f"--jobs must be at least 1, got {parallel}")
    names = [j.name for j in jobs]
    if len(set(names)) != len(names) or len({j.run_dir for j in jobs}) != len(jobs):
        raise ValueError(f"the jobs of a batch need distinct names and run folders: {names}")
    figures_dir = _absolute(figures_dir) if figures_dir is not None else None
    bases = list(dict.fromkeys(j.merge_into for j in jobs if j.merge_into is not None))
    if fresh:
        from helpers.core.provenance import move_aside

        for folder in bases + [j.run_dir for j in jobs if j.merge_into is None]:
            move_aside(folder)
    for base in bases:
        _prepare_batch_folder(base, [j for j in jobs if j.merge_into == base])
    batch_start = time.perf_counter()
    commands = {j.name: _job_command(j, notebook_dir, only, figures_dir) for j in jobs}
    timings, failures, pending = _run_processes(jobs, commands, parallel, log)
    if failures:
        raise BatchFailed(failures, pending)
    for base in bases:
        members = [j.run_dir for j in jobs if j.merge_into == base]
        counts = merge_tables(members, base)
        for table, n in counts.items():
            log(f"merged {n} rows of {table} from {len(members)} runs into {base / table}")
    log(f"batch of {len(jobs)} runs done in {time.perf_counter() - batch_start:.0f} s")
    return timings
