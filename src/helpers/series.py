"""Run the numbered notebooks in order with papermill: ``python -m helpers.series --profile demo``.

Executed copies go to ``<run_dir>/notebooks/``; the run prints progress and per-notebook wall time
and exits non-zero naming the notebook and cell that failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import config as _config
from .artifacts import load_json, save_json

__all__ = ["discover_notebooks", "run_series", "NotebookFailed", "main"]

NOTEBOOK_DIR = _config.REPO_ROOT / "notebooks"


class NotebookFailed(RuntimeError):
    """A notebook of the series raised; names the notebook and the cell."""

    def __init__(self, notebook: Path, cell: int | None, detail: str):
        self.notebook, self.cell, self.detail = notebook, cell, detail
        where = f"cell {cell}" if cell is not None else "start-up"
        super().__init__(f"{notebook.name} failed at {where}: {detail}")


def discover_notebooks(notebook_dir: str | os.PathLike = NOTEBOOK_DIR, only: Sequence[str] = ()) -> list[Path]:
    """The numbered notebooks (``NN_slug.ipynb``) in order; ``only`` filters by number prefix."""
    paths = sorted(p for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {str(o).zfill(2) for o in only}
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            raise ValueError(f"no notebook numbered {sorted(unknown)} in {notebook_dir}")
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


def run_series(
    profile: str = "demo",
    *,
    run_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    only: Sequence[str] = (),
    parameters: dict[str, Any] | None = None,
    notebook_dir: str | os.PathLike = NOTEBOOK_DIR,
    log=print,
) -> dict[str, float]:
    """Execute the notebooks in order; return ``{notebook: seconds}``. Raises :class:`NotebookFailed`."""
    import papermill as pm

    run_dir = Path(run_dir or _config.REPO_ROOT / "build" / profile).resolve()
    params = {"profile": profile, "run_dir": str(run_dir), **(parameters or {})}
    if figures_dir is not None:
        params["figures_dir"] = str(Path(figures_dir).resolve())
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = discover_notebooks(notebook_dir, only)
    timings: dict[str, float] = {}
    # The runner's choices must reach the kernels even where env vars would win in resolve().
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow start-up chatter out of the outputs
    env_backup = {k: os.environ.pop(k) for k in list(os.environ) if k in ("HELPERS_PROFILE", "HELPERS_RUN_DIR", "HELPERS_FIGURES_DIR")}
    try:
        for i, nb in enumerate(notebooks, 1):
            log(f"[{i}/{len(notebooks)}] {nb.name} (profile {profile}) ...")
            start = time.perf_counter()
            try:
                pm.execute_notebook(
                    str(nb), str(out_dir / nb.name), parameters=params, cwd=str(nb.parent),
                    kernel_name="python3", progress_bar=False, log_output=False,
                )
            except pm.PapermillExecutionError as err:
                raise NotebookFailed(nb, err.cell_index, f"{err.ename}: {err.evalue}") from err
            except Exception as err:  # kernel died, bad JSON, ...
                raise NotebookFailed(nb, None, f"{type(err).__name__}: {err}") from err
            timings[nb.name] = round(time.perf_counter() - start, 1)
            log(f"    done in {timings[nb.name]:.1f} s")
    finally:
        os.environ.update(env_backup)
        path = run_dir / "series_timings.json"  # merged, so `--only 06` keeps the other notebooks' times
        old = load_json(path) if path.exists() else {}
        merged = {**(old.get("seconds", {}) if old.get("profile") == profile else {}), **timings}
        save_json(path, {"profile": profile, "seconds": merged})
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m helpers.series", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="demo", choices=sorted(_config.PROFILES))
    parser.add_argument("--run-dir", default=None, help="default: build/<profile>")
    parser.add_argument("--figures-dir", default=None, help="default: <run-dir>/figures; `make report` uses figures/")
    parser.add_argument("--only", nargs="*", default=(), help="notebook numbers to run, e.g. 01 02")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra notebook parameter, e.g. -p dataset kaggle_pneumonia -p data_path ~/chest_xray")
    args = parser.parse_args(argv)
    extra: dict[str, Any] = {}
    for name, value in args.parameter:
        try:
            import ast

            extra[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            extra[name] = value
    start = time.perf_counter()
    try:
        timings = run_series(args.profile, run_dir=args.run_dir, figures_dir=args.figures_dir, only=args.only, parameters=extra)
    except NotebookFailed as err:
        print(f"FAILED: {err}", file=sys.stderr)
        print(f"The executed copy with the traceback is in the run folder's notebooks/{err.notebook.name}", file=sys.stderr)
        return 1
    total = time.perf_counter() - start
    print(f"All {len(timings)} notebooks ran in {total:.0f} s: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
