"""Per-molecule features behind every metric, computed in one RDKit pass per SMILES.

Parsing dominates the cost of most metrics, so each SMILES is parsed once and everything
the metrics need is taken from that molecule: canonical SMILES, Morgan bits (r=2, 2048 for
SNN/IntDiv; 4096 for GuacaMol's internal similarity), BRICS fragments, Bemis–Murcko
scaffold, QED/SA/logP/MW, the GuacaMol KL descriptors and the filter flags. Large inputs are
split in chunks over worker processes (:func:`molgen.parallel.imap_chunks`).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from molgen.chem.scaffolds import scaffold
from molgen.parallel import imap_chunks, resolve_jobs

#: Fingerprint settings: MOSES uses Morgan r=2 (we use 2048 bits, DESIGN.md); GuacaMol's
#: internal-similarity descriptor uses ECFP4 bit vectors of 4096 bits.
FP_RADIUS, FP_BITS = 2, 2048
KL_FP_BITS = 4096
#: GuacaMol KL-divergence descriptors: the first four continuous (KDE), the rest discrete.
KL_CONTINUOUS = ("BertzCT", "MolLogP", "MolWt", "TPSA")
KL_DISCRETE = ("NumHAcceptors", "NumHDonors", "NumRotatableBonds", "NumAliphaticRings", "NumAromaticRings")
KL_DESCRIPTORS = KL_CONTINUOUS + KL_DISCRETE
#: Property distributions compared with the reference (MOSES: logP, SA, QED, weight).
PROPERTY_NAMES = ("qed", "sa", "logp", "mw")
#: Atoms allowed by the MOSES filter (its training set's elements).
MOSES_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
#: Smallest ring size rejected by the MOSES filter.
MOSES_MAX_RING = 8

#: Feature groups a caller can ask for (``canonical`` is always computed).
GROUPS = ("fp", "kl", "frag", "scaf", "props", "filters")
_PARALLEL_MIN = 2000
_CHUNK = 500


@dataclass
class SetFeatures:
    """Features of a SMILES set. Per-input: ``canonical`` (``None`` = invalid). Per valid
    molecule, in input order: the arrays and lists below (empty where not requested)."""

    canonical: list[str | None]
    fps: np.ndarray = field(default_factory=lambda: np.zeros((0, FP_BITS // 8), np.uint8))
    kl_fps: np.ndarray = field(default_factory=lambda: np.zeros((0, KL_FP_BITS // 8), np.uint8))
    descriptors: np.ndarray = field(default_factory=lambda: np.zeros((0, len(KL_DESCRIPTORS))))
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    fragments: Counter = field(default_factory=Counter)
    scaffolds: Counter = field(default_factory=Counter)
    filters: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    pains_free: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def valid_smiles(self) -> list[str]:
        """Canonical SMILES of the valid molecules, duplicates kept, input order."""
        return [s for s in self.canonical if s is not None]


@functools.lru_cache(maxsize=4)
def _fp_generator(n_bits: int):
    return rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=n_bits)


def packed_bits(mol: Chem.Mol, n_bits: int) -> bytes:
    """Morgan r=2 bit vector as ``n_bits // 8`` bytes, bit ``i`` at byte ``i // 8``, LSB first."""
    return DataStructs.BitVectToBinaryText(_fp_generator(n_bits).GetFingerprint(mol))


def brics_fragments(mol: Chem.Mol) -> list[str]:
    """BRICS fragments (with dummy attachment atoms) as canonical SMILES, one per fragment (MOSES)."""
    return Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split(".")


def passes_moses_filters(mol: Chem.Mol, pains: bool) -> bool:
    """MOSES ``Filters``: neutral, only C N S O F Cl Br H, no ring of 8+ atoms, no alert.

    MOSES matches its own MCF + PAINS SMARTS; we use ``pains`` from RDKit's PAINS A/B/C
    catalog (the MCF list is not shipped with RDKit), so values differ slightly from MOSES.
    """
    if pains:
        return False
    if any(len(r) >= MOSES_MAX_RING for r in mol.GetRingInfo().AtomRings()):
        return False
    for atom in mol.GetAtoms():
        if atom.GetFormalCharge() != 0 or atom.GetSymbol() not in MOSES_ATOMS:
            return False
    return True


def mol_properties(mol: Chem.Mol) -> list[float]:
    """QED, SA, logP, MW (:data:`PROPERTY_NAMES` order), equal to ``molgen.chem.properties.PROPERTIES``.

    QED's own descriptor pass already holds Crippen logP and the average MW, so they are
    taken from it instead of being computed twice.
    """
    from rdkit.Chem import QED

    from molgen.chem.properties import PROPERTIES

    qp = QED.properties(mol)
    return [float(QED.qed(mol, qedProperties=qp)), float(PROPERTIES["sa"](mol)), float(qp.ALOGP), float(qp.MW)]


def _kl_descriptors(mol: Chem.Mol, props: list[float] | None) -> list[float]:
    values = [
        Descriptors.BertzCT(mol),
        Descriptors.MolLogP(mol) if props is None else props[2],
        Descriptors.MolWt(mol) if props is None else props[3],
        Descriptors.TPSA(mol),
        Descriptors.NumHAcceptors(mol),
        Descriptors.NumHDonors(mol),
        Descriptors.NumRotatableBonds(mol),
        Descriptors.NumAliphaticRings(mol),
        Descriptors.NumAromaticRings(mol),
    ]
    return [v if np.isfinite(v) else 0.0 for v in values]


