"""Run-level helpers: version stamps, the command line, device choice (seeds: :mod:`molgen.training.rng`)."""

from __future__ import annotations

import os
import platform
import shlex
import sys

import numpy as np


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
    if args and os.path.normpath(args[0]).endswith(os.path.join("molgen", "cli.py")):
        prog = "molgen"  # ``python -m molgen.cli``: record the command that runs the same thing
    return shlex.join([prog, *args[1:]])


def pick_device(requested: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is returned after a check.

    An unknown device name or CUDA on a machine without it is a :class:`~molgen.errors.UsageError`
    (one clear line from the CLI, exit 2), never a traceback.
    """
    import torch

    from molgen.errors import UsageError

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown device {requested!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {requested!r} requested but CUDA is not available on this machine; use --device cpu")
    return requested
