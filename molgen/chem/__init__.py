"""Chemistry on RDKit: molecules (:mod:`.mol`), properties (:mod:`.properties`), structural
alerts (:mod:`.alerts`), scaffolds (:mod:`.scaffolds`), fingerprints (:mod:`.fingerprints`),
filter presets and expressions (:mod:`.filters`, :mod:`.expr`). Imports no model code and
nothing from :mod:`molgen.data` (files are read and screened above this layer)."""

from typing import Any

from molgen.chem.mol import canonical_smiles, parse_smiles, quiet_rdkit, standardize_mol, to_mol

__all__ = ["canonical_smiles", "compute_properties", "parse_smiles", "quiet_rdkit", "standardize_mol", "to_mol"]


def __getattr__(name: str) -> Any:
    """``compute_properties`` on first use: it pulls in pandas and RDKit's descriptors, which
    ``import molgen.chem.mol`` (run by every submodule import) should not pay for."""
    if name == "compute_properties":
        from molgen.chem.properties import compute_properties

        return compute_properties
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
