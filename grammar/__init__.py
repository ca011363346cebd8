"""SMILES context-free grammars, tokenizer, exact parser and decoding tables.

Pure Python + NumPy (+ nltk for the grammar text); imports neither torch nor molgen.

    >>> from grammar import load_grammar
    >>> g = load_grammar("smiles")
    >>> g.to_smiles(g.parse("C[C@@H](N)O"))
    'C[C@@H](N)O'
"""

from grammar.cfg import GRAMMAR_NAMES, Grammar, grammar_text, load_grammar
from grammar.dataset import EncodedDataset, encode_dataset
from grammar.errors import GrammarError
from grammar.tokenizer import TOKEN_PATTERN, tokenize

__all__ = [
    "GRAMMAR_NAMES",
    "EncodedDataset",
    "Grammar",
    "GrammarError",
    "TOKEN_PATTERN",
    "encode_dataset",
    "grammar_text",
    "load_grammar",
    "tokenize",
]
