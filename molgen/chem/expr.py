"""A small filter language over property columns, parsed (never ``eval``-ed).

    qed >= 0.6 and mw <= 500 and not pains
    (lipinski or lead_like) and 2 <= rings <= 4 and sa between 1 and 4.5

Grammar (recursive descent, lowest precedence first)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not"* comparison          (read in a loop; at most MAX_DEPTH nested parentheses)
    comparison := term (CMP term)* | term "between" term "and" term
    term       := NUMBER | "-" NUMBER | NAME | "(" expr ")"
    CMP        := "<" | "<=" | ">" | ">=" | "==" | "!="

Names are numeric columns, boolean columns (``pains``, ``brenk``, ``nih``, ``valid``) or
named rule sets (``lipinski``, ``lead_like``…, themselves written in this language). Types are
checked at parse time so ``qed and pains`` or ``pains > 1`` fail before any molecule is read.
Chained comparisons mean what they do in Python: ``200 <= mw <= 500``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from molgen.errors import UsageError

NUM, BOOL = "number", "boolean"
MAX_DEPTH = 50  # nested parentheses: far beyond any hand-written filter, far below Python's recursion limit
KEYWORDS = {"and", "or", "not", "between"}
CMP_OPS = {"<", "<=", ">", ">=", "==", "!="}

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
      | (?P<op><=|>=|==|!=|<|>|=|\(|\)|-|&&|\|\||!)""",
    re.VERBOSE,
)


