"""molgen.chem: parsing, properties against reference values, alerts, fingerprints."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem, RDConfig

from molgen.chem import alerts as A
from molgen.chem import properties as P
from molgen.chem.fingerprints import (
    fingerprints,
    mean_pairwise_similarity,
    morgan_fp,
    tanimoto_matrix,
    tanimoto_max_to_reference,
)
from molgen.chem.mol import canonical_smiles, parse_smiles, quiet_rdkit, standardize_mol, to_mol
from molgen.chem.alerts import alert_atoms, alert_matches
from molgen.chem.properties import PROPERTIES, compute_properties, penalized_logp

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"
IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"
RHODANINE = "O=C1C(=Cc2ccccc2)SC(=S)N1"  # 5-benzylidene rhodanine: PAINS ene_rhod_A
CATECHOL = "Oc1ccccc1O"

# Reference values: MW, Crippen logP, TPSA from the literature/PubChem-consistent RDKit
# definitions; QED from Bickerton et al. 2012's own implementation (aspirin 0.55, caffeine 0.54).
REFERENCE = {
    ASPIRIN: dict(mw=180.159, logp=1.3101, qed=0.550, sa=1.58, tpsa=63.6, hbd=1, hba=4, rotatable_bonds=2,
                  rings=1, aromatic_rings=1, heavy_atoms=13, fsp3=1 / 9, atoms=21),
    CAFFEINE: dict(mw=194.194, logp=-1.0293, qed=0.538, sa=2.30, tpsa=61.82, hbd=0, hba=6, rotatable_bonds=0,
                   rings=2, aromatic_rings=2, heavy_atoms=14, fsp3=3 / 8, atoms=24),
    IBUPROFEN: dict(mw=206.285, logp=3.0732, qed=0.822, sa=2.19, tpsa=37.3, hbd=1, hba=2, rotatable_bonds=4,
                    rings=1, aromatic_rings=1, heavy_atoms=15, fsp3=6 / 13, atoms=33),
}


def test_to_mol_and_canonical():
    assert to_mol("C1CC") is None and to_mol("") is None and to_mol("c1cccc1") is None
    assert to_mol(ASPIRIN).GetNumAtoms() == 13
    assert canonical_smiles("OC(=O)c1ccccc1OC(C)=O") == canonical_smiles(ASPIRIN) == Chem.CanonSmiles(ASPIRIN)
    assert canonical_smiles("not smiles") is None


@pytest.mark.parametrize(
    "smiles, reason",
    [("C1CC", "syntax"), ("CN(C)(C)(C)C", "valence"), ("c1cccc1", "kekulize"), ("  ", "empty")],
)
def test_parse_reasons(smiles, reason):
    mol, why = parse_smiles(smiles)
    assert mol is None and reason in why.lower()


def test_quiet_rdkit_silences_only_inside(capfd):
    to_mol("C1CC")
    with quiet_rdkit():
        Chem.MolFromSmiles("C1CC")
    assert capfd.readouterr().err == ""
    Chem.MolFromSmiles("C1CC")  # outside the block RDKit speaks again
    assert "unclosed ring" in capfd.readouterr().err


def test_standardize_mol():
    mol, _ = standardize_mol(to_mol("[O-]C(=O)c1ccccc1.[Na+]"))
    assert Chem.MolToSmiles(mol) == "O=C(O)c1ccccc1"


@pytest.mark.parametrize("smiles", list(REFERENCE))
def test_reference_properties(smiles):
    df = compute_properties([smiles], alerts=False)
    row = df.iloc[0]
    for name, want in REFERENCE[smiles].items():
        tol = 0.02 if name in ("qed", "sa") else 1e-3
        assert float(row[name]) == pytest.approx(want, abs=tol), name
    assert row["lipinski_violations"] == 0 and row["formal_charge"] == 0
    mol = to_mol(smiles)
    assert PROPERTIES["qed"](mol) == pytest.approx(row["qed"])
    assert row["penalized_logp"] == pytest.approx(row["logp"] - row["sa"])  # no ring above 6 atoms


def test_alerts_on_pains_hits_and_clean_drugs():
    df = compute_properties([ASPIRIN, CAFFEINE, RHODANINE, CATECHOL, "C1CC"])
    assert df["valid"].tolist() == [True, True, True, True, False]
    assert df["pains"].tolist()[:4] == [False, False, True, True]
    assert df["nih"].tolist()[:4] == [False, False, True, True]
    assert df["brenk"].tolist()[:4] == [True, False, True, True]  # aspirin's phenol ester is a Brenk alert
    assert "pains:ene_rhod_A(235)" in df.loc[2, "alerts"].split("; ")
    assert "pains:catechol_A(92)" in df.loc[3, "alerts"].split("; ")
    assert df.loc[1, "alerts"] == ""
    # the invalid row: NA everywhere, never a crash
    assert df.loc[4, "smiles"] == "C1CC" and pd.isna(df.loc[4, "pains"]) and math.isnan(df.loc[4, "mw"])
    assert pd.isna(df.loc[4, "hbd"])
    assert alert_matches(to_mol(RHODANINE)) == df.loc[2, "alerts"].split("; ")


def test_alert_atoms_cover_the_rhodanine():
    mol = to_mol(RHODANINE)
    hits = dict(alert_atoms(mol))
    ring = {a.GetIdx() for a in mol.GetAtoms() if a.IsInRingSize(5)}
    assert ring <= set(hits["pains:ene_rhod_A(235)"])
    assert hits["brenk:Thiocarbonyl_group"] == tuple(sorted(hits["brenk:Thiocarbonyl_group"]))
    assert len(hits["brenk:Thiocarbonyl_group"]) == 2


def _rdkit_pains_examples() -> list[str]:
    """RDKit's PAINS test molecules: one known hit per pattern (ChEMBL, ZINC, PubChem, WEHI),
    then every 100th of the 10,000 WEHI screening compounds the filters were curated on."""
    folder = Path(RDConfig.RDDataDir) / "Pains" / "test_data"
    if not folder.is_dir():
        pytest.skip("RDKit's PAINS test data is not installed")
    with open(folder / "test_set3.txt") as fh:
        hits = [line.split()[2] for line in fh if line.strip() and not line.startswith("#")]
    with open(folder / "wehi_mols.csv", newline="") as fh:
        wehi = [row[0] for row in csv.reader(fh)][::100]
    return hits + wehi


def test_alert_screen_equals_the_catalog(test_smiles):
    """The fingerprint pre-screen must never change an answer: the same matches, in the same
    order, on known PAINS hits (also with explicit hydrogens), screening compounds and MOSES
    molecules (Brenk and NIH on every third, to keep the test short)."""
    mols = [to_mol(s) for s in _rdkit_pains_examples() + test_smiles[:50]]
    assert all(m is not None for m in mols)
    mols += [Chem.AddHs(m) for m in mols[:30]]
    pains_hits = 0
    for family in A.ALERT_FAMILIES:
        catalog, screen = A.alert_catalog(family), A.alert_screen(family)
        assert screen._fps.any(axis=1).all(), f"{family}: an entry's query was not read, so it is never screened out"
        for m in mols if family == "pains" else mols[::3]:
            expected = [A.entry_name(e) for e in catalog.GetMatches(m)]  # HasMatch is bool(GetMatches)
            fp = A.pattern_fp(m)
            assert [A.entry_name(e) for e in screen.matches(m, fp)] == expected, Chem.MolToSmiles(m)
            assert screen.has_match(m, fp) == bool(expected), Chem.MolToSmiles(m)
            pains_hits += family == "pains" and bool(expected)
    assert pains_hits > 450  # the PAINS side is really exercised


def test_penalized_logp_ring_penalty_and_normalisation():
    macro = to_mol("C1CCCCCCCC1")  # 9-membered ring: penalty 3
    logp, sa = PROPERTIES["logp"](macro), PROPERTIES["sa"](macro)
    assert penalized_logp(macro) == pytest.approx(logp - sa - 3)
    norm = (logp - 2.4570953396190123) / 1.434324401111988 + (-sa + 3.0525811293166134) / 0.8335207024513095 \
        + (-3 + 0.0485696876403053) / 0.2860212110245455
    assert penalized_logp(macro, normalized=True) == pytest.approx(norm)
    assert PROPERTIES["penalized_logp_normalized"](macro) == pytest.approx(norm)


def test_lipinski_violations_counts_each_rule():
    # Cyclosporin-like big peptide breaks MW, HBA; a long alkane breaks logP only.
    assert PROPERTIES["lipinski_violations"](to_mol("C" * 30)) == 1
    big = "CC(C)CC1NC(=O)C(CC(C)C)N(C)C(=O)C(C)NC(=O)C(C)NC(=O)C(Cc2ccccc2)N(C)C(=O)C(C(C)C)NC(=O)C(CC(C)C)N(C)C1=O"
    assert PROPERTIES["lipinski_violations"](to_mol(big)) >= 2


def test_parallel_path_matches_serial(monkeypatch, train_smiles):
    smiles = train_smiles[:120] + ["C1CC"]
    serial = compute_properties(smiles, n_jobs=1, alerts=False)
    monkeypatch.setattr(P, "PARALLEL_MIN", 0)
    parallel = compute_properties(smiles, n_jobs=2, alerts=False, chunk_size=50)
    pd.testing.assert_frame_equal(serial, parallel)
    assert list(serial.columns) == P.default_columns(alerts=False)
    assert serial["valid"].sum() == 120


def test_fingerprints_and_similarity():
    fps = fingerprints([ASPIRIN, to_mol(ASPIRIN), "C1CC", IBUPROFEN])
    assert fps[2] is None and fps[0] == fps[1] and fps[0].GetNumBits() == 2048
    assert morgan_fp(to_mol(ASPIRIN), n_bits=1024).GetNumBits() == 1024
    sims = tanimoto_max_to_reference(fps, [fps[3]])
    assert sims[3] == 1.0 and math.isnan(sims[2]) and 0.0 < sims[0] < 0.5
    mat = tanimoto_matrix([fps[0], fps[3]])
    assert mat.shape == (2, 2) and np.allclose(np.diag(mat), 1.0) and mat[0, 1] == pytest.approx(sims[0])
    # mean over ordered pairs including self-pairs: (1 + 1 + 2 s) / 4
    assert mean_pairwise_similarity([fps[0], fps[3]]) == pytest.approx((2 + 2 * sims[0]) / 4)


@pytest.mark.parametrize("smiles,first_line,caret", [
    ("C1CC", "unclosed ring 1 at position 1", 1),
    ("Cc1ccccc1C1CC", "unclosed ring 1 at position 10", 10),
    ("CC(C", "unclosed parenthesis '(' at position 2", 2),
    ("CC)C", "unmatched ')' at position 2", 2),
    ("CCX", "cannot parse SMILES at position 2: expected a SMILES token, unexpected character 'X'", 2),
    ("CC==C", "cannot parse SMILES at position 3: expected an atom, got '='", 3),
    ("OC(C)(C)(C)(C)C", "Explicit valence for atom # 1 C, 6, is greater than permitted at position 1", 1),
    ("c1cccc1", "cannot kekulize the aromatic system starting here at position 0", 0),
])
def test_explain_smiles_says_what_and_where(smiles, first_line, caret):
    """Issue 18 #7: the project's caret errors for SMILES (tokenizer, grammar, ring and bracket balance)."""
    from molgen.chem.mol import explain_smiles

    text = explain_smiles(smiles)
    lines = text.splitlines()
    assert lines[0] == first_line
    assert lines[1].strip() == smiles and lines[2].index("^") - lines[1].index(smiles[0]) == caret
    assert explain_smiles("CC(=O)O") is None and explain_smiles("") == "empty SMILES"


