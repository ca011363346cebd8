"""Scoring a set of SMILES and a model into report entries (see :mod:`molgen.evaluation`)."""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from molgen import paths

log = logging.getLogger("molgen.evaluate")

#: The shipped MOSES sample: the default references.
DEFAULT_REFERENCES = {"train": paths.MOSES_DIR / "train.csv.gz", "test": paths.MOSES_DIR / "test.csv.gz",
                      "test_scaffolds": paths.MOSES_DIR / "test_scaffolds.csv.gz"}


@dataclass
class Settings:
    """How sets and models are scored (``n_samples`` … ``n_stochastic`` concern models only;
    ``n_stochastic = 0`` skips the VAE paper-protocol reconstruction)."""

    n_samples: int = 10000
    seed: int = 0
    temperature: float = 1.0
    n_recon: int = 1000
    n_stochastic: int = 0
    fcd: bool = True
    n_jobs: int | None = None
    device: str = "cpu"
    precision: str = "fp32"  # the models' sampling precision (fp32, bf16 or auto: molgen.precision)
    progress: bool = False
    cache: bool = True
    scheduler: str | None = None  # a Dask cluster for the generated sets' RDKit features


def read_raw_smiles(path: str | Path, column: str | None = None) -> list[str]:
    """Every record's SMILES as written, invalid and empty ones included (SDF records are
    converted; an unreadable mol block becomes an empty string)."""
    from rdkit import Chem

    from molgen.data import iter_records, parse_record

    out = []
    for rec in iter_records(path, column=column):
        if rec.smiles is not None:
            out.append(rec.smiles)
        else:
            mol, _ = parse_record(rec)
            out.append("" if mol is None else Chem.MolToSmiles(mol))
    return out


def display_path(path: str | Path | None) -> str | None:
    """``path`` relative to the working folder when inside it (reports name files portably), else as given."""
    if path is None:
        return None
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _log_warnings(caught: Sequence[warnings.WarningMessage], label: str) -> None:
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            log.warning("%s: %s", label, msg)


@dataclass
class References:
    """Reference sets (raw SMILES, ``None`` when skipped), their paths, and their statistics."""

    smiles: dict[str, list[str] | None]
    files: dict[str, str | None]
    stats: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, train: str | Path | None, test: str | Path | None, test_scaffolds: str | Path | None) -> "References":
        """Read the reference files (``None`` or ``'none'`` skips one); statistics come later
        (:meth:`compute`), so a missing input fails before minutes of them."""
        smiles, files = {}, {}
        for role, path in (("train", train), ("test", test), ("test_scaffolds", test_scaffolds)):
            if path is None or str(path).strip().lower() in ("", "none"):
                smiles[role] = files[role] = None
                continue
            smiles[role] = read_raw_smiles(path)
            files[role] = display_path(path)
            log.info("%s set: %s (%d SMILES)", role, path, len(smiles[role]))
        return cls(smiles, files)

    def compute(self, settings: Settings) -> "References":
        """Statistics of each set (:func:`molgen.metrics.reference_stats`, disk-cached)."""
        from molgen.metrics import reference_stats

        opts = dict(n_jobs=settings.n_jobs, progress=settings.progress, cache=settings.cache)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for role, smiles in self.smiles.items():
                if smiles is None:
                    self.stats[role] = None
                elif role == "train":
                    self.stats[role] = reference_stats(smiles, "train", **opts)
                else:
                    self.stats[role] = reference_stats(smiles, "test", fcd=settings.fcd, device=settings.device, **opts)
        _log_warnings(caught, "reference")
        return self


