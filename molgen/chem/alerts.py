"""Structural alerts: RDKit's PAINS A/B/C, Brenk and NIH FilterCatalogs, with an exact pre-screen.

:func:`alert_catalog` builds a family's catalog once per process; :class:`AlertScreen` puts
it behind pattern fingerprints so only the entries that can match are asked (PAINS: ~35 of
480 on a drug-like molecule), with results equal to the catalog's own. Alert names are
``family:description`` (:func:`entry_name`), the form the ``alerts`` property column lists.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogEntry, FilterCatalogParams, SmartsMatcher

from molgen.chem.mol import Mol

#: Alert families, each a property column (``pains``, ``brenk``, ``nih``).
ALERT_FAMILIES = ("pains", "brenk", "nih")

_FAMILY_OF_SET = {"PAINS_A": "pains", "PAINS_B": "pains", "PAINS_C": "pains", "Brenk": "brenk", "NIH": "nih"}


@functools.lru_cache(maxsize=None)
def alert_catalog(family: str | None = None) -> FilterCatalog:
    """RDKit FilterCatalog for one family (``pains``, ``brenk``, ``nih``) or all three; built once per process."""
    cats = FilterCatalogParams.FilterCatalogs
    wanted = {
        "pains": [cats.PAINS_A, cats.PAINS_B, cats.PAINS_C],
        "brenk": [cats.BRENK],
        "nih": [cats.NIH],
    }
    params = FilterCatalogParams()
    for fam, catalogs in wanted.items():
        if family is None or fam == family:
            for c in catalogs:
                params.AddCatalog(c)
    if family is not None and family not in wanted:
        raise ValueError(f"unknown alert family {family!r}; choose from {', '.join(wanted)}")
    return FilterCatalog(params)


#: Size of the pattern fingerprints behind :class:`AlertScreen` (2048: ~35 of the 480 PAINS
#: entries survive the screen on MOSES molecules; 1024 lets ~41 through at the same cost).
SCREEN_BITS = 2048


def pattern_fp(mol: Mol) -> np.ndarray:
    """RDKit pattern fingerprint of ``mol`` (:data:`SCREEN_BITS`) as ``uint64`` words, for :class:`AlertScreen`."""
    fp = Chem.PatternFingerprint(mol, fpSize=SCREEN_BITS)
    return np.frombuffer(DataStructs.BitVectToBinaryText(fp), dtype=np.uint64)


@functools.lru_cache(maxsize=None)
def _smarts_entry_prefix() -> bytes:
    """Start of a serialised catalog entry whose matcher is one plain ``SmartsMatcher`` (the
    archive header up to the matcher's name); wrapped matchers (``Not``, ``And``...) differ."""
    probe = FilterCatalogEntry("probe", SmartsMatcher("probe", "[#6]", 1)).Serialize()
    return probe[: probe.index(b"5 probe ")]


_INT = re.compile(rb"(\d+) ")


def _entry_query(entry) -> Mol | None:
    """The query molecule of a catalog entry, if the entry is one SMARTS matcher that needs at
    least one hit (every PAINS, Brenk and NIH entry is); else ``None``.

    RDKit does not expose an entry's matcher to Python, but its serialisation (a boost text
    archive) holds the query as a molecule pickle: ``<len> <name> <len> <pickle> <min> <max> ...``.
    """
    data = entry.Serialize()
    prefix = _smarts_entry_prefix()
    if not data.startswith(prefix):
        return None
    pos = len(prefix)
    m = _INT.match(data, pos)  # matcher name: length, space, bytes, space
    if m is None:
        return None
    pos = m.end() + int(m.group(1)) + 1
    m = _INT.match(data, pos)  # query pickle: length, space, bytes
    if m is None:
        return None
    pickle = data[m.end() : m.end() + int(m.group(1))]
    counts = re.match(rb" (\d+) (\d+) ", data[m.end() + len(pickle) :])
    if counts is None or int(counts.group(1)) < 1:
        return None
    try:
        return Chem.Mol(pickle)
    except Exception:  # not a molecule pickle after all
        return None


class AlertScreen:
    """An alert catalog's entries behind an exact pattern-fingerprint pre-screen.

    A query can only match a molecule whose pattern fingerprint holds every bit of the query's
    (the guarantee RDKit's substructure screening rests on), so only the entries passing that
    test are asked, each through the catalog's own ``HasFilterMatch``. Results therefore equal
    ``FilterCatalog.HasMatch`` / ``GetMatches`` (same entries, same order) at a fraction of the
    cost: PAINS asks ~35 of its 480 entries on a drug-like molecule. An entry whose query cannot
    be read gets an empty fingerprint, so it is always asked. Checked against the catalogs on
    the MOSES test sets, 20k training molecules and RDKit's PAINS test molecules (also with
    explicit hydrogens); ``tests/chem/test_chem.py`` keeps a sample of that check.
    """

    def __init__(self, catalog: FilterCatalog):
        self.entries = [catalog.GetEntryWithIdx(i) for i in range(catalog.GetNumEntries())]
        words = SCREEN_BITS // 64
        self._fps = np.zeros((len(self.entries), words), dtype=np.uint64)
        for i, entry in enumerate(self.entries):
            query = _entry_query(entry)
            if query is not None:
                self._fps[i] = pattern_fp(query)

    def candidates(self, fp: np.ndarray) -> np.ndarray:
        """Indices (ascending) of the entries whose query bits are all set in molecule fingerprint ``fp``."""
        return np.flatnonzero(~(self._fps & ~fp).any(axis=1))

    def has_match(self, mol: Mol, fp: np.ndarray | None = None) -> bool:
        """``catalog.HasMatch(mol)``; ``fp`` is ``pattern_fp(mol)`` if already computed."""
        fp = pattern_fp(mol) if fp is None else fp
        return any(self.entries[i].HasFilterMatch(mol) for i in self.candidates(fp))

    def matches(self, mol: Mol, fp: np.ndarray | None = None) -> list:
        """``catalog.GetMatches(mol)``: the matching entries in catalog order."""
        fp = pattern_fp(mol) if fp is None else fp
        return [e for e in (self.entries[i] for i in self.candidates(fp)) if e.HasFilterMatch(mol)]


@functools.lru_cache(maxsize=None)
def alert_screen(family: str | None = None) -> AlertScreen:
    """:class:`AlertScreen` over :func:`alert_catalog` ``(family)``; built once per process."""
    return AlertScreen(alert_catalog(family))


#: Families matched through :class:`AlertScreen`. It pays only for PAINS (2.8 -> 0.3 ms per
#: MOSES molecule, fingerprint included): Brenk's catalog is already cheap (~0.2 ms) and
#: NIH's queries are generic enough that ~100 of its 180 pass the screen, so both would
#: only add the fingerprint's ~0.15 ms.
SCREENED_FAMILIES = ("pains",)


def family_matches(mol: Mol, family: str) -> list:
    """``alert_catalog(family).GetMatches(mol)``, through the screen for :data:`SCREENED_FAMILIES`."""
    if family in SCREENED_FAMILIES:
        return alert_screen(family).matches(mol)
    return list(alert_catalog(family).GetMatches(mol))


def entry_name(entry) -> str:
    """``family:description`` of a catalog entry (``pains:quinone_A(370)``)."""
    return f"{_FAMILY_OF_SET.get(entry.GetProp('FilterSet'), 'other')}:{entry.GetDescription()}"


def alert_matches(mol: Mol) -> list[str]:
    """Names (``family:alert``) of every PAINS/Brenk/NIH alert the molecule matches."""
    return [entry_name(e) for e in alert_catalog().GetMatches(mol)]


def alert_atoms(mol: Mol) -> list[tuple[str, tuple[int, ...]]]:
    """Each alert match with the molecule's atom indices it covers (for highlighting)."""
    out = []
    for entry in alert_catalog().GetMatches(mol):
        for fm in entry.GetFilterMatches(mol):
            out.append((entry_name(entry), tuple(sorted(p.target for p in fm.atomPairs))))
    return out



#: Readable family names of the alert catalogs.
FAMILY_TITLES = {"pains": "PAINS", "brenk": "Brenk", "nih": "NIH MLSMR", "other": "other"}


@dataclass(frozen=True)
class AlertInfo:
    """What an alert name (``brenk:hydroquinone``) means: family, readable title, why it is an alert, source."""

    name: str
    family: str
    title: str
    scope: str
    reference: str

    @property
    def label(self) -> str:
        """``Brenk: hydroquinone`` – what a chemist reads instead of the raw name."""
        return f"{FAMILY_TITLES.get(self.family, self.family)}: {self.title}"

    @property
    def tooltip(self) -> str:
        """Scope and literature reference, for a hover text."""
        return " — ".join(part for part in (self.scope, self.reference) if part)


@functools.lru_cache(maxsize=None)
def _entry_props() -> dict[str, tuple[str, str]]:
    catalog = alert_catalog()
    out = {}
    for i in range(catalog.GetNumEntries()):
        entry = catalog.GetEntryWithIdx(i)
        props = {p: entry.GetProp(p) for p in entry.GetPropList()}
        out[entry_name(entry)] = (props.get("Scope", ""), props.get("Reference", ""))
    return out


def describe_alert(name: str) -> AlertInfo:
    """:class:`AlertInfo` of an alert name as the ``alerts`` column lists it (``family:description``).

    The title drops PAINS's match counts and underscores (``quinone_A(370)`` -> ``quinone A``);
    the scope and reference come from the catalog entry (empty for an unknown name)."""
    family, _, description = name.partition(":")
    if not description:
        family, description = "other", name
    title = re.sub(r"\(\d+\)$", "", description).replace("_", " ").strip()
    scope, reference = _entry_props().get(name, ("", ""))
    if not scope and family == "pains":
        scope = "pan-assay interference compound: frequent hitter in high-throughput screens"
    return AlertInfo(name, family, title, scope, reference)
