"""Distribution-learning metrics for generated molecules (MOSES and GuacaMol definitions).

``evaluate(generated, train, test, test_scaffolds)`` computes everything at once; the
individual metrics are below it, and :func:`reference_stats` precomputes (and caches on
disk) what the metrics need from a reference set, so several models are scored fast.
"""

from molgen.metrics.fcd import FCD_PACKAGE, FCDStats, fcd_stats, frechet_distance
from molgen.metrics.features import SetFeatures, compute_features
from molgen.metrics.metrics import (
    METRICS,
    evaluate,
    fcd,
    filter_pass_rate,
    fraction_unique,
    fraction_valid,
    fragment_similarity,
    internal_diversity,
    kl_divergence,
    novelty,
    property_statistics,
    scaffold_similarity,
    snn,
)
from molgen.metrics.reference import ReferenceStats, compute_reference_stats, reference_stats

__all__ = [
    "FCD_PACKAGE", "FCDStats", "METRICS", "ReferenceStats", "SetFeatures", "compute_features",
    "compute_reference_stats", "evaluate", "fcd", "fcd_stats", "filter_pass_rate", "fraction_unique",
    "fraction_valid", "fragment_similarity", "frechet_distance", "internal_diversity", "kl_divergence",
    "novelty", "property_statistics", "reference_stats", "scaffold_similarity", "snn",
]