def _chunk_features(args: tuple[list[str], tuple[str, ...]]) -> dict:
    """Worker: features of one chunk of SMILES as plain picklable lists."""
    from molgen.chem.mol import quiet_rdkit, to_mol
    from molgen.chem.alerts import alert_screen

    smiles, groups = args
    out: dict = {"canonical": [], "fps": [], "kl_fps": [], "desc": [], "props": [], "frag": [],
                 "scaf": [], "filters": [], "pains_free": []}
    # PAINS through the exact fingerprint pre-screen: same answer as the catalog's HasMatch, ~8x faster.
    pains_screen = alert_screen("pains") if "filters" in groups else None
    with quiet_rdkit():
        for smi in smiles:
            mol = to_mol(smi) if isinstance(smi, str) else None
            if mol is None:
                out["canonical"].append(None)
                continue
            out["canonical"].append(Chem.MolToSmiles(mol))
            props = None
            if "fp" in groups:
                out["fps"].append(packed_bits(mol, FP_BITS))
            if "props" in groups:
                props = mol_properties(mol)
                out["props"].append(props)
            if "kl" in groups:
                out["kl_fps"].append(packed_bits(mol, KL_FP_BITS))
                out["desc"].append(_kl_descriptors(mol, props))
            if "frag" in groups:
                out["frag"].append(brics_fragments(mol))
            if "scaf" in groups:
                out["scaf"].append(scaffold(mol))
            if "filters" in groups:
                pains = pains_screen.has_match(mol)
                out["pains_free"].append(not pains)
                out["filters"].append(passes_moses_filters(mol, pains))
    return out


def compute_features(
    smiles: Sequence[str],
    groups: Iterable[str] = GROUPS,
    n_jobs: int | None = None,
    progress: bool = False,
    desc: str = "features",
    scheduler: str | None = None,
) -> SetFeatures:
    """Features of ``smiles`` for the requested ``groups`` (see :data:`GROUPS`).

    Invalid or empty SMILES (and non-strings) count as invalid; nothing raises. Each
    distinct string is computed once and its results repeated for its duplicates (sampled
    sets are often far from unique). 2,000 or more distinct strings run over ``n_jobs``
    processes (``None`` = all cores), or, with ``scheduler`` (a Dask address or ``local:N``),
    as one task per chunk on that cluster: the same function, so the same features.
    """
    from tqdm.auto import tqdm

    wanted = set(groups)
    if wanted - set(GROUPS):
        raise ValueError(f"unknown feature groups {sorted(wanted - set(GROUPS))}; choose from {GROUPS}")
    groups = tuple(g for g in GROUPS if g in wanted)
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(s if isinstance(s, str) else "", len(index)) for s in smiles),
                          dtype=np.int64, count=len(smiles))
    distinct = list(index)
    chunks = [(distinct[i : i + _CHUNK], groups) for i in range(0, len(distinct), _CHUNK)]
    jobs = min(resolve_jobs(n_jobs), max(1, len(chunks)))
    bar = tqdm(total=len(distinct), unit="mol", desc=desc, disable=not progress)
    parts = []
    try:
        # a large set works in children even with -j 1: Ctrl-C reaches this process (RDKit's
        # substructure search would swallow it here) and a crash in RDKit becomes WorkerCrashed
        large = len(distinct) >= _PARALLEL_MIN
        if scheduler and chunks:
            from molgen.cluster import dask_client

            with dask_client(scheduler) as client:
                for fut in client.map(_chunk_features, chunks, pure=False):
                    parts.append(fut.result())
                    bar.update(len(parts[-1]["canonical"]))
        else:
            for part in imap_chunks(_chunk_features, chunks, jobs if large else 1, isolate=large):
                parts.append(part)
                bar.update(len(part["canonical"]))
    finally:
        bar.close()
    return _expand({k: [x for p in parts for x in p[k]] for k in parts[0]} if parts else None, inverse)


def _stack_bytes(rows: list[bytes], n_bits: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, n_bits // 8), np.uint8)
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), n_bits // 8).copy()


def _expand(d: dict | None, inverse: np.ndarray) -> SetFeatures:
    """Features of every input from those of its distinct strings (``inverse`` maps input -> distinct)."""
    if d is None:
        return SetFeatures(canonical=[])
    valid_distinct = np.array([c is not None for c in d["canonical"]], dtype=bool)
    row_of = np.full(len(valid_distinct), -1, dtype=np.int64)
    row_of[valid_distinct] = np.arange(int(valid_distinct.sum()))
    rows = row_of[inverse]
    rows = rows[rows >= 0]  # for each valid input, its row among the distinct valid molecules
    counts = np.bincount(rows, minlength=int(valid_distinct.sum()))
    fragments: Counter = Counter()
    for r, frags in enumerate(d["frag"]):
        for f in frags:
            fragments[f] += int(counts[r])
    scaffolds: Counter = Counter()
    for r, scaf in enumerate(d["scaf"]):
        if scaf is not None and counts[r]:
            scaffolds[scaf] += int(counts[r])
    props = np.asarray(d["props"], dtype=float).reshape(len(d["props"]), len(PROPERTY_NAMES))
    desc = np.asarray(d["desc"], dtype=float).reshape(len(d["desc"]), len(KL_DESCRIPTORS))

    def take(arr: np.ndarray) -> np.ndarray:
        return arr[rows] if len(arr) else arr

    return SetFeatures(
        canonical=[d["canonical"][j] for j in inverse],
        fps=take(_stack_bytes(d["fps"], FP_BITS)),
        kl_fps=take(_stack_bytes(d["kl_fps"], KL_FP_BITS)),
        descriptors=take(desc),
        properties={name: props[rows, i] for i, name in enumerate(PROPERTY_NAMES)} if len(props) else {},
        fragments=+fragments,
        scaffolds=scaffolds,
        filters=take(np.asarray(d["filters"], dtype=bool)),
        pains_free=take(np.asarray(d["pains_free"], dtype=bool)),
    )
