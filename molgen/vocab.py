"""Token vocabulary for the character-level models (character VAE, ORGAN generator).

Built from training SMILES with the grammar package's tokenizer, so ``Cl``, ``[nH]``
and ``%10`` are single tokens. Special tokens: ``<pad>`` (0), ``<bos>`` (1), ``<eos>`` (2),
``<unk>`` (3). Stored in checkpoints as a plain list of tokens.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from grammar import GrammarError, tokenize

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


@dataclass
class OOVReport:
    """Out-of-vocabulary tokens met while encoding user data: counted, never a crash."""

    n_molecules: int = 0
    n_with_oov: int = 0
    n_untokenizable: int = 0
    n_too_long: int = 0  # encoded, but longer than the batch's max_len (with BOS/EOS): not kept
    tokens: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        top = ", ".join(f"{t} ×{c}" for t, c in self.tokens.most_common(5))
        return (
            f"{self.n_with_oov} of {self.n_molecules} molecules contain tokens outside the vocabulary"
            + (f" ({top})" if top else "")
            + (f"; {self.n_untokenizable} could not be tokenized" if self.n_untokenizable else "")
            + (f"; {self.n_too_long} longer than max_len" if self.n_too_long else "")
        )


class Vocabulary:
    """Bijection token <-> id with the four special tokens first."""

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"vocabulary must start with the special tokens {SPECIALS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary has duplicate tokens")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.pad, self.bos, self.eos, self.unk = (self.index[t] for t in SPECIALS)

    @classmethod
    def build(cls, smiles: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """Vocabulary of every token seen at least ``min_count`` times, sorted for stability."""
        counts: Counter = Counter()
        for s in smiles:
            counts.update(tokenize(s))
        kept = sorted(t for t, c in counts.items() if c >= min_count)
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def hash(self) -> str:
        return hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "hash": self.hash}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        vocab = cls(data["tokens"])
        if "hash" in data and data["hash"] != vocab.hash:
            raise ValueError("vocabulary hash does not match its tokens (corrupted checkpoint?)")
        return vocab

    def encode(self, smiles: str, report: OOVReport | None = None) -> list[int]:
        """Token ids of ``smiles`` without BOS/EOS; unknown tokens map to ``<unk>`` and are reported."""
        toks = tokenize(smiles)
        ids = [self.index.get(t, self.unk) for t in toks]
        if report is not None:
            report.n_molecules += 1
            oov = [t for t in toks if t not in self.index]
            if oov:
                report.n_with_oov += 1
                report.tokens.update(oov)
        return ids

    def encode_batch(
        self, smiles: Sequence[str], max_len: int, add_bos: bool = True, add_eos: bool = True
    ) -> tuple[np.ndarray, np.ndarray, OOVReport]:
        """Pad/encode a batch to ``(n, max_len)`` int64 ids plus a keep-mask.

        Molecules that cannot be tokenized or are longer than ``max_len`` (with BOS/EOS)
        get ``keep=False`` and are counted in the report instead of raising.
        """
        report = OOVReport()
        out = np.full((len(smiles), max_len), self.pad, dtype=np.int64)
        keep = np.zeros(len(smiles), dtype=bool)
        for i, s in enumerate(smiles):
            try:
                ids = self.encode(s, report)
            except GrammarError:
                report.n_molecules += 1
                report.n_untokenizable += 1
                continue
            seq = ([self.bos] if add_bos else []) + ids + ([self.eos] if add_eos else [])
            if len(seq) > max_len:
                report.n_too_long += 1
                continue
            out[i, : len(seq)] = seq
            keep[i] = True
        return out, keep, report

    def decode(self, ids: Iterable[int]) -> str:
        """SMILES from ids: stops at EOS, skips BOS/PAD, drops UNK."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos:
                break
            if i in (self.bos, self.pad, self.unk):
                continue
            out.append(self.tokens[i])
        return "".join(out)
