"""Atomic saving and loading of run artifacts (arrays, tables, JSON, models): :func:`atomic_write`
writes to a temporary file beside the target and renames it into place, so a killed run never leaves
a half-written artifact."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ArtifactError", "atomic_write", "save_npz", "load_npz", "save_json", "load_json", "append_rows",
           "replace_rows", "read_rows"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class ArtifactError(FileNotFoundError):
    """An artifact an earlier notebook should have written is missing or unreadable."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    ``suffix`` defaults to the destination's own suffix (Keras and NumPy look at it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files: give artifacts the usual permissions
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Save arrays to a compressed ``.npz`` atomically and return the path."""
    path = Path(path)
    with atomic_write(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def load_npz(path: str | os.PathLike, keys: Sequence[str] = (), hint: str = "") -> dict[str, np.ndarray]:
    """Load an ``.npz`` artifact, checking that ``keys`` are present.

    ``hint`` says which notebook writes the file, for the error message.
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path} does not exist. {hint or 'Run the notebook that writes it first.'}")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ArtifactError(
            f"{path} lacks the arrays {missing} (it has {sorted(arrays)}). "
            f"{hint or 'Re-run the notebook that writes it.'}"
        )
    return arrays


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    return path


def load_json(path: str | os.PathLike, hint: str = "") -> Any:
    """Read a JSON artifact with a clear error when it is missing."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path} does not exist. {hint or 'Run the notebook that writes it first.'}")
    return json.loads(path.read_text())


def append_rows(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Append result rows to a CSV table atomically (the whole file is rewritten via a temp file).

    Columns are the union of the existing and new columns, in first-seen order.
    """
    import pandas as pd

    path = Path(path)
    new = pd.DataFrame([dict(r) for r in rows])
    table = pd.concat([pd.read_csv(path), new], ignore_index=True) if path.exists() else new
    with atomic_write(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def read_rows(path: str | os.PathLike, hint: str = ""):
    """Read a results CSV written by :func:`append_rows` as a DataFrame."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path} does not exist. {hint or 'Run the notebooks that write results first.'}")
    return pd.read_csv(path)


def replace_rows(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Path:
    """Like :func:`append_rows`, but first drop existing rows that match the new rows on ``keys``.

    A re-run of a notebook then replaces its earlier rows instead of duplicating them.
    """
    import pandas as pd

    path = Path(path)
    new = pd.DataFrame([dict(r) for r in rows])
    if path.exists():
        old = pd.read_csv(path)
        if all(k in old.columns for k in keys):
            new_keys = set(map(tuple, new[list(keys)].astype(str).to_numpy()))
            stale = old[list(keys)].astype(str).apply(tuple, axis=1).isin(new_keys)
            old = old[~stale]
        table = pd.concat([old, new], ignore_index=True)
    else:
        table = new
    with atomic_write(path) as tmp:
        table.to_csv(tmp, index=False)
    return path
