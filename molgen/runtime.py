"""Run-level helpers: one seed for every RNG, version stamps, the command line, device choice."""

from __future__ import annotations

import os
import platform
import random
import shlex
import sys

import numpy as np


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) so a run is reproducible."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def versions() -> dict[str, str]:
    """Versions of the packages a result depends on, for logs and checkpoints."""
    import rdkit
    import torch

    import molgen

    return {
        "molgen": molgen.__version__,
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # TorchVersion is not plain data for weights_only loading
        "rdkit": str(rdkit.__version__),
        "numpy": str(np.__version__),
    }


def command_line(argv: list[str] | None = None) -> str:
    """The exact command that is running, shell-quoted, to store in checkpoints and logs."""
    args = sys.argv if argv is None else ["molgen", *argv]
    prog = os.path.basename(args[0]) if args else "molgen"
    return shlex.join([prog, *args[1:]])


def pick_device(requested: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is returned after a check."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} requested but CUDA is not available; use --device cpu")
    return requested
