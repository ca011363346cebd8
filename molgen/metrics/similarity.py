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


def _tensors(bits: np.ndarray, counts: np.ndarray, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, ...]:
    """0/1 bit rows in the matrix-product dtype and their popcounts in float32, on ``device``."""
    return (torch.from_numpy(bits).to(device=device, dtype=dtype),
            torch.from_numpy(counts).to(device=device, dtype=torch.float32))


def _tanimoto(ta: torch.Tensor, pa: torch.Tensor, tb: torch.Tensor, pb: torch.Tensor) -> torch.Tensor:
    """Tanimoto matrix of bit rows ``ta`` x ``tb`` with popcounts ``pa``, ``pb`` (float32).

    Beyond the matrix product the slab is memory-bound, so it is built in place with one
    temporary (the union): inter / (|a| + |b| - inter), every operand an exact integer in
    float32, so the quotient is the same correctly rounded value however it is arranged.
    """
    sim = (ta @ tb.T).float()
    union = pa[:, None] + pb[None, :]
    union.sub_(sim)
    sim.div_(union)
    # A union of 0 (0/0 above) needs an empty ``a`` fingerprint: such a row is 1 against the
    # empty ``b`` fingerprints and 0 against the rest.
    empty_a = torch.nonzero(pa == 0).flatten()
    if len(empty_a):
        sim[empty_a] = (pb == 0).float()
    return sim


def tanimoto_blocks(
    a: np.ndarray, b: np.ndarray, block: int = _BLOCK, device: str = "cpu"
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, S)`` with ``S[i, j]`` = Tanimoto(a[start + i], b[j]) (float32 tensor).

    Two empty fingerprints have similarity 1 (MOSES convention). ``S`` is a fresh tensor the
    caller may modify in place.
    """
    bits_a, bits_b = unpack(a), unpack(b)
    pa = bits_a.sum(1, dtype=np.int64)
    pb = bits_b.sum(1, dtype=np.int64)
    dtype = _dtype(pa, pb, device=device)
    tb, pb_t = _tensors(bits_b, pb, dtype, device)
    with torch.no_grad():
        for start in range(0, len(bits_a), block):
            rows = slice(start, start + block)
            yield start, _tanimoto(*_tensors(bits_a[rows], pa[rows], dtype, device), tb, pb_t)


def max_similarity(a: np.ndarray, b: np.ndarray, device: str = "cpu") -> np.ndarray:
    """For each row of ``a``, its highest Tanimoto similarity to any row of ``b`` (SNN's term)."""
    out = np.zeros(len(a))
    if len(a) == 0 or len(b) == 0:
        return np.full(len(a), np.nan)
    for start, sim in tanimoto_blocks(a, b, device=device):
        out[start : start + len(sim)] = torch.amax(sim, 1).cpu().numpy()
    return out


def nearest_neighbour_within(a: np.ndarray, device: str = "cpu") -> np.ndarray:
    """For each row of ``a``, its highest similarity to any *other* row (0 for a single row),
    GuacaMol's internal-similarity descriptor (pairwise matrix with a zero diagonal, row max).

    The matrix is symmetric (exact integer counts), so only its upper part is computed: the
    slab of rows ``i..i+block`` against columns ``i..n`` gives those rows' maxima over these
    columns, and its column maxima are the later rows' maxima over these rows. Maxima are
    exact, so the result equals the row maxima of the full matrix.
    """
    n = len(a)
    if n < 2:
        return np.zeros(n)
    bits = unpack(a)
    counts = bits.sum(1, dtype=np.int64)
    t, p = _tensors(bits, counts, _dtype(counts, device=device), device)
    best = torch.zeros(n, device=device)  # the zeroed diagonal is in every row's maximum
    with torch.no_grad():
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            sim = _tanimoto(t[start:stop], p[start:stop], t[start:], p[start:])
            diag = torch.arange(stop - start, device=device)
            sim[diag, diag] = 0.0
            best[start:stop] = torch.maximum(best[start:stop], torch.amax(sim, 1))
            if stop < n:
                best[stop:] = torch.maximum(best[stop:], torch.amax(sim[:, stop - start :], 0))
    return best.cpu().numpy().astype(np.float64)


def mean_similarity_powers(a: np.ndarray, powers: tuple[int, ...] = (1, 2), device: str = "cpu") -> dict[int, np.ndarray]:
    """Per row of ``a`` and per power p: mean over all rows of ``a`` (itself included) of
    Tanimoto^p (the IntDiv terms); one pass over the matrix for all powers."""
    out = {p: np.zeros(len(a)) for p in powers}
    if len(a) == 0:
        return out
    for start, sim in tanimoto_blocks(a, a, device=device):
        sim = sim.double()
        for p in powers:
            term = sim if p == 1 else sim**p  # T^1 needs no copy of the slab
            out[p][start : start + len(sim)] = term.mean(1).cpu().numpy()
    return out
