"""How SMILES become symbol sequences and back, for the two members of the VAE family.

A *codec* is the only place where the Grammar VAE and the character VAE differ:

- :class:`GrammarCodec` (kind ``"gvae"``): symbols are production rules of a
  :mod:`grammar` grammar; a sequence is a leftmost derivation padded with the grammar's
  ``Nothing -> None`` rule; decoding is constrained by the grammar's stack machine.
- :class:`TokenCodec` (kind ``"cvae"``): symbols are :class:`molgen.vocab.Vocabulary`
  tokens; a sequence is the SMILES tokens + ``<eos>``, padded; no grammar mask.

Both expose the same attributes (``n_symbols``, ``pad``, ``max_len``) and methods
(``encode``, ``to_smiles``, ``train_mask``, ``machine``, ``to_checkpoint``) that the
model, trainer and decoder use, so those are written once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from molgen.vae.decoding import GrammarMachine, TokenMachine
from molgen.vocab import Vocabulary


@dataclass
class EncodedSet:
    """Symbol ids of a batch of SMILES: ``ids`` (n, max_len) int64, ``keep`` marks encodable rows."""

    ids: np.ndarray
    keep: np.ndarray
    n_failed: int
    failures: list = field(default_factory=list)  # a few (smiles, reason) pairs for the report


class GrammarCodec:
    """Production-rule sequences of a context-free SMILES grammar (Grammar VAE)."""

    kind = "gvae"

    def __init__(self, grammar, max_len: int) -> None:
        self.grammar = grammar
        self.max_len = int(max_len)
        self.n_symbols = int(grammar.n_rules)
        self.pad = int(grammar.pad_rule)
        self.start = int(grammar.start)
        self.pad_nonterminal = int(grammar.pad_nonterminal)
        self.max_rhs = max(1, int(grammar.max_rhs))
        mask = torch.as_tensor(np.asarray(grammar.mask, dtype=bool)).clone()
        # after the derivation is complete (empty stack) only the padding rule may follow
        mask[self.pad_nonterminal] = False
        mask[self.pad_nonterminal, self.pad] = True
        pushed = {nt for rhs in grammar.rhs_nonterminals for nt in rhs} | {self.start}
        empty = [grammar.nonterminals[nt] for nt in sorted(pushed) if not mask[nt].any()]
        if empty:
            raise ValueError(f"grammar {grammar.name!r}: non-terminals without rules: {', '.join(empty)}")
        self.mask_table = mask  # (n_nonterminals, n_rules): rules allowed when nt is on top
        self.lhs = torch.as_tensor(np.asarray(grammar.lhs, dtype=np.int64))
        # right-hand-side non-terminals in push order (reversed, so the leftmost ends on top)
        rhs = torch.full((self.n_symbols, self.max_rhs), self.pad_nonterminal, dtype=torch.long)
        rhs_len = torch.zeros(self.n_symbols, dtype=torch.long)
        for r, nts in enumerate(grammar.rhs_nonterminals):
            rhs_len[r] = len(nts)
            for k, nt in enumerate(reversed(nts)):
                rhs[r, k] = int(nt)
        self.rhs_table = rhs
        self.rhs_len = rhs_len

    @classmethod
    def from_data(cls, grammar_name: str) -> "GrammarCodec":
        """Codec for ``grammar_name`` before the data fixes ``max_len`` (set by :meth:`encode`)."""
        from grammar import load_grammar

        return cls(load_grammar(grammar_name), max_len=0)

    def encode(
        self, smiles: Sequence[str], cache_dir: str | os.PathLike | None = None, progress: bool = False,
        margin: float = 1.1, n_jobs: int | None = None,
    ) -> EncodedSet:
        """Parse ``smiles`` to padded rule ids (cached by the grammar package); sets ``max_len`` on first use."""
        from grammar import encode_dataset

        enc = encode_dataset(
            list(smiles), self.grammar, max_len=self.max_len or None, margin=margin, n_jobs=n_jobs,
            cache_dir=cache_dir, progress=progress,
        )
        if not self.max_len:
            self.max_len = int(enc.max_len)
        ids = np.asarray(enc.ids).astype(np.int64)
        return EncodedSet(ids, np.asarray(enc.keep, dtype=bool), int(enc.n_failed), list(enc.failures)[:20])

    def encode_one(self, smiles: str) -> list[int]:
        """Rule ids of one SMILES; raises ``GrammarError`` if it does not parse, ``ValueError`` if too long."""
        ids = self.grammar.parse(smiles)
        if len(ids) > self.max_len:
            raise ValueError(f"{smiles}: needs {len(ids)} rules, the model handles at most {self.max_len}")
        return list(ids)

    def to_smiles(self, ids: Sequence[int]) -> str:
        """SMILES of a complete derivation (trailing padding ignored)."""
        return self.grammar.to_smiles([int(i) for i in ids])

    def train_mask(self, targets: torch.Tensor) -> torch.Tensor:
        """Allowed rules at each position, from the true sequence: the rules of the true rule's LHS."""
        lhs = self.lhs.to(targets.device)[targets]
        return self.mask_table.to(targets.device)[lhs]

    def machine(self, batch_size: int, device: torch.device | str) -> GrammarMachine:
        """A fresh vectorised stack machine for decoding ``batch_size`` sequences."""
        return GrammarMachine(
            batch_size, self.mask_table, self.rhs_table, self.rhs_len, self.start, self.pad_nonterminal,
            depth=self.max_len + self.max_rhs, device=device,
        )

    def to_checkpoint(self) -> dict:
        """Checkpoint entries that identify the grammar (``max_len`` goes in ``extra``)."""
        g = self.grammar
        return {"grammar": {"name": g.name, "text": g.text, "hash": g.hash}}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> "GrammarCodec":
        """The exact grammar a model was trained with: the shipped one if its hash still matches,
        else rebuilt from the text stored in the checkpoint (rule ids must never shift)."""
        from grammar import Grammar, load_grammar

        from molgen.checkpoint import CheckpointError

        info = ckpt.get("grammar")
        if not isinstance(info, dict) or not {"name", "text", "hash"} <= set(info):
            raise CheckpointError("gvae checkpoint lacks its grammar {name, text, hash}")
        try:
            g = load_grammar(info["name"])
        except ValueError:
            g = None
        if g is None or g.hash != info["hash"]:
            g = Grammar.from_text(info["text"], name=info["name"])
            if g.hash != info["hash"]:
                raise CheckpointError(
                    f"grammar {info['name']!r} stored in the checkpoint does not match its hash "
                    f"({g.hash} != {info['hash']}): corrupted checkpoint?"
                )
        return cls(g, max_len=int(ckpt["extra"]["max_len"]))


