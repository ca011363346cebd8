"""Fréchet ChemNet Distance (Preuer et al. 2018) with fcd-torch's ChemNet.

The network and its weights are those shipped in ``fcd_torch`` 1.0.7
(``ChemNet_v0.13_pretrained.pt``, converted from the authors' Keras model). We load them
ourselves with ``torch.load(..., weights_only=True)`` (the file holds only tensors, dicts and
tuples, so it loads under torch ≥ 2.6 where ``weights_only`` defaults to True), encode
SMILES with fcd-torch's own one-hot encoder and compute the distance with the same formula
as ``fcd_torch.calculate_frechet_distance`` (which also passes a ``disp`` argument that
SciPy 1.18 removes), see :func:`frechet_distance`. Activations are computed once per unique SMILES and weighted by counts, which
gives exactly the mean and covariance of the full set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

FCD_PACKAGE = "fcd-torch 1.0.7"
_PAD_LEN = 350  # fcd-torch's fixed input length
_BATCH = 512


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch's LAPACK/BLAS on one thread: a 512×512 eigendecomposition gains nothing from
    more, and multithreaded LAPACK slows down by an order of magnitude on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class FCDStats:
    """Mean and covariance of ChemNet's penultimate-layer activations over a set."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


@functools.lru_cache(maxsize=None)
def chemnet(device: str = "cpu") -> torch.nn.Module:
    """fcd-torch's pretrained ChemNet in eval mode (loaded once per process and device)."""
    import fcd_torch
    from fcd_torch.utils import load_imported_model

    path = os.path.join(os.path.dirname(fcd_torch.__file__), "ChemNet_v0.13_pretrained.pt")
    config = torch.load(path, map_location="cpu", weights_only=True)
    model = load_imported_model(config)
    model.eval()
    return model.to(device)


@functools.lru_cache(maxsize=1)
def _vocab() -> tuple[dict[str, int], int, int, int]:
    """fcd-torch's token -> column map, unknown and end-of-string columns, width."""
    from fcd_torch import utils

    vocab = getattr(utils, "__vocab")  # module-level name, not mangled
    c2i = {k: i for i, k in enumerate(vocab)}
    return c2i, c2i["X"], c2i["."], len(vocab)


def token_ids(smiles: str) -> list[int]:
    """fcd-torch's ``get_one_hot`` tokenisation as column indices: a character plus a following
    ``r``/``i``/``l`` is one token (Br, Cl, Si, …), unknown tokens map to ``X``, the string stops
    at the first ``.`` and is cut at 349 tokens, then ``.`` ends it."""
    c2i, unk, dot, _ = _vocab()
    s = smiles + "."
    ids: list[int] = []
    src = 0
    while True:
        if s[src + 1] in "ril":
            sym, src = s[src : src + 2], src + 2
        else:
            sym, src = s[src], src + 1
        ids.append(c2i.get(sym, unk))
        if s[src] == "." or len(ids) == _PAD_LEN - 1:
            ids.append(dot)
            return ids


def _one_hot(smiles: Sequence[str]) -> torch.Tensor:
    """``(n, 350, 35)`` inputs exactly as fcd-torch's ``SmilesDataset`` builds them (one-hot
    divided by the vocabulary size), without its per-molecule float64 matrices."""
    width = _vocab()[3]
    x = torch.zeros(len(smiles), _PAD_LEN, width)
    rows, cols, vals = [], [], []
    for i, smi in enumerate(smiles):
        ids = token_ids(smi)
        rows.extend([i] * len(ids))
        cols.extend(range(len(ids)))
        vals.extend(ids)
    x[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long), torch.tensor(vals, dtype=torch.long)] = 1.0 / width
    return x


def activations(smiles: Sequence[str], device: str = "cpu", progress: bool = False) -> np.ndarray:
    """ChemNet activations ``(len(smiles), 512)`` for SMILES that RDKit can parse.

    Pass canonical SMILES: fcd-torch canonicalises before encoding, and so must the caller.
    """
    from tqdm.auto import tqdm

    model = chemnet(device)
    out = []
    with torch.no_grad():
        for i in tqdm(range(0, len(smiles), _BATCH), desc="FCD", unit="batch", disable=not progress):
            x = _one_hot(smiles[i : i + _BATCH]).transpose(1, 2).to(device)
            out.append(model(x).cpu().numpy().astype(np.float64))
    return np.vstack(out) if out else np.zeros((0, 512))


def fcd_stats(canonical_smiles: Sequence[str], device: str = "cpu", progress: bool = False) -> FCDStats | None:
    """Activation statistics of a set of canonical SMILES (duplicates count); ``None`` with a
    warning for fewer than two molecules, where a covariance is undefined."""
    n = len(canonical_smiles)
    if n < 2:
        warnings.warn(f"FCD needs at least 2 valid molecules ({n} given); reporting NaN", stacklevel=2)
        return None
    counts = Counter(canonical_smiles)
    unique = list(counts)
    weights = np.array([counts[s] for s in unique], dtype=np.int64)
    acts = activations(unique, device=device, progress=progress)
    with _one_thread():
        x = torch.from_numpy(acts)
        w = torch.from_numpy(weights).to(torch.float64)
        mu = (w[:, None] * x).sum(0) / n
        xc = x - mu
        sigma = (xc.T * w) @ xc / (n - 1)  # np.cov(acts.T, fweights=weights)
    return FCDStats(mu=mu.numpy(), sigma=sigma.numpy(), n=n)


def _sqrt_psd(sigma: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a covariance matrix (negative round-off eigenvalues clipped)."""
    w, v = torch.linalg.eigh(sigma)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d² = |mu1 − mu2|² + Tr(S1 + S2 − 2 (S1 S2)^½), the fcd-torch/TTUR formula.

    Tr((S1 S2)^½) is computed as the sum of square roots of the eigenvalues of the symmetric
    PSD matrix S1^½ S2 S1^½, which has the same spectrum as S1 S2: two symmetric
    eigendecompositions instead of ``scipy.linalg.sqrtm`` of a non-symmetric product, ~30×
    faster on 512×512 and free of its complex round-off.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"FCD statistics differ in shape: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    with _one_thread():
        s1 = torch.from_numpy(np.ascontiguousarray(sigma1, dtype=np.float64))
        s2 = torch.from_numpy(np.ascontiguousarray(sigma2, dtype=np.float64))
        root1 = _sqrt_psd((s1 + s1.T) / 2)
        inner = root1 @ s2 @ root1
        eig = torch.linalg.eigvalsh((inner + inner.T) / 2)
        tr_covmean = float(eig.clamp_min(0).sqrt().sum())
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fcd_from_stats(a: FCDStats | None, b: FCDStats | None) -> float:
    """FCD between two precomputed statistics (NaN if either is missing)."""
    if a is None or b is None:
        return float("nan")
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
