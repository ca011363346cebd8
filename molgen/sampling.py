"""Sample tables from any generator (VAE or ORGAN): raw strings, validity, canonical form, properties.

Works through the :class:`molgen.api.Generator` protocol only (``model.sample``), so every
family gets the same table. Large requests stream in chunks (:func:`iter_sample_tables`)
so ``molgen sample -n 1000000`` never holds a million-row tensor.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from molgen.training.rng import derive_seed

log = logging.getLogger(__name__)

#: Columns always present, before any property columns.
BASE_COLUMNS = ("smiles", "valid", "canonical_smiles")


def annotate(smiles: list[str], properties: bool = True, n_jobs: int | None = 1) -> pd.DataFrame:
    """Table of raw strings with ``valid``, ``canonical_smiles`` and (optionally) RDKit properties."""
    from molgen.chem.mol import canonical_smiles

    canon = [canonical_smiles(s) if s else None for s in smiles]
    df = pd.DataFrame({
        "smiles": list(smiles),
        "valid": [c is not None for c in canon],
        "canonical_smiles": [c if c is not None else "" for c in canon],
    })
    if properties and len(df):
        from molgen.chem.properties import compute_properties

        props = compute_properties([c or "" for c in canon], n_jobs=n_jobs, progress=False)
        props = props.drop(columns=[c for c in ("smiles", "valid") if c in props.columns]).reset_index(drop=True)
        df = pd.concat([df, props], axis=1)
    return df


def provenance(model: str, seed: int | None, temperature: float) -> dict[str, Any]:
    """Where a sampled table came from, as the export columns ``molgen sample`` and the dashboard add."""
    from molgen import __version__

    return {"model": str(model), "seed": seed, "temperature": float(temperature), "molgen_version": __version__}


def iter_sample_tables(
    model, n: int, *, seed: int | None = None, temperature: float = 1.0, batch_size: int = 512,
    valid_only: bool = False, unique: bool = False, properties: bool = True, chunk_size: int = 10_000,
    max_draws: int | None = None, n_jobs: int | None = 1, progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield tables whose rows add up to ``n`` samples (fewer if ``max_draws`` runs out).

    ``on_batch(drawn)`` is called after every decoded batch with the number of raw strings
    drawn so far (the dashboard's progress bar); it does not change what is sampled.

    ``valid_only`` keeps RDKit-valid molecules; ``unique`` drops repeats of a canonical SMILES
    (or of an invalid string). Sampling continues until ``n`` rows are kept or ``max_draws``
    raw samples were drawn (default ``100 * n + 1000``), which bounds the work for a model that
    rarely produces valid or new molecules. The same seed gives the same rows.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if seed is None:
        seed = secrets.randbits(32)
        log.info("sampling with seed %d", seed)
    max_draws = 100 * n + 1000 if max_draws is None else max_draws
    seen: set[str] = set()
    kept = drawn = index = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="mol", desc="sampling")
    try:
        while kept < n and drawn < max_draws:
            missing = n - kept
            want = missing if not (valid_only or unique) else max(missing, batch_size)
            size = min(chunk_size, want, max_draws - drawn)
            before = drawn
            report = (lambda done: on_batch(before + done)) if on_batch is not None else False
            raw = model.sample(size, temperature=temperature, seed=derive_seed(seed, index), batch_size=batch_size,
                               progress=report)
            index += 1
            drawn += size
            df = annotate(list(raw), properties=False)
            keep = np.ones(len(df), dtype=bool)
            if valid_only:
                keep &= df["valid"].to_numpy()
            if unique:
                keys = np.where(df["valid"], df["canonical_smiles"], df["smiles"])
                for i, key in enumerate(keys):
                    if keep[i]:
                        if key in seen:
                            keep[i] = False
                        else:
                            seen.add(key)
            df = df[keep].head(missing).reset_index(drop=True)
            if properties and len(df):
                df = annotate(df["smiles"].tolist(), properties=True, n_jobs=n_jobs)
            kept += len(df)
            if bar is not None:
                bar.update(len(df))
            if len(df):
                yield df
    finally:
        if bar is not None:
            bar.close()
    if kept < n:
        log.warning("kept %d of %d requested molecules after %d draws (valid_only=%s, unique=%s)",
                    kept, n, drawn, valid_only, unique)


def sample_table(
    model, n: int, *, seed: int | None = None, temperature: float = 1.0, batch_size: int = 512,
    valid_only: bool = False, unique: bool = False, properties: bool = True, max_draws: int | None = None,
    n_jobs: int | None = 1, progress: bool = False,
) -> pd.DataFrame:
    """``n`` samples as one DataFrame: ``smiles`` (raw decode), ``valid``, ``canonical_smiles`` (+ properties)."""
    parts = list(iter_sample_tables(
        model, n, seed=seed, temperature=temperature, batch_size=batch_size, valid_only=valid_only,
        unique=unique, properties=properties, max_draws=max_draws, n_jobs=n_jobs, progress=progress,
    ))
    if not parts:
        return annotate([], properties=False)
    return pd.concat(parts, ignore_index=True)


_MODELS: dict[tuple[str, str], Any] = {}  # per worker process: (model, device) -> the loaded model


def partition_sizes(n: int, chunk_size: int) -> list[int]:
    """Rows of each partition of an ``n``-row sample: ``chunk_size`` each, the last one shorter.
    Partition ``i`` is the chunk :func:`iter_sample_tables` draws ``i``-th (without ``valid_only``
    and ``unique``), with the same seed ``derive_seed(seed, i)``."""
    return [min(chunk_size, n - start) for start in range(0, n, chunk_size)]


def sample_partition(index: int, part_file: str, model_ref: str, device: str, n: int, chunk_size: int, seed: int,
                     temperature: float, batch_size: int, properties: bool, origin: dict[str, Any]) -> dict:
    """Draw partition ``index`` of an ``n``-row sample on a Dask worker and write it as a Parquet
    part with the columns and ids ``molgen sample`` writes. The model is loaded once per worker
    process and kept for the next partitions."""
    import time

    from molgen.api import load_model
    from molgen.cluster import write_part
    from molgen.data import export_table

    start = time.perf_counter()
    key = (str(model_ref), device)
    loaded = key not in _MODELS
    if loaded:
        _MODELS[key] = load_model(model_ref, device=device)
    size = partition_sizes(n, chunk_size)[index]
    raw = _MODELS[key].sample(size, temperature=temperature, seed=derive_seed(seed, index), batch_size=batch_size,
                              progress=False)
    df = annotate(list(raw), properties=properties, n_jobs=1)
    table = export_table(df, origin, first_id=index * chunk_size + 1)
    summary = {"index": index, "source": f"rows {index * chunk_size + 1}-{index * chunk_size + size}",
               "records": size, "invalid": 0, "rejects": [], "model_loaded": loaded}
    summary = write_part(part_file, [table], summary)
    summary["seconds"] = time.perf_counter() - start
    return summary
