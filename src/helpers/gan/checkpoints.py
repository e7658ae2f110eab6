"""A GAN run folder's checkpoints and fingerprint: save, find, restore, and refuse another run's files.

A checkpoint ``checkpoints/step_000180.npz`` holds G, D (and EMA) variables, both optimizers, the RNG
states, the step and the fingerprint. One that cannot be read is moved aside (``.corrupt``) and the
previous one is used. The fingerprint is the caller's provenance + the ``gan_*`` settings + a digest
of the training arrays; a run resumes only when it is equal (the budget ``gan_steps`` aside).
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from helpers.core import provenance as prov
from helpers.core.artifacts import atomic_write, load_npz, save_npz
from helpers.gan.dcgan import DCGAN

__all__ = ["restore_checkpoint"]

CKPT_DIR = "checkpoints"
PROGRESS_DIR = "progress"
BUDGET_KEY = "gan_steps"
#: Version of the training algorithm; part of every fingerprint, so a change here never resumes old runs.
ALGORITHM_VERSION = 2
#: What reading a damaged ``.npz`` raises (truncated file, bad CRC, cut-off member, garbage).
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError)


def _state_groups(gan: DCGAN) -> dict[str, list[Any]]:
    gan.build_optimizers()
    return {
        "g": list(gan.generator.variables),
        "d": list(gan.discriminator.variables),
        "gopt": list(gan.g_optimizer.variables),
        "dopt": list(gan.d_optimizer.variables),
        "rng": [gan.seed_generator.state, gan.augment_seed_generator.state],
        "ema": list(gan.ema_generator.variables) if gan.ema_generator is not None else [],
    }


def save_checkpoint(gan: DCGAN, run_dir: Path, step: int, fingerprint: Mapping[str, Any]) -> Path:
    arrays: dict[str, np.ndarray] = {
        "step": np.asarray(step, dtype=np.int64),
        "fingerprint": np.asarray(json.dumps(prov.normalise(dict(fingerprint)), sort_keys=True)),
    }
    for group, variables in _state_groups(gan).items():
        for i, v in enumerate(variables):
            arrays[f"{group}/{i:04d}"] = np.asarray(v.numpy())
    path = run_dir / CKPT_DIR / f"step_{step:06d}.npz"
    with atomic_write(path) as tmp:
        np.savez(tmp, **arrays)
    return path


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the folder's checkpoints, oldest first."""
    found = []
    for p in (run_dir / CKPT_DIR).glob("step_*.npz"):
        try:
            found.append((int(p.stem.split("_")[1]), p))
        except (IndexError, ValueError):
            continue
    return sorted(found)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """Every array of a checkpoint (reading them all checks the CRCs); ValueError naming the file if damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["step"] = int(arrays["step"])
        arrays["fingerprint"] = json.loads(str(arrays["fingerprint"]))
    except _UNREADABLE as exc:
        raise ValueError(f"GAN checkpoint {path} is unreadable ({type(exc).__name__}: {exc}).") from exc
    return arrays


def usable_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The newest checkpoint that reads back whole; damaged newer ones are moved aside, with a message."""
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            data = _read_checkpoint(path)
        except ValueError as exc:
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            print(f"{exc} Moved it aside to {aside.name}; falling back to the previous checkpoint.")
            continue
        data["path"] = path
        return data
    return None


def clean_temporary_files(run_dir: Path) -> None:
    """Remove what a killed :func:`atomic_write` left behind (``.step_*.tmp*``, ``.generator.*.tmp*`` ...)."""
    for folder in (run_dir, run_dir / CKPT_DIR, run_dir / PROGRESS_DIR):
        if folder.is_dir():
            for p in folder.glob(".*.tmp*"):
                if p.is_file():
                    p.unlink(missing_ok=True)


def restore_checkpoint(gan: DCGAN, path: str | os.PathLike, fingerprint: Mapping[str, Any] | None = None) -> int:
    """Load a checkpoint into ``gan`` (every variable, optimizers and RNGs included); return its step.

    With ``fingerprint``, raises :class:`helpers.core.provenance.ProvenanceError` when the checkpoint's differs.
    """
    path = Path(path)
    data = _read_checkpoint(path)
    if fingerprint is not None:
        check_fingerprint(path.parent, data["fingerprint"], fingerprint, "GAN checkpoint")
    return restore_arrays(gan, data, path)


