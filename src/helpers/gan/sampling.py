"""Drawing fakes: load a trained generator from its run folder and sample seeded images from it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from helpers.core import provenance as prov
from helpers.core.artifacts import ArtifactError
from helpers.data.images import to_uint8
from helpers.gan.dcgan import DCGAN, LABEL_ATTR, TRAINED_ATTR

__all__ = ["load_generator", "generate_images"]


def load_generator(run_dir: str | os.PathLike, expected: Mapping[str, Any] | None = None) -> keras.Model:
    """Load ``run_dir/generator.keras`` written by :func:`helpers.gan.training.train_gan`.

    Every key of ``expected`` (fingerprint entries) must match ``generator.json``, else
    :class:`helpers.core.provenance.ProvenanceError`.
    """
    path = Path(run_dir) / "generator.keras"
    if not path.exists():
        raise ArtifactError(f"{path} does not exist: run notebook 02 first (it trains the GAN).")
    info_path = Path(run_dir) / "generator.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    if expected is not None:
        saved = info.get("fingerprint")
        if saved is None:
            raise prov.ProvenanceError(
                f"{info_path} carries no fingerprint: the generator's data and settings are unknown. {prov.FIX}")
        want = prov.normalise(dict(expected))
        have = {k: prov.normalise(saved.get(k)) for k in want}
        if have != want:
            raise prov.mismatch_error(path, have, want, "generator")
    generator = keras.models.load_model(path, compile=False)
    setattr(generator, TRAINED_ATTR, info.get("steps"))
    if info.get("sample_label") is not None:
        setattr(generator, LABEL_ATTR, int(info["sample_label"]))
    return generator


def generate_images(
    generator: keras.Model | DCGAN | None,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 1000,
    labels: int | np.ndarray | None = None,
) -> np.ndarray:
    """``n`` fake images as uint8 (n, H, W) from seeded N(0, 1) noise (the same whatever ``batch_size``).

    A :class:`DCGAN` samples from its EMA generator when it has one. A conditional generator needs
    ``labels`` (one class id or one per image) unless it was trained with a ``sample_label``.
    """
    if isinstance(generator, DCGAN):
        generator = generator.sampler if generator.steps_trained else None
    if generator is None or getattr(generator, TRAINED_ATTR, None) == 0:
        raise ValueError(
            "the generator is untrained: train the GAN first (train_gan) or load a trained one "
            "with load_generator(run_dir)."
        )
    conditional = len(generator.inputs) == 2
    if conditional and labels is None:
        labels = getattr(generator, LABEL_ATTR, None)
        if labels is None:
            raise ValueError("this generator is conditional: pass labels (a class id or one per image).")
    if not conditional and labels is not None:
        raise ValueError("this generator is unconditional: it takes no labels.")
    latent_dim = int(generator.inputs[0].shape[-1])
    noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    if conditional:
        lab = np.broadcast_to(np.asarray(labels, dtype=np.int32).reshape(-1), (n,)).reshape(-1, 1)
    size = int(generator.outputs[0].shape[1])
    out = np.empty((n, size, size), dtype=np.uint8)
    for start in range(0, n, batch_size):
        z = noise[start : start + batch_size]
        inputs = [z, lab[start : start + batch_size]] if conditional else z
        out[start : start + len(z)] = to_uint8(np.asarray(generator(inputs, training=False)))
    return out
