"""What every chapter does in its Setup section and when it reports: one place, not six copies."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from . import config as _config
from .artifacts import load_json, save_json

__all__ = ["setup", "md", "record_metrics", "read_metrics"]


def setup(**parameters: Any) -> _config.RunConfig:
    """Resolve the run configuration from the ``parameters`` cell, seed everything, set the plot style.

    Prints one line on the run and one on the machine, so an executed notebook documents itself.
    """
    from . import plots, runtime

    cfg = _config.resolve(**parameters)
    runtime.set_seeds(cfg.seed)
    plots.set_style()
    print(cfg.describe())
    print(f"Python {platform.python_version()} | {runtime.device_summary()} | Colab: {runtime.IS_COLAB}")
    return cfg


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
