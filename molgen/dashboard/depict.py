"""2D depictions of molecules as SVG, and HTML grids of them with properties underneath.

Everything here is a pure function of its arguments (SMILES in, text out), so the dashboard
can cache it. The SVG comes from RDKit's ``MolDraw2DSVG`` and is embedded as an ``<img>`` with
a ``data:`` URI (see :func:`svg_img`); the HTML uses inline styles only (no ``<style>`` blocks,
no scripts) so it survives Streamlit's HTML sanitiser unchanged and cannot leak CSS into the
rest of the page. Every piece of user text (SMILES, names) is escaped.
"""

from __future__ import annotations

import base64
import html
import math
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from molgen.chem.mol import to_mol

#: Properties printed under each molecule of a grid, in order: column -> (label, decimals).
CARD_PROPERTIES: dict[str, tuple[str, int]] = {
    "qed": ("QED", 2),
    "sa": ("SA", 2),
    "mw": ("MW", 1),
    "logp": ("logP", 2),
    "tpsa": ("TPSA", 1),
    "similarity": ("sim", 2),
    "reference_similarity": ("sim ref", 2),
    "nn_similarity": ("NN train", 2),
    "similarity_a": ("sim A", 2),
    "similarity_b": ("sim B", 2),
}

#: Colours (RGB 0–1) cycled over the alert matches highlighted on a drawing.
ALERT_COLOURS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.55, 0.55),   # red
    (1.0, 0.78, 0.40),   # orange
    (0.62, 0.78, 1.0),   # blue
    (0.75, 0.60, 0.95),  # violet
    (0.55, 0.85, 0.60),  # green
)


#: Bond length of every depiction, as a fraction of the drawing's width.
BOND_LENGTH = 0.08


def _strip_xml_header(svg: str) -> str:
    """Inline SVG must not carry the ``<?xml …?>`` declaration."""
    if svg.startswith("<?xml"):
        svg = svg[svg.index("?>") + 2:]
    return svg.strip()


def svg_img(
    svg: str, alt: str = "", style: str = "width:100%;height:auto;display:block", css_class: str = "molgen-mol",
) -> str:
    """``<img>`` tag showing ``svg`` from a ``data:`` URI.

    Streamlit's ``st.html`` sanitises with DOMPurify's HTML profile, which drops inline ``<svg>``;
    an image with a data URI survives, cannot run script, and keeps the drawing an SVG.
    """
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    a = html.escape(alt, quote=True)
    return f"<img class='{css_class}' src='data:image/svg+xml;base64,{data}' alt='{a}' title='{a}' style='{style}'/>"


def placeholder_svg(width: int, height: int, text: str = "invalid SMILES") -> str:
    """A light grey box with ``text`` in it: what a grid shows for an unparsable string."""
    t = html.escape(text)
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}px' height='{height}px' "
        f"viewBox='0 0 {width} {height}' class='molgen-invalid'>"
        f"<rect width='{width}' height='{height}' fill='#f4f4f4' stroke='#d0d0d0'/>"
        f"<text x='{width / 2:.0f}' y='{height / 2:.0f}' text-anchor='middle' dominant-baseline='middle' "
        f"font-family='sans-serif' font-size='13' fill='#a33'>{t}</text></svg>"
    )


def _draw(
    mol: Chem.Mol,
    width: int,
    height: int,
    atoms: Sequence[int] = (),
    bonds: Sequence[int] = (),
    atom_colours: Mapping[int, tuple[float, float, float]] | None = None,
    bond_colours: Mapping[int, tuple[float, float, float]] | None = None,
) -> str:
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    opts = drawer.drawOptions()
    opts.clearBackground = False
    opts.padding = 0.08
    opts.addStereoAnnotation = True
    # One scale for every molecule (bonds of BOND_LENGTH of the width; only a molecule too big
    # for the box is shrunk), so a two-atom ion is not blown up to fill the card.
    opts.fixedBondLength = BOND_LENGTH * width
    kwargs: dict[str, Any] = {}
    if atoms:
        kwargs.update(highlightAtoms=list(atoms), highlightAtomColors=dict(atom_colours or {}))
    if bonds:
        kwargs.update(highlightBonds=list(bonds), highlightBondColors=dict(bond_colours or {}))
    try:
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, **kwargs)
    except (RuntimeError, ValueError):
        # Kekulisation can fail on odd aromatic input that still sanitised: draw as is.
        drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
        drawer.drawOptions().clearBackground = False
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, kekulize=False, **kwargs)
    drawer.FinishDrawing()
    return _strip_xml_header(drawer.GetDrawingText())


#: Colour of substructure-query matches on a drawing (RGB 0–1, light green).
MATCH_COLOUR = (0.55, 0.88, 0.55)