def restore_arrays(gan: DCGAN, data: Mapping[str, Any], path: Path) -> int:
    groups = _state_groups(gan)
    for group, variables in groups.items():
        n_saved = sum(1 for k in data if k.startswith(group + "/"))
        if n_saved != len(variables):
            raise prov.ProvenanceError(
                f"{path} holds {n_saved} {group!r} variables, the model has {len(variables)}: another "
                f"architecture. {prov.FIX}")
        for i, v in enumerate(variables):
            value = data[f"{group}/{i:04d}"]
            if tuple(value.shape) != tuple(v.shape):
                raise prov.ProvenanceError(
                    f"{path}: {group} variable {v.path} has shape {value.shape}, the model {tuple(v.shape)}: "
                    f"another architecture. {prov.FIX}")
    for group, variables in groups.items():
        for i, v in enumerate(variables):
            v.assign(data[f"{group}/{i:04d}"])
    return int(data["step"])


def fingerprint(provenance: Mapping[str, Any] | None, images: np.ndarray, labels: np.ndarray | None,
                settings: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's ``provenance`` + ``gan_*`` settings + a digest of the training arrays."""
    caller = prov.normalise(dict(provenance or {}))
    reserved = sorted(k for k in caller if k.startswith("gan_"))
    if reserved:
        raise ValueError(f"provenance keys starting with 'gan_' are train_gan's own: {reserved}.")
    own = {f"gan_{k}": v for k, v in settings.items()}
    own["gan_algorithm"] = ALGORITHM_VERSION
    own["gan_n_images"] = int(len(images))
    own["gan_images_digest"] = prov.array_digest(images, labels)
    return prov.normalise({**caller, **own})


def check_fingerprint(where: Path, saved: Mapping[str, Any], now: Mapping[str, Any], what: str) -> None:
    """Raise ProvenanceError unless ``saved`` and ``now`` agree on everything but the budget."""
    a, b = ({k: v for k, v in prov.normalise(dict(fp)).items() if k != BUDGET_KEY} for fp in (saved, now))
    if a != b:
        raise prov.mismatch_error(where, a, b, what)


def resume_point(run_dir: Path, fp: Mapping[str, Any], total: int) -> dict[str, Any] | None:
    """The checkpoint to resume from (None: start afresh); refuses the files of another or a longer run."""
    clean_temporary_files(run_dir)
    found = usable_checkpoint(run_dir)
    if found is not None:
        check_fingerprint(found["path"].parent, found["fingerprint"], fp, "GAN checkpoint")
        if found["step"] > total:
            raise prov.mismatch_error(found["path"].parent, {BUDGET_KEY: found["step"]}, {BUDGET_KEY: total},
                                      "GAN checkpoint (a longer run)")
        return found
    old = sorted(p.name for p in (run_dir / CKPT_DIR).glob("epoch_*.npz"))
    if old:
        raise prov.ProvenanceError(
            f"{run_dir / CKPT_DIR} holds GAN checkpoints without a fingerprint ({', '.join(old[:3])}): "
            f"their data and settings are unknown. {prov.FIX}")
    info = run_dir / "generator.json"
    if info.exists():
        saved = json.loads(info.read_text()).get("fingerprint")
        if saved is None:
            raise prov.ProvenanceError(
                f"{info} carries no fingerprint: the generator's data and settings are unknown. {prov.FIX}")
        check_fingerprint(run_dir, saved, fp, "GAN generator")
    return None


def truncate_after(run_dir: Path, step: int) -> None:
    """Drop history rows, progress grids and pictures later than the checkpoint we resume from."""
    import pandas as pd

    history = run_dir / "history.csv"
    if history.exists():
        table = pd.read_csv(history)
        if "step" not in table.columns:
            history.unlink()
        elif (table["step"] > step).any():
            with atomic_write(history) as tmp:
                table[table["step"] <= step].to_csv(tmp, index=False)
    grids = run_dir / PROGRESS_DIR / "grids.npz"
    if grids.exists():
        old = load_npz(grids)
        if "steps" not in old:  # grids of an older format
            grids.unlink()
            old = {"steps": np.zeros(0, np.int64)}
        keep = old["steps"] <= step
        if not keep.all():
            save_npz(grids, steps=old["steps"][keep], epochs=old["epochs"][keep], images=old["images"][keep])
    for png in (run_dir / PROGRESS_DIR).glob("step_*.png"):
        try:
            if int(png.stem.split("_")[1]) > step:
                png.unlink()
        except (IndexError, ValueError):
            continue
