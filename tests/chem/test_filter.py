"""molgen.chem.filters and molgen.screening: presets, ranges, SMARTS, similarity, staged evaluation, streaming files."""

from __future__ import annotations

import concurrent.futures
import re

import numpy as np
import pandas as pd
import pytest

from molgen import screening as S
from molgen.chem.filters import FilterSpec, apply_filters, compile_spec, parse_range
from molgen.parallel import bounded_imap
from molgen.chem.properties import compute_properties
from molgen.data import Record, read_smiles
from molgen.errors import InputError, UsageError
from molgen.screening import filter_file, run_chunk

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"
RHODANINE = "O=C1C(=Cc2ccccc2)SC(=S)N1"
CATECHOL = "Oc1ccccc1O"
BIG = "CC(C)CC1NC(=O)C(CC(C)C)N(C)C(=O)C(C)NC(=O)C(C)NC(=O)C(Cc2ccccc2)N(C)C(=O)C(C(C)C)NC(=O)C(CC(C)C)N(C)C1=O"
LEAD = "COc1ccc(CNC(=O)c2ccc3[nH]ccc3c2)cc1"  # MW 294, logP ~3.3, 5 rotatable bonds


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return compute_properties([ASPIRIN, CAFFEINE, RHODANINE, CATECHOL, BIG, LEAD, "C1CC"])


@pytest.mark.parametrize(
    "presets, want",
    [
        (["lipinski"], [True, True, True, True, False, True, False]),
        (["veber"], [True, True, True, True, False, True, False]),
        (["ghose"], [True, False, True, False, False, True, False]),  # caffeine: cLogP -1.03 < -0.4
        (["lead-like"], [False, False, False, False, False, True, False]),
        (["pains-free"], [True, True, False, False, True, True, False]),
        (["brenk-free"], [False, True, False, False, True, True, False]),
        (["nih-free", "lipinski"], [True, True, False, False, False, True, False]),
    ],
)
def test_presets(table, presets, want):
    assert apply_filters(table, FilterSpec(presets=presets)).tolist() == want


def test_empty_spec_keeps_valid_rows_only(table):
    assert apply_filters(table, FilterSpec()).tolist() == [True] * 6 + [False]


def test_ranges_expression_smarts_similarity(table):
    assert apply_filters(table, FilterSpec(ranges=["mw=190:300"])).tolist() == [False, True, True, False, False, True, False]
    assert apply_filters(table, FilterSpec(ranges=[("qed", 0.6, None)])).sum() == (table["qed"] >= 0.6).sum()
    spec = FilterSpec(expression="qed >= 0.5 and not pains", smarts_include=["c1ccccc1"], smarts_exclude=["C(=O)O[H]", "OC(C)=O"])
    assert apply_filters(table, spec).tolist() == [False, False, False, False, False, True, False]
    sim = FilterSpec(similar_to=["CC(=O)Oc1ccccc1C(=O)OC"], min_similarity=0.5, expression="similarity < 0.99")
    assert apply_filters(table, sim).tolist() == [True, False, False, False, False, False, False]


def test_apply_filters_needs_the_columns():
    with pytest.raises(ValueError, match="lacks columns qed"):
        apply_filters(pd.DataFrame({"smiles": ["CCO"], "valid": [True]}), FilterSpec(ranges=["qed=0.5:"]))


@pytest.mark.parametrize(
    "text, want",
    [("mw=200:500", ("mw", 200.0, 500.0)), ("QED=0.6:", ("qed", 0.6, None)), ("logp=:-1.5", ("logp", None, -1.5))],
)
def test_parse_range(text, want):
    assert parse_range(text) == want


