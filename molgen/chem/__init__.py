"""Chemistry on RDKit: molecules (:mod:`.mol`), properties and alerts (:mod:`.properties`),
fingerprints (:mod:`.fingerprints`), filter presets and expressions (:mod:`.filters`, :mod:`.expr`)."""

from molgen.chem.mol import canonical_smiles, parse_smiles, quiet_rdkit, standardize_mol, to_mol

__all__ = ["canonical_smiles", "parse_smiles", "quiet_rdkit", "standardize_mol", "to_mol"]
