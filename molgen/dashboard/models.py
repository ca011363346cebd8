"""Models for the dashboard: shipped ones by name, user checkpoints by path, loading, summaries, sampling.

A user-typed model is a shipped name, a run directory or a ``*.pt`` file; anything else is an
:class:`~molgen.errors.InputError`. Checkpoints are loaded with ``weights_only=True`` by
:func:`molgen.checkpoint.load_checkpoint` (through :func:`molgen.api.load_model`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from molgen import api
from molgen.dashboard.tables import chunks
from molgen.errors import InputError, MolgenError, UsageError

#: Largest checkpoint the dashboard will load.
MAX_CHECKPOINT_BYTES = 2_000_000_000


def shipped_model_names() -> list[str]:
    """Names of the shipped models present on disk, the most valid first (by each model's
    ``report.json``; models without a report last, by name): a first-time user's first grid
    comes from the best model, not the weakest."""
    names = list(api.shipped_models())
    validity = {name: shipped_validity(name) for name in names}
    return sorted(names, key=lambda n: (validity[n] is None, -(validity[n] or 0.0)))


def shipped_validity(name: str) -> float | None:
    """Fraction of valid prior samples of a shipped model, from its ``report.json`` (``None`` without one)."""
    from molgen.evaluation.report import flat_metrics, load_report

    checkpoint = api.shipped_models().get(name)
    if checkpoint is None or not (checkpoint.parent / "report.json").is_file():
        return None
    try:
        flats = flat_metrics(load_report(checkpoint.parent))
    except MolgenError:
        return None
    entry = flats.get(name) or next(iter(flats.values()), {})
    for key in ("valid", "validity", "prior_validity"):
        value = entry.get(key)
        if value is not None and not math.isnan(value):
            return float(value)
    return None


def model_label(name: str) -> str:
    """A shipped model as the picker shows it: ``gvae · 100.0 % valid`` (the name alone without a report)."""
    validity = shipped_validity(name)
    return name if validity is None else f"{name} · {validity:.1%} valid"


def resolve_checkpoint(text: str) -> Path:
    """A shipped model name, a run directory or a ``*.pt`` file typed by the user, as a checkpoint path.

    Raises :class:`InputError` for anything else: missing path, a directory without a
    checkpoint, a file that is not ``.pt``, or an implausibly large file.
    """
    text = (text or "").strip()
    if not text:
        raise InputError("no model given: pick a shipped model or type a run directory / .pt checkpoint")
    if "\x00" in text:
        raise InputError("model path contains a NUL byte")
    shipped = api.shipped_models()
    if text in shipped:
        return shipped[text]
    p = Path(text).expanduser()
    try:
        p = p.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError(f"{text}: no such file or directory (and not a shipped model: "
                         f"{', '.join(shipped) or 'none installed'})") from None
    if p.is_dir():
        try:
            p = api.resolve_model_path(p).resolve()
        except UsageError as exc:
            raise InputError(str(exc)) from None
    if not p.is_file() or p.suffix != ".pt":
        raise InputError(f"{text}: only molgen checkpoints (*.pt files or run directories) are loaded")
    if p.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise InputError(f"{text}: {p.stat().st_size:,} bytes is too large for a molgen checkpoint")
    return p


def checkpoint_key(path: str | os.PathLike) -> tuple[str, float]:
    """Cache key for a checkpoint: its path and modification time, so a retrained file reloads."""
    p = Path(path)
    return str(p), p.stat().st_mtime


def load_generator(path: str | os.PathLike) -> api.Generator:
    """Load a checkpoint resolved by :func:`resolve_checkpoint` (safe ``weights_only`` load)."""
    return api.load_model(Path(path))


def is_latent(model: Any) -> bool:
    """True for models with an encoder (GVAE, CVAE): the Latent space page works with them."""
    return callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))


def with_article(word: str) -> str:
    """``word`` after "a" or "an" as spoken: "an organ", "a gvae", "an ORGAN", "a cvae"."""
    return f"{'an' if word[:1].lower() in 'aeio' else 'a'} {word}"


def model_name(model: Any) -> str:
    """Short name of a loaded model for labels, files and comparisons: the shipped name (``gvae``),
    or the run folder's / checkpoint's name."""
    from molgen.evaluation.report import model_label

    source = getattr(model, "source", "") or getattr(model, "kind", "model")
    return model_label(str(source))


def model_summary(model: Any) -> dict[str, Any]:
    """Short description of a loaded model for display: kind, source, step, training command."""
    ckpt = getattr(model, "checkpoint", {}) or {}
    out = {"kind": getattr(model, "kind", ckpt.get("kind", "?")), "checkpoint": getattr(model, "source", "")}
    codec = getattr(model, "codec", None)
    if getattr(codec, "grammar", None) is not None:
        # a Grammar VAE: which grammar, and whether its decodes are valid by construction
        out["grammar"] = f"{codec.grammar.name} ({codec.constraints} constraints)"
    for key in ("step", "epoch"):
        if key in ckpt:
            out[key] = ckpt[key]
    if ckpt.get("command"):
        out["command"] = ckpt["command"]
    return out


def generate_table(
    model: api.Generator,
    n: int,
    temperature: float = 1.0,
    seed: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    chunk: int = 250,
    batch_size: int = 512,
) -> pd.DataFrame:
    """``n`` samples with validity, canonical SMILES and properties; the same rows as
    :func:`molgen.sampling.sample_table` (so the CLI and the dashboard agree for a seed).

    ``progress(fraction, message)`` is called after every decoded batch of ``batch_size`` (first
    half) and every property chunk of ``chunk`` molecules (second half).
    """
    from molgen.sampling import annotate, iter_sample_tables

    if n < 1:
        raise UsageError("number of molecules must be at least 1")
    if not temperature > 0:
        raise UsageError("temperature must be positive")
    report = progress or (lambda fraction, message: None)
    report(0.0, f"Sampling {n:,} strings…")
    raw: list[str] = []

    def batch_done(drawn: int) -> None:
        report(0.5 * min(drawn, n) / n, f"Sampled {min(drawn, n):,} / {n:,} strings")

    for part in iter_sample_tables(model, n, seed=seed, temperature=temperature, properties=False,
                                   batch_size=batch_size, on_batch=batch_done):
        raw.extend(part["smiles"].tolist())
    report(0.5, f"Computing properties of {len(raw):,} molecules…")
    # At most ~20 progress steps; chunks big enough for worker processes use all cores.
    size = max(chunk, math.ceil(len(raw) / 20))
    frames = []
    for i, part in enumerate(chunks(raw, size)):
        frames.append(annotate(list(part), properties=True, n_jobs=None if size >= 2000 else 1))
        done = min((i + 1) * size, len(raw))
        report(0.5 + 0.5 * done / max(1, len(raw)), f"Properties {done:,} / {len(raw):,}")
    if not frames:
        return annotate([], properties=True)
    return pd.concat(frames, ignore_index=True)


def generation_summary(table: pd.DataFrame) -> dict[str, str]:
    """Headline figures of a generated table for display: count, validity, uniqueness, mean QED."""
    out = {"Generated": f"{len(table):,}"}
    if "valid" not in table.columns or table.empty:
        return out
    valid = table["valid"].astype(bool)
    key = "canonical_smiles" if "canonical_smiles" in table.columns else "smiles"
    out["Valid"] = f"{valid.mean():.1%}"
    out["Unique (of valid)"] = f"{table.loc[valid, key].nunique() / valid.sum():.1%}" if valid.any() else "–"
    if "qed" in table.columns:
        out["Mean QED (valid)"] = f"{table.loc[valid, 'qed'].mean():.3f}" if valid.any() else "–"
    return out