@pytest.mark.parametrize(
    "text, message",
    [
        ("mw200:500", "write PROPERTY=LOW:HIGH"),
        ("qde=0.5:", "unknown numeric property 'qde' (did you mean 'qed'?)"),
        ("pains=0:1", "unknown numeric property 'pains'"),
        ("mw=a:5", "bounds must be numbers"),
        ("mw=:", "give a lower bound"),
        ("mw=500:200", "low bound 500 is above high bound 200"),
    ],
)
def test_bad_ranges(text, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_range(text)


@pytest.mark.parametrize(
    "spec, message",
    [
        (FilterSpec(presets=["lipinsky"]), "unknown preset 'lipinsky'; did you mean 'lipinski'"),
        (FilterSpec(smarts_include=["c1ccc"]), "--smarts-include: invalid SMARTS 'c1ccc'"),
        (FilterSpec(similar_to=["C1CC"]), "--similar-to: invalid SMILES 'C1CC'"),
        (FilterSpec(similar_to=["CCO"], min_similarity=1.5), "--min-sim must be between 0 and 1"),
        (FilterSpec(expression="similarity > 0.2"), "unknown property 'similarity'"),
    ],
)
def test_spec_errors_are_usage_errors(spec, message):
    with pytest.raises(UsageError, match=message):
        compile_spec(spec)


def test_predicates_run_cheapest_first():
    preds = compile_spec(FilterSpec(presets=["pains-free", "lipinski"], expression="qed > 0.5 and mw < 400")).predicates
    assert [sorted(p.columns) for p in preds] == [["mw"], ["lipinski_violations"], ["pains"], ["qed"]]


def test_staged_chunk_equals_full_table(train_smiles):
    """Computing columns lazily for survivors gives exactly the compute-then-filter result."""
    smiles = train_smiles[:100] + [RHODANINE, CATECHOL, "C1CC", BIG]
    spec = FilterSpec(presets=["lipinski", "pains-free"], ranges=["mw=250:"], expression="qed >= 0.7 or not brenk",
                      similar_to=[train_smiles[0]], min_similarity=0.1)
    full = compute_properties(smiles)
    want = full[apply_filters(full, spec).to_numpy()].reset_index(drop=True)
    res = run_chunk([Record(i + 1, s) for i, s in enumerate(smiles)], compile_spec(spec), with_names=False)
    assert (res.n_records, res.n_invalid) == (len(smiles), 1) and res.examples[0][0] == 103
    assert 0 < len(res.kept) < 100
    got = res.kept
    assert got["smiles"].tolist() == want["smiles"].tolist()
    for col in ["mw", "qed", "sa", "hbd", "pains", "alerts"]:
        assert got[col].tolist() == want[col].tolist(), col
    assert (got["similarity"] >= 0.1).all()


def _write_smi(path, smiles):
    path.write_text("".join(f"{s} m{i}\n" for i, s in enumerate(smiles)))
    return path


def test_filter_file_parallel_equals_serial_and_keeps_order(tmp_path, train_smiles):
    smiles = train_smiles[:100] + ["C1CC", RHODANINE]
    src = _write_smi(tmp_path / "in.smi", smiles)
    spec = FilterSpec(presets=["pains-free"], ranges=["qed=0.75:"])
    one = filter_file(src, tmp_path / "one.csv", spec, n_jobs=1, chunk_size=23)
    two = filter_file(src, tmp_path / "two.parquet", spec, n_jobs=2, chunk_size=23)
    assert (one.n_records, one.n_invalid, one.n_kept) == (two.n_records, two.n_invalid, two.n_kept)
    assert one.n_records == 102 and one.n_invalid == 1 and one.n_rejected == 102 - 1 - one.n_kept
    a, b = pd.read_csv(tmp_path / "one.csv"), pd.read_parquet(tmp_path / "two.parquet")
    assert a["smiles"].tolist() == b["smiles"].tolist() and a["name"].tolist() == b["name"].tolist()
    names = [int(n[1:]) for n in a["name"]]
    assert names == sorted(names)  # input order
    assert (a["qed"] >= 0.75).all() and not a["pains"].any()
    assert one.report.examples[0][1] == 101 and "kept" in one.summary()


def test_filter_file_without_alerts_and_empty_result(tmp_path):
    src = _write_smi(tmp_path / "in.smi", [ASPIRIN, CAFFEINE])
    filter_file(src, tmp_path / "o.csv", FilterSpec(expression="not pains"), n_jobs=1, alerts=False)
    out = pd.read_csv(tmp_path / "o.csv")
    assert len(out) == 2 and "pains" not in out.columns and "qed" in out.columns
    res = filter_file(src, tmp_path / "none.parquet", FilterSpec(ranges=["mw=1000:"]), n_jobs=1)
    assert res.n_kept == 0 and len(pd.read_parquet(tmp_path / "none.parquet")) == 0


def test_filter_file_input_errors_leave_no_output(tmp_path):
    (tmp_path / "h.csv").write_text("smiles\n")
    with pytest.raises(InputError, match="no molecules found"):
        filter_file(tmp_path / "h.csv", tmp_path / "o.csv", FilterSpec(), n_jobs=1)
    assert not (tmp_path / "o.csv").exists()


def test_bounded_imap_reads_ahead_a_bounded_number_of_chunks():
    consumed = []

    def tasks():
        for i in range(20):
            consumed.append(i)
            yield ([Record(i + 1, "CCO")], False)

    S._init_worker(FilterSpec(), False, False)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        gen = bounded_imap(pool, S._work, tasks(), max_in_flight=3)
        first = next(gen)
        assert len(consumed) <= 4  # not the whole input
        rest = list(gen)
    assert first.n_records == 1 and len(rest) == 19 and len(consumed) == 20


def test_read_smiles_then_filter_table_round_trip(tmp_path, train_smiles):
    ms = read_smiles(_write_smi(tmp_path / "x.smi", train_smiles[:50]))
    df = compute_properties(ms.smiles, alerts=False)
    mask = apply_filters(df, FilterSpec(presets=["lead-like"]))
    assert mask.dtype == bool and mask.sum() == int(
        np.sum((df.mw >= 250) & (df.mw <= 350) & (df.logp <= 3.5) & (df.rotatable_bonds <= 7))
    )
