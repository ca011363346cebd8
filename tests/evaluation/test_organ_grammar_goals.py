"""The organ-grammar-qed goal table: fixed targets, ">=" and "<" checks, a missing metric not met,
rendered in the report like the organ-qed table."""

from __future__ import annotations

from molgen.evaluation.goals import GOAL_SETS, add_goals
from molgen.evaluation.report import SCHEMA, VERSION, render_markdown

MET = {"valid": 1.0, "unique@10k": 0.995, "novelty": 0.99, "intdiv1": 0.87, "qed": 0.9, "fcd/test": 3.0}


def test_fixed_targets_are_checked_both_ways():
    goals = GOAL_SETS["organ-grammar-qed"]([])
    checks = goals.check(MET)["checks"]
    assert all(c["met"] for c in checks.values()) and set(checks) == set(MET)
    missed = goals.check({**MET, "valid": 0.998, "fcd/test": 5.16})["checks"]
    assert not missed["valid"]["met"] and not missed["fcd/test"]["met"] and missed["qed"]["met"]
    assert not goals.check({k: v for k, v in MET.items() if k != "qed"})["checks"]["qed"]["met"]


def test_goal_table_renders_in_the_report():
    entries = {"m": {"metrics": dict(MET)}}
    add_goals("organ-grammar-qed", entries, train=["CCO"])
    report = {"schema": SCHEMA, "version": VERSION, "models": {"m": {"source": "m", "kind": "organ", **entries["m"]}}}
    text = render_markdown(report)
    assert "## Goals (organ-grammar-qed) of m" in text and "| fcd/test | < 5.16 | " in text
