"""Numeric precision as a setting: ``fp32``, ``bf16`` (autocast) or ``auto``.

bf16 autocast runs matrix products (linear layers, LSTM/GRU cells, convolutions) in bfloat16
while weights, optimizer state, losses and every softmax stay in float32: on CPUs with AMX or
AVX-512 BF16 and on bf16-capable GPUs the products run several times faster (a 1024-row step of
a 2 x 512 LSTM: 126 ms fp32, 30 ms bf16 on one core here). bf16 keeps fp32's exponent range, so
no loss scaling is needed. ``auto`` picks bf16 only where the hardware runs it natively
(:func:`bf16_supported`), fp32 elsewhere. What bf16 changes is measured in
``benchmarks/bench_precision.py``; the defaults follow from it (see the README).

Logits that leave an autocast region are bf16: :func:`logits_fp32` is where every masked
softmax, log-softmax and draw casts them back, so masking with ``-inf`` and the cumulative sums
of the draws stay exact in float32.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # torch loads lazily: configs and the CLI's argument types import this module
    import torch

#: the values of every ``precision`` setting and ``--precision`` option
PRECISIONS = ("fp32", "bf16", "auto")
#: what ``auto`` resolves to, and what checkpoints and reports record
RESOLVED = ("fp32", "bf16")
#: /proc/cpuinfo flags of CPUs that run bf16 products natively
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bf16 matrix products natively (AMX or AVX-512 BF16): torch's own
    probe where the build has it, else the flags in ``/proc/cpuinfo``."""
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if any(p is not None for p in probes):
        return any(bool(p()) for p in probes if p is not None)
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(f in flags for f in CPU_BF16_FLAGS)


def bf16_supported(device: str | torch.device) -> bool:
    """Whether ``device`` runs bf16 natively: a CUDA device that says so (Ampere and later), or a
    CPU with AMX / AVX-512 BF16. Elsewhere bf16 is emulated and slower than fp32."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return cpu_bf16_supported()
    return False


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """``fp32`` or ``bf16``: ``auto`` becomes bf16 where :func:`bf16_supported`, fp32 elsewhere;
    an explicit ``bf16`` is kept (it runs everywhere, emulated where unsupported). An unknown
    value is a :class:`~molgen.errors.UsageError`."""
    if precision not in PRECISIONS:
        from molgen.errors import UsageError

        raise UsageError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


@contextlib.contextmanager
def autocast(device: str | torch.device, precision: str) -> Iterator[None]:
    """bf16 autocast on ``device``'s type for ``precision`` ``bf16`` (``auto`` resolved first);
    nothing for ``fp32``. Weights stay float32; only the products inside run in bf16."""
    import torch

    device = torch.device(device)
    if resolve_precision(precision, device) == "fp32":
        yield
        return
    with torch.autocast(device.type, dtype=torch.bfloat16):
        yield


def logits_fp32(logits: "torch.Tensor") -> "torch.Tensor":
    """``logits`` as float32 (a copy when they came out of a bf16 product, the tensor itself when
    already float32): what a mask of -inf and a softmax, log-softmax or draw must work on."""
    return logits.float()  # returns ``logits`` itself when it is float32 already
