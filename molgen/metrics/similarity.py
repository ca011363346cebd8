"""Tanimoto similarity between fingerprint sets, in blocks, as matrix products.

Fingerprints arrive packed (``n × n_bits/8`` uint8, LSB first, as RDKit's binary text).
The intersection counts of two blocks are one matrix product of their 0/1 bit matrices;
union = |a| + |b| − intersection. On CPU the product runs in bfloat16, which is exact here:
inputs are 0/1 and every partial sum is an integer no larger than a popcount, and bfloat16
holds integers exactly up to 256; sets with a fingerprint of more than 256 bits fall back
to float32. Only one ``block × len(b)`` slab of the matrix exists at a time.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

_BLOCK = 1024
_BF16_MAX = 256


def unpack(packed: np.ndarray) -> np.ndarray:
    """``(n, n_bits/8)`` packed uint8 -> ``(n, n_bits)`` 0/1 uint8."""
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=1, bitorder="little")


def _dtype(*popcounts: np.ndarray, device: str) -> torch.dtype:
    biggest = max((int(p.max()) for p in popcounts if len(p)), default=0)
    if device == "cpu" and biggest <= _BF16_MAX:
        return torch.bfloat16
    return torch.float32


def tanimoto_blocks(
    a: np.ndarray, b: np.ndarray, block: int = _BLOCK, device: str = "cpu"
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, S)`` with ``S[i, j]`` = Tanimoto(a[start + i], b[j]) (float32 tensor).

    Two empty fingerprints have similarity 1 (MOSES convention).
    """
    bits_a, bits_b = unpack(a), unpack(b)
    pa = bits_a.sum(1, dtype=np.int64)
    pb = bits_b.sum(1, dtype=np.int64)
    dtype = _dtype(pa, pb, device=device)
    tb = torch.from_numpy(bits_b).to(device=device, dtype=dtype)
    pb_t = torch.from_numpy(pb).to(device=device, dtype=torch.float32)
    with torch.no_grad():
        for start in range(0, len(bits_a), block):
            ta = torch.from_numpy(bits_a[start : start + block]).to(device=device, dtype=dtype)
            inter = (ta @ tb.T).float()
            pa_t = torch.from_numpy(pa[start : start + block]).to(device=device, dtype=torch.float32)
            union = pa_t[:, None] + pb_t[None, :] - inter
            sim = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))
            yield start, sim


def max_similarity(a: np.ndarray, b: np.ndarray, device: str = "cpu") -> np.ndarray:
    """For each row of ``a``, its highest Tanimoto similarity to any row of ``b`` (SNN's term)."""
    out = np.zeros(len(a))
    if len(a) == 0 or len(b) == 0:
        return np.full(len(a), np.nan)
    for start, sim in tanimoto_blocks(a, b, device=device):
        out[start : start + len(sim)] = sim.max(1).values.cpu().numpy()
    return out


def nearest_neighbour_within(a: np.ndarray, device: str = "cpu") -> np.ndarray:
    """For each row of ``a``, its highest similarity to any *other* row (0 for a single row),
    GuacaMol's internal-similarity descriptor (pairwise matrix with a zero diagonal, row max)."""
    out = np.zeros(len(a))
    if len(a) < 2:
        return out
    for start, sim in tanimoto_blocks(a, a, device=device):
        rows = torch.arange(len(sim))
        sim[rows, rows + start] = 0.0
        out[start : start + len(sim)] = sim.max(1).values.cpu().numpy()
    return out


def mean_similarity_powers(a: np.ndarray, powers: tuple[int, ...] = (1, 2), device: str = "cpu") -> dict[int, np.ndarray]:
    """Per row of ``a`` and per power p: mean over all rows of ``a`` (itself included) of
    Tanimoto^p (the IntDiv terms); one pass over the matrix for all powers."""
    out = {p: np.zeros(len(a)) for p in powers}
    if len(a) == 0:
        return out
    for start, sim in tanimoto_blocks(a, a, device=device):
        sim = sim.double()
        for p in powers:
            out[p][start : start + len(sim)] = (sim**p).mean(1).cpu().numpy()
    return out