class TokenCodec:
    """SMILES token sequences terminated by ``<eos>`` (character VAE)."""

    kind = "cvae"

    def __init__(self, vocab: Vocabulary, max_len: int) -> None:
        self.vocab = vocab
        self.max_len = int(max_len)
        self.n_symbols = len(vocab)
        self.pad = vocab.pad
        self.eos = vocab.eos
        banned = torch.zeros(self.n_symbols, dtype=torch.bool)
        banned[[vocab.pad, vocab.bos, vocab.unk]] = True  # never targets, so never decoded
        self.banned = banned

    @classmethod
    def from_data(cls, smiles: Sequence[str], min_count: int = 1) -> "TokenCodec":
        """Vocabulary built from the training SMILES; ``max_len`` set by :meth:`encode`."""
        return cls(Vocabulary.build(smiles, min_count=min_count), max_len=0)

    def encode(
        self, smiles: Sequence[str], cache_dir: str | os.PathLike | None = None, progress: bool = False,
        margin: float = 1.1, n_jobs: int | None = None,
    ) -> EncodedSet:
        """Token ids + ``<eos>``; sets ``max_len`` from the data (x ``margin``) on first use."""
        from grammar import GrammarError, tokenize

        if not self.max_len:
            longest = 0
            for s in smiles:
                try:
                    longest = max(longest, len(tokenize(s)))
                except GrammarError:
                    continue
            self.max_len = int(np.ceil((longest + 1) * margin))
        ids, keep, report = self.vocab.encode_batch(list(smiles), self.max_len, add_bos=False, add_eos=True)
        failures = [(s, "untokenizable or too long") for s, k in zip(smiles, keep) if not k][:20]
        return EncodedSet(ids, keep, int((~keep).sum()), failures)

    def encode_one(self, smiles: str) -> list[int]:
        """Token ids + ``<eos>``; raises ``GrammarError`` if untokenizable, ``ValueError`` if too long."""
        ids = self.vocab.encode(smiles) + [self.eos]
        if len(ids) > self.max_len:
            raise ValueError(f"{smiles}: needs {len(ids)} tokens, the model handles at most {self.max_len}")
        return ids

    def to_smiles(self, ids: Sequence[int]) -> str:
        return self.vocab.decode(ids)

    def train_mask(self, targets: torch.Tensor) -> None:
        """No grammar: every token is allowed everywhere."""
        return None

    def machine(self, batch_size: int, device: torch.device | str) -> TokenMachine:
        return TokenMachine(batch_size, self.banned, self.pad, self.eos, device=device)

    def to_checkpoint(self) -> dict:
        """Checkpoint entries that identify the vocabulary (``max_len`` goes in ``extra``)."""
        return {"vocab": self.vocab.to_dict()}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> "TokenCodec":
        from molgen.checkpoint import CheckpointError

        try:
            vocab = Vocabulary.from_dict(ckpt["vocab"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"cvae checkpoint has no usable vocabulary ({exc})") from exc
        return cls(vocab, max_len=int(ckpt["extra"]["max_len"]))


Codec = GrammarCodec | TokenCodec


def codec_from_checkpoint(ckpt: dict) -> Codec:
    """The codec a checkpoint of kind ``gvae`` or ``cvae`` was trained with."""
    return GrammarCodec.from_checkpoint(ckpt) if ckpt["kind"] == "gvae" else TokenCodec.from_checkpoint(ckpt)
