"""Chapter 7's GAN images: generators for the scarcest findings, their samples and a collapse check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.classifiers.results import file_slug
from helpers.multilabel.data import Study, gan_training_set


@dataclass
class FindingGenerators:
    """The trained generators of one seed: one conditional GAN for all ``columns``, or one GAN each."""

    preset: str
    steps: int
    columns: tuple[int, ...]
    conditional: bool
    models: dict[int, Any]  # finding column -> the model to sample from
    folders: dict[int, Path]
    fingerprint_ids: dict[int, str]
    n_train: dict[int, int]
    train_seconds: float
    histories: dict[int, pd.DataFrame] = field(repr=False, default_factory=dict)

    def sample(self, column: int, n: int, seed: int) -> np.ndarray:
        """``n`` uint8 images of finding ``column``, from noise seeded by ``(seed, column)``."""
        from helpers import gan

        noise_seed = int(np.random.SeedSequence([int(seed), int(column)]).generate_state(1)[0])
        labels = self.columns.index(column) if self.conditional else None
        return gan.generate_images(self.models[column], int(n), seed=noise_seed, labels=labels)


def train_finding_gans(
    study: Study, columns: Sequence[int], *, seed: int, profile: Any, preset: str | None = None,
    steps: int | None = None, verbose: int | str = 0,
) -> FindingGenerators:
    """Train (or resume, or load) one seed's GANs on the TRAIN images carrying each finding.

    A conditional preset (default ``profile.nih_gan_preset``) trains one GAN for all ``columns`` labelled by
    position (:func:`gan_training_set`); otherwise one GAN per finding, for ``steps`` (default
    ``profile.nih_gan_steps``) generator updates, in ``nih/gan/<preset>_<steps>steps/[<finding>/]seed<k>/``.
    """
    from helpers import gan

    preset = preset or profile.nih_gan_preset
    steps = int(steps or profile.nih_gan_steps)
    columns = tuple(int(c) for c in columns)
    if not columns:
        raise ValueError("no finding to train a GAN for")
    conditional = gan.gan_options(preset)["conditional"] and len(columns) > 1  # one finding: nothing to condition on
    train = study.splits["train"]
    base = study.folder / "gan" / f"{preset}_{steps}steps"
    jobs = ([(columns, base / f"seed{int(seed)}")] if conditional else
            [((c,), base / file_slug(study.names[c]) / f"seed{int(seed)}") for c in columns])
    out = FindingGenerators(preset, steps, columns, conditional, {}, {}, {}, {}, 0.0)
    for cols, folder in jobs:
        images, ids = gan_training_set(train.images, train.labels, cols)
        prov = study.fp(findings=[study.names[c] for c in cols], images="train images carrying each finding")
        extra = ({"num_classes": len(cols), "sample_label": 0} if conditional else {"conditional": False})
        settings = gan.GanSettings(
            image_size=study.image_size, steps=steps, preset=preset,
            batch_size=min(int(profile.gan_batch_size), len(images)),
            generator_filters=int(profile.gan_generator_filters), steps_per_epoch=profile.gan_steps_per_epoch,
            checkpoint_every=int(profile.gan_checkpoint_every), grid_every=None, **extra)
        model, history = gan.train_gan(images, settings, folder, labels=ids if conditional else None,
                                       provenance=prov, seed=int(seed), verbose=verbose)
        info = json.loads((folder / "generator.json").read_text())
        out.train_seconds += float(history["seconds"].sum()) if len(history) else 0.0
        for c in cols:
            out.models[c], out.folders[c] = model, folder
            out.fingerprint_ids[c] = str(info["fingerprint_id"])
            out.n_train[c] = int(np.asarray(train.labels)[:, c].sum())
            out.histories[c] = history
    return out


def synthetic_for_findings(
    generators: FindingGenerators, train_labels: Any, target: int, *, seed: int,
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """GAN images lifting each finding to ``target`` training images, labelled with that finding alone.

    Returns ``(images uint8 (M, S, S), labels uint8 (M, C), added {column: n})``.
    """
    y = np.asarray(train_labels)
    n_cols = y.shape[1]
    images, labels, added = [], [], {}
    for c in generators.columns:
        n = max(0, int(target) - int(y[:, c].sum()))
        added[c] = n
        if n:
            images.append(generators.sample(c, n, seed))
            row = np.zeros((n, n_cols), dtype=np.uint8)
            row[:, c] = 1
            labels.append(row)
    if not images:
        first = generators.models[generators.columns[0]]
        size = int(first.outputs[0].shape[1])
        return np.zeros((0, size, size), np.uint8), np.zeros((0, n_cols), np.uint8), added
    return np.concatenate(images), np.concatenate(labels), added


def _small_features(images: Any, size: int = 16) -> np.ndarray:
    import cv2

    x = np.asarray(images)
    out = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in x])
    return out.reshape(len(x), -1).astype(np.float64) / 255.0


def finding_fidelity(fakes: Any, reals: Any, *, seed: int = 0, k: int = 3, density_k: int = 5,
                     max_images: int = 300) -> dict[str, Any]:
    """A cheap collapse check of one finding's GAN images against the real ones.

    Pixel diversity and near-duplicates (:func:`helpers.evaluation.gan_health.collapse_from_samples`), then k-NN precision/recall
    and density/coverage on 16x16 thumbnails, judged by :func:`helpers.evaluation.fidelity.collapse_check`.
    """
    from helpers.evaluation import fidelity, gan_health, manifold

    fakes, reals = np.asarray(fakes), np.asarray(reals)
    out: dict[str, Any] = {"n_fake": len(fakes), "n_real": len(reals)}
    if len(fakes) < 2 or len(reals) < 2:
        return out | {"collapsed": float("nan"), "reasons": ["too few images for a check"]}
    pix = gan_health.collapse_from_samples(fakes, reals, max_images=max_images, seed=seed)
    out.update(diversity_ratio=pix["diversity_ratio"], duplicate_share=pix["duplicate_share"])
    rng = np.random.default_rng(seed)
    f = _small_features(fakes[rng.permutation(len(fakes))[:max_images]])
    r = _small_features(reals[rng.permutation(len(reals))[:max_images]])
    if min(len(f), len(r)) > max(k, density_k):
        out["precision"], out["recall"] = manifold.precision_recall(r, f, k=k)
        out["density"], out["coverage"] = manifold.density_coverage(r, f, k=density_k)
    check = fidelity.collapse_check(out)
    return out | {"collapsed": float(check["collapsed"]), "reasons": check["reasons"]}
