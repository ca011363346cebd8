"""Aggregation: one total score from the transformed component values and their weights.

* ``arithmetic`` (the default, ORGAN's O): ``sum_i w_i x_i`` with the weights normalised to
  sum 1; a poor component is averaged out by good ones.
* ``geometric`` (REINVENT's default): ``prod_i x_i ** w_i`` (normalised weights); any component
  at 0 makes the total 0, so a molecule must be acceptable on every component. It needs
  values >= 0: a negative value (only a user component or an unbounded raw value gives one)
  counts as 0, and the scorer logs that once.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def arithmetic_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted arithmetic mean of each row of ``values`` (``weights`` sum to 1)."""
    return values @ weights


def geometric_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted geometric mean of each row of ``values`` (``weights`` sum to 1; negatives count as 0)."""
    return np.prod(np.power(np.clip(values, 0.0, None), weights), axis=1)


AGGREGATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "arithmetic": arithmetic_mean,
    "geometric": geometric_mean,
}
#: Names accepted by the ``aggregate`` config key.
AGGREGATES = tuple(AGGREGATORS)
