"""k-NN manifold metrics: precision / recall, density / coverage, diversity and memorisation.

* Precision / recall (Kynkäänniemi et al. 2019): share of fakes inside the real k-NN manifold /
  share of reals inside the fake k-NN manifold.
* Density / coverage (Naeem et al. 2020): how many real k-NN balls hold each fake on average
  (over k) / share of real images whose ball holds at least one fake.
* Diversity: mean distance between random pairs (low = mode collapse).
* Memorisation: each fake's nearest training image against real-to-real nearest-neighbour distances.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

from helpers.evaluation.distances import as_rows

__all__ = ["precision_recall", "density_coverage", "diversity", "memorization", "closest_pairs"]


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest neighbour in ``x``, excluding itself."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples, got {len(x)}")
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]


def _in_balls(query: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int = 1024) -> Iterator[np.ndarray]:
    """Chunks of the (query, centre) matrix "query lies in the centre's ball" (boundary inside)."""
    for start in range(0, len(query), chunk):
        yield cdist(query[start : start + chunk], centres) <= radii[None, :]


def _share_inside(query: np.ndarray, centres: np.ndarray, k: int) -> float:
    hits = [m.any(axis=1) for m in _in_balls(query, centres, _knn_radii(centres, k))]
    return float(np.concatenate(hits).mean()) if hits else float("nan")


def precision_recall(real_feats: Any, fake_feats: Any, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall with k-NN balls (radius: k-th neighbour in the own set).

    Precision = share of fakes inside some real ball; recall = share of reals inside some fake
    ball. Both depend on sample sizes and ``k``: compare with a real-vs-real reference.
    """
    real, fake = as_rows(real_feats), as_rows(fake_feats)
    return _share_inside(fake, real, k), _share_inside(real, fake, k)


def density_coverage(real_feats: Any, fake_feats: Any, k: int = 5) -> tuple[float, float]:
    """Density and coverage, built on the real k-NN balls only.

    Density = (1 / (k M)) Σ_fakes (real balls holding the fake): about 1 for fakes distributed like
    reals. Coverage = share of real balls holding at least one fake: about 1 - 2^-k for identical
    distributions at equal sizes, near 0 for a collapsed generator.
    """
    real, fake = as_rows(real_feats), as_rows(fake_feats)
    if len(fake) == 0:
        raise ValueError("density and coverage need at least one fake")
    held, covered = 0, np.zeros(len(real), dtype=bool)
    for inside in _in_balls(fake, real, _knn_radii(real, k)):
        held += int(inside.sum())
        covered |= inside.any(axis=0)
    return float(held / (k * len(fake))), float(covered.mean())


def diversity(feats: Any, n_pairs: int = 2000, seed: int = 0) -> float:
    """Mean Euclidean distance between ``n_pairs`` random pairs of distinct samples."""
    x = as_rows(feats)
    if len(x) < 2:
        raise ValueError("diversity needs at least two samples")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(x), n_pairs)
    j = (i + rng.integers(1, len(x), n_pairs)) % len(x)  # j != i
    return float(np.linalg.norm(x[i] - x[j], axis=1).mean())


def memorization(fake: Any, train: Any, *, percentile: float = 1.0) -> dict[str, Any]:
    """Nearest training sample of every fake, judged against real-to-real distances.

    The threshold is the ``percentile``-th percentile of each training sample's distance to its
    nearest *other* training sample; a fake at or below it counts as memorised. Returns ``share``,
    ``n_memorized``, ``threshold``, ``percentile``, ``nn_index`` / ``nn_distance`` (per fake),
    ``train_nn_distance``, ``n_fake``, ``n_train``.
    """
    f, t = as_rows(fake), as_rows(train)
    if len(t) < 2:
        raise ValueError("memorization needs at least two training samples")
    nn = NearestNeighbors(n_neighbors=2).fit(t)
    train_nn = nn.kneighbors(t)[0][:, 1]
    fake_dist, fake_idx = nn.kneighbors(f, n_neighbors=1)
    threshold = float(np.percentile(train_nn, percentile))
    close = fake_dist[:, 0] <= threshold
    return {
        "share": float(close.mean()) if len(f) else float("nan"),
        "n_memorized": int(close.sum()),
        "threshold": threshold,
        "percentile": float(percentile),
        "nn_index": fake_idx[:, 0],
        "nn_distance": fake_dist[:, 0],
        "train_nn_distance": train_nn,
        "n_fake": len(f),
        "n_train": len(t),
    }


def closest_pairs(result: dict[str, Any], k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(fake indices, train indices) of the ``k`` fakes closest to a training sample, closest first."""
    order = np.argsort(result["nn_distance"], kind="stable")[:k]
    return order, np.asarray(result["nn_index"])[order]
