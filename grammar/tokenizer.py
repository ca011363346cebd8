"""SMILES tokenizer: one regex, shared by the grammar parser and the character models.

Bracket atoms (``[nH]``, ``[C@@H]``, ``[2H]``, ``[Fe+2]``) and two-digit ring labels
(``%10``) stay whole; ``Cl`` and ``Br`` are never split into ``C`` + ``l``.
``"".join(tokenize(s)) == s`` for every string it accepts.
"""

from __future__ import annotations

import re

from grammar.errors import GrammarError

# Order matters: bracket atoms, then two-letter organic-subset atoms, two-digit ring
# labels and RDKit's dative bonds (``->``, ``<-``), then single chars.
TOKEN_PATTERN = r"\[[^\[\]]*\]|Br|Cl|%[0-9]{2}|->|<-|[BCNOPSFI]|[bcnops]|[()=#$:/\\.\-+~*0-9]"
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def tokenize(smiles: str) -> list[str]:
    """Split ``smiles`` into tokens; raise :class:`GrammarError` at the first character no token covers."""
    tokens: list[str] = []
    pos = 0
    for match in _TOKEN_RE.finditer(smiles):
        if match.start() != pos:
            raise GrammarError(smiles, pos, "a SMILES token", f"unexpected character {smiles[pos]!r}")
        tokens.append(match.group())
        pos = match.end()
    if pos != len(smiles):
        raise GrammarError(smiles, pos, "a SMILES token", f"unexpected character {smiles[pos]!r}")
    return tokens
