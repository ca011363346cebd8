"""Depictions: SVG for valid and invalid SMILES, grids with escaped text, alert highlighting."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from molgen.dashboard import depict

CHALCONE = "O=C(C=Cc1ccccc1)c1ccc(O)cc1"  # Michael acceptor: a Brenk alert


def test_mol_svg_draws_valid_smiles():
    svg = depict.mol_svg("c1ccccc1O", 200, 150)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert "viewBox='0 0 200 150'" in svg
    assert "<path" in svg  # bonds were drawn


@pytest.mark.parametrize("bad", ["", "C1CC", "not a smiles", "c1cccc1"])
def test_mol_svg_placeholder_for_invalid(bad):
    svg = depict.mol_svg(bad, 120, 90)
    assert "invalid SMILES" in svg and "molgen-invalid" in svg


def test_grid_html_cards_properties_and_escaping():
    table = pd.DataFrame(
        {"smiles": ["CCO", "<b>x</b>"], "name": ["ethanol", "<script>alert(1)</script>"],
         "qed": [0.4069, float("nan")], "mw": [46.07, float("nan")], "alerts": ["", ""]},
        index=[7, 9],
    )
    html = depict.grid_html(table, columns=3)
    assert html.count("class='molgen-card'") == 2
    assert "repeat(3," in html
    assert "#7" in html and "#9" in html  # the table index numbers the molecules
    assert "QED&nbsp;0.41" in html and "MW&nbsp;46.1" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html
    images = re.findall(r"<img class='([^']*)' src='data:image/svg\+xml;base64,([^']*)'", html)
    assert [c for c, _ in images] == ["molgen-mol", "molgen-mol molgen-invalid"]
    first = base64.b64decode(images[0][1]).decode()
    assert first.startswith("<svg") and "<path" in first
    assert "invalid SMILES" in base64.b64decode(images[1][1]).decode()


@pytest.mark.parametrize("smiles,reason", [
    ("C1CC", "unclosed ring 1 at position 1"),
    ("CC(C", "unclosed parenthesis '(' at position 2"),
    ("CN(C)(C)(C)C", "Explicit valence for atom # 1 N, 5, is greater than permitted at position 1"),
    ("c1cccc1", "cannot kekulize the aromatic system starting here at position 0"),
    ("", "empty SMILES"),
    ("CCO", ""),
])
def test_invalid_reason_is_short(smiles, reason):
    assert depict.invalid_reason(smiles) == reason


def test_invalid_cards_say_why():
    html = depict.grid_html(pd.DataFrame({"smiles": ["CN(C)(C)(C)C"], "qed": [float("nan")]}))
    assert "Explicit valence" in html


def test_svg_img_escapes_alt_text():
    tag = depict.svg_img("<svg></svg>", alt="a'b<c")
    assert tag.startswith("<img ") and "a&#x27;b&lt;c" in tag
    assert base64.b64decode(re.search(r"base64,([^']*)'", tag).group(1)) == b"<svg></svg>"


def test_grid_html_shows_alerts_and_empty_message():
    table = pd.DataFrame({"smiles": [CHALCONE], "alerts": ["brenk:Michael_acceptor_1"]})
    html = depict.grid_html(table)
    assert "Brenk: Michael acceptor 1" in html and "Michael_acceptor_1" not in html  # readable, not RDKit's key
    assert "unwanted functionality" in html and "ChemMedChem" in html  # the catalog's scope and source as tooltip
    assert "No molecules" in depict.grid_html(table.iloc[:0])
    with pytest.raises(ValueError):
        depict.grid_html(pd.DataFrame({"x": [1]}))


def test_alert_matches_and_highlighting():
    matches = depict.alert_matches(CHALCONE)
    assert matches and all(atoms for _, atoms in matches)
    assert any("Michael" in name for name, _ in matches)
    assert depict.alert_matches("CCO") == []
    assert depict.alert_matches("C1CC") == []
    plain = depict.mol_svg(CHALCONE, 460, 340)
    svg, legend = depict.highlighted_svg(CHALCONE, matches)
    assert len(legend) == len(matches) and legend[0][1].startswith("#")
    assert "<ellipse" in svg and "<ellipse" not in plain  # highlighted atoms are filled circles
    assert legend[0][0] == "brenk:Michael_acceptor_1"
    legend_html = depict.legend_html(legend)
    assert "Brenk: Michael acceptor 1" in legend_html and "title='unwanted functionality" in legend_html


def test_format_value():
    assert depict.format_value(0.12345, 2) == "0.12"
    assert depict.format_value(float("nan"), 2) == "–"
    assert depict.format_value(None, 2) == "–"
    assert depict.format_value(3.0, 0) == "3"


def _first_bond_length(svg: str) -> float:
    m = re.search(r"class='bond-0[^']*' d='M ([\d.]+),([\d.]+) L ([\d.]+),([\d.]+)'", svg)
    x1, y1, x2, y2 = map(float, m.groups())
    return ((x1 - x2) ** 2 + (y1 - y2) ** 2) ** 0.5


def test_depictions_share_one_scale():
    """Issue 18 #4: a two-atom molecule is drawn at the scale of a drug, not blown up to the card."""
    # bond 0 is a C-C single bond in both (drawn as one path)
    small = _first_bond_length(depict.mol_svg("CC", 220, 170))
    drug = _first_bond_length(depict.mol_svg("CCc1ccc(CC(=O)NC)cc1", 220, 170))
    assert small == pytest.approx(drug, rel=0.02)
    assert small < 0.25 * 220
    long_chain = _first_bond_length(depict.mol_svg("C" * 40, 220, 170))
    assert long_chain < small  # only what does not fit is shrunk


def test_substructure_highlight_and_flags():
    """Substructure queries are filled on the drawing; input flags are shown on the card."""
    atoms, bonds = depict.substructure_atoms(depict.to_mol(CHALCONE), "C=CC(=O)")
    assert len(atoms) == 4 and len(bonds) == 3
    assert depict.substructure_atoms(depict.to_mol(CHALCONE), "not smarts((") == ([], [])
    assert "<ellipse" in depict.mol_svg(CHALCONE, 220, 170, "C=CC(=O)")
    assert "<ellipse" not in depict.mol_svg(CHALCONE, 220, 170, "[Cl]")
    html = depict.grid_html(pd.DataFrame({"smiles": ["[Na+].[Cl-]"], "flags": ["2 fragments (salt or mixture)"]}))
    assert "molgen-flag" in html and "2 fragments (salt or mixture)" in html


def test_card_html_is_one_grid_card_with_or_without_its_frame():
    """The clickable grid draws each card alone, its border left to the page's container."""
    row = {"smiles": "CC(=O)Nc1ccc(O)cc1", "name": "paracetamol", "qed": 0.61}
    framed, bare = depict.card_html(4, row), depict.card_html(4, row, framed=False)
    assert "<b>#4</b> paracetamol" in framed and "QED&nbsp;0.61" in bare
    assert "border:1px" in framed and "border:1px" not in bare and bare.count("molgen-card") == 1
