"""Is a GAN run healthy? Its losses against the game's equilibrium, and its samples against mode collapse."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["D_LOSS_EQUILIBRIUM", "G_LOSS_EQUILIBRIUM", "HINGE_EQUILIBRIUM", "diagnose_history",
           "collapse_from_samples"]

D_LOSS_EQUILIBRIUM = 2 * float(np.log(2))  # BCE(1, 1/2) + BCE(0, 1/2)
G_LOSS_EQUILIBRIUM = float(np.log(2))  # non-saturating -log D(G(z)) at D = 1/2
#: Hinge losses where D scores everything 0 (D loss relu(1 - 0) + relu(1 + 0), G loss -0).
HINGE_EQUILIBRIUM = {"d_loss": 2.0, "g_loss": 0.0}
D_WINS_GAP = 0.6  # mean D(x) - D(G(z)) above this over the last rounds: the discriminator dominates
LOSSES_CANNOT_SEE_COLLAPSE = (
    "Losses cannot detect mode collapse: a generator that draws the same image for every noise "
    "vector can sit right at the equilibrium values. Check its samples (collapse_from_samples, "
    "right below) and chapter 3's fidelity check, which decides whether the fakes are usable."
)


def diagnose_history(history: Any, last: int = 3, loss: str = "bce") -> dict[str, Any]:
    """Numbers and sentences about a GAN run's losses (``"bce"`` or ``"hinge"``) over its last ``last`` rounds.

    Returns the mean losses and D outputs, ``d_gap`` = D(x) - D(G(z)), ``state`` and ``lines``. The
    losses say whether the game is balanced, never whether the images are varied.
    """
    import pandas as pd

    h = pd.DataFrame(history)
    if h.empty:
        raise ValueError("the history is empty: train the GAN first")
    if loss not in ("bce", "hinge"):
        raise ValueError(f"loss must be one of ('bce', 'hinge'), got {loss!r}.")
    d_eq, g_eq = (D_LOSS_EQUILIBRIUM, G_LOSS_EQUILIBRIUM) if loss == "bce" else (
        HINGE_EQUILIBRIUM["d_loss"], HINGE_EQUILIBRIUM["g_loss"])
    tail = h.tail(last)
    d_loss, g_loss = float(tail["d_loss"].mean()), float(tail["g_loss"].mean())
    d_real, d_fake = float(tail["d_real"].mean()), float(tail["d_fake"].mean())
    gap = d_real - d_fake
    first_g = float(h["g_loss"].iloc[0])
    out: dict[str, Any] = {
        "final_d_loss": d_loss, "final_g_loss": g_loss, "final_d_real": d_real, "final_d_fake": d_fake,
        "d_gap": gap, "epochs": int(math.ceil(float(h["epoch"].max()))),
    }
    if "step" in h:
        out["steps"] = int(h["step"].max())
    lines = [
        f"Over the last {len(tail)} round(s) the discriminator loss averaged {d_loss:.3f} "
        f"(equilibrium {d_eq:.3f}) and the generator loss {g_loss:.3f} "
        f"(equilibrium {g_eq:.3f}); the generator loss started at {first_g:.3f}.",
        f"Mean D(x) = {d_real:.2f} and mean D(G(z)) = {d_fake:.2f}: a gap of {gap:.2f}.",
    ]
    if gap > D_WINS_GAP or d_loss < 0.3 * d_eq:
        out["state"] = "discriminator dominates"
        lines.append(
            "The discriminator separates real from fake almost perfectly, so the generator gets weak "
            "gradients: expect poor images. More steps, DiffAugment, a lighter discriminator or label "
            "smoothing help."
        )
    elif gap < 0.05 and abs(d_loss - d_eq) < 0.15:
        out["state"] = "near equilibrium"
        lines.append(
            "Both networks sit near the game's equilibrium. That is what a healthy run looks like, but it "
            "does not prove the images are good (or varied)."
        )
    else:
        out["state"] = "adversarial balance"
        lines.append(
            "Neither network dominates: the discriminator still tells reals from fakes somewhat, and the "
            "generator keeps getting a useful signal."
        )
    lines.append(LOSSES_CANNOT_SEE_COLLAPSE)
    return out | {"lines": lines}


def _flat_unit(images: Any) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 4:
        x = x[..., 0]
    if x.ndim != 3:
        raise ValueError(f"expected images (N, H, W) or (N, H, W, 1), got shape {x.shape}.")
    x = x.reshape(len(x), -1).astype(np.float64)
    return x / 255.0 if np.issubdtype(np.asarray(images).dtype, np.integer) else (x + 1.0) / 2.0


def _pair_distances(x: np.ndarray) -> np.ndarray:
    """RMS pixel distance between every two rows (N, N)."""
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    return np.sqrt(d2 / x.shape[1])


def collapse_from_samples(images: Any, reference: Any | None = None, *, max_images: int = 500,
                          seed: int = 0) -> dict[str, Any]:
    """A quick mode-collapse check on a generator's samples, whatever the losses say.

    ``images`` (fakes) and ``reference`` (real training images): uint8 or floats in [-1, 1]; up to
    ``max_images`` of each. Returns ``diversity`` (mean RMS distance between two fakes, pixels in
    [0, 1]), ``reference_diversity`` and ``diversity_ratio`` (about 1 is healthy), ``duplicate_share``
    (fakes with a near-duplicate), ``state`` (``"collapsed"``, ``"low diversity"`` or ``"varied"``),
    ``collapsed`` and ``lines``, with :mod:`helpers.evaluation.fidelity`'s thresholds.
    """
    from helpers.evaluation.fidelity import (
        ABSOLUTE_COLLAPSE_DISTANCE,
        COLLAPSE_DIVERSITY,
        DIVERSITY_LOW,
        DUPLICATE_FRACTION,
        DUPLICATE_SHARE_COLLAPSED,
    )

    rng = np.random.default_rng(seed)

    def sample(x: Any) -> np.ndarray:
        flat = _flat_unit(x)
        if len(flat) < 2:
            raise ValueError("collapse_from_samples needs at least two images.")
        return flat[rng.choice(len(flat), max_images, replace=False)] if len(flat) > max_images else flat

    fakes = sample(images)
    d_fake = _pair_distances(fakes)
    off = ~np.eye(len(fakes), dtype=bool)
    diversity = float(d_fake[off].mean())
    out: dict[str, Any] = {"n": len(fakes), "diversity": diversity}
    if reference is not None:
        reals = sample(reference)
        d_real = _pair_distances(reals)
        ref = float(d_real[~np.eye(len(reals), dtype=bool)].mean())
        ratio = diversity / ref if ref > 0 else float("inf")
        threshold = DUPLICATE_FRACTION * ref
        out.update(reference_diversity=ref, diversity_ratio=ratio)
    else:
        ratio = None
        threshold = ABSOLUTE_COLLAPSE_DISTANCE / 2
        out.update(reference_diversity=None, diversity_ratio=None)
    nearest = np.where(off, d_fake, np.inf).min(axis=1)
    dup_share = float((nearest < threshold).mean())
    out.update(duplicate_share=dup_share, duplicate_threshold=threshold)

    if ratio is not None:
        collapsed = ratio < COLLAPSE_DIVERSITY or dup_share > DUPLICATE_SHARE_COLLAPSED
        low = not collapsed and ratio < DIVERSITY_LOW
        lines = [f"The {len(fakes)} samples differ from each other by {diversity:.3f} on average (RMS, "
                 f"pixels in [0, 1]); real training images by {out['reference_diversity']:.3f}: a ratio of "
                 f"{ratio:.2f} (about 1 is healthy)."]
    else:
        collapsed = diversity < ABSOLUTE_COLLAPSE_DISTANCE or dup_share > DUPLICATE_SHARE_COLLAPSED
        low = False
        lines = [f"The {len(fakes)} samples differ from each other by {diversity:.3f} on average (RMS, "
                 "pixels in [0, 1]); pass real images as reference for a ratio."]
    lines.append(f"{dup_share:.0%} of the samples have a near-duplicate among the others "
                 f"(closer than {threshold:.3f}).")
    if collapsed:
        state = "collapsed"
        lines.append("Mode collapse: the generator draws (nearly) the same image whatever the noise, "
                     "whatever its losses say. Do not use these fakes; train longer with DiffAugment, "
                     "minibatch-std or another preset.")
    elif low:
        state = "low diversity"
        lines.append("The samples vary less than real images: partial collapse. Chapter 3's fidelity "
                     "check (recall, coverage) tells how much of the real variety is missing.")
    else:
        state = "varied"
        lines.append("The samples vary about as much as real images. Variety is necessary, not "
                     "sufficient: chapter 3's fidelity check decides whether they look real.")
    return out | {"state": state, "collapsed": collapsed, "lines": lines}
