"""Run folders: :func:`resolve` turns a notebook's parameters and a profile (:mod:`helpers.profiles`)
into a :class:`RunConfig`. Environment variables set by the tests and the series runner win over the
cell (so nbval, which cannot pass parameters, runs the ``ci`` profile): ``HELPERS_PROFILE``,
``HELPERS_RUN_DIR``, ``HELPERS_FIGURES_DIR``, ``HELPERS_DATASET``, ``HELPERS_DATA_PATH``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.data.images import SUPPORTED_SIZES
from helpers.profiles import (
    DOWNLOADABLE,
    NIH_PHANTOM_OPTIONS,
    PROFILES,
    Profile,
    get_profile,
    strategies_for,
)

__all__ = ["Profile", "RunConfig", "PROFILES", "REPO_ROOT", "SUPPORTED_SIZES", "DOWNLOADABLE", "NIH_PHANTOM_OPTIONS",
           "PATH_PARAMETERS", "absolute_paths", "default_profile", "default_run_dir", "get_profile", "profile_name", "resolve",
           "strategies_for", "work_root"]

#: Notebook parameters that are paths: made absolute (from the caller's working directory) before
#: they reach a kernel, which runs in the notebooks' folder.
PATH_PARAMETERS = ("data_path", "run_dir", "figures_dir", "tables_dir", "export_dir")


def _checkout_holding(folder: Path) -> Path | None:
    """The checkout of this repository (``pyproject.toml`` beside ``src/helpers/``) holding ``folder``."""
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "src" / "helpers" / "config.py").is_file():
            return candidate
    return None


_SOURCE = Path(__file__).resolve().parent  # <checkout>/src/helpers, or site-packages/helpers
#: The checkout this package is imported from (an editable install, or ``src/`` on the path);
#: ``None`` when it was installed into site-packages (then nothing here may depend on it).
REPO_ROOT: Path | None = _SOURCE.parents[1] if _checkout_holding(_SOURCE) == _SOURCE.parents[1] else None


def work_root() -> Path:
    """Where default and relative run folders live: the checkout holding the working directory, else the
    working directory itself."""
    cwd = Path.cwd()
    return _checkout_holding(cwd) or cwd


def default_run_dir(profile: str) -> Path:
    """``build/<profile>`` of the checkout the working directory is in, else ``./build/<profile>``."""
    return work_root() / "build" / profile


def absolute_paths(parameters: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``parameters`` whose :data:`PATH_PARAMETERS` are absolute (``~`` expanded)."""
    out = dict(parameters)
    for key in PATH_PARAMETERS:
        value = out.get(key)
        if isinstance(value, (str, os.PathLike)) and str(value):
            out[key] = str(Path(value).expanduser().resolve())
    return out


@dataclass(frozen=True)
class RunConfig:
    """A resolved profile plus the dataset, folders and identity of one run."""

    profile: Profile
    dataset: str
    image_size: int
    seeds: tuple[int, ...]
    data_path: str | None
    run_dir: Path
    figures_dir: Path
    run_id: str
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def seed(self) -> int:
        """The first seed: the one single-seed steps (data, GAN) use."""
        return self.seeds[0]

    def path(self, *parts: str) -> Path:
        """A path inside the run folder (parent folders created)."""
        p = self.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def folder(self, *parts: str) -> Path:
        """A folder inside the run folder (created)."""
        p = self.run_dir.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def load_splits(self, **options: Any):
        """Load train/val/test of this run's dataset (:func:`helpers.data.load_splits`) and bind the run folder to it.

        The first call stamps ``run_dir/provenance.json`` with the data's fingerprint; later calls
        (other chapters, re-runs) must find the same data there, or stop with a
        :class:`helpers.core.provenance.ProvenanceError` (use another ``run_dir`` or ``fresh=True``).
        """
        from helpers import data
        from helpers.core import provenance

        opts = dict(self.profile.data_options if self.dataset == self.profile.dataset else {})
        if self.data_path is None and self.dataset in DOWNLOADABLE:
            opts["download"] = True  # pooch / kagglehub cache: downloads once, md5-checked
        opts.update(options)
        splits = data.load_splits(
            self.dataset, self.image_size, data_path=self.data_path, seed=self.seed, **opts
        )
        shaping = {k: v for k, v in opts.items() if k != "download"}
        fp = provenance.data_fingerprint(splits, dataset=self.dataset, image_size=self.image_size,
                                         options={**shaping, "split_seed": self.seed})
        provenance.check_or_stamp(self.run_dir, fp, "run folder",
                                  must_be_empty=("results.csv", "gan", "synthetic", "features", "deep"))
        self._state["data_fingerprint"] = fp
        return splits

    @property
    def multi_label(self) -> bool:
        """Whether this run's data carry several findings per image (chestmnist, nih, the multi-label phantom)."""
        from helpers.data import DATASETS

        info = DATASETS.get(self.dataset)
        opts = self.profile.data_options if self.dataset == self.profile.dataset else {}
        return bool((info is not None and info.multi_label) or opts.get("multi_label"))

    @property
    def data_id(self) -> str:
        """Short hash of the run's data fingerprint (call :meth:`load_splits` first)."""
        from helpers.core.provenance import fingerprint_id

        fp = self._state.get("data_fingerprint")
        if fp is None:
            raise RuntimeError("call cfg.load_splits() before asking for the data fingerprint")
        return fingerprint_id(fp)

    def fingerprint(self, **fields: Any) -> dict[str, Any]:
        """An artifact's fingerprint: the run's data id plus the ``fields`` that shape the artifact."""
        return {"data": self.data_id, **fields}

    def describe(self) -> str:
        """One line for the top of a notebook."""
        return (
            f"profile={self.profile.name} dataset={self.dataset} image_size={self.image_size} "
            f"seeds={list(self.seeds)} run_dir={self.run_dir}"
        )


