"""Latent space of the VAEs for the dashboard: neighbours of a molecule, interpolation between two.

Both return molecule tables (decoded SMILES with similarity and properties) the pages browse
like any other set; a SMILES the user typed is checked first so the error names RDKit's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from molgen.dashboard.tables import chunk_properties, numbered
from molgen.errors import InputError, MolgenError


def check_smiles(smiles: str) -> str:
    """Canonical form of a user-typed SMILES; :class:`InputError` with RDKit's reason if it does not parse."""
    from rdkit import Chem

    from molgen.chem.mol import parse_smiles

    smiles = (smiles or "").strip()
    if not smiles:
        raise InputError("enter a SMILES string")
    mol, reason = parse_smiles(smiles)
    if mol is None:
        raise InputError(f"not a valid SMILES: {reason}")
    return Chem.MolToSmiles(mol)


def neighbours_table(model: Any, smiles: str, radius: float, n: int, seed: int = 0,
                     min_heavy_atoms: int = 0) -> pd.DataFrame:
    """Decoded molecules around ``smiles`` in latent space with similarity, plus properties,
    numbered from 1; neighbours with fewer than ``min_heavy_atoms`` heavy atoms (methane, water…)
    are dropped."""
    from molgen.vae.latent import neighbours

    smiles = check_smiles(smiles)
    try:
        df = neighbours(model, smiles, radius=radius, n=n, seed=seed)
    except MolgenError:
        raise
    except (ValueError, KeyError) as exc:
        raise InputError(f"the model cannot encode {smiles}: {exc}") from exc
    table = _with_properties(df)
    if min_heavy_atoms > 0 and "heavy_atoms" in table.columns:
        table = table[pd.to_numeric(table["heavy_atoms"], errors="coerce").fillna(0) >= min_heavy_atoms]
    return numbered(table)


@dataclass
class Reconstruction:
    """What the model makes of a query molecule: its input, the greedy decode of its latent mean,
    whether that is the same molecule, and their Tanimoto similarity (NaN if the decode is invalid)."""

    smiles: str
    decoded: str
    same: bool
    similarity: float
    warnings: list[str]


def reconstruction(model: Any, smiles: str) -> Reconstruction:
    """Encode ``smiles`` and decode its latent mean greedily (the centre the neighbours are drawn
    around), so a failed reconstruction is seen; warns about salts, mixtures and inorganics, which
    the models were not trained on."""
    from molgen.chem.fingerprints import fingerprints, tanimoto_max_to_reference
    from molgen.chem.mol import canonical_smiles
    from molgen.dashboard.inputs import structure_flags

    smiles = check_smiles(smiles)
    _, _, flags = structure_flags(smiles)
    warnings = [f"{smiles}: {flag}; the models were trained on single neutral organic molecules, so "
                "this encoding is unreliable (standardise it first)" for flag in flags]
    try:
        decoded = model.decode(model.encode([smiles]), greedy=True)[0]
    except MolgenError:
        raise
    except (ValueError, KeyError) as exc:
        raise InputError(f"the model cannot encode {smiles}: {exc}") from exc
    canon = canonical_smiles(decoded) if decoded else None
    similarity = float(tanimoto_max_to_reference(fingerprints([canon or ""]), fingerprints([smiles]))[0])
    return Reconstruction(smiles, decoded, canon == smiles, similarity, warnings)


def interpolation_table(model: Any, smiles_a: str, smiles_b: str, n_steps: int) -> pd.DataFrame:
    """Decoded molecules along the latent line from ``smiles_a`` to ``smiles_b``, plus properties."""
    from molgen.vae.latent import interpolate

    a, b = check_smiles(smiles_a), check_smiles(smiles_b)
    try:
        df = interpolate(model, a, b, n_steps)
    except MolgenError:
        raise
    except (ValueError, KeyError) as exc:
        raise InputError(f"the model cannot encode the endpoints: {exc}") from exc
    return numbered(_with_properties(df))


def _with_properties(df: pd.DataFrame) -> pd.DataFrame:
    """Add the property columns a latent-space result lacks (keeping its own columns)."""
    missing = [c for c in ("valid", "qed", "sa", "mw", "logp", "tpsa", "alerts") if c not in df.columns]
    if not missing:
        return df.reset_index(drop=True)
    props = chunk_properties(df["smiles"].astype(str).tolist(), alerts=True)
    out = df.reset_index(drop=True).copy()
    for c in props.columns:
        if c not in out.columns:
            out[c] = props[c].to_numpy()
    return out


#: objectives the dashboard's optimise panel offers (label -> molgen.vae.optimize objective name)
OPTIMISE_OBJECTIVES = {"QED (drug-likeness)": "qed", "Penalised logP (GVAE benchmark)": "plogp"}


def optimise_table(model: Any, objective: str, budget: int, n_init: int, seed: int,
                   progress: Any = None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Bayesian optimisation in ``model``'s latent space (:func:`molgen.vae.optimize.optimize`) from
    shipped training molecules: the best distinct molecules (with properties), the trajectory and
    a summary; ``progress(done, budget)`` is called after every round."""
    from molgen.data import read_smiles
    from molgen.paths import MOSES_DIR
    from molgen.vae.optimize import OptimizeConfig, make_objective, optimize

    label, fn = make_objective(objective)
    seeds = read_smiles(MOSES_DIR / "train.csv.gz", max_records=max(20 * n_init, 2000)).smiles
    cfg = OptimizeConfig(budget=int(budget), n_init=int(n_init), batch_size=min(10, int(budget)), seed=int(seed))
    res = optimize(model, fn, seeds, cfg, label=label, callback=progress)
    best = res.best[["smiles", "score", "round"]].rename(columns={"score": label}).reset_index(drop=True)
    props = chunk_properties(best.smiles.tolist(), alerts=False, n_jobs=1).drop(columns=["smiles"], errors="ignore")
    best = numbered(pd.concat([best, props.drop(columns=[c for c in (label, "valid") if c in props.columns])], axis=1))
    summary = {"best": float(best[label].iloc[0]) if len(best) else float("nan"),
               "top10_mean": float(best[label].head(10).mean()) if len(best) else float("nan"),
               "invalid": float(res.n_invalid), "seconds": res.seconds}
    return best, res.trajectory, summary
