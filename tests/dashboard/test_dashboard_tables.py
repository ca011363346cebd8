"""Dashboard molecule tables: columns, messages, filters, sort and pages, downloads, property sheet."""

from __future__ import annotations

import pandas as pd
import pytest
from rdkit import Chem

from molgen.dashboard import inputs, tables
from molgen.errors import InputError, UsageError


def test_molecule_table_and_messages(table, dashboard_smiles):
    assert list(table.columns[:3]) == ["name", "smiles", "valid"]
    assert list(table.index) == [1, 2, 3, 4, 5] and table.index.name == "id"  # "#1" is the first molecule
    assert table["valid"].tolist() == [True, True, True, False, True]
    msgs = inputs.invalid_messages(dashboard_smiles)
    assert msgs == ["#4: unclosed ring 1 at position 1"]  # which molecule, what and where
    assert tables.display_columns(table)[:3] == ["name", "smiles", "valid"]


def test_filter_ranges_presets_expression(table):
    everything = tables.FilterChoice()
    assert not everything.is_active()
    assert tables.filter_mask(table, everything).all()
    assert tables.filter_mask(table, tables.FilterChoice(valid_only=True)).tolist() == [True, True, True, False, True]
    light = tables.filter_mask(table, tables.FilterChoice(ranges={"mw": (0.0, 160.0)}))
    assert light.tolist() == [False, True, False, False, False]
    expr = tables.filter_mask(table, tables.FilterChoice(expression="mw < 200 and qed > 0.5"))
    assert expr.tolist() == [True, True, False, False, False]
    assert not tables.filter_mask(table, tables.FilterChoice(presets=["brenk-free"])).any()  # all carry a Brenk alert
    pains_free = tables.filter_mask(table, tables.FilterChoice(presets=["pains-free"]))
    assert pains_free.tolist() == [True, True, True, False, True]
    both = tables.filter_mask(table, tables.FilterChoice(presets=["pains-free"], ranges={"mw": (0.0, 160.0)}))
    assert both.tolist() == [False, True, False, False, False]


def test_filter_errors(table):
    with pytest.raises(UsageError, match=r"\^"):
        tables.filter_mask(table, tables.FilterChoice(expression="qed >= = 0.5"))
    no_alerts = table.drop(columns=["pains"])
    with pytest.raises(InputError, match="pains"):
        tables.filter_mask(no_alerts, tables.FilterChoice(presets=["pains-free"]))


def test_sort_and_pages(table):
    by_mw = tables.sort_table(table, "mw", ascending=False)
    assert by_mw.index[0] == 5 and by_mw.index[-1] == 4  # NaN last
    assert tables.sort_table(table, None, True) is table
    assert tables.n_pages(0, 24) == 1 and tables.n_pages(49, 24) == 3
    assert list(tables.page_slice(table, 2, 2).index) == [3, 4]
    assert list(tables.page_slice(table, 99, 2).index) == [5]
    lo, hi = tables.slider_bounds(table, "mw")
    assert lo == 0.0 and hi == 1000.0


def test_csv_and_sdf_downloads(table, dashboard_smiles):
    csv = tables.export_bytes(table, "csv").decode()
    assert csv.splitlines()[0].startswith("id,name,smiles,valid")
    assert len(csv.strip().splitlines()) == 6
    sdf = tables.export_bytes(table, "sdf").decode()
    assert sdf.count("$$$$") == 5  # the invalid SMILES keeps its record (no atoms, its fields): nothing lost
    supplier = Chem.SDMolSupplier()
    supplier.SetData(sdf)
    mols = [m for m in supplier]
    assert mols[0].GetProp("_Name") == "aspirin" and mols[0].GetProp("id") == "1"
    assert float(mols[0].GetProp("qed")) == pytest.approx(table.loc[1, "qed"], rel=1e-3)
    assert Chem.MolToSmiles(mols[1]) == Chem.CanonSmiles(dashboard_smiles[1])


def test_property_sheet(table):
    sheet = tables.property_sheet(table.loc[1])
    assert list(sheet.columns) == ["property", "value"]
    values = dict(zip(sheet["property"], sheet["value"]))
    assert values["Name"] == "aspirin" and values["Valid"] == "yes"
    assert values["Molecular weight (Da)"] == "180.159"
    assert values["H-bond donors"] == "1"
    bad = dict(zip(*tables.property_sheet(table.loc[4]).T.values))
    assert bad["Valid"] == "no" and bad["QED"] == "–"


def test_bad_expression_keeps_the_other_filters(table):
    """Issue 18 #1: a typo in the expression leaves ranges, presets and valid-only in force and says so."""
    light = tables.FilterChoice(ranges={"mw": (0.0, 160.0)}, valid_only=True)
    assert tables.filter_table(table, light).mask.tolist() == [False, True, False, False, False]
    for typo in ("mww > 1", "qed > 0.5 && mw < 300", "(qed > 0.5"):
        outcome = tables.filter_table(table, tables.FilterChoice(ranges={"mw": (0.0, 160.0)}, valid_only=True,
                                                                 expression=typo))
        assert outcome.mask.tolist() == [False, True, False, False, False], typo
        assert len(outcome.not_applied) == 1 and outcome.not_applied[0].startswith("filter expression not applied")
        assert "^" in outcome.not_applied[0]  # the caret under the bad token
    outcome = tables.filter_table(table, tables.FilterChoice(presets=["pains-free"], smarts_include=["C(=O"]))
    assert outcome.mask.tolist() == [True, True, True, False, True]
    assert outcome.not_applied == ["substructure (must contain) not applied: 'C(=O' is neither SMARTS nor SMILES"]


