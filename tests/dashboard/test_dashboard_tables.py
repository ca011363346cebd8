"""Dashboard molecule tables: columns, messages, filters, sort and pages, downloads, property sheet."""

from __future__ import annotations

import pytest
from rdkit import Chem

from molgen.dashboard import inputs, tables
from molgen.errors import InputError, UsageError


def test_molecule_table_and_messages(table, dashboard_smiles):
    assert list(table.columns[:3]) == ["name", "smiles", "valid"]
    assert list(table.index) == [0, 1, 2, 3, 4]
    assert table["valid"].tolist() == [True, True, True, False, True]
    msgs = inputs.invalid_messages(dashboard_smiles)
    assert len(msgs) == 1 and msgs[0].startswith("#3:")
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
    assert by_mw.index[0] == 4 and by_mw.index[-1] == 3  # NaN last
    assert tables.sort_table(table, None, True) is table
    assert tables.n_pages(0, 24) == 1 and tables.n_pages(49, 24) == 3
    assert list(tables.page_slice(table, 2, 2).index) == [2, 3]
    assert list(tables.page_slice(table, 99, 2).index) == [4]
    lo, hi = tables.slider_bounds(table, "mw")
    assert lo == 0.0 and hi == 1000.0


def test_csv_and_sdf_downloads(table, dashboard_smiles):
    csv = tables.table_csv(table).decode()
    assert csv.splitlines()[0].startswith("name,smiles,valid")
    assert len(csv.strip().splitlines()) == 6
    sdf = tables.table_sdf(table).decode()
    assert sdf.count("$$$$") == 4  # the invalid SMILES is left out
    supplier = Chem.SDMolSupplier()
    supplier.SetData(sdf)
    mols = [m for m in supplier]
    assert mols[0].GetProp("_Name") == "aspirin"
    assert float(mols[0].GetProp("qed")) == pytest.approx(table.loc[0, "qed"], rel=1e-3)
    assert Chem.MolToSmiles(mols[1]) == Chem.CanonSmiles(dashboard_smiles[1])


def test_property_sheet(table):
    sheet = tables.property_sheet(table.loc[0])
    assert list(sheet.columns) == ["property", "value"]
    values = dict(zip(sheet["property"], sheet["value"]))
    assert values["Name"] == "aspirin" and values["Valid"] == "yes"
    assert values["Molecular weight (Da)"] == "180.159"
    assert values["H-bond donors"] == "1"
    bad = dict(zip(*tables.property_sheet(table.loc[3]).T.values))
    assert bad["Valid"] == "no" and bad["QED"] == "–"