def substructure_atoms(mol: Chem.Mol, smarts: str) -> tuple[list[int], list[int]]:
    """Atoms and bonds of every match of ``smarts`` (a SMARTS or a SMILES) in ``mol``; empty if none or unreadable."""
    from molgen.chem.mol import quiet_rdkit

    with quiet_rdkit():
        query = Chem.MolFromSmarts(smarts)
    if query is None:
        return [], []
    atoms = sorted({a for match in mol.GetSubstructMatches(query) for a in match})
    members = set(atoms)
    bonds = [b.GetIdx() for b in mol.GetBonds() if b.GetBeginAtomIdx() in members and b.GetEndAtomIdx() in members]
    return atoms, bonds


@lru_cache(maxsize=4096)
def mol_svg(smiles: str, width: int = 220, height: int = 170, highlight: str | None = None) -> str:
    """Inline SVG of ``smiles`` (a placeholder box when it does not parse); with ``highlight`` (a
    SMARTS or SMILES) the atoms and bonds it matches are filled in :data:`MATCH_COLOUR`."""
    mol = to_mol(smiles) if isinstance(smiles, str) and smiles else None
    if mol is None or mol.GetNumAtoms() == 0:
        return placeholder_svg(width, height)
    if highlight:
        atoms, bonds = substructure_atoms(mol, highlight)
        if atoms:
            return _draw(mol, width, height, atoms, bonds, dict.fromkeys(atoms, MATCH_COLOUR),
                         dict.fromkeys(bonds, MATCH_COLOUR))
    return _draw(mol, width, height)


def invalid_reason(smiles: str) -> str:
    """Short reason why ``smiles`` does not parse, saying what and where ("unclosed ring 1 at position 1")."""
    from molgen.chem.mol import explain_smiles

    reason = explain_smiles(smiles)
    if reason is None:
        return ""
    reason = reason.splitlines()[0]
    reason = reason.split(f" in {smiles!r}", 1)[0]
    reason = reason.split(".  ", 1)[0]  # "Can't kekulize mol.  Unkekulized atoms: …"
    return reason if len(reason) <= 80 else reason[:78] + "…"


def alert_matches(smiles: str) -> list[tuple[str, tuple[int, ...]]]:
    """Structural-alert matches of ``smiles`` as ``(alert name, atom indices)`` pairs (empty if none or invalid)."""
    from molgen.chem.alerts import alert_atoms

    mol = to_mol(smiles) if smiles else None
    if mol is None:
        return []
    raw = alert_atoms(mol)
    items = raw.items() if isinstance(raw, Mapping) else raw
    out: list[tuple[str, tuple[int, ...]]] = []
    for name, atoms in items:
        atoms = list(atoms)
        # Either one match (ints) or several matches (sequences of ints) per alert.
        if atoms and not isinstance(atoms[0], (int,)) and hasattr(atoms[0], "__iter__"):
            out.extend((str(name), tuple(int(a) for a in m)) for m in atoms)
        else:
            out.append((str(name), tuple(int(a) for a in atoms)))
    return [(n, a) for n, a in out if a]


def highlighted_svg(
    smiles: str,
    matches: Iterable[tuple[str, Sequence[int]]],
    width: int = 460,
    height: int = 340,
) -> tuple[str, list[tuple[str, str]]]:
    """Large SVG with each alert match's atoms (and the bonds between them) filled in its own colour.

    Returns the SVG and a legend: ``(alert name, CSS colour)`` per match, in drawing order.
    """
    mol = to_mol(smiles) if smiles else None
    if mol is None:
        return placeholder_svg(width, height), []
    atom_colours: dict[int, tuple[float, float, float]] = {}
    bond_colours: dict[int, tuple[float, float, float]] = {}
    legend: list[tuple[str, str]] = []
    for i, (name, atoms) in enumerate(matches):
        colour = ALERT_COLOURS[i % len(ALERT_COLOURS)]
        members = {a for a in atoms if 0 <= a < mol.GetNumAtoms()}
        for a in members:
            atom_colours.setdefault(a, colour)
        for bond in mol.GetBonds():
            if bond.GetBeginAtomIdx() in members and bond.GetEndAtomIdx() in members:
                bond_colours.setdefault(bond.GetIdx(), colour)
        legend.append((name, "#%02x%02x%02x" % tuple(round(c * 255) for c in colour)))
    svg = _draw(mol, width, height, list(atom_colours), list(bond_colours), atom_colours, bond_colours)
    return svg, legend


