"""The generators of a run: which GAN variants chapter 2 trains, where they live, and their ablation.

Per seed, ``reference`` is the paper's DCGAN (preset ``dcgan``, an epoch budget; its fakes make the
``gan`` rows) and ``default`` the profile's ``gan_preset`` (a step budget; ``gan_improved`` and the
other GAN strategies). The ablation trains every preset of ``gan_ablation`` with the same step budget
on the first seed. Folders: ``run_dir/gan/<preset>_<budget>/seed<k>/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import gan

__all__ = ["Variant", "reference_variant", "default_variant", "ablation_presets", "ablation_variants",
           "train_variant", "load_variant", "save_plan", "load_plan", "best_variant", "ROLES", "synthetic_folder",
           "generate_synthetic", "load_synthetic_sets", "ablation_table"]

#: The generators whose fakes feed the classifiers (see :data:`helpers.oversampling.strategies.SYNTHETIC_SOURCE`).
ROLES: tuple[str, ...] = ("reference", "default")

@dataclass(frozen=True)
class Variant:
    """One generator to train: a preset and a budget (generator steps, or epochs as in the paper)."""

    preset: str
    steps: int | None = None
    epochs: int | None = None

    def __post_init__(self) -> None:
        gan.gan_options(self.preset)  # unknown presets fail here
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"{self.preset}: give a budget in steps or in epochs (exactly one)")

    @property
    def budget(self) -> str:
        return f"{self.steps}steps" if self.steps is not None else f"{self.epochs}epochs"

    @property
    def name(self) -> str:
        """``<preset>_<budget>``: the folder name, and the variant's label in tables."""
        return f"{self.preset}_{self.budget}"

    def folder(self, run_dir: str | os.PathLike, seed: int) -> Path:
        return Path(run_dir) / "gan" / self.name / f"seed{int(seed)}"


def reference_variant(profile: Any, epochs: int | None = None) -> Variant:
    """The paper's DCGAN with an epoch budget (the profile's ``gan_epochs``, overridable): the ``gan`` strategy."""
    return Variant("dcgan", epochs=int(epochs or profile.gan_epochs))


def default_variant(profile: Any, preset: str | None = None, steps: int | None = None) -> Variant:
    """The profile's generator for limited data (``gan_preset``, ``gan_steps``), overridable."""
    return Variant(preset or profile.gan_preset, steps=int(steps or profile.gan_steps))


def ablation_presets(presets: str | Sequence[str] | None, profile: Any) -> tuple[str, ...]:
    """The ablation's preset names: ``presets`` if given, else the profile's ``gan_ablation``.

    ``presets`` is a sequence of names or one string of comma- or space-separated names (what
    ``python -m helpers.series -p gan_ablation dcgan,sn_diffaug_ema`` passes); ``""`` or ``[]``
    means no ablation. Unknown names raise ValueError; repeats are dropped.
    """
    if presets is None:
        presets = profile.gan_ablation
    if isinstance(presets, str):
        presets = presets.replace(",", " ").split()
    names = tuple(dict.fromkeys(str(p).strip() for p in presets))
    unknown = [p for p in names if p not in gan.GAN_PRESETS]
    if unknown:
        raise ValueError(f"unknown GAN preset(s) {unknown} in gan_ablation; use names of {sorted(gan.GAN_PRESETS)}.")
    return names


def ablation_variants(profile: Any, steps: int | None = None,
                      presets: str | Sequence[str] | None = None) -> list[Variant]:
    """The ablation's presets (:func:`ablation_presets`), each with the same step budget (the default's)."""
    budget = int(steps or profile.gan_steps)
    return [Variant(p, steps=budget) for p in ablation_presets(presets, profile)]


def train_variant(
    variant: Variant,
    train: Any,
    minority_id: int,
    *,
    run_dir: str | os.PathLike,
    seed: int,
    provenance: Mapping[str, Any],
    profile: Any,
    d_steps: int = 1,
    verbose: int | str = 0,
) -> tuple[Any, pd.DataFrame, float]:
    """Train (or resume, or load) one variant for one seed; return ``(model, history, train seconds)``.

    A conditional preset trains on every training image with its label and draws ``minority_id``;
    the others train on the training split's minority images only. Train seconds come from the
    history, so a resumed or re-loaded run reports its whole training time.
    """
    options = gan.gan_options(variant.preset)
    if options["conditional"]:
        data: dict[str, Any] = {"images": np.asarray(train.images), "labels": np.asarray(train.labels),
                                "sample_label": int(minority_id)}
    else:
        data = {"images": gan.minority_training_images(train.images, train.labels, minority_id)}
    settings = gan.GanSettings(
        image_size=int(train.image_size), steps=variant.steps, epochs=variant.epochs, preset=variant.preset,
        batch_size=min(int(profile.gan_batch_size), len(data["images"])), d_steps=d_steps,
        generator_filters=int(profile.gan_generator_filters), steps_per_epoch=profile.gan_steps_per_epoch,
        checkpoint_every=int(profile.gan_checkpoint_every), grid_every=None,
        sample_label=data.pop("sample_label", None))
    model, history = gan.train_gan(data.pop("images"), settings, variant.folder(run_dir, seed), **data,
                                   provenance=provenance, seed=int(seed), verbose=verbose)
    seconds = float(history["seconds"].sum()) if len(history) else 0.0
    return model, history, seconds


