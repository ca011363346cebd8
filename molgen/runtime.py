"""Run-level helpers: version stamps, the command line, device choice, the CPU thread policy (seeds:
:mod:`molgen.training.rng`)."""

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
    if args and os.path.normpath(args[0]).endswith((os.path.join("molgen", "cli.py"), os.path.join("molgen", "__main__.py"))):
        prog = "molgen"  # ``python -m molgen(.cli)``: record the command that runs the same thing
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


def free_cores() -> int:
    """Cores this process may use that are not already busy: the CPUs it is allowed to run on
    minus the 1-minute load average (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def apply_thread_policy(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set the OpenMP thread policy before torch loads (it reads these once, at import): threads
    wait passively (``OMP_WAIT_POLICY=PASSIVE``: a waiting thread sleeps instead of spinning on a
    core another process needs) and there are as many as there are free cores.

    On a busy machine torch's default (one spinning thread per core) collapsed: sampling 10,000
    molecules took 91 s instead of 14 s (``benchmarks/bench_thread_policy.py`` measures both).
    Values the user set are kept; ``MOLGEN_THREADS=N`` asks for N threads, ``MOLGEN_THREADS=torch``
    leaves torch's defaults. Returns what was set.
    """
    env = os.environ if environ is None else environ
    wanted = env.get("MOLGEN_THREADS", "").strip().lower()
    if wanted == "torch":
        return {}
    chosen: dict[str, str] = {}
    if "OMP_WAIT_POLICY" not in env:
        chosen["OMP_WAIT_POLICY"] = "PASSIVE"
    if "OMP_NUM_THREADS" not in env:
        chosen["OMP_NUM_THREADS"] = wanted if wanted.isdigit() and int(wanted) > 0 else str(free_cores())
    env.update(chosen)
    return chosen
