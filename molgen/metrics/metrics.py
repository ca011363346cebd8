"""Distribution-learning metrics (MOSES, GuacaMol) and the one-call :func:`evaluate`.

Definitions, over a generated list that may hold invalid or empty strings:

* ``valid``: fraction of strings RDKit parses into a non-empty molecule.
* ``unique@1k`` / ``unique@10k``: unique canonical SMILES among the first k *valid*
  molecules, divided by k; NaN with a warning when there are fewer than k valid.
* ``novelty``: fraction of the unique valid molecules whose canonical SMILES is not in
  the (canonicalised) training set.
* ``intdiv1`` / ``intdiv2``: 1 − mean(T^p)^(1/p) over all ordered pairs of valid
  molecules, self-pairs and duplicates included (MOSES paper definition); T is Tanimoto on
  Morgan r=2, 2048-bit fingerprints. (MOSES's code takes the p-th root per molecule before
  averaging; the two agree for p=1.)
* ``snn/<ref>``: mean over valid molecules of the Tanimoto similarity to the nearest
  reference molecule.
* ``frag/<ref>`` / ``scaf/<ref>``: cosine similarity of BRICS-fragment / Bemis–Murcko
  scaffold (≥2 rings) count vectors (MOSES).
* ``fcd/<ref>``: Fréchet ChemNet Distance (fcd-torch's ChemNet), valid molecules.
* ``kl_score``: GuacaMol KL benchmark, mean over descriptors of exp(−KL(ref ‖ gen)); unique
  valid molecules against ≤10k reference molecules; ``kl/<descriptor>`` the divergences.
* ``filters``: MOSES filter pass rate (see :func:`molgen.metrics.features.passes_moses_filters`);
  ``pains_free``: fraction with no PAINS A/B/C alert.
* ``qed``/``sa``/``logp``/``mw``: mean over valid molecules; ``<prop>/test`` the reference
  mean; ``<prop>/w1`` the Wasserstein-1 distance between the two distributions (MOSES).

Where a metric is undefined (no valid molecule, too few for FCD) it is NaN with a warning.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from typing import Iterator, Sequence, Union

import numpy as np

from molgen.metrics import distribution as dist
from molgen.metrics.fcd import fcd_from_stats, fcd_stats
from molgen.metrics.features import GROUPS, KL_CONTINUOUS, PROPERTY_NAMES, SetFeatures, compute_features
from molgen.metrics.reference import KL_NAMES, ReferenceStats, kl_subset, kl_matrix, reference_stats
from molgen.metrics.similarity import max_similarity, mean_similarity_powers

#: A reference set: SMILES, or statistics computed once by :func:`reference_stats`.
Reference = Union[Sequence[str], ReferenceStats]

#: Report keys in display order with one-line descriptions (the CLI's table rows).
METRICS: dict[str, str] = {
    "n_generated": "strings scored",
    "n_valid": "valid molecules",
    "n_unique": "distinct valid molecules",
    "valid": "fraction RDKit-parsable, non-empty",
    "unique@1k": "unique among the first 1,000 valid",
    "unique@10k": "unique among the first 10,000 valid",
    "novelty": "unique valid not in the training set",
    "intdiv1": "internal diversity, 1 − mean Tanimoto",
    "intdiv2": "internal diversity, 1 − sqrt(mean Tanimoto²)",
    "fcd/test": "Fréchet ChemNet Distance to test (lower is better)",
    "snn/test": "mean nearest-neighbour Tanimoto to test",
    "frag/test": "BRICS fragment cosine similarity to test",
    "scaf/test": "Bemis–Murcko scaffold cosine similarity to test",
    "fcd/testsf": "FCD to the scaffold test set",
    "snn/testsf": "SNN to the scaffold test set",
    "frag/testsf": "fragment similarity to the scaffold test set",
    "scaf/testsf": "scaffold similarity to the scaffold test set",
    "kl_score": "GuacaMol KL score, mean exp(−KL) (1 = same)",
    "filters": "MOSES filter pass rate",
    "pains_free": "fraction without a PAINS alert",
    **{k: v for p in PROPERTY_NAMES for k, v in (
        (p, f"mean {p.upper() if p != 'logp' else 'logP'}"),
        (f"{p}/test", f"test-set mean {p}"),
        (f"{p}/w1", f"Wasserstein-1 distance of {p} to test"),
    )},
}


def _nan(message: str) -> float:
    warnings.warn(message, stacklevel=3)
    return float("nan")


def _features(generated: Sequence[str] | SetFeatures, groups: Sequence[str], n_jobs: int | None = None) -> SetFeatures:
    if isinstance(generated, SetFeatures):
        return generated
    return compute_features(list(generated), groups=groups, n_jobs=n_jobs)


def _kl_reference(reference: Reference, device: str = "cpu") -> np.ndarray:
    """KL descriptor matrix of a reference: precomputed, or from its ≤10k unique valid molecules."""
    if isinstance(reference, ReferenceStats):
        return reference.kl_values
    valid = compute_features(list(reference), ()).valid_smiles
    return kl_matrix(compute_features(kl_subset(valid), ("kl",)), device)


# --- metrics on the generated set alone -----------------------------------------------------


def fraction_valid(generated: Sequence[str] | SetFeatures) -> float:
    """Fraction of strings that RDKit parses into a non-empty molecule (empty strings and
    non-strings count as invalid). NaN with a warning for an empty list."""
    feats = _features(generated, ())
    if not feats.canonical:
        return _nan("validity of an empty set is undefined; reporting NaN")
    return sum(c is not None for c in feats.canonical) / len(feats.canonical)


def fraction_unique(generated: Sequence[str] | SetFeatures, k: int | None = None) -> float:
    """Unique canonical SMILES among the first ``k`` valid molecules (all valid if ``k`` is
    None), divided by their number. With fewer than ``k`` valid molecules it is computed on
    all of them with a warning, as MOSES does; NaN with a warning if none is valid."""
    valid = _features(generated, ()).valid_smiles
    if k is not None:
        if 0 < len(valid) < k:
            warnings.warn(f"unique@{k}: only {len(valid)} valid molecules; computed on those", stacklevel=2)
        valid = valid[:k]
    if not valid:
        return _nan("uniqueness undefined without valid molecules; reporting NaN")
    return len(set(valid)) / len(valid)


def internal_diversity(generated: Sequence[str] | SetFeatures, p: int = 1, device: str = "cpu") -> float:
    """IntDiv_p = 1 − (mean over ordered pairs of valid molecules of T^p)^(1/p), self-pairs
    included (Morgan r=2, 2048 bits). NaN with a warning without valid molecules."""
    feats = _features(generated, ("fp",))
    if len(feats.fps) == 0:
        return _nan("internal diversity undefined without valid molecules; reporting NaN")
    mean = float(mean_similarity_powers(feats.fps, (p,), device=device)[p].mean())
    return 1.0 - mean ** (1.0 / p)


def filter_pass_rate(generated: Sequence[str] | SetFeatures) -> dict[str, float]:
    """``{"filters": MOSES filter pass rate, "pains_free": PAINS-free fraction}`` over valid molecules."""
    feats = _features(generated, ("filters",))
    if len(feats.filters) == 0:
        nan = _nan("filter pass rate undefined without valid molecules; reporting NaN")
        return {"filters": nan, "pains_free": nan}
    return {"filters": float(feats.filters.mean()), "pains_free": float(feats.pains_free.mean())}


# --- metrics against a reference set ---------------------------------------------------------


def novelty(generated: Sequence[str] | SetFeatures, train: Reference) -> float:
    """Fraction of unique valid generated molecules not in ``train`` (canonical SMILES)."""
    unique = set(_features(generated, ()).valid_smiles)
    if not unique:
        return _nan("novelty undefined without valid molecules; reporting NaN")
    ref = train.canonical if isinstance(train, ReferenceStats) else set(compute_features(list(train), ()).valid_smiles)
    return len(unique - ref) / len(unique)


def snn(generated: Sequence[str] | SetFeatures, reference: Reference, device: str = "cpu") -> float:
    """Mean over valid generated molecules of the Tanimoto similarity to their nearest
    neighbour in ``reference`` (Morgan r=2, 2048 bits)."""
    feats = _features(generated, ("fp",))
    ref_fps = reference.fps if isinstance(reference, ReferenceStats) else compute_features(list(reference), ("fp",)).fps
    if ref_fps is None or len(ref_fps) == 0 or len(feats.fps) == 0:
        return _nan("SNN undefined with an empty (or all-invalid) set; reporting NaN")
    return float(max_similarity(feats.fps, ref_fps, device=device).mean())


def fragment_similarity(generated: Sequence[str] | SetFeatures, reference: Reference) -> float:
    """Cosine similarity of BRICS fragment counts (MOSES ``Frag``)."""
    feats = _features(generated, ("frag",))
    ref = reference.fragments if isinstance(reference, ReferenceStats) else compute_features(list(reference), ("frag",)).fragments
    return dist.cosine_similarity(ref, feats.fragments)


def scaffold_similarity(generated: Sequence[str] | SetFeatures, reference: Reference) -> float:
    """Cosine similarity of Bemis–Murcko scaffold counts, scaffolds with ≥2 rings (MOSES ``Scaf``)."""
    feats = _features(generated, ("scaf",))
    ref = reference.scaffolds if isinstance(reference, ReferenceStats) else compute_features(list(reference), ("scaf",)).scaffolds
    return dist.cosine_similarity(ref, feats.scaffolds)


def fcd(generated: Sequence[str] | SetFeatures, reference: Reference, device: str = "cpu") -> float:
    """Fréchet ChemNet Distance between the valid generated molecules and ``reference``
    (fcd-torch 1.0.7 ChemNet). NaN with a warning if either side has fewer than 2 valid."""
    gen = fcd_stats(_features(generated, ()).valid_smiles, device=device)
    ref = reference.fcd if isinstance(reference, ReferenceStats) else fcd_stats(
        compute_features(list(reference), ()).valid_smiles, device=device)
    if ref is None or gen is None:
        return _nan("FCD undefined (a set has fewer than 2 valid molecules or no FCD statistics); reporting NaN")
    return fcd_from_stats(ref, gen)


def _unique_rows(feats: SetFeatures) -> np.ndarray:
    """Indices (into the valid rows) of the first occurrence of each canonical SMILES."""
    seen: dict[str, int] = {}
    for i, s in enumerate(feats.valid_smiles):
        seen.setdefault(s, i)
    return np.fromiter(seen.values(), dtype=np.int64, count=len(seen))


def kl_divergence(generated: Sequence[str] | SetFeatures, reference: Reference, device: str = "cpu") -> dict[str, float]:
    """GuacaMol KL benchmark: ``{"kl_score": mean exp(−KL), "kl/<descriptor>": KL, …}`` of the
    unique valid generated molecules against the reference's ≤10k subset."""
    feats = _features(generated, ("kl",))
    ref_values = _kl_reference(reference, device)
    if len(feats.kl_fps) == 0 or len(ref_values) == 0:
        nan = _nan("KL divergence undefined with an empty (or all-invalid) set; reporting NaN")
        return {"kl_score": nan, **{f"kl/{n}": nan for n in KL_NAMES}}
    rows = _unique_rows(feats)
    sub = SetFeatures(canonical=[], kl_fps=feats.kl_fps[rows], descriptors=feats.descriptors[rows])
    divs = dist.kl_divergences(ref_values, kl_matrix(sub, device), KL_NAMES, len(KL_CONTINUOUS))
    return {"kl_score": dist.kl_score(divs), **{f"kl/{n}": v for n, v in divs.items()}}


