"""Where every artifact came from: fingerprints, checked before anything is reused.

A *fingerprint* is a flat, JSON-able dict of everything that shapes one artifact (the data, the seed,
the step's settings), stored beside it (``provenance.json``, an ``.npz`` entry, a results column).
Same fingerprint -> reuse; none stored -> stamp; another -> :class:`ProvenanceError` naming what
differs and the fix (another ``run_dir``, or ``fresh=True`` / ``--fresh``, see :func:`move_aside`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from helpers.core.artifacts import ArtifactError, atomic_write, load_json, save_json

__all__ = ["ProvenanceError", "FILE_NAME", "normalise", "fingerprint_id", "array_digest", "files_digest",
           "images_digest", "data_fingerprint", "differences", "mismatch_error", "check", "stamp", "check_or_stamp",
           "read", "move_aside", "save_model", "load_model"]

FILE_NAME = "provenance.json"
FIX = ("Use another run_dir, or re-run with fresh=True (runner: --fresh), which moves the old folder "
       "aside and starts afresh.")


class ProvenanceError(ValueError):
    """An artifact on disk was made from other data or settings than the ones asked for now."""


def normalise(value: Any) -> Any:
    """JSON-able, order-stable copy: tuples -> lists, NumPy scalars -> Python, Paths -> str."""
    if isinstance(value, Mapping):
        return {str(k): normalise(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 1.0 and 1 fingerprint alike (CSV round trips turn ints into floats)
    return value


def fingerprint_id(fp: Mapping[str, Any], length: int = 12) -> str:
    """A short stable hash of a fingerprint (the ``fingerprint`` column of a results row)."""
    text = json.dumps(normalise(fp), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def array_digest(*arrays: Any) -> str:
    """SHA-256 (16 hex) over the shapes, dtypes and bytes of the arrays (``None`` counts as empty)."""
    h = hashlib.sha256()
    for arr in arrays:
        if arr is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(np.asarray(arr))
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def files_digest(paths: Iterable[str | os.PathLike], prefix: str = "") -> str:
    """SHA-256 (16 hex) of ``prefix`` and each file's base name and size (not its bytes: cheap for
    100,000 images; a moved file keeps its digest, a replaced one of another size does not)."""
    h = hashlib.sha256(prefix.encode())
    for p in paths:
        try:
            size = os.path.getsize(p)
        except OSError:
            size = -1
        h.update(f"{os.path.basename(p)}:{size};".encode())
    return h.hexdigest()[:16]


def images_digest(images: Any) -> str:
    """:func:`array_digest` of an image set; a lazily read set (file paths) digests its paths and sizes."""
    paths = getattr(images, "paths", None)
    if paths is not None:
        return files_digest(paths, prefix=f"lazy;{getattr(images, 'image_size', '')};")
    return array_digest(images)


def data_fingerprint(splits: Mapping[str, Any], *, dataset: str, image_size: int,
                     options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a run's data is: name, size, loader options, and a digest of each split's pixels and labels.

    The digest (not the file path) identifies the data, so moving a data file keeps the fingerprint
    while any change to its content does not.
    """
    fp: dict[str, Any] = {"dataset": dataset, "image_size": int(image_size), "data_options": dict(options or {})}
    for name in sorted(splits):
        ds = splits[name]
        fp[f"{name}_digest"] = array_digest(images_digest(ds.images), np.asarray(ds.labels))
        fp[f"{name}_n"] = len(ds.labels)
    return fp


def differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``["key: saved X, now Y", ...]`` for every top-level key whose value differs."""
    a, b = normalise(dict(saved)), normalise(dict(now))
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            out.append(f"{key}: saved {_short(a.get(key))}, now {_short(b.get(key))}")
    return out


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mismatch_error(where: str | os.PathLike, saved: Mapping[str, Any], now: Mapping[str, Any],
                   what: str = "artifact") -> ProvenanceError:
    """The one error for a stale artifact: names ``where``, what differs, and the fix."""
    diff = "; ".join(differences(saved, now)) or "the fingerprints differ"
    return ProvenanceError(f"{where} holds a {what} made from other inputs ({diff}). {FIX}")


def read(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The fingerprint stamped in ``folder`` (or None when there is none)."""
    path = Path(folder) / FILE_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ProvenanceError(f"{path} is not valid JSON ({exc}). {FIX}") from None


