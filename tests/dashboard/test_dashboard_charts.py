"""Dashboard charts: histograms of a set against the training set on common bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molgen.dashboard import charts, tables


def test_histogram_frame(table):
    ref = tables.chunk_properties(["CCO", "CCCCO", "c1ccccc1", "CC(C)O"], alerts=False)
    frame = charts.histogram_frame(table, ref, "mw", bins=10)
    assert set(frame["set"]) == {"this set", "training set"}
    for _, part in frame.groupby("set"):
        assert part["density"].sum() == pytest.approx(1.0)
        assert len(part) == 10
    ints = charts.histogram_frame(table, None, "hbd")
    assert (ints["bin_end"] - ints["bin_start"] == 1).all()
    assert charts.histogram_chart(frame, "mw").to_dict()["mark"]["type"] == "bar"
    assert charts.histogram_frame(table.iloc[3:4], None, "mw").empty


def test_reference_smiles_is_reproducible():
    a = charts.reference_smiles(n=50, seed=1)
    assert a == charts.reference_smiles(n=50, seed=1) and len(set(a)) == 50
    assert a != charts.reference_smiles(n=50, seed=2)


def test_histograms_of_several_sets_with_a_readable_legend(table):
    """Two models' samples and the training set on common bins; the legend is below the plot and its
    labels are never cut (issue 18 #3)."""
    ref = tables.chunk_properties(["CCO", "CCCCO", "c1ccccc1", "CC(C)O"], alerts=False)
    frames = {"gvae": table, "organ-qed": table.iloc[:2], "training set": ref}
    frame = charts.histogram_frames(frames, "mw", bins=8)
    assert list(dict.fromkeys(frame["set"])) == ["gvae", "organ-qed", "training set"]
    assert frame.groupby("set")["bin_start"].apply(list).map(tuple).nunique() == 1  # common bins
    legend = charts.histogram_chart(frame, "MW").to_dict()["encoding"]["color"]["legend"]
    assert legend["orient"] == "bottom" and legend["labelLimit"] == 0


def test_a_small_set_outside_the_training_range_is_not_piled_into_the_edge_bin():
    """Six drugs of 151–224 Da against a training set of 250–350 Da: the bins start at the set's
    lightest molecule instead of clipping all six into the first training bin (drawn at ~255 Da)."""
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"mw": rng.uniform(250, 350, 2000)})
    small = pd.DataFrame({"mw": [151.2, 180.2, 194.2, 206.3, 218.3, 224.3]})
    frame = charts.histogram_frame(small, reference, "mw", bins=30)
    mine = frame[(frame["set"] == "this set") & (frame["density"] > 0)]
    assert frame["bin_start"].min() <= 151.2 and len(mine) > 1
    trained = frame[frame["set"] == "training set"]
    assert trained["density"].sum() == pytest.approx(1.0)


def test_the_legend_names_only_the_sets_drawn(table):
    """Without the overlay the legend said "this set" and "training set" though only the set was drawn."""
    alone = charts.histogram_chart(charts.histogram_frame(table, None, "mw"), "MW").to_dict()
    scale = alone["encoding"]["color"]["scale"]
    assert scale["domain"] == ["this set"] and scale["range"] == [charts.HISTOGRAM_COLOURS["this set"]]
    ref = tables.chunk_properties(["CCO", "CCCCO", "c1ccccc1"], alerts=False)
    both = charts.histogram_chart(charts.histogram_frame(table, ref, "mw"), "MW").to_dict()
    assert both["encoding"]["color"]["scale"]["domain"] == ["this set", "training set"]