class ExpressionError(UsageError):
    """A filter expression that does not parse or type-check; the message shows a caret."""

    def __init__(self, message: str, text: str, pos: int, length: int = 1):
        self.reason, self.text, self.pos = message, text, pos
        caret = " " * pos + "^" * max(1, length)
        super().__init__(f"{message}\n  {text}\n  {caret}")


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, op, end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; an unknown character raises :class:`ExpressionError`."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExpressionError(f"unexpected character {text[pos]!r}", text, pos)
        kind = m.lastgroup
        if kind != "ws":
            word = m.group()
            if kind == "name":
                # Hyphens are allowed inside preset names (lead-like) but not at the end.
                word = word.rstrip("-")
                tokens.append(Token("name", word, pos))
                pos += len(word)
                continue
            if kind == "op" and word in ("=", "&&", "||", "!"):
                hint = {"=": "'==' to compare", "&&": "'and'", "||": "'or'", "!": "'not'"}[word]
                raise ExpressionError(f"unexpected {word!r}; use {hint}", text, pos, len(word))
            tokens.append(Token(kind, word, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------------- AST


class Node:
    """An expression node: a type, the columns it needs, and a vectorised evaluation."""

    type: str

    def columns(self) -> set[str]:
        raise NotImplementedError

    def evaluate(self, df: pd.DataFrame):
        """A pandas Series (or a scalar for constants) over the rows of ``df``."""
        raise NotImplementedError


@dataclass
class Number(Node):
    value: float
    type = NUM

    def columns(self) -> set[str]:
        return set()

    def evaluate(self, df: pd.DataFrame):
        return self.value

    def __str__(self) -> str:
        return repr(self.value)


@dataclass
class Column(Node):
    name: str
    type: str

    def columns(self) -> set[str]:
        return {self.name}

    def evaluate(self, df: pd.DataFrame):
        col = df[self.name]
        if self.type == BOOL:
            return pd.Series(col.fillna(False).to_numpy(dtype=bool), index=df.index)
        # Nullable integers -> float with NaN, so comparisons with NA are simply False.
        return pd.Series(col.to_numpy(dtype=float, na_value=np.nan), index=df.index)

    def __str__(self) -> str:
        return self.name


@dataclass
class Preset(Node):
    name: str
    body: Node
    type = BOOL

    def columns(self) -> set[str]:
        return self.body.columns()

    def evaluate(self, df: pd.DataFrame):
        return self.body.evaluate(df)

    def __str__(self) -> str:
        return self.name


_CMP = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal,
}


def _as_mask(value, df: pd.DataFrame) -> pd.Series:
    if isinstance(value, pd.Series):
        return value.astype(bool)
    return pd.Series(np.full(len(df), bool(value)), index=df.index)


@dataclass
class Compare(Node):
    op: str
    left: Node
    right: Node
    type = BOOL

    def columns(self) -> set[str]:
        return self.left.columns() | self.right.columns()

    def evaluate(self, df: pd.DataFrame):
        return _as_mask(_CMP[self.op](self.left.evaluate(df), self.right.evaluate(df)), df)

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass
class BoolOp(Node):
    op: str  # "and" / "or"
    items: list[Node]
    type = BOOL

    def columns(self) -> set[str]:
        return set().union(*(i.columns() for i in self.items))

    def evaluate(self, df: pd.DataFrame):
        masks = [_as_mask(i.evaluate(df), df) for i in self.items]
        out = masks[0]
        for m in masks[1:]:
            out = (out & m) if self.op == "and" else (out | m)
        return out

    def __str__(self) -> str:
        return "(" + f" {self.op} ".join(map(str, self.items)) + ")"


@dataclass
class Not(Node):
    item: Node
    type = BOOL

    def columns(self) -> set[str]:
        return self.item.columns()

    def evaluate(self, df: pd.DataFrame):
        return ~_as_mask(self.item.evaluate(df), df)

    def __str__(self) -> str:
        return f"not {self.item}"


def conjuncts(node: Node) -> list[Node]:
    """Flatten top-level ``and`` (including inside named rule sets) into independent tests,
    so a filter can run cheap ones first and compute costly columns only for survivors."""
    if isinstance(node, Preset):
        return conjuncts(node.body)
    if isinstance(node, BoolOp) and node.op == "and":
        return [c for item in node.items for c in conjuncts(item)]
    return [node]


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, names: Mapping[str, str], presets: Mapping[str, Node]):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.names = names
        self.presets = presets
        self.depth = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _is(self, keyword: str) -> bool:
        return self.tok.kind == "name" and self.tok.text.lower() == keyword

    def _advance(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def _error(self, message: str, tok: Token | None = None):
        tok = tok or self.tok
        raise ExpressionError(message, self.text, tok.pos, max(1, len(tok.text)))

    def _expect_type(self, node: Node, want: str, tok: Token) -> Node:
        if node.type != want:
            if want == BOOL:
                self._error(f"{str(node)!r} is a number, not a condition; compare it, e.g. '{node} >= 0.5'", tok)
            self._error(f"{str(node)!r} is a condition, not a number; it cannot be compared", tok)
        return node

    # grammar
    def parse(self) -> Node:
        if self.tok.kind == "end":
            self._error("empty expression")
        start = self.tok
        node = self._or()
        if self.tok.kind != "end":
            hint = "; missing 'and'/'or'?" if self.tok.kind in ("name", "number") or self.tok.text == "(" else ""
            self._error(f"unexpected {self.tok.text!r}{hint}")
        return self._expect_type(node, BOOL, start)

    def _or(self) -> Node:
        start = self.tok
        items = [self._and()]
        while self._is("or"):
            self._advance()
            self._expect_type(items[-1], BOOL, start)
            start = self.tok
            items.append(self._and())
            self._expect_type(items[-1], BOOL, start)
        return items[0] if len(items) == 1 else BoolOp("or", items)

    def _and(self) -> Node:
        start = self.tok
        items = [self._not()]
        while self._is("and"):
            self._advance()
            self._expect_type(items[-1], BOOL, start)
            start = self.tok
            items.append(self._not())
            self._expect_type(items[-1], BOOL, start)
        return items[0] if len(items) == 1 else BoolOp("and", items)

    def _not(self) -> Node:
        # a run of 'not' is read in a loop (10,000 of them must not recurse) and folded by parity
        count = 0
        while self._is("not"):
            self._advance()
            count += 1
        if not count:
            return self._comparison()
        start = self.tok
        node = self._expect_type(self._comparison(), BOOL, start)
        return Not(node) if count % 2 else node

    def _comparison(self) -> Node:
        first_tok = self.tok
        left = self._term()
        if self._is("between"):
            self._expect_type(left, NUM, first_tok)
            self._advance()
            lo_tok = self.tok
            lo = self._expect_type(self._term(), NUM, lo_tok)
            if not self._is("and"):
                self._error("expected 'and' in 'X between LOW and HIGH'")
            self._advance()
            hi_tok = self.tok
            hi = self._expect_type(self._term(), NUM, hi_tok)
            if isinstance(lo, Number) and isinstance(hi, Number) and lo.value > hi.value:
                # --range refuses it too: an inverted interval keeps nothing, almost never what was meant
                self._error(f"empty interval: LOW {lo.value:g} is above HIGH {hi.value:g}; "
                            f"write 'between {hi.value:g} and {lo.value:g}'", lo_tok)
            return BoolOp("and", [Compare(">=", left, lo), Compare("<=", left, hi)])
        parts: list[Node] = []
        prev, prev_tok = left, first_tok
        while self.tok.kind == "op" and self.tok.text in CMP_OPS:
            op = self._advance()
            right_tok = self.tok
            right = self._term()
            if op.text in ("==", "!=") and prev.type == right.type == BOOL:
                parts.append(Compare(op.text, prev, right))
            else:
                self._expect_type(prev, NUM, prev_tok)
                self._expect_type(right, NUM, right_tok)
                parts.append(Compare(op.text, prev, right))
            prev, prev_tok = right, right_tok
        if not parts:
            return left
        return parts[0] if len(parts) == 1 else BoolOp("and", parts)

    def _term(self) -> Node:
        t = self.tok
        if t.kind == "number":
            self._advance()
            return Number(float(t.text))
        if t.kind == "op" and t.text == "-":
            self._advance()
            if self.tok.kind != "number":
                self._error("expected a number after '-'")
            return Number(-float(self._advance().text))
        if t.kind == "op" and t.text == "(":
            if self.depth >= MAX_DEPTH:
                self._error(f"parentheses nested too deeply (more than {MAX_DEPTH} levels)", t)
            self.depth += 1
            self._advance()
            node = self._or()
            self.depth -= 1
            if not (self.tok.kind == "op" and self.tok.text == ")"):
                self._error("expected ')'" if self.tok.kind != "end" else "missing ')'")
            self._advance()
            return node
        if t.kind == "name":
            word = t.text.lower()
            if word in KEYWORDS:
                self._error(f"expected a property, number or '(' but found {t.text!r}")
            self._advance()
            key = word.replace("-", "_")
            if key in self.presets:
                return Preset(key, self.presets[key])
            if key in self.names:
                return Column(key, self.names[key])
            known = sorted(set(self.names) | set(self.presets))
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}"
            self._error(f"unknown property {t.text!r}{hint}", t)
        if t.kind == "end":
            self._error("unexpected end of expression")
        self._error(f"unexpected {t.text!r}")
        raise AssertionError("unreachable")


def parse_expression(text: str, names: Mapping[str, str], presets: Mapping[str, Node] | None = None) -> Node:
    """Parse ``text`` into a boolean :class:`Node`.

    ``names`` maps column name -> ``"number"``/``"boolean"``; ``presets`` maps rule-set names
    to already parsed nodes. Raises :class:`ExpressionError` (a usage error, exit 2).
    """
    return _Parser(text, names, presets or {}).parse()