def check(folder: str | os.PathLike, fp: Mapping[str, Any], what: str = "artifact") -> bool:
    """True when ``folder`` is stamped with ``fp``; False when not stamped; raise when different."""
    saved = read(folder)
    if saved is None:
        return False
    if normalise(saved) != normalise(dict(fp)):
        raise mismatch_error(folder, saved, fp, what)
    return True


def stamp(folder: str | os.PathLike, fp: Mapping[str, Any]) -> Path:
    """Write ``folder/provenance.json`` atomically."""
    return save_json(Path(folder) / FILE_NAME, normalise(dict(fp)))


def check_or_stamp(folder: str | os.PathLike, fp: Mapping[str, Any], what: str = "artifact",
                   must_be_empty: Iterable[str] = ()) -> bool:
    """:func:`check`; when nothing is stamped, stamp ``fp`` and return False.

    ``must_be_empty``: names (globs) inside ``folder`` that must not exist in an unstamped folder
    (files from an older series version that carried no fingerprint): their presence is an error.
    """
    folder = Path(folder)
    if check(folder, fp, what):
        return True
    leftovers = [p.name for pattern in must_be_empty for p in folder.glob(pattern)]
    if leftovers:
        raise ProvenanceError(
            f"{folder} holds {what} files without a provenance stamp ({', '.join(sorted(leftovers)[:4])}): "
            f"their data and settings are unknown. {FIX}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    stamp(folder, fp)
    return False


def move_aside(folder: str | os.PathLike) -> Path | None:
    """Rename ``folder`` to ``<folder>.old-<UTC time>`` (for ``fresh=True``); return the new path."""
    folder = Path(folder)
    if not folder.exists() or not any(folder.iterdir()):
        return None
    stamp_ = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = folder.with_name(f"{folder.name}.old-{stamp_}")
    n = 1
    while target.exists():
        n += 1
        target = folder.with_name(f"{folder.name}.old-{stamp_}-{n}")
    folder.rename(target)
    print(f"fresh=True: moved the old {folder} aside to {target}")
    return target


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".provenance.json")


def save_model(model: Any, path: str | os.PathLike, provenance: Mapping[str, Any] | None = None) -> Path:
    """Save a Keras model (``.keras``) or its weights (``.weights.h5``) atomically.

    With ``provenance`` (a fingerprint) a sidecar
    ``<name>.provenance.json`` records where the model came from; :func:`load_model` checks it.
    """
    path = Path(path)
    with atomic_write(path) as tmp:
        if path.name.endswith(".weights.h5"):
            model.save_weights(tmp)
        else:
            model.save(tmp)
    if provenance is not None:
        save_json(_sidecar(path), normalise(dict(provenance)))
    return path


def load_model(path: str | os.PathLike, hint: str = "", expected: Mapping[str, Any] | None = None) -> Any:
    """Load a ``.keras`` model with a clear error when it is missing or made from other inputs.

    ``expected``: the fingerprint the model must carry (its sidecar, see :func:`save_model`).
    """
    import keras

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path} does not exist. {hint or 'Run the notebook that writes it first.'}")
    if expected is not None:
        side = _sidecar(path)
        if not side.exists():
            raise ProvenanceError(f"{path} carries no provenance ({side.name} is missing): its data and "
                                  f"settings are unknown. {hint or 'Re-run the notebook that writes it.'}")
        saved = load_json(side)
        if normalise(saved) != normalise(dict(expected)):
            raise mismatch_error(path, saved, expected, "model")
    return keras.models.load_model(path, compile=False)
