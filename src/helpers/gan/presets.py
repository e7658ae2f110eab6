"""The GAN's options for limited data and the named presets that combine them.

``loss`` ``"bce"`` (the paper's, non-saturating) or ``"hinge"``; ``r1_gamma``: R1 penalty on real
images; ``d_lr`` / ``g_lr`` / ``beta_1``: Adam; ``diffaugment``: a DiffAugment policy;
``spectral_norm`` / ``minibatch_std``: discriminator layers; ``ema_decay``: an averaged generator for
sampling; ``conditional``: one GAN on all classes. Generator options (:data:`GENERATOR_OPTIONS`):
``upsample`` ``"transpose"`` or ``"resize"`` (nearest x2 + conv 3x3) and ``residual`` blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpers.gan.diffaugment import DEFAULT_POLICY, policy_string

__all__ = ["GAN_PRESETS", "GAN_OPTIONS", "GENERATOR_OPTIONS", "UPSAMPLING", "LOSSES", "gan_options", "d_logits"]

_REFERENCE: dict[str, Any] = {
    "loss": "bce",
    "r1_gamma": 0.0,
    "d_lr": 2e-4,
    "g_lr": 2e-4,
    "beta_1": 0.5,
    "diffaugment": "",
    "spectral_norm": False,
    "minibatch_std": False,
    "ema_decay": 0.0,
    "conditional": False,
}
#: Names of the options a preset sets.
GAN_OPTIONS: tuple[str, ...] = tuple(_REFERENCE)
#: Generator options and the paper's values; :func:`gan_options` lists one only when it differs.
GENERATOR_OPTIONS: dict[str, Any] = {"upsample": "transpose", "residual": False}
UPSAMPLING = ("transpose", "resize")
LOSSES = ("bce", "hinge")
_LIMITED_DATA = {**_REFERENCE, "diffaugment": DEFAULT_POLICY, "spectral_norm": True, "minibatch_std": True,
                 "ema_decay": 0.999}

#: Named option sets: ``dcgan`` is the paper's DCGAN; the others add DiffAugment, spectral norm,
#: minibatch-std and EMA (``sn_diffaug_ema``), then the hinge loss with TTUR, conditioning, or
#: resize-convolution / residual upsampling in G.
GAN_PRESETS: dict[str, dict[str, Any]] = {
    "dcgan": dict(_REFERENCE),
    "dcgan_diffaug": {**_REFERENCE, "diffaugment": DEFAULT_POLICY},
    "sn_diffaug_ema": dict(_LIMITED_DATA),
    "sn_diffaug_ema_hinge": {**_LIMITED_DATA, "loss": "hinge", "d_lr": 4e-4, "g_lr": 1e-4},
    "sn_diffaug_ema_cond": {**_LIMITED_DATA, "conditional": True},
    "sn_diffaug_ema_resize": {**_LIMITED_DATA, "upsample": "resize"},
    "sn_diffaug_ema_resblock": {**_LIMITED_DATA, "upsample": "resize", "residual": True},
}


def gan_options(preset: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The options of ``preset`` (default ``"dcgan"``) with the non-None ``overrides`` applied, checked."""
    name = preset or "dcgan"
    if name not in GAN_PRESETS:
        raise ValueError(f"unknown GAN preset {name!r}; use one of {sorted(GAN_PRESETS)}.")
    unknown = sorted(set(overrides) - set(GAN_OPTIONS) - set(GENERATOR_OPTIONS))
    if unknown:
        raise TypeError(f"unknown GAN option(s) {unknown}; the options are {GAN_OPTIONS + tuple(GENERATOR_OPTIONS)}.")
    out = {**_REFERENCE, **GENERATOR_OPTIONS, **GAN_PRESETS[name],
           **{k: v for k, v in overrides.items() if v is not None}}
    out["upsample"], out["residual"] = str(out["upsample"]).lower(), bool(out["residual"])
    if out["upsample"] not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, got {out['upsample']!r}.")
    for key, paper in GENERATOR_OPTIONS.items():
        if out[key] == paper:
            del out[key]
    out["loss"] = str(out["loss"]).lower()
    if out["loss"] not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {out['loss']!r}.")
    out["diffaugment"] = policy_string(out["diffaugment"])
    for key in ("r1_gamma", "d_lr", "g_lr", "beta_1", "ema_decay"):
        out[key] = float(out[key])
    for key in ("spectral_norm", "minibatch_std", "conditional"):
        out[key] = bool(out[key])
    if out["r1_gamma"] < 0 or out["d_lr"] <= 0 or out["g_lr"] <= 0:
        raise ValueError(f"r1_gamma must be >= 0 and the learning rates > 0, got {out}.")
    if not 0.0 <= out["beta_1"] < 1.0 or not 0.0 <= out["ema_decay"] < 1.0:
        raise ValueError(f"beta_1 and ema_decay must be in [0, 1), got {out['beta_1']}, {out['ema_decay']}.")
    return out


def d_logits(options: Mapping[str, Any]) -> bool:
    """The discriminator outputs a raw score (logit) for the hinge loss and for R1; else P(real)."""
    return options["loss"] == "hinge" or float(options["r1_gamma"]) > 0
