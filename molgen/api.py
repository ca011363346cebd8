"""Public model API: ``load_model`` by shipped name or checkpoint path, one protocol for all families.

Every family of the registry (:mod:`molgen.families`) has an ``api.from_checkpoint(ckpt, device)``
returning an object that follows :class:`Generator` (VAEs also :class:`LatentGenerator`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

from molgen import paths
from molgen.checkpoint import load_checkpoint
from molgen.errors import CheckpointError, ConfigError, UsageError
from molgen.families import FAMILIES, family

log = logging.getLogger(__name__)

#: Shipped checkpoints: data/models/<name>/model.pt (override the folder with MOLGEN_MODELS_DIR).
MODELS_DIR = paths.MODELS_DIR


@runtime_checkable
class Generator(Protocol):
    """A trained generative model that samples SMILES strings (possibly invalid ones)."""

    kind: str
    checkpoint: dict

    def sample(
        self, n: int, *, temperature: float = 1.0, seed: int | None = None, batch_size: int = 512,
        progress: bool | Callable[[int], None] = False,
    ) -> list[str]:
        """``n`` raw decoded strings, reproducible for a given seed; ``progress`` is True for a
        progress bar or a callable given the number decoded so far after each batch."""
        ...


@runtime_checkable
class LatentGenerator(Generator, Protocol):
    """A VAE: adds an encoder to latent vectors and a decoder back to SMILES."""

    latent_size: int

    def encode(self, smiles: Sequence[str]):
        """Posterior means, a ``(len(smiles), latent_size)`` tensor; raises ``GrammarError``/``ValueError`` for unencodable input."""
        ...

    def decode(self, z, *, greedy: bool = True, temperature: float = 1.0, seed: int | None = None) -> list[str]:
        """Decode a ``(n, latent_size)`` tensor to ``n`` strings."""
        ...


def shipped_models() -> dict[str, Path]:
    """Names of the shipped models and their checkpoint paths (those present on disk)."""
    if not MODELS_DIR.is_dir():
        return {}
    return {p.parent.name: p for p in sorted(MODELS_DIR.glob("*/model.pt"))}


def _looks_like_path(text: str) -> bool:
    """``./gvae``, ``runs/gvae``, ``model.pt``: written as a path, so never a shipped name."""
    return os.sep in text or (os.altsep is not None and os.altsep in text) or text.startswith(".") or text.endswith(".pt")


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name, a run directory (its ``checkpoints/best.pt``/``last.pt``) or a file.

    A bare name that is both a shipped model and a folder or file here resolves to the shipped model,
    with a warning naming both; written as a path (``./gvae``) it always means the folder or file.
    """
    text = str(name_or_path)
    p = Path(name_or_path)
    shipped = shipped_models()
    if text in shipped and not _looks_like_path(text):
        if p.exists():
            log.warning("%r is both a shipped model (%s) and a %s here; using the shipped model "
                        "(write ./%s for the local one)", text, shipped[text], "folder" if p.is_dir() else "file", text)
        return shipped[text]
    if p.is_dir():
        for cand in ("model.pt", "checkpoints/best.pt", "checkpoints/last.pt", "best.pt", "last.pt"):
            if (p / cand).is_file():
                return p / cand
        raise UsageError(f"{p}: run directory holds no checkpoint (looked for model.pt, checkpoints/best.pt, checkpoints/last.pt)")
    if p.is_file():
        return p
    names = ", ".join(shipped) or "none installed"
    raise UsageError(f"unknown model {text!r}: not a shipped model ({names}), run directory or checkpoint file")


def load_model(name_or_path: str | os.PathLike, device: str = "cpu", precision: str = "fp32") -> Generator:
    """Load a shipped model by name (``gvae``, ``cvae``, ``organ-qed`` …) or a checkpoint/run directory.

    ``precision`` (``fp32``, ``bf16`` or ``auto``: :mod:`molgen.precision`) is what the model samples
    and decodes in; the model's ``precision`` holds it resolved (fp32 or bf16).

    ``device`` is checked first (``auto``, ``cpu``, ``cuda:N``), so a bad device name is blamed, not the
    checkpoint; a checkpoint whose stored config is out of bounds is refused before any allocation.
    """
    from molgen.precision import resolve_precision
    from molgen.runtime import pick_device

    device = pick_device(device)
    resolve_precision(precision, device)  # an unknown precision fails before the checkpoint is read
    path = resolve_model_path(name_or_path)
    ckpt = load_checkpoint(path, kind=tuple(FAMILIES), map_location=device)
    try:
        model = family(ckpt["kind"]).load(ckpt, device)
    except (ConfigError, CheckpointError) as exc:  # name the file the loader refused
        if str(path) in str(exc):
            raise
        raise CheckpointError(f"{path}: {exc}") from exc
    model.source = str(path)
    model.precision = resolve_precision(precision, device)
    return model