def property_statistics(generated: Sequence[str] | SetFeatures, reference: Reference | None = None) -> dict[str, float]:
    """``<prop>`` mean over valid molecules for QED, SA, logP, MW; with a reference also its
    mean ``<prop>/test`` and the Wasserstein-1 distance ``<prop>/w1``."""
    feats = _features(generated, ("props",))
    if reference is None or isinstance(reference, ReferenceStats):
        ref_props = None if reference is None else reference.properties
    else:
        ref_props = compute_features(list(reference), ("props",)).properties
    out: dict[str, float] = {}
    for p in PROPERTY_NAMES:
        values = feats.properties.get(p, np.zeros(0))
        out[p] = float(values.mean()) if len(values) else _nan(f"mean {p} undefined without valid molecules; reporting NaN")
        if ref_props is not None:
            ref_values = ref_props.get(p, np.zeros(0))
            out[f"{p}/test"] = float(ref_values.mean()) if len(ref_values) else float("nan")
            out[f"{p}/w1"] = dist.wasserstein(ref_values, values)
    return out


# --- everything at once ----------------------------------------------------------------------


@contextmanager
def _timed(timings: dict[str, float] | None, name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    if timings is not None:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def evaluate(
    generated: Sequence[str],
    train: Reference | None = None,
    test: Reference | None = None,
    test_scaffolds: Reference | None = None,
    n_jobs: int | None = None,
    fcd: bool = True,
    device: str = "cpu",
    progress: bool = False,
    cache: bool | str = False,
    timings: dict[str, float] | None = None,
    scheduler: str | None = None,
) -> dict[str, float]:
    """All metrics of ``generated`` (raw strings, invalid ones included) in one call.

    ``train``/``test``/``test_scaffolds`` are SMILES or :class:`ReferenceStats`; SMILES are
    turned into statistics here (through the disk cache when ``cache`` is true or a
    folder). Metrics needing a missing reference are left out. ``timings``, if given, is
    filled with seconds per stage. Returns a flat ``{name: float}`` (see :data:`METRICS`);
    KL is against ``train`` if given, else ``test``. With ``scheduler`` (a Dask address or
    ``local:N``) the RDKit features of ``generated`` are computed on that cluster.
    """
    generated = ["" if s is None else str(s) for s in generated]

    def ref(smiles: Reference | None, role: str, with_fcd: bool, label: str) -> ReferenceStats | None:
        if smiles is None or isinstance(smiles, ReferenceStats):
            return smiles
        with _timed(timings, f"reference: {label}"):
            return reference_stats(smiles, role=role, fcd=with_fcd, n_jobs=n_jobs, device=device,
                                   progress=progress, cache=cache)

    train_s = ref(train, "train", False, "train")
    test_s = ref(test, "test", fcd, "test")
    sf_s = ref(test_scaffolds, "test", fcd, "test_scaffolds")

    groups = [g for g in GROUPS if g != "kl" or train_s is not None or test_s is not None]
    with _timed(timings, "features (RDKit)"):
        feats = compute_features(generated, groups=groups, n_jobs=n_jobs, progress=progress, desc="generated",
                                 scheduler=scheduler)
    n_valid = len(feats.valid_smiles)
    out: dict[str, float] = {"n_generated": float(len(generated)), "n_valid": float(n_valid),
                             "n_unique": float(len(set(feats.valid_smiles)))}
    with _timed(timings, "validity/uniqueness"):
        out["valid"] = fraction_valid(feats)
        out["unique@1k"] = fraction_unique(feats, 1000)
        out["unique@10k"] = fraction_unique(feats, 10000)
    if train_s is not None:
        with _timed(timings, "novelty"):
            out["novelty"] = novelty(feats, train_s)
    with _timed(timings, "intdiv"):
        if n_valid:
            means = mean_similarity_powers(feats.fps, (1, 2), device=device)
            out["intdiv1"] = 1.0 - float(means[1].mean())
            out["intdiv2"] = 1.0 - float(means[2].mean()) ** 0.5
        else:
            out["intdiv1"] = out["intdiv2"] = _nan("internal diversity undefined without valid molecules; reporting NaN")
    gen_fcd = None
    if fcd and (test_s is not None or sf_s is not None):
        with _timed(timings, "fcd (ChemNet on generated)"):
            gen_fcd = fcd_stats(feats.valid_smiles, device=device, progress=progress)
    for label, stats in (("test", test_s), ("testsf", sf_s)):
        if stats is None:
            continue
        if fcd:
            with _timed(timings, "fcd"):
                out[f"fcd/{label}"] = fcd_from_stats(stats.fcd, gen_fcd)
        with _timed(timings, "snn"):
            out[f"snn/{label}"] = snn(feats, stats, device=device)
        with _timed(timings, "frag/scaf"):
            out[f"frag/{label}"] = fragment_similarity(feats, stats)
            out[f"scaf/{label}"] = scaffold_similarity(feats, stats)
    kl_ref = train_s if train_s is not None else test_s
    if kl_ref is not None:
        with _timed(timings, "kl"):
            out.update(kl_divergence(feats, kl_ref, device=device))
    with _timed(timings, "filters/properties"):
        out.update(filter_pass_rate(feats))
        out.update(property_statistics(feats, test_s))
    return out
