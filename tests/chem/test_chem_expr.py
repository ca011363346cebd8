"""The filter expression language: parsing, evaluation, type checks and caret errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molgen.chem import expr
from molgen.chem.filters import COLUMN_TYPES, preset_nodes
from molgen.errors import UsageError

DF = pd.DataFrame(
    {
        "qed": [0.9, 0.5, 0.7, np.nan],
        "mw": [300.0, 550.0, 420.0, np.nan],
        "logp": [-0.5, 6.0, 2.0, np.nan],
        "rings": pd.array([2, 4, 0, None], dtype="Int64"),
        "lipinski_violations": pd.array([0, 2, 0, None], dtype="Int64"),
        "pains": pd.array([False, False, True, None], dtype="boolean"),
        "brenk": pd.array([True, False, False, None], dtype="boolean"),
    }
)


def ev(text: str) -> list[bool]:
    node = expr.parse_expression(text, COLUMN_TYPES, preset_nodes())
    return node.evaluate(DF).tolist()


@pytest.mark.parametrize(
    "text, want",
    [
        ("qed >= 0.6", [True, False, True, False]),
        ("qed >= 0.6 and mw <= 500 and not pains", [True, False, False, False]),
        ("not pains", [True, True, False, True]),  # NA alert -> False, so 'not' is True; invalid rows are dropped elsewhere
        ("pains or brenk", [True, False, True, False]),
        ("not (pains or brenk) and qed > .4", [False, True, False, False]),
        ("200 <= mw <= 450", [True, False, True, False]),
        ("mw between 300 and 420 and rings != 0", [True, False, False, False]),
        ("logp between -1 and 5", [True, False, True, False]),
        ("rings == 2 or rings > 3", [True, True, False, False]),
        ("lipinski", [True, False, True, False]),
        ("not lipinski or pains == brenk", [False, True, False, True]),
        ("QED >= 6e-1 AND NOT PAINS", [True, False, False, False]),
        ("qed>0.6 and(mw<500)", [True, False, True, False]),
    ],
)
def test_evaluation(text, want):
    assert ev(text) == want


def test_or_binds_looser_than_and():
    # a or b and c == a or (b and c)
    assert ev("pains or brenk and qed < 0.6") == ev("pains or (brenk and qed < 0.6)") == [False, False, True, False]
    assert ev("(pains or brenk) and qed < 0.6") == [False, False, False, False]


def test_columns_and_conjuncts():
    node = expr.parse_expression("qed >= 0.6 and (lipinski and not pains) and mw < 500", COLUMN_TYPES, preset_nodes())
    assert node.columns() == {"qed", "lipinski_violations", "pains", "mw"}
    parts = expr.conjuncts(node)
    assert [p.columns() for p in parts] == [{"qed"}, {"lipinski_violations"}, {"pains"}, {"mw"}]


@pytest.mark.parametrize(
    "text, message, caret_at, width",
    [
        ("qde >= 0.6", "unknown property 'qde' (did you mean 'qed'?)", 0, 3),
        ("qed >= 0.6 and not pians", "unknown property 'pians' (did you mean 'pains'?)", 19, 5),
        ("qed = 0.6", "unexpected '='; use '==' to compare", 4, 1),
        ("qed >= 0.6 && mw < 5", "unexpected '&&'; use 'and'", 11, 2),
        ("qed >= 0.6 and", "unexpected end of expression", 14, 1),
        ("(qed >= 0.6", "missing ')'", 11, 1),
        ("qed >= 0.6)", "unexpected ')'", 10, 1),
        ("qed", "'qed' is a number, not a condition", 0, 3),
        ("qed and pains", "'qed' is a number, not a condition", 0, 3),
        ("pains > 1", "'pains' is a condition, not a number", 0, 5),
        ("qed 0.6", "unexpected '0.6'; missing 'and'/'or'?", 4, 3),
        ("mw between 1 or 2", "expected 'and' in 'X between LOW and HIGH'", 13, 2),
        ("qed between 0.9 and 0.1", "empty interval: LOW 0.9 is above HIGH 0.1", 12, 3),
        ("__import__('os').system('x')", "unexpected character \"'\"", 11, 1),
        ("", "empty expression", 0, 1),
    ],
)
def test_errors_point_at_the_bad_token(text, message, caret_at, width):
    with pytest.raises(expr.ExpressionError) as info:
        expr.parse_expression(text, COLUMN_TYPES, preset_nodes())
    err = info.value
    assert isinstance(err, UsageError) and err.reason.startswith(message)
    lines = str(err).split("\n")
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * caret_at + "^" * width


def test_unknown_name_without_close_match_lists_known_names():
    with pytest.raises(expr.ExpressionError, match="unknown property 'zzzz'; known: .*qed"):
        expr.parse_expression("zzzz > 1", COLUMN_TYPES)


def test_tokenizer_positions():
    toks = expr.tokenize("mw<=500 and lead-like")
    assert [(t.kind, t.text, t.pos) for t in toks] == [
        ("name", "mw", 0), ("op", "<=", 2), ("number", "500", 4), ("name", "and", 8), ("name", "lead-like", 12),
        ("end", "", 21),
    ]