def load_variant(variant: Variant, run_dir: str | os.PathLike, seed: int, data_id: str):
    """The trained generator of ``variant`` for ``seed``, checked to come from this run's data."""
    return gan.load_generator(variant.folder(run_dir, seed), expected={"data": data_id})


def save_plan(run_dir: str | os.PathLike, *, reference: Variant, default: Variant,
              ablation: Sequence[Variant]) -> Path:
    """Chapter 2 records which variants it trained (``gan/plan.json``) so chapters 3-5 use the same."""
    from dataclasses import asdict

    from helpers.core.artifacts import save_json

    return save_json(Path(run_dir) / "gan" / "plan.json",
                     {"reference": asdict(reference), "default": asdict(default),
                      "ablation": [asdict(v) for v in ablation]})


def load_plan(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``{"reference": Variant, "default": Variant, "ablation": [Variant, ...]}`` from chapter 2."""
    from helpers.core.artifacts import load_json

    raw = load_json(Path(run_dir) / "gan" / "plan.json", hint="Run chapter 2 (GAN training) first.")
    return {"reference": Variant(**raw["reference"]), "default": Variant(**raw["default"]),
            "ablation": [Variant(**v) for v in raw["ablation"]]}


def best_variant(table: pd.DataFrame) -> pd.Series:
    """The ablation's pick: among variants not collapsed, the lowest two-sample-test AUC on pixels
    (the fakes hardest to tell from real ones), ties broken by the lowest KID z-score.

    Falls back on every variant when all are collapsed (the table says so in ``collapsed``).
    """
    pool = table[table["collapsed"] < 0.5] if "collapsed" in table and (table["collapsed"] < 0.5).any() else table
    return pool.sort_values(["c2st_auc_pixels", "kid_z_train"], kind="stable").iloc[0]


def synthetic_folder(run_dir: str | os.PathLike, role: str, seed: int) -> Path:
    """``run_dir/synthetic/<role>/seed<k>/``: the fakes of one generator and seed."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    return Path(run_dir) / "synthetic" / role / f"seed{int(seed)}"


def generate_synthetic(variant: Variant, role: str, *, run_dir: str | os.PathLike, seed: int, n: int,
                       data_id: str, class_id: int, class_name: str) -> np.ndarray:
    """Draw ``n`` fakes from a trained variant (noise seeded by ``seed``) and save them for chapters 4-5.

    The saved set's provenance names the run's data, the generator's fingerprint, the seed and ``n``.
    """
    import json

    from helpers.data.synthetic import save_synthetic

    folder = variant.folder(run_dir, seed)
    generator = load_variant(variant, run_dir, seed, data_id)
    fakes = gan.generate_images(generator, int(n), seed=int(seed))
    info = json.loads((folder / "generator.json").read_text())
    save_synthetic(synthetic_folder(run_dir, role, seed), fakes, class_id=int(class_id),
                   class_name=class_name, seed=int(seed),
                   provenance={"data": data_id, "generator": info.get("fingerprint_id"),
                               "variant": variant.name, "seed": int(seed), "n": int(n)})
    return fakes


def load_synthetic_sets(run_dir: str | os.PathLike, seed: int, *, data_id: str, image_size: int) -> dict[str, Any]:
    """``{role: SyntheticImages}`` of one seed, checked against the run's data (chapter 3 writes them)."""
    from helpers.data.synthetic import load_synthetic

    return {role: load_synthetic(synthetic_folder(run_dir, role, seed), image_size=image_size, data_id=data_id)
            for role in ROLES}


def ablation_table(
    variants: Sequence[Variant],
    *,
    run_dir: str | os.PathLike,
    seed: int,
    data_id: str,
    evaluate: Any,
    n_fake: int,
) -> pd.DataFrame:
    """One row per variant (first seed): its budget, training time and fidelity numbers.

    ``evaluate(fakes) -> dict`` computes the fidelity report of ``n_fake`` fakes (chapter 3 passes
    :func:`helpers.evaluation.fidelity.fidelity_report` bound to its encoder and real images).
    """
    keys = ("kid_z_train", "relative_fd_train", "c2st_auc_pixels", "c2st_auc_features", "precision",
            "recall", "density", "coverage", "diversity_ratio", "memorization_share_pixels",
            "memorization_share_features", "collapsed")
    rows = []
    for v in variants:
        t0 = time.perf_counter()
        generator = load_variant(v, run_dir, seed, data_id)
        fakes = gan.generate_images(generator, n_fake, seed=int(seed))
        report = evaluate(fakes)
        history = pd.read_csv(v.folder(run_dir, seed) / "history.csv")
        row: dict[str, Any] = {"variant": v.name, "preset": v.preset, "steps": int(history["step"].max()),
                               "train_seconds": round(float(history["seconds"].sum()), 1)}
        row.update({k: float(report[k]) for k in keys if k in report})
        row["eval_seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
    return pd.DataFrame(rows)
