"""The generators of a run: which GAN variants chapter 2 trains, where they live, and their ablation.

Per seed, ``reference`` is the paper's DCGAN (preset ``dcgan``, an epoch budget; its fakes make the
``gan`` rows) and ``default`` the profile's ``gan_preset`` (a step budget; ``gan_improved`` and the
other GAN strategies). The ablation trains every preset of ``gan_ablation`` for every seed of
``gan_ablation_seeds`` ("all" or "first") at two budgets, :class:`Budgets`: the step budget
``gan_steps`` and the reference's budget in generator steps (its epochs x steps per epoch). The
shorter one is not trained again when it can be read off the longer run: that run keeps its
checkpoint at the reference's step count, and :func:`train_variant` resumes the short variant from a
copy of it, so its folder holds what a run stopped there saves (EMA weights included). Folders:
``run_dir/gan/<preset>_<budget>/seed<k>/``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import gan

__all__ = ["Variant", "Budgets", "reference_variant", "default_variant", "reference_steps", "ablation_presets",
           "ablation_variants", "ablation_seeds", "training_plan", "budget_label", "train_variant", "load_variant", "save_plan", "load_plan", "best_variant", "ROLES", "synthetic_folder",
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


@dataclass(frozen=True)
class Budgets:
    """The ablation's two budgets in generator steps: the reference's (``reference``) and ``gan_steps`` (``steps``)."""

    reference: int
    steps: int

    @property
    def equal(self) -> bool:
        return self.reference == self.steps


def reference_steps(reference: Variant, profile: Any, n_images: int) -> int:
    """The reference's budget in generator steps: its epochs x steps per epoch, as :func:`helpers.gan.train_gan`
    counts them on ``n_images`` minority images (the run's history records the same number)."""
    from helpers.core.runtime import distribution_strategy, global_batch_size

    if reference.steps is not None:
        return int(reference.steps)
    batch = global_batch_size(min(int(profile.gan_batch_size), int(n_images)), distribution_strategy())
    return int(reference.epochs) * int(profile.gan_steps_per_epoch or int(n_images) // batch)


def budget_label(variant: Variant, budgets: Budgets | None) -> str:
    """``"reference"``, ``"gan_steps"`` or ``"both"`` (the budgets are equal): the budget a variant trained with."""
    if budgets is None:
        return "reference" if variant.epochs is not None else "gan_steps"
    if budgets.equal:
        return "both"
    return "gan_steps" if variant.steps == budgets.steps else "reference"


def ablation_seeds(profile: Any, seeds: Sequence[int], choice: str | None = None) -> tuple[int, ...]:
    """The seeds the ablation trains: every seed of the run (``"all"``) or the first (``"first"``);
    ``choice`` (e.g. ``-p gan_ablation_seeds first``) overrides the profile's ``gan_ablation_seeds``."""
    choice = str(choice or getattr(profile, "gan_ablation_seeds", "first")).strip()
    if choice not in ("all", "first"):
        raise ValueError(f"gan_ablation_seeds must be 'all' or 'first', not {choice!r}.")
    seeds = tuple(int(s) for s in seeds)
    return seeds if choice == "all" else seeds[:1]


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
                      presets: str | Sequence[str] | None = None, reference_steps: int | None = None) -> list[Variant]:
    """The ablation's presets (:func:`ablation_presets`), each with the step budget (the default's) and, given
    ``reference_steps`` (other than the step budget), with the reference's budget too; ``dcgan`` at the
    reference's budget is the reference itself (the same run), so it is left out."""
    budget = int(steps or profile.gan_steps)
    presets_ = ablation_presets(presets, profile)
    out = [Variant(p, steps=budget) for p in presets_]
    if reference_steps is not None and int(reference_steps) != budget:
        out += [Variant(p, steps=int(reference_steps)) for p in presets_ if p != "dcgan"]
    return out


def training_plan(reference: Variant, default: Variant, ablation: Sequence[Variant], seeds: Sequence[int],
                  ablation_seeds_: Sequence[int]) -> list[tuple[Variant, int]]:
    """``(variant, seed)`` in training order: the reference and the default for every seed, then the ablation's
    step-budget runs, then its shorter runs (read off the longer ones' kept checkpoints where they can be);
    the reference and the default are not repeated."""
    extra = [v for v in dict.fromkeys(ablation) if v not in (default, reference)]
    longest = max((v.steps for v in extra), default=0)
    ordered = [v for v in extra if v.steps == longest] + [v for v in extra if v.steps != longest]
    return ([(reference, int(s)) for s in seeds] + [(default, int(s)) for s in seeds]
            + [(v, int(s)) for v in ordered for s in ablation_seeds_])


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
    budgets: Budgets | None = None,
) -> tuple[Any, pd.DataFrame, float]:
    """Train (or resume, or load) one variant for one seed; return ``(model, history, train seconds)``.

    A conditional preset trains on every training image with its label and draws ``minority_id``;
    the others train on the training split's minority images only. Train seconds come from the
    history, so a resumed or re-loaded run reports its whole training time.

    With ``budgets`` (the ablation's, :class:`Budgets`), a step-budget run keeps its checkpoint at the
    reference's step count (when a round ends there), and a variant at the reference's budget starts
    from a copy of that checkpoint (:func:`derive_from_checkpoint`): nothing is left to train, and its
    folder holds what a run stopped at that step saves. Without one it trains on its own.
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
        sample_label=data.pop("sample_label", None),
        keep_steps=(budgets.reference,) if budgets and variant.steps and variant.steps > budgets.reference else ())
    if budgets is not None and variant.steps == budgets.reference and not budgets.equal:
        derive_from_checkpoint(variant, Variant(variant.preset, steps=budgets.steps), run_dir, seed)
    model, history = gan.train_gan(data.pop("images"), settings, variant.folder(run_dir, seed), **data,
                                   provenance=provenance, seed=int(seed), verbose=verbose)
    seconds = float(history["seconds"].sum()) if len(history) else 0.0
    return model, history, seconds


def derive_from_checkpoint(short: Variant, long: Variant, run_dir: str | os.PathLike, seed: int) -> bool:
    """Seed ``short``'s folder with ``long``'s kept checkpoint at ``short.steps`` and its history up to there.

    :func:`helpers.gan.train_gan` then resumes ``short`` at its budget, trains nothing and saves the
    generator (EMA weights where the preset has them) exactly as a run stopped there would; the
    checkpoint's fingerprint is checked as on any resume (everything but the budget must agree).
    ``derived_from.json`` names the source. False (train on its own) when ``long`` kept no such checkpoint.
    """
    from helpers.core.artifacts import save_json
    from helpers.gan import checkpoints as ckpt

    source, target = long.folder(run_dir, seed), short.folder(run_dir, seed)
    found = dict(ckpt.list_checkpoints(source)).get(int(short.steps or -1))
    if found is None or ckpt.list_checkpoints(target) or (target / "generator.json").exists():
        return False
    (target / ckpt.CKPT_DIR).mkdir(parents=True, exist_ok=True)
    shutil.copy2(found, target / ckpt.CKPT_DIR / found.name)
    if (source / "history.csv").exists():
        history = pd.read_csv(source / "history.csv")
        history[history["step"] <= int(short.steps)].to_csv(target / "history.csv", index=False)
    save_json(target / "derived_from.json", {"variant": long.name, "checkpoint": found.name, "seed": int(seed),
                                             "steps": int(short.steps)})
    return True


def load_variant(variant: Variant, run_dir: str | os.PathLike, seed: int, data_id: str):
    """The trained generator of ``variant`` for ``seed``, checked to come from this run's data."""
    return gan.load_generator(variant.folder(run_dir, seed), expected={"data": data_id})


