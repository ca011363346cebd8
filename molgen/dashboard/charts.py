"""Charts of the dashboard: property histograms against the training set, logged curves (Altair)."""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import numpy as np
import pandas as pd


#: Properties with a histogram against the training set on the Inspect page.
HISTOGRAM_COLUMNS = ("qed", "sa", "mw", "logp", "tpsa", "hbd", "hba", "rotatable_bonds")
#: Training-set molecules sampled for the Inspect page's reference histograms.
REFERENCE_SIZE = 2000


def reference_smiles(path: str | os.PathLike | None = None, n: int = REFERENCE_SIZE, seed: int = 0) -> list[str]:
    """A reproducible random sample of ``n`` training SMILES (default: the shipped MOSES train file)."""
    from molgen.dashboard.inputs import smiles_column, training_file

    values = pd.Series(smiles_column(training_file(path)))
    if len(values) > n:
        values = values.sample(n=n, random_state=seed)
    return values.tolist()


def histogram_frame(
    current: pd.DataFrame, reference: pd.DataFrame | None, column: str, bins: int = 30,
    labels: tuple[str, str] = ("this set", "training set"),
) -> pd.DataFrame:
    """Density histograms of ``column`` for the set and the reference on common bins, long format
    (``bin_start, bin_end, set, density``) ready for a layered bar chart."""
    sets = {labels[0]: current, **({labels[1]: reference} if reference is not None else {})}
    return histogram_frames(sets, column, bins)


def histogram_frames(sets: Mapping[str, pd.DataFrame], column: str, bins: int = 30) -> pd.DataFrame:
    """:func:`histogram_frame` for any number of named sets (two models' samples and the training
    set, side by side): densities of ``column`` on common bins, long format."""
    values = {name: pd.to_numeric(df[column], errors="coerce").dropna().to_numpy(float)
              for name, df in sets.items() if column in df.columns}
    ranges = [_robust_range(v) for v in values.values() if len(v)]
    if not ranges:
        return pd.DataFrame(columns=["bin_start", "bin_end", "set", "density"])
    # The union of each set's own range: six drugs lighter than 99.5 % of the training set keep
    # their own bins instead of being clipped into the training set's first one.
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    integer = column in ("hbd", "hba", "rotatable_bonds", "rings", "aromatic_rings", "heavy_atoms")
    edges = np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.5) if integer else np.linspace(lo, hi, bins + 1)
    rows = []
    for name, v in values.items():
        counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
        total = counts.sum()
        density = counts / total if total else counts.astype(float)
        rows.append(pd.DataFrame({"bin_start": edges[:-1], "bin_end": edges[1:], "set": name, "density": density}))
    return pd.concat(rows, ignore_index=True)


def _robust_range(values: np.ndarray) -> tuple[float, float]:
    """The 0.5–99.5 percentile range of a set (its whole range when it has 20 values or fewer)."""
    if len(values) > 20:
        lo, hi = np.percentile(values, [0.5, 99.5])
        return float(lo), float(hi)
    return float(values.min()), float(values.max())


#: Bar colours of the two sets in :func:`histogram_chart` (orange on blue-grey reads well overlaid).
HISTOGRAM_COLOURS = {"this set": "#e4572e", "training set": "#4c78a8"}


def histogram_chart(frame: pd.DataFrame, title: str) -> Any:
    """Altair chart of :func:`histogram_frame`: overlaid translucent bars, one colour per set."""
    import altair as alt

    present = set(frame["set"])
    # Fixed colours, but only the sets drawn in the legend: a "training set" entry beside the set
    # alone read as if the training set were drawn (and hidden behind it).
    scale = (alt.Scale(domain=[s for s in HISTOGRAM_COLOURS if s in present],
                       range=[c for s, c in HISTOGRAM_COLOURS.items() if s in present])
             if present <= set(HISTOGRAM_COLOURS) else alt.Undefined)
    return (
        alt.Chart(frame, title=title)
        .mark_bar(opacity=0.55, binSpacing=0)
        .encode(
            x=alt.X("bin_start:Q", title=title, bin="binned"),
            x2="bin_end:Q",
            y=alt.Y("density:Q", title="fraction", stack=None),
            # Legend below the plot, labels never truncated: "training set" and model names stay readable.
            color=alt.Color("set:N", legend=alt.Legend(orient="bottom", title=None, labelLimit=0, columns=2),
                            scale=scale),
            tooltip=["set:N", alt.Tooltip("bin_start:Q", format=".2f"), alt.Tooltip("density:Q", format=".3f")],
        )
        .properties(height=180)
    )


def line_chart(frame: pd.DataFrame, title: str, x_title: str = "step", *, log_scale: bool = False,
               domain: tuple[float, float] | None = None) -> Any:
    """Altair line chart of a long ``(x, metric, value)`` frame (see :func:`molgen.dashboard.runs.curve_frame`).

    ``log_scale`` draws the values on a log axis (only when all are positive); ``domain`` fixes
    the y range and clips what lies above (an early loss spike, :func:`molgen.dashboard.runs.y_domain`)."""
    import altair as alt

    values = pd.to_numeric(frame["value"], errors="coerce")
    if log_scale and len(values) and (values > 0).all():
        scale = alt.Scale(type="log")
    elif domain is not None:
        scale = alt.Scale(domain=list(domain), clamp=True, zero=False)
    else:
        scale = alt.Scale(zero=False)
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=len(frame) < 60, clip=True)
        .encode(
            x=alt.X("x:Q", title=x_title),
            y=alt.Y("value:Q", title=None, scale=scale),
            color=alt.Color("metric:N", legend=alt.Legend(orient="top", title=None, labelLimit=0)),
            tooltip=["metric:N", "x:Q", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(height=240)
    )