def format_value(value: Any, decimals: int) -> str:
    """A property value for display: rounded number, ``–`` for missing/NaN."""
    if value is None or isinstance(value, str):
        return "–" if value in (None, "") else str(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if math.isnan(f):
        return "–"
    return f"{f:.{decimals}f}" if decimals else f"{int(round(f))}"


def card_html(
    index: Any, row: Mapping[str, Any], width: int = 220, height: int = 170,
    properties: Mapping[str, tuple[str, int]] = CARD_PROPERTIES, highlight: str | None = None, framed: bool = True,
) -> str:
    """One molecule card (``molgen-card``): drawing, ``#index`` and name, SMILES, properties, alerts and
    input flags. ``framed=False`` leaves the border to the page's own container (the clickable grid)."""
    smiles = str(row.get("smiles") or "")
    svg = mol_svg(smiles, width, height, highlight or None)
    # The image scales with the card (the SVG's viewBox keeps the aspect ratio).
    img = svg_img(svg, alt=smiles, css_class="molgen-mol molgen-invalid" if "molgen-invalid" in svg else "molgen-mol")
    esc = html.escape(smiles, quote=True)
    short = esc if len(smiles) <= 34 else html.escape(smiles[:32]) + "…"
    if not smiles:
        short = "<i style='color:#999'>(empty string)</i>"
    head = f"<b>#{html.escape(str(index))}</b>"
    name = row.get("name")
    if isinstance(name, str) and name:
        head += " " + html.escape(name[:40])
    props = []
    for col, (label, dec) in properties.items():
        if col in row and row[col] is not None and not (isinstance(row[col], float) and math.isnan(row[col])):
            props.append(f"{label}&nbsp;{format_value(row[col], dec)}")
    alerts = row.get("alerts")
    if "molgen-invalid" in svg:
        props = [f"<span style='color:#a33'>{html.escape(invalid_reason(smiles))}</span>"]
    badge = ""
    if isinstance(alerts, str) and alerts.strip():
        labels, tip = alert_text(alerts)
        badge = (
            "<div style='color:#b00020;font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis' "
            f"title='{html.escape(tip, quote=True)}'>&#9888; {html.escape(labels)}</div>"
        )
    flags = row.get("flags")
    if isinstance(flags, str) and flags.strip():
        badge += (
            "<div class='molgen-flag' style='color:#8a5a00;font-size:11px;white-space:nowrap;overflow:hidden;"
            f"text-overflow:ellipsis' title='{html.escape(flags, quote=True)}'>&#9873; {html.escape(flags)}</div>"
        )
    frame = "border:1px solid #e3e3e3;border-radius:6px;padding:4px;" if framed else ""
    return (
        f"<div class='molgen-card' style='{frame}background:#fff;min-width:0'>{img}"
        f"<div style='font-size:12px;color:#333'>{head}</div>"
        f"<div style='font-family:monospace;font-size:11px;color:#555;white-space:nowrap;overflow:hidden;"
        f"text-overflow:ellipsis' title='{esc}'>{short}</div>"
        f"<div style='font-size:11px;color:#333'>{' · '.join(props)}</div>{badge}</div>"
    )


def grid_html(
    table: pd.DataFrame,
    *,
    columns: int = 4,
    width: int = 220,
    height: int = 170,
    properties: Mapping[str, tuple[str, int]] = CARD_PROPERTIES,
    highlight: str | None = None,
) -> str:
    """HTML grid of molecule cards: drawing, ``#index`` (the table's index), name, SMILES, properties,
    alerts and input flags; ``highlight`` (a SMARTS or SMILES) is drawn filled on every match.

    ``table`` needs a ``smiles`` column; any of ``name``, ``alerts``, ``flags`` and the ``properties``
    columns that are present are shown. Paginate before calling: every row is drawn.
    """
    if "smiles" not in table.columns:
        raise ValueError("grid_html needs a 'smiles' column")
    cards = [card_html(idx, row, width, height, properties, highlight)
             for idx, row in zip(table.index, table.to_dict("records"))]
    if not cards:
        return "<div class='molgen-grid' style='color:#666'>No molecules to show.</div>"
    return (
        "<div class='molgen-grid' style='display:grid;gap:8px;"
        f"grid-template-columns:repeat({int(columns)},minmax(0,1fr))'>" + "".join(cards) + "</div>"
    )


def alert_text(alerts: str) -> tuple[str, str]:
    """Readable labels of an ``alerts`` cell (``brenk:hydroquinone; …`` -> ``Brenk: hydroquinone; …``)
    and a tooltip giving each alert's scope and source (:func:`molgen.chem.alerts.describe_alert`)."""
    from molgen.chem.alerts import describe_alert

    infos = [describe_alert(n.strip()) for n in alerts.split(";") if n.strip()]
    labels = "; ".join(i.label for i in infos)
    tip = "\n".join(f"{i.label} — {i.tooltip}" if i.tooltip else i.label for i in infos)
    return labels, tip


def legend_html(legend: Sequence[tuple[str, str]]) -> str:
    """Colour swatches naming the alert matches of :func:`highlighted_svg` by family and readable
    title, the alert's scope and source as a tooltip; other names (a substructure query) as given."""
    from molgen.chem.alerts import describe_alert

    items = []
    for name, colour in legend:
        info = describe_alert(name) if ":" in name else None
        label = info.label if info else name
        tip = info.tooltip if info else ""
        items.append(
            f"<span class='molgen-alert' title='{html.escape(tip, quote=True)}' "
            "style='display:inline-block;margin:2px 10px 2px 0'><span style='display:inline-block;width:12px;"
            f"height:12px;background:{colour};border-radius:2px;vertical-align:middle'></span> {html.escape(label)}</span>"
        )
    return "<div style='font-size:13px'>" + "".join(items) + "</div>"
