"""Seeds and random-number state: one seed for every RNG, one way to derive sub-seeds, and
capture/restore of every RNG a run uses so that ``--resume`` continues the same streams.

torch is imported where it is used, so :func:`derive_seed` (sampling, decoding) costs no torch import.
"""

from __future__ import annotations

import hashlib
import logging
import random
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

log = logging.getLogger("molgen.train")

if TYPE_CHECKING:
    import torch


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) so a run is reproducible."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def derive_seed(seed: int, *keys: int) -> int:
    """An independent, reproducible 32-bit seed for the stream named by ``keys`` under ``seed``.

    NumPy's ``SeedSequence`` hashes ``[seed, *keys]``, so nearby seeds and keys give unrelated
    streams (unlike ``seed + k``, where run 0's stream 1 is run 1's stream 0). Used for sampling
    chunks, training steps, epoch orders and validation draws alike.
    """
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1)[0])


def capture_rng(generators: Mapping[str, torch.Generator] | None = None) -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global RNGs and of named generators, as plain
    types and tensors (loadable with ``weights_only=True``)."""
    import torch

    py = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {"kind": kind, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if generators:
        state["generators"] = {name: g.get_state() for name, g in generators.items()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any], generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Put back what :func:`capture_rng` saved (parts a checkpoint lacks are left as they are)."""
    import torch

    if "python" in state:
        py = state["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    saved = state.get("generators", {})
    for name, g in (generators or {}).items():
        # checkpoints written before the shared format kept a VAE's one generator under "generator"
        g_state = saved.get(name, state.get(name))
        if g_state is None:
            continue
        if g_state.numel() != g.get_state().numel():
            # saved on another device type (a CPU generator's state is 5,056 bytes, a CUDA one's 16):
            # torch cannot carry a stream across, so continue from a seed the saved state fixes
            seed = int.from_bytes(hashlib.sha256(g_state.numpy().tobytes()).digest()[:4], "little")
            log.warning("generator %r was saved on another device type: its stream continues from a seed "
                        "derived from the saved state (reproducible, but not the uninterrupted run's)", name)
            g.manual_seed(seed)
            continue
        g.set_state(g_state)