def test_describe_alert_gives_family_title_and_source():
    """Issue 18 #8: alerts shown by family and readable title, scope and reference for a tooltip."""
    from molgen.chem.alerts import alert_matches, describe_alert

    name = alert_matches(to_mol("CC(=O)Nc1ccc(O)cc1"))[0]
    info = describe_alert(name)
    assert name == "brenk:hydroquinone" and info.label == "Brenk: hydroquinone"
    assert "unwanted functionality" in info.tooltip and "ChemMedChem" in info.tooltip
    pains = describe_alert("pains:quinone_A(370)")
    assert pains.label == "PAINS: quinone A" and "Baell" in pains.tooltip


def test_heavy_atoms_are_counted_on_the_text_like_rdkit_counts_them(train_smiles):
    from molgen.chem.mol import heavy_atom_count, to_mol

    samples = train_smiles[:200] + ["[2H]C([H])([H])[Hg]Cl", "[NH4+].[Cl-]", "C1CC[C@@H](Br)CC1", "*c1ccccc1"]
    for smi in samples:
        assert heavy_atom_count(smi) == to_mol(smi).GetNumHeavyAtoms(), smi


def test_size_guard_refuses_before_parsing():
    from molgen.chem.mol import SizeLimits, parse_smiles

    assert parse_smiles("C" * 501)[1] == "molecule too large (501 heavy atoms; limit 500, --max-atoms)"
    assert parse_smiles("C" * 20, SizeLimits(max_heavy_atoms=10))[0] is None
    assert parse_smiles("C" * 20, SizeLimits(max_chars=19))[1].startswith("SMILES too long (20 characters")
    assert parse_smiles("C" * 500)[0].GetNumHeavyAtoms() == 500
