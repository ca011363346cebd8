"""Per-molecule properties and structural-alert flags, batched into a DataFrame.

Definitions (all RDKit):

* ``mw`` average molecular weight (``Descriptors.MolWt``); ``logp`` Wildman–Crippen cLogP;
  ``mr`` Crippen molar refractivity (for Ghose); ``qed`` Bickerton 2012 QED (default weights);
  ``sa`` Ertl & Schuffenhauer 2009 synthetic accessibility, 1 (easy) to 10 (hard), from
  ``rdkit.Contrib.SA_Score``; ``tpsa`` Ertl topological PSA (N, O only).
* ``hbd``/``hba`` Lipinski's own definitions: NH + OH count, N + O count
  (``CalcNumLipinskiHBD/HBA``), so ``lipinski_violations`` (MW > 500, cLogP > 5, HBD > 5,
  HBA > 10) agrees with the columns a user filters on.
* ``rotatable_bonds`` (RDKit strict definition), ``rings`` (SSSR), ``aromatic_rings``,
  ``heavy_atoms``, ``atoms`` (including hydrogens, for Ghose), ``formal_charge`` (net),
  ``fsp3`` fraction of sp3 carbons.
* ``penalized_logp`` = cLogP − SA − max(0, largest ring size − 6), *unnormalised*, as
  reported by GCPN/JT-VAE-style optimisation tables. :func:`penalized_logp` with
  ``normalized=True`` standardises each term with the ZINC250k means/stds from the JT-VAE
  code (the GVAE/JT-VAE Bayesian-optimisation score); it is in :data:`PROPERTIES` as
  ``penalized_logp_normalized`` but not a default column.
* ``pains``/``brenk``/``nih``: any match in RDKit's ``FilterCatalog`` PAINS A+B+C, Brenk,
  NIH; ``alerts`` lists the matched alert names as ``family:name`` joined by ``"; "``.
  PAINS goes through :class:`~molgen.chem.alerts.AlertScreen`, an exact pattern-fingerprint
  pre-screen; the catalogs and the screen live in :mod:`molgen.chem.alerts`.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors
from rdkit.Contrib.SA_Score import sascorer

from molgen.chem.alerts import (
    ALERT_FAMILIES,
    SCREENED_FAMILIES,
    alert_catalog,
    alert_screen,
    entry_name,
    family_matches,
)
from molgen.chem.mol import Mol, parse_smiles, quiet_rdkit
from molgen.parallel import imap_chunks, resolve_jobs

# ZINC250k statistics used by JT-VAE (bo/gen_latent.py) to normalise penalised logP terms.
_ZINC_LOGP = (2.4570953396190123, 1.434324401111988)
_ZINC_SA = (-3.0525811293166134, 0.8335207024513095)
_ZINC_CYCLE = (-0.0485696876403053, 0.2860212110245455)


def _largest_ring(mol: Mol) -> int:
    rings = mol.GetRingInfo().AtomRings()
    return max((len(r) for r in rings), default=0)


def _sa(mol: Mol) -> float:
    return float(sascorer.calculateScore(mol))


def penalized_logp(mol: Mol, normalized: bool = False) -> float:
    """cLogP − SA − ring penalty (rings larger than 6 atoms), the GVAE/JT-VAE objective.

    ``normalized=True`` standardises each term with the JT-VAE ZINC250k means/stds.
    """
    logp = Crippen.MolLogP(mol)
    sa = _sa(mol)
    cycle = max(0, _largest_ring(mol) - 6)
    if not normalized:
        return logp - sa - cycle
    return (
        (logp - _ZINC_LOGP[0]) / _ZINC_LOGP[1]
        + (-sa - _ZINC_SA[0]) / _ZINC_SA[1]
        + (-cycle - _ZINC_CYCLE[0]) / _ZINC_CYCLE[1]
    )


def lipinski_violations(mol: Mol) -> int:
    """Number of Lipinski rule-of-five violations (MW > 500, cLogP > 5, HBD > 5, HBA > 10)."""
    return (
        int(Descriptors.MolWt(mol) > 500)
        + int(Crippen.MolLogP(mol) > 5)
        + int(rdMolDescriptors.CalcNumLipinskiHBD(mol) > 5)
        + int(rdMolDescriptors.CalcNumLipinskiHBA(mol) > 10)
    )


def _total_atoms(mol: Mol) -> int:
    return mol.GetNumAtoms() + sum(a.GetTotalNumHs() for a in mol.GetAtoms())


#: Scalar per-molecule properties by name; reward objectives and metrics import from here.
PROPERTIES: dict[str, Callable[[Mol], float]] = {
    "mw": Descriptors.MolWt,
    "logp": Crippen.MolLogP,
    "qed": QED.qed,
    "sa": _sa,
    "tpsa": rdMolDescriptors.CalcTPSA,
    "hbd": rdMolDescriptors.CalcNumLipinskiHBD,
    "hba": rdMolDescriptors.CalcNumLipinskiHBA,
    "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds,
    "rings": rdMolDescriptors.CalcNumRings,
    "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings,
    "heavy_atoms": lambda m: m.GetNumHeavyAtoms(),
    "formal_charge": Chem.GetFormalCharge,
    "fsp3": rdMolDescriptors.CalcFractionCSP3,
    "lipinski_violations": lipinski_violations,
    "penalized_logp": penalized_logp,
    "mr": Crippen.MolMR,
    "atoms": _total_atoms,
    "penalized_logp_normalized": functools.partial(penalized_logp, normalized=True),
}

#: Integer-valued columns (nullable ``Int64`` so an invalid row can hold NA).
INT_COLUMNS = (
    "hbd", "hba", "rotatable_bonds", "rings", "aromatic_rings", "heavy_atoms", "formal_charge",
    "lipinski_violations", "atoms",
)
#: Scalar columns of :func:`compute_properties`, in output order.
SCALAR_COLUMNS = (
    "mw", "logp", "qed", "sa", "tpsa", "hbd", "hba", "rotatable_bonds", "rings", "aromatic_rings",
    "heavy_atoms", "formal_charge", "fsp3", "lipinski_violations", "penalized_logp", "mr", "atoms",
)
ALERT_COLUMNS = (*ALERT_FAMILIES, "alerts")
BOOL_COLUMNS = ("valid", *ALERT_FAMILIES)
COLUMNS = ("smiles", "valid", *SCALAR_COLUMNS, *ALERT_COLUMNS)

# Relative per-molecule cost (µs, measured on MOSES) so filters evaluate cheap tests first.
COST = {
    "mw": 3, "tpsa": 7, "hbd": 5, "hba": 5, "rotatable_bonds": 60, "rings": 8, "aromatic_rings": 10,
    "heavy_atoms": 1, "formal_charge": 2, "fsp3": 2, "atoms": 5, "logp": 270, "mr": 270,
    "lipinski_violations": 280, "sa": 300, "penalized_logp": 570, "qed": 1100,
    "pains": 300, "brenk": 280, "nih": 1200, "alerts": 1800,
}

class MolProperties:
    """Lazily computed properties of one molecule; shared intermediates are computed once."""

    __slots__ = ("mol", "_cache")

    def __init__(self, mol: Mol):
        self.mol = mol
        self._cache: dict[str, object] = {}

    def set(self, name: str, value) -> None:
        """Use ``value`` for column ``name`` instead of computing it (a value the input file already has)."""
        self._cache[name] = value

    def get(self, name: str):
        """Value of column ``name`` (computing it, and what it depends on, on first use)."""
        if name in self._cache:
            return self._cache[name]
        m = self.mol
        if name == "lipinski_violations":
            value = (
                int(self.get("mw") > 500) + int(self.get("logp") > 5)
                + int(self.get("hbd") > 5) + int(self.get("hba") > 10)
            )
        elif name == "penalized_logp":
            value = self.get("logp") - self.get("sa") - max(0, _largest_ring(m) - 6)
        elif name in ("logp", "mr"):
            # One Crippen atom typing gives both logP and MR.
            self._cache["logp"], self._cache["mr"] = rdMolDescriptors.CalcCrippenDescriptors(m)
            return self._cache[name]
        elif name == "alerts":
            value = "; ".join(n for fam in ALERT_FAMILIES for n in self.get(f"_{fam}_names"))
        elif name in ALERT_FAMILIES:
            value = bool(self.get(f"_{name}_names"))
        elif name.endswith("_names"):
            # Matches per family, kept so that 'pains' then 'alerts' search each catalog once.
            value = [entry_name(e) for e in family_matches(m, name[1:-6])]
        else:
            value = PROPERTIES[name](m)
        self._cache[name] = value
        return value


def property_rows(
    smiles: Sequence[str], columns: Sequence[str], mols: Sequence[Mol | None] | None = None
) -> dict[str, list]:
    """Column -> list of values for ``smiles`` (``None`` where a molecule is invalid)."""
    data: dict[str, list] = {c: [] for c in columns}
    with quiet_rdkit():
        for i, smi in enumerate(smiles):
            mol = mols[i] if mols is not None else parse_smiles(smi)[0]
            props = MolProperties(mol) if mol is not None else None
            for c in columns:
                if c == "smiles":
                    data[c].append(smi)
                elif c == "valid":
                    data[c].append(mol is not None)
                else:
                    data[c].append(None if props is None else props.get(c))
    return data


def frame_from_rows(data: dict[str, list]) -> pd.DataFrame:
    """DataFrame with stable dtypes: float64, nullable Int64/boolean, string alerts."""
    cols = {}
    for c, values in data.items():
        if c in ("smiles", "alerts", "name"):
            cols[c] = pd.Series(values, dtype=object)
        elif c == "valid":
            cols[c] = pd.Series(values, dtype=bool)
        elif c in BOOL_COLUMNS:
            cols[c] = pd.Series(values, dtype="boolean")
        elif c in INT_COLUMNS:
            cols[c] = pd.Series(values, dtype="Int64")
        else:
            cols[c] = pd.Series(np.array([np.nan if v is None else v for v in values], dtype=float))
    return pd.DataFrame(cols)


def default_columns(alerts: bool = True) -> list[str]:
    """Columns of :func:`compute_properties`, with or without the structural-alert ones."""
    return [c for c in COLUMNS if alerts or c not in ALERT_COLUMNS]


def _chunk_worker(args: tuple[list[str], tuple[str, ...]]) -> dict[str, list]:
    smiles, columns = args
    return property_rows(smiles, columns)


def warm_up(alerts: bool = True) -> None:
    """Load SA's fragment table and build the alert catalogs now, so that forked workers
    inherit them instead of each paying for them on its first molecule."""
    if sascorer._fscores is None:
        sascorer.readFragmentScores()
    if alerts:
        for fam in ALERT_FAMILIES:
            alert_catalog(fam)
            if fam in SCREENED_FAMILIES:
                alert_screen(fam)


#: Below this many molecules, :func:`compute_properties` runs in-process (pool start-up would dominate).
PARALLEL_MIN = 2000


def compute_properties(
    smiles: Sequence[str],
    n_jobs: int | None = None,
    progress: bool = False,
    alerts: bool = True,
    chunk_size: int = 1000,
) -> pd.DataFrame:
    """Properties table for ``smiles`` (one row each, same order; columns :data:`COLUMNS`).

    Invalid SMILES give a row with ``valid=False`` and NA values. Inputs under ~2000 run
    in-process (pool start-up would dominate); larger ones run over ``n_jobs`` processes
    (``None`` = all cores) in chunks.
    """
    from tqdm.auto import tqdm

    smiles = [str(s) for s in smiles]
    columns = tuple(default_columns(alerts))
    jobs = resolve_jobs(n_jobs)
    chunks = [smiles[i : i + chunk_size] for i in range(0, len(smiles), chunk_size)]
    data: dict[str, list] = {c: [] for c in columns}
    parallel = jobs > 1 and len(smiles) >= PARALLEL_MIN
    if parallel:
        warm_up(alerts)  # forked workers inherit the SA table and alert catalogs
    bar = tqdm(total=len(smiles), unit="mol", disable=not progress, desc="properties")
    try:
        tasks = [(c, columns) for c in chunks]
        for part in imap_chunks(_chunk_worker, tasks, min(jobs, len(chunks)) if parallel else 1):
            for c in columns:
                data[c].extend(part[c])
            bar.update(len(part["smiles"]))
    finally:
        bar.close()
    return frame_from_rows(data)

