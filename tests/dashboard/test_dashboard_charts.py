"""Dashboard charts: histograms of a set against the training set on common bins."""

from __future__ import annotations

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