def score_smiles(smiles: Sequence[str], refs: References, settings: Settings, label: str = "generated") -> dict[str, float]:
    """Distribution metrics of raw strings (:func:`molgen.metrics.evaluate`), plus
    ``unique_valid`` (distinct among all valid, defined even below 10,000 valid) and
    ``mean_length_chars``."""
    from molgen.metrics import evaluate

    log.info("scoring %s (%d strings)", label, len(smiles))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = evaluate(list(smiles), refs.stats.get("train"), refs.stats.get("test"), refs.stats.get("test_scaffolds"),
                       n_jobs=settings.n_jobs, fcd=settings.fcd, device=settings.device, progress=settings.progress,
                       scheduler=settings.scheduler)
    _log_warnings(caught, label)
    if out.get("n_valid"):
        out["unique_valid"] = out["n_unique"] / out["n_valid"]
    out["mean_length_chars"] = sum(len(s or "") for s in smiles) / len(smiles) if len(smiles) else math.nan
    return out


def score_file(path: str | Path, refs: References, settings: Settings, column: str | None = None,
               smiles: Sequence[str] | None = None) -> dict[str, Any]:
    """The report entry of a file of generated SMILES (``smiles``: its records, if already read)."""
    smiles = read_raw_smiles(path, column) if smiles is None else smiles
    return {"source": display_path(path), "kind": "file", "metrics": score_smiles(smiles, refs, settings, Path(path).name)}


def score_model(model, refs: References, settings: Settings, label: str = "model") -> dict[str, Any]:
    """The report entry of a model: ``n_samples`` samples (``seed``, ``temperature``) scored,
    and for latent models (VAEs) the ``vae`` section (:func:`molgen.evaluation.vae.vae_measures`:
    reconstruction of the test set, prior validity … over ``n_samples`` prior decodes)."""
    from molgen.api import LatentGenerator
    from molgen.evaluation import vae

    log.info("sampling %d molecules from %s (seed %d)", settings.n_samples, label, settings.seed)
    start = time.perf_counter()
    samples = model.sample(settings.n_samples, temperature=settings.temperature, seed=settings.seed,
                           progress=settings.progress)
    seconds = time.perf_counter() - start
    entry: dict[str, Any] = {"source": display_path(getattr(model, "source", None)) or label, "kind": model.kind,
                             "metrics": score_smiles(list(samples), refs, settings, label),
                             "sampling_seconds": seconds, "precision": getattr(model, "precision", "fp32")}
    if isinstance(model, LatentGenerator):
        test = refs.smiles.get("test")
        if test is None:
            log.warning("%s: no test set, skipping the VAE reconstruction/prior measures", label)
        else:
            entry["vae"] = vae.vae_measures(
                model, test, seed=settings.seed, n_prior=settings.n_samples, n_recon=settings.n_recon,
                stochastic=settings.n_stochastic > 0, n_stochastic=settings.n_stochastic, progress=settings.progress)
    return entry


def _sampling_precision(entries: dict[str, dict[str, Any]], settings: Settings) -> str:
    """The precision the models sampled in, as resolved on this machine (``settings.precision``
    when ``auto`` resolved differently for different models)."""
    used = {e["precision"] for e in entries.values() if e.get("kind") != "file" and "precision" in e}
    return used.pop() if len(used) == 1 else settings.precision


def settings_section(settings: Settings, refs: References, entries: dict[str, dict[str, Any]],
                     goals: str | None = None) -> dict[str, Any]:
    """The report's ``settings``: sampling settings (when ``entries`` hold a model; the VAE
    ones when they hold a VAE's measures), reference files, FCD implementation and goal set."""
    from molgen.metrics import FCD_PACKAGE

    out: dict[str, Any] = {}
    if any(e.get("kind") != "file" for e in entries.values()):
        out.update(n_samples=settings.n_samples, seed=settings.seed, temperature=settings.temperature,
                   precision=_sampling_precision(entries, settings))
    if any("vae" in e for e in entries.values()):
        out.update(n_recon=settings.n_recon, n_stochastic=settings.n_stochastic)
    out.update(refs.files)
    out["fcd"] = f"{FCD_PACKAGE} (shipped ChemNet weights)" if settings.fcd else None
    out["goals"] = goals
    return out