def _git_sha(folder: Path) -> str | None:
    """``<short sha>[+dirty]`` when ``folder`` is the top of a git checkout, else None."""
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel", "--short", "HEAD"],
                             cwd=folder, capture_output=True, text=True, timeout=5)
        lines = out.stdout.split()
        if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != folder.resolve():
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=folder, capture_output=True, text=True, timeout=5).stdout.strip()
        return lines[1] + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _installed_version() -> str:
    """``v<version>`` of the installed package, ``+g<commit>`` when pip installed it from git."""
    from helpers import __version__

    try:
        from importlib import metadata

        dist = metadata.distribution("gan-cxr-helpers")
        commit = json.loads(dist.read_text("direct_url.json") or "{}").get("vcs_info", {}).get("commit_id", "")
        return f"v{dist.version}" + (f"+g{commit[:7]}" if commit else "")
    except Exception:  # not installed as a distribution (src/ on the path), odd metadata
        return f"v{__version__}"


def _git_short_sha() -> str:
    """A run's commit stamp: the git commit of the checkout in use, else the installed version."""
    for root in dict.fromkeys(r for r in (_checkout_holding(Path.cwd()), REPO_ROOT) if r is not None):
        sha = _git_sha(root)
        if sha:
            return sha
    return _installed_version()


def _check_seeds(seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, (str, bytes)) or isinstance(seeds, (int, float)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds must be a list of integers such as [0, 1, 2], got {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int,)) and not (isinstance(s, float) and s.is_integer()):
            raise ValueError(f"seeds must be a list of integers such as [0, 1, 2]; {s!r} in {seeds!r} is not one")
        out.append(int(s))
    if not out:
        raise ValueError("seeds must name at least one seed, e.g. [0, 1, 2] (got an empty list)")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds must not repeat, got {seeds!r}")
    return tuple(out)


def _check_size(image_size: Any) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, float)) or int(image_size) != image_size:
        raise ValueError(f"image_size must be one of {SUPPORTED_SIZES} (pixels), got {image_size!r}")
    if int(image_size) not in SUPPORTED_SIZES:
        raise ValueError(
            f"image_size={image_size!r} is not supported: every chapter runs at {SUPPORTED_SIZES} px "
            "(the GAN's up-sampling stack needs 7x7 or 4x4 times a power of two). Pick one of those."
        )
    return int(image_size)


def default_profile() -> str:
    """The profile ``profile=None`` means: ``colab`` on Google Colab, ``demo`` elsewhere."""
    from helpers.core import runtime

    return "colab" if runtime.IS_COLAB else "demo"


def profile_name(profile: str | None = None) -> str:
    """The profile a run uses: ``HELPERS_PROFILE``, else ``profile``, else :func:`default_profile`."""
    return os.environ.get("HELPERS_PROFILE") or profile or default_profile()


def resolve(profile: str | None = None, dataset: str | None = None, image_size: int | None = None,
            seeds: list[int] | tuple[int, ...] | None = None, data_path: str | None = None,
            run_dir: str | os.PathLike | None = None, figures_dir: str | os.PathLike | None = None,
            fresh: bool = False) -> RunConfig:
    """Build the run configuration from a notebook's parameters (environment variables win).

    ``profile=None`` picks :func:`default_profile`. ``fresh=True`` moves an existing run folder aside.
    Unsupported sizes and malformed seeds raise a ValueError before anything loads.
    """
    env = os.environ
    prof = get_profile(profile_name(profile))
    dataset = env.get("HELPERS_DATASET") or dataset or prof.dataset
    data_path = env.get("HELPERS_DATA_PATH") or data_path
    image_size = _check_size(prof.image_size if image_size is None else image_size)
    seeds = _check_seeds(prof.seeds if seeds is None else seeds)
    run_dir = Path(env.get("HELPERS_RUN_DIR") or run_dir or default_run_dir(prof.name)).expanduser().resolve()
    figures_dir = Path(env.get("HELPERS_FIGURES_DIR") or figures_dir or run_dir / "figures").expanduser()
    figures_dir = figures_dir if figures_dir.is_absolute() else (work_root() / figures_dir).resolve()
    if fresh:
        from helpers.core.provenance import move_aside

        move_aside(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    run_id = f"{prof.name}/{dataset}/{image_size}px/seeds {','.join(map(str, seeds))} @ {_git_short_sha()} {stamp}"
    return RunConfig(
        profile=prof,
        dataset=dataset,
        image_size=image_size,
        seeds=seeds,
        data_path=data_path,
        run_dir=run_dir,
        figures_dir=figures_dir,
        run_id=run_id,
    )
