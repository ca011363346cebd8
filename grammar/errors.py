"""The grammar package's exception: the SMILES, a caret under the failing position, what was expected."""

from __future__ import annotations


class GrammarError(ValueError):
    """A SMILES string the grammar (or tokenizer) cannot handle.

    ``str(err)`` shows the string with a caret under the failing position::

        cannot parse SMILES at position 3: expected ')' or an atom, got end of input
          CC(
             ^
    """

    def __init__(self, smiles: str, position: int, expected: str, got: str | None = None) -> None:
        self.smiles = smiles
        self.position = position
        self.expected = expected
        self.got = got
        reason = f"expected {expected}" + (f", {got}" if got else "")
        super().__init__(
            f"cannot parse SMILES at position {position}: {reason}\n  {smiles}\n  {' ' * position}^"
        )
