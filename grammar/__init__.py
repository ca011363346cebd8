"""SMILES context-free grammars, tokenizer, exact parser and decoding tables.

Pure Python + NumPy (+ nltk for the grammar text); imports neither torch nor molgen.
"""

from grammar.errors import GrammarError
from grammar.tokenizer import TOKEN_PATTERN, tokenize

__all__ = ["GrammarError", "TOKEN_PATTERN", "tokenize"]
