"""The one list of oversampling strategy names, and which kind of input each runs on.

Imported by :mod:`helpers.config` (profiles), :mod:`helpers.oversampling.oversample` (what each does), the grids
and the notebooks, so a name is spelt in one place.
"""

from __future__ import annotations

__all__ = ["ALL_STRATEGIES", "TABLE_1_ARMS", "GAN_STRATEGIES", "SYNTHETIC_SOURCE", "synthetic_source",
           "BASELINE_STRATEGIES", "FEATURE_ONLY", "IMAGE_ONLY", "FEATURE_STRATEGIES", "PIXEL_STRATEGIES",
           "check_strategies"]

#: Baselines first (doing nothing, class weights, random oversampling, SMOTE, ADASYN, augmentation).
BASELINE_STRATEGIES: tuple[str, ...] = ("none", "class_weight", "random", "smote", "adasyn", "classical_aug")
#: Strategies that add GAN images to the training split. ``gan`` uses the DCGAN of S. Ghosh and S. Dutta's
#: paper (the reference generator); the others use the series' generator for limited data (the default one).
GAN_STRATEGIES: tuple[str, ...] = ("gan", "gan_improved", "gan_filtered", "gan_weighted", "gan_aug")
#: Whose fakes each GAN strategy appends: ``"reference"`` (the paper's DCGAN) or ``"default"`` (improved).
SYNTHETIC_SOURCE: dict[str, str] = {s: ("reference" if s == "gan" else "default") for s in GAN_STRATEGIES}
ALL_STRATEGIES: tuple[str, ...] = (*BASELINE_STRATEGIES, *GAN_STRATEGIES)
#: Table 1's configurations (the question both papers ask): strategy -> how tables and figures name it.
TABLE_1_ARMS: dict[str, str] = {"none": "without DCGAN", "gan": "with DCGAN", "gan_improved": "with improved GAN"}
#: SMOTE and ADASYN interpolate feature vectors: never pixels.
FEATURE_ONLY: tuple[str, ...] = ("smote", "adasyn")
#: Augmentation acts on images: never on feature vectors.
IMAGE_ONLY: tuple[str, ...] = ("classical_aug", "gan_aug")
#: What the feature classifiers of chapter 4 (DT, RF, SVM on ResNet-18 features) can run.
FEATURE_STRATEGIES: tuple[str, ...] = tuple(s for s in ALL_STRATEGIES if s not in IMAGE_ONLY)
#: What the pixel models (ANN, CNN, DenseNet121) can run.
PIXEL_STRATEGIES: tuple[str, ...] = tuple(s for s in ALL_STRATEGIES if s not in FEATURE_ONLY)


def synthetic_source(strategy: str) -> str:
    """``"reference"`` or ``"default"``: whose fakes a GAN strategy appends."""
    try:
        return SYNTHETIC_SOURCE[strategy]
    except KeyError:
        raise ValueError(f"{strategy!r} adds no synthetic images; GAN strategies: {list(GAN_STRATEGIES)}") from None


def check_strategies(strategies: object, allowed: tuple[str, ...] = ALL_STRATEGIES, where: str = "") -> tuple[str, ...]:
    """Return ``strategies`` as a tuple, or raise a ValueError naming the unknown ones."""
    if isinstance(strategies, str) or not hasattr(strategies, "__iter__"):
        raise ValueError(f"{where or 'strategies'} must be a list of names, got {strategies!r}")
    names = tuple(strategies)  # type: ignore[arg-type]
    unknown = [s for s in names if s not in allowed]
    if unknown:
        raise ValueError(f"{where or 'strategies'}: {unknown} not allowed here; choose from {list(allowed)}")
    return names
