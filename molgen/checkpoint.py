"""Self-describing checkpoints shared by every model family.

A checkpoint is a plain dict saved with ``torch.save`` and loaded with
``torch.load(..., weights_only=True)`` (no pickled code is ever executed). It holds:

- ``format`` / ``format_version``: identify a molgen checkpoint
- ``kind``: ``"gvae"``, ``"cvae"``, ``"organ"`` … (which loader rebuilds it)
- ``config``: the model/training config as a plain dict (dataclasses.asdict)
- ``model``: the model ``state_dict``; ``optimizer``: optimizer state (optional)
- ``step`` / ``epoch``: progress counters
- ``grammar`` (``{"name", "text", "hash"}``) or ``vocab`` (``{"tokens", "hash"}``)
- ``command``: the exact command line that produced it; ``versions``: package versions
- ``extra``: anything else a family needs to resume (RNG states, best metric, …)
  as plain Python types / tensors only.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from molgen.atomic import atomic_path
from molgen.errors import CheckpointError

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "molgen-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (temp file + rename) with the format header added."""
    for key in ("kind", "config", "model"):
        if key not in payload:
            raise ValueError(f"checkpoint payload lacks required key {key!r}")
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return Path(path)


def load_checkpoint(
    path: str | os.PathLike, kind: str | tuple[str, ...] | None = None, map_location: str = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) and check its header and kind.

    Raises :class:`CheckpointError` naming the file and the reason: missing, not a
    torch file, unsafe/pickled content, not a molgen checkpoint, or the wrong kind.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    if not zipfile.is_zipfile(p):
        raise CheckpointError(f"{p}: not a readable torch checkpoint (not a torch zip archive; truncated or another format)")
    _check_crc(p)
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f"it references {found.group(1)}" if found else "it contains pickled Python objects"
        raise CheckpointError(
            f"{p}: refused to load: {what}, not plain data (checkpoints load with weights_only=True)"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{p}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a molgen checkpoint (no '{FORMAT}' header)")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format {data['format_version']} is newer than this molgen "
            f"supports ({FORMAT_VERSION}); upgrade molgen"
        )
    _check_finite(p, data)
    if kind is not None:
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        if data.get("kind") not in kinds:
            raise CheckpointError(
                f"{p}: checkpoint is a {data.get('kind')!r} model, expected {' or '.join(map(repr, kinds))}"
            )
    return data


#: the tensors a model is rebuilt from; a non-finite value in any of them is a damaged or diverged checkpoint
WEIGHT_KEYS = ("model", "discriminator", "rollout")


def _check_crc(p: Path) -> None:
    """Every member's CRC-32 checked against the archive's record (torch itself never checks it), so a
    flipped bit in the weights is refused instead of silently sampling other molecules."""
    try:
        with zipfile.ZipFile(p) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:  # a damaged header or member
        raise CheckpointError(f"{p}: damaged checkpoint ({type(exc).__name__}: {exc})") from exc
    if bad is not None:
        raise CheckpointError(f"{p}: damaged checkpoint: CRC mismatch in {bad} (the file was altered or corrupted)")


def _check_finite(p: Path, data: dict[str, Any]) -> None:
    """Refuse weights holding NaN or infinity (a diverged run or a damaged file), naming the tensor."""
    for key in WEIGHT_KEYS:
        state = data.get(key)
        if not isinstance(state, dict):
            continue
        for name, t in state.items():
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise CheckpointError(f"{p}: {key} weight {name!r} holds NaN or infinite values "
                                      "(a diverged run or a damaged file)")