def test_higher_is_better_sorts_best_first(table):
    """Issue 18 #2: QED and similarities default to descending, SA (lower is better) and MW to ascending."""
    assert tables.default_descending("qed") and tables.default_descending("reference_similarity")
    assert not tables.default_descending("sa") and not tables.default_descending("mw")
    assert not tables.default_descending(None)
    by_qed = tables.sort_table(table, "qed", ascending=not tables.default_descending("qed"))
    assert by_qed["qed"].iloc[0] == table["qed"].max()
    csv = tables.export_bytes(by_qed, "csv").decode().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in csv] == list(by_qed.index)  # downloads follow the order


def test_substructure_similarity_novel_unique_and_any_column(table):
    """Substructure include/exclude (SMILES or SMARTS), a similarity column, unique-only, novel-only
    and a range on any numeric column."""
    amide = tables.filter_mask(table, tables.FilterChoice(smarts_include=["C(=O)N"]))
    assert amide.tolist() == [False, True, False, False, False]  # paracetamol
    no_ring = tables.filter_mask(table, tables.FilterChoice(smarts_exclude=["c1ccccc1"]))
    assert no_ring.tolist() == [False, False, False, False, True]  # the fatty acid (invalid rows never pass)
    sim = tables.similarity_column(table, "CC(=O)Nc1ccc(O)cc1")
    assert sim.loc[2] == pytest.approx(1.0) and sim.loc[1] < 0.5 and sim.isna().tolist() == [False] * 3 + [True, False]
    with pytest.raises(InputError, match="unclosed ring 1 at position 1"):
        tables.similarity_column(table, "C1CC")
    with_sim = table.assign(reference_similarity=sim)
    assert "reference_similarity" in tables.sortable_columns(with_sim)
    close = tables.filter_mask(with_sim, tables.FilterChoice(expression="reference_similarity > 0.9"))
    assert close.tolist() == [False, True, False, False, False]
    hbd = tables.filter_mask(table, tables.FilterChoice(ranges={"hbd": (2.0, 5.0)}))
    assert "hbd" in tables.numeric_columns(table) and hbd.tolist() == [False, True, False, False, False]
    twice = tables.molecule_table(pd.concat([table, table.iloc[[0]]]).reset_index(drop=True))
    assert tables.filter_mask(twice, tables.FilterChoice(unique_only=True)).tolist() == [True] * 5 + [False]
    novel = table.assign(in_training=pd.array([True, False, False, None, False], dtype="boolean"))
    assert tables.filter_mask(novel, tables.FilterChoice(novel_only=True)).tolist() == [False, True, True, False, True]
    with pytest.raises(InputError, match="training-set comparison"):
        tables.filter_mask(table, tables.FilterChoice(novel_only=True))


def test_exports_have_ids_provenance_and_no_float_noise(table):
    """Issue 18 #11: id column matching the grid, provenance, 10 significant digits, a telling file name."""
    noisy = table.assign(mw=[302.35500000000013, 151.163, 224.25500000000002, float("nan"), 368.63800000000003])
    prov = {"model": "gvae", "seed": 7, "temperature": 0.8, "molgen_version": "0.1.0"}
    text = tables.export_bytes(noisy.iloc[[4, 0]], "csv", prov).decode()
    header, first, second = text.splitlines()
    assert header.split(",")[0] == "id" and header.endswith("model,seed,temperature,molgen_version")
    assert first.startswith("5,fatty,") and second.startswith("1,aspirin,")
    assert "302.355," in second and "00000000" not in text
    assert first.endswith(",gvae,7,0.8,0.1.0")
    assert tables.export_name("generated", "csv", prov) == "generated-gvae-seed7-T0.8.csv"
    assert tables.export_name("generated", "sdf", {"model": "runs/my run/checkpoints/best.pt"}) == "generated-best.sdf"
    assert tables.export_name("inspect", "csv") == "inspect.csv"


def test_property_sheet_names_alerts_readably(table):
    """Issue 18 #8: the detail view's alerts are the catalog's family and title, not RDKit keys."""
    values = dict(zip(*tables.property_sheet(table.loc[2]).T.values))
    assert table.loc[2, "alerts"] == "brenk:hydroquinone"
    assert values["Alerts matched"] == "Brenk: hydroquinone"


def test_header_clicks_drive_the_sort_control():
    """Issue 18 #2: a header click sorts by that column best first; a second click reverses it."""
    assert tables.header_sort(None, False, "qed") == ("qed", True)
    assert tables.header_sort("qed", True, "qed") == ("qed", False)
    assert tables.header_sort("qed", False, "sa") == ("sa", False)
    assert tables.header_sort("sa", False, "sa") == ("sa", True)
