"""The shipped grammar files (``grammar/grammars/*.cfg``): their names and their CFG text.

Kept apart from :mod:`grammar.cfg` so the parsers can read the shipped rules without importing
the ``Grammar`` class that uses them (no import cycle).
"""

from __future__ import annotations

from importlib import resources

GRAMMAR_NAMES: tuple[str, ...] = ("smiles", "gvae-zinc", "kekule")


def grammar_text(name: str) -> str:
    """The CFG text of a shipped grammar (``GRAMMAR_NAMES``)."""
    if name not in GRAMMAR_NAMES:
        raise ValueError(f"unknown grammar {name!r}; choose one of {', '.join(GRAMMAR_NAMES)}")
    return resources.files("grammar").joinpath("grammars", f"{name}.cfg").read_text(encoding="utf-8")
