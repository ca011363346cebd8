"""Comparing distributions: GuacaMol KL divergences, count-vector cosine, property statistics."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Mapping

import numpy as np
from scipy.stats import entropy, wasserstein_distance

_EPS = 1e-10  # GuacaMol's floor added to both densities before the KL divergence
_GRID = 1000  # KDE evaluation points (GuacaMol)
_BINS = 10  # histogram bins for discrete descriptors (GuacaMol)


def gaussian_kde_1d(samples: np.ndarray, points: np.ndarray) -> np.ndarray:
    """1-D Gaussian KDE with Scott's bandwidth, as ``scipy.stats.gaussian_kde``, evaluated at
    ``points``. Unlike SciPy it accepts a constant sample (bandwidth floored at 1e-3 × spread,
    so a point mass stays a narrow peak instead of raising)."""
    x = np.asarray(samples, dtype=float)
    n = len(x)
    std = x.std(ddof=1) if n > 1 else 0.0
    h = std * n ** (-1.0 / 5.0)
    if not h > 0:
        spread = float(np.ptp(points)) if len(points) else 0.0
        h = 1e-3 * (spread if spread > 0 else max(1.0, abs(float(x[0]))))
    out = np.empty(len(points))
    norm = 1.0 / (n * h * np.sqrt(2 * np.pi))
    for i in range(0, len(points), 100):  # 100 points × n samples at a time bounds memory
        z = (points[i : i + 100, None] - x[None, :]) / h
        out[i : i + 100] = np.exp(-0.5 * z * z).sum(1) * norm
    return out


def continuous_kl(reference: np.ndarray, sample: np.ndarray) -> float:
    """KL(reference ‖ sample) of Gaussian-KDE densities on 1000 points spanning both sets (GuacaMol)."""
    if len(reference) == 0 or len(sample) == 0:
        return float("nan")
    both = np.concatenate([reference, sample])
    grid = np.linspace(both.min(), both.max(), _GRID)
    if grid[0] == grid[-1]:
        return 0.0  # both sets are the same single value
    p = gaussian_kde_1d(reference, grid) + _EPS
    q = gaussian_kde_1d(sample, grid) + _EPS
    return float(entropy(p, q))


def discrete_kl(reference: np.ndarray, sample: np.ndarray) -> float:
    """KL(reference ‖ sample) of 10-bin histograms with the reference's bins (GuacaMol).
    Sample values outside the reference range fall outside every bin, as in GuacaMol."""
    if len(reference) == 0 or len(sample) == 0:
        return float("nan")
    p, bins = np.histogram(reference, bins=_BINS, density=True)
    q, _ = np.histogram(sample, bins=bins, density=True)
    if not np.isfinite(q).all():  # every sample value fell outside the reference bins
        q = np.zeros_like(p)
    return float(entropy(p + _EPS, q + _EPS))


def kl_divergences(
    reference: np.ndarray, sample: np.ndarray, names: tuple[str, ...], n_continuous: int
) -> dict[str, float]:
    """Per-column KL divergences of two descriptor matrices; the first ``n_continuous``
    columns by KDE, the rest by histogram."""
    out = {}
    for i, name in enumerate(names):
        fn = continuous_kl if i < n_continuous else discrete_kl
        out[name] = fn(reference[:, i], sample[:, i])
    return out


def kl_score(divergences: Mapping[str, float]) -> float:
    """GuacaMol's score: mean of exp(−KL) over descriptors, in [0, 1] (1 = identical)."""
    values = np.array(list(divergences.values()), dtype=float)
    if len(values) == 0 or not np.isfinite(values).all():
        return float("nan")
    return float(np.mean(np.exp(-values)))


def cosine_similarity(reference: Counter, sample: Counter) -> float:
    """Cosine similarity of two count vectors keyed by name (absent = 0); NaN with a warning
    when either is empty (MOSES ``Frag``/``Scaf``)."""
    if not reference or not sample:
        warnings.warn("fragment/scaffold similarity undefined for an empty set; reporting NaN", stacklevel=3)
        return float("nan")
    keys = list(set(reference) | set(sample))
    a = np.array([reference.get(k, 0) for k in keys], dtype=float)
    b = np.array([sample.get(k, 0) for k in keys], dtype=float)
    return float(a.dot(b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def wasserstein(reference: np.ndarray, sample: np.ndarray) -> float:
    """1-D Wasserstein-1 distance between two samples (MOSES property metrics); NaN if either is empty."""
    if len(reference) == 0 or len(sample) == 0:
        return float("nan")
    return float(wasserstein_distance(reference, sample))
