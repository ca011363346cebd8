"""Score transforms: map a component's raw value (a QED, a logP, a similarity) onto [0, 1].

REINVENT 4's semantics (``reinvent/scoring/transforms``), computed in float64:

* ``identity``: the raw value as it is;
* ``ramp`` (a desirability): 0 at ``x <= low``, 1 at ``x >= high``, linear between; with
  ``low > high`` it falls instead (1 at ``x <= high``, 0 at ``x >= low``);
* ``sigmoid``: ``1 / (1 + 10 ** (-10 k (x - (low + high) / 2) / (high - low)))``, 0.5 at the
  midpoint, rising; ``k`` sets the steepness (REINVENT's usual 0.25 to 0.5);
* ``reverse_sigmoid``: ``1 - sigmoid``, falling;
* ``step``: 1 when ``low <= x <= high``, else 0.

A component without a transform is used raw (the built-in ones are already in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def identity(x: np.ndarray) -> np.ndarray:
    """The values unchanged."""
    return np.asarray(x, dtype=float)


def ramp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Desirability ramp: ``(x - low) / (high - low)`` clipped to [0, 1]."""
    return np.clip((np.asarray(x, dtype=float) - low) / (high - low), 0.0, 1.0)


def _sigmoid(x: np.ndarray, low: float, high: float, k: float) -> np.ndarray:
    # a base-10 logistic written with exp of a non-positive argument only, so it never overflows
    h = 10.0 * k * (np.asarray(x, dtype=float) - (low + high) / 2) / (high - low) * np.log(10.0)
    e = np.exp(-np.abs(h))
    return np.where(h >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(x: np.ndarray, low: float, high: float, k: float) -> np.ndarray:
    """Rising sigmoid, 0.5 at ``(low + high) / 2``; steeper with larger ``k``."""
    return _sigmoid(x, low, high, k)


def reverse_sigmoid(x: np.ndarray, low: float, high: float, k: float) -> np.ndarray:
    """Falling sigmoid: ``1 - sigmoid(x, low, high, k)``."""
    return 1.0 - _sigmoid(x, low, high, k)


def step(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """1 inside ``[low, high]`` (inclusive), 0 outside."""
    x = np.asarray(x, dtype=float)
    return ((x >= low) & (x <= high)).astype(float)


@dataclass(frozen=True)
class Transform:
    """A transform kind: its function and the parameters it takes (all required)."""

    fn: Callable[..., np.ndarray]
    params: tuple[str, ...]


TRANSFORMS: dict[str, Transform] = {
    "identity": Transform(identity, ()),
    "ramp": Transform(ramp, ("low", "high")),
    "sigmoid": Transform(sigmoid, ("low", "high", "k")),
    "reverse_sigmoid": Transform(reverse_sigmoid, ("low", "high", "k")),
    "step": Transform(step, ("low", "high")),
}


def check_transform(kind: str, params: dict[str, float | None]) -> None:
    """Raise ValueError unless ``params`` (``low``/``high``/``k``, None = not given) fit ``kind``."""
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown transform {kind!r}; choose from {', '.join(TRANSFORMS)}")
    wanted = TRANSFORMS[kind].params
    missing = [p for p in wanted if params.get(p) is None]
    if missing:
        raise ValueError(f"transform {kind!r} needs {', '.join(wanted)}; missing {', '.join(missing)}")
    extra = [p for p, v in params.items() if v is not None and p not in wanted]
    if extra:
        takes = ", ".join(wanted) if wanted else "no parameters"
        raise ValueError(f"transform {kind!r} takes {takes}, not {', '.join(extra)}")
    low, high, k = params.get("low"), params.get("high"), params.get("k")
    if kind == "ramp" and low == high:
        raise ValueError(f"transform 'ramp' needs low != high, got {low} and {high}")
    if kind in ("sigmoid", "reverse_sigmoid"):
        if not low < high:
            raise ValueError(f"transform {kind!r} needs low < high, got low={low}, high={high}")
        if not k > 0:
            raise ValueError(f"transform {kind!r} needs k > 0, got {k}")
    if kind == "step" and not low <= high:
        raise ValueError(f"transform 'step' needs low <= high, got low={low}, high={high}")


def apply_transform(kind: str, x: np.ndarray, params: dict[str, float | None]) -> np.ndarray:
    """``kind`` applied to ``x`` with its parameters taken from ``params``."""
    t = TRANSFORMS[kind]
    return t.fn(x, *(params[p] for p in t.params))
