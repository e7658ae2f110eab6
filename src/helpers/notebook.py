"""What every chapter does in its Setup section and when it reports: one place, not six copies."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import config as _config
from helpers.core.artifacts import load_json, save_json

__all__ = ["setup", "run_prerequisites", "md", "record_metrics", "read_metrics"]


def setup(chapter: str | int | None = None, *, auto_prerequisites: bool = True, drive: bool = False,
          **parameters: Any) -> _config.RunConfig:
    """Resolve the run configuration from the ``parameters`` cell, seed everything, set the plot style.

    Prints one line on the run and one on the machine. ``chapter="05"`` runs the chapters it builds
    on that have not finished in this run folder first (:func:`run_prerequisites`;
    ``auto_prerequisites=False`` only names them). ``drive=True`` (Colab) keeps the run folder on
    Google Drive so a disconnected session resumes from it.
    """
    from helpers.core import runtime
    from helpers.report import plots

    if drive:
        parameters = _run_dir_on_drive(parameters)
    runtime.enable_memory_growth()  # before anything touches a GPU (does nothing without one)
    cfg = _config.resolve(**parameters)
    print(cfg.describe())
    print(f"Python {platform.python_version()} | {runtime.device_summary()} | Colab: {runtime.IS_COLAB}")
    if chapter is not None:
        _check_labels_fit(cfg, f"{int(chapter):02d}")
        run_prerequisites(cfg, chapter, auto=auto_prerequisites)
    runtime.set_seeds(cfg.seed)
    plots.set_style()
    return cfg


#: Chapters that compare two classes (a minority class oversampled against the rest).
BINARY_CHAPTERS: tuple[str, ...] = ("02", "03", "04", "05", "06")


def _check_labels_fit(cfg: Any, chapter: str) -> None:
    """Chapters 2-6 need two classes; say so for multi-label data instead of failing deep inside."""
    if chapter in BINARY_CHAPTERS and cfg.multi_label:
        from helpers.data import DataError

        raise DataError(
            f"chapter {chapter} compares two classes (a minority class oversampled with GAN images), but "
            f"{cfg.dataset!r} is multi-label: an image carries any of several findings, so there is no single "
            "minority class. Chapter 1 explores multi-label data and chapter 7 is its study (a GAN per scarce "
            "finding, a CNN with one sigmoid output per finding). For chapters 2-6 pick a binary data set: "
            "phantom, pneumoniamnist or kaggle_pneumonia."
        )


def _run_dir_on_drive(parameters: dict[str, Any]) -> dict[str, Any]:
    """Mount Google Drive and put the run folder there (unless one is given); off Colab, say why not."""
    from helpers.core import runtime

    try:
        runtime.mount_drive()
    except RuntimeError as err:
        print(f"drive=True: {err}")
        return parameters
    if parameters.get("run_dir") is None and not os.environ.get("HELPERS_RUN_DIR"):
        run_dir = runtime.drive_run_dir(_config.profile_name(parameters.get("profile")))
        parameters = {**parameters, "run_dir": run_dir}
        print(f"Google Drive mounted: the run folder is {run_dir}; after a disconnect, run the chapter again "
              "and it resumes from what is there")
    return parameters


def run_prerequisites(cfg: _config.RunConfig, chapter: str | int, *, auto: bool = True,
                      log: Callable[[str], Any] = print) -> list[str]:
    """Run the chapters ``chapter`` builds on that have not finished in ``cfg.run_dir``; return them.

    They run through :func:`helpers.series.run_series` with this run's parameters. Nothing runs
    inside a kernel the runner started, nor with ``auto=False`` (then they are only named).
    """
    from helpers import series
    from helpers.core import runtime

    chapter = str(chapter).zfill(2)
    missing = series.missing_prerequisites(chapter, cfg.run_dir)
    if not missing:
        return []
    profile = cfg.profile.name
    which = (f"Chapter {chapter} builds on chapter{'s' if len(missing) > 1 else ''} {', '.join(missing)}, "
             f"which {'have' if len(missing) > 1 else 'has'} not finished in {cfg.run_dir} "
             f"(no {', '.join(f'metrics/{c}.json' for c in missing)})")
    command = (f"python -m helpers.series --profile {profile} --run-dir {cfg.run_dir} "
               f"--only {' '.join(missing)}")
    if os.environ.get(series.NO_PREREQUISITES_ENV):
        log(f"{which}; inside the series runner they are not run from here (run them first: {command}).")
        return []
    if not auto:
        log(f"{which}. auto_prerequisites=False: run them first ({command}), or open them in order.")
        return []
    notebook_dir = series.notebook_dir_with(missing)
    names = [p.name for p in series.discover_notebooks(notebook_dir, only=missing)]
    log(f"{which}. Running them now with the series runner, into the same run folder and with the same "
        f"parameters: {', '.join(names)} from {notebook_dir}. Expected time with profile {profile}: "
        f"{series.expected_time(profile, missing, gpu=runtime.has_gpu())}.")
    parameters: dict[str, Any] = {"dataset": cfg.dataset, "image_size": cfg.image_size, "seeds": list(cfg.seeds)}
    if cfg.data_path is not None:
        parameters["data_path"] = cfg.data_path
    try:
        timings = series.run_series(profile, run_dir=cfg.run_dir, figures_dir=cfg.figures_dir, only=missing,
                                    parameters=parameters, notebook_dir=notebook_dir, html=False, log=log)
    except series.NotebookFailed as err:
        where = f"; its executed copy with the traceback is {err.executed}" if err.executed else ""
        raise RuntimeError(f"an earlier chapter failed: {err}{where}") from err
    log(f"Chapters {', '.join(missing)} done in {sum(timings.values()):.0f} s; chapter {chapter} goes on.")
    return missing


def md(text: str) -> None:
    """Show Markdown built from this run's numbers (falls back to print outside Jupyter)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display

        if get_ipython() is not None:
            display(Markdown(text))
            return
    except ImportError:  # pragma: no cover
        pass
    print(text)


def record_metrics(cfg: _config.RunConfig, chapter: str, **metrics: Any) -> Path:
    """Store a chapter's key numbers in ``run_dir/metrics/<chapter>.json`` (tests check their ranges)."""
    path = cfg.path("metrics", f"{chapter}.json")
    current = load_json(path) if path.exists() else {}
    current.update(metrics)
    return save_json(path, current)


def read_metrics(run_dir: str | Path, chapter: str) -> dict[str, Any]:
    """Read a chapter's key numbers back."""
    return load_json(Path(run_dir) / "metrics" / f"{chapter}.json", hint=f"Run notebook {chapter} first.")