def save_plan(run_dir: str | os.PathLike, *, reference: Variant, default: Variant,
              ablation: Sequence[Variant], ablation_seeds: Sequence[int] | None = None,
              budgets: Budgets | None = None) -> Path:
    """Chapter 2 records which variants it trained (``gan/plan.json``) so chapters 3-5 use the same:
    with the ablation's seeds and its two budgets in generator steps."""
    from dataclasses import asdict

    from helpers.core.artifacts import save_json

    return save_json(Path(run_dir) / "gan" / "plan.json",
                     {"reference": asdict(reference), "default": asdict(default),
                      "ablation": [asdict(v) for v in ablation],
                      "ablation_seeds": None if ablation_seeds is None else [int(s) for s in ablation_seeds],
                      "budgets": None if budgets is None else asdict(budgets)})


def load_plan(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``{"reference": Variant, "default": Variant, "ablation": [Variant, ...], "ablation_seeds": [int] | None,
    "budgets": Budgets | None}`` from chapter 2 (None: a plan written before they were recorded)."""
    from helpers.core.artifacts import load_json

    raw = load_json(Path(run_dir) / "gan" / "plan.json", hint="Run chapter 2 (GAN training) first.")
    return {"reference": Variant(**raw["reference"]), "default": Variant(**raw["default"]),
            "ablation": [Variant(**v) for v in raw["ablation"]], "ablation_seeds": raw.get("ablation_seeds"),
            "budgets": Budgets(**raw["budgets"]) if raw.get("budgets") else None}


def best_variant(table: pd.DataFrame) -> pd.Series:
    """The ablation's pick: among variants not collapsed, the lowest two-sample-test AUC on pixels
    (the fakes hardest to tell from real ones), ties broken by the lowest KID z-score.

    ``table`` is one row per variant (e.g. the step-budget rows of the ablation's summary: means over
    seeds); rows with a ``budget`` column keep the step budget's (``gan_steps`` or ``both``) when any.
    Falls back on every variant when all are collapsed (the table says so in ``collapsed``: with means
    over seeds, a variant collapsed on half its seeds or more counts as collapsed).
    """
    if "budget" in table and table["budget"].isin(["gan_steps", "both"]).any():
        table = table[table["budget"].isin(["gan_steps", "both"])]
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
    seeds: Sequence[int],
    data_id: str,
    evaluate: Any,
    n_fake: int,
    budgets: Budgets | None = None,
) -> pd.DataFrame:
    """One row per (variant, budget, seed): the steps it trained, training time and fidelity numbers.

    ``budget`` is :func:`budget_label`'s (the reference is at the reference's budget).
    ``evaluate(fakes, seed) -> dict`` computes the fidelity report of ``n_fake`` fakes (chapter 3 passes
    :func:`helpers.evaluation.fidelity.fidelity_report` bound to the encoder trained with that random
    seed, and the real images).
    """
    keys = ("kid_z_train", "relative_fd_train", "c2st_auc_pixels", "c2st_auc_features", "precision",
            "recall", "density", "coverage", "diversity_ratio", "memorization_share_pixels",
            "memorization_share_features", "collapsed")
    rows = []
    for seed in seeds:
        for v in variants:
            t0 = time.perf_counter()
            generator = load_variant(v, run_dir, seed, data_id)
            fakes = gan.generate_images(generator, n_fake, seed=int(seed))
            report = evaluate(fakes, int(seed))
            history = pd.read_csv(v.folder(run_dir, seed) / "history.csv")
            row: dict[str, Any] = {"variant": v.name, "preset": v.preset,
                                   "budget": budget_label(v, budgets), "seed": int(seed),
                                   "steps": int(history["step"].max()),
                                   "train_seconds": round(float(history["seconds"].sum()), 1)}
            row.update({k: float(report[k]) for k in keys if k in report})
            row["eval_seconds"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
    return pd.DataFrame(rows)
