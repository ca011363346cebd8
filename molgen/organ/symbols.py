"""What the ORGAN generator emits: SMILES tokens, or production rules under the semantic machine.

The one place where the two vocabularies of the family differ (``[generator] symbols``). The
generator, rollouts, rewards, trainer and sampler ask a *symbols* object for what they need:

- ``n_inputs`` / ``n_outputs`` / ``pad`` / ``bos`` / ``eos``: the ids the networks are built over;
- ``encode(smiles)``: training sequences (symbols + end, padded), the ones that do not fit reported;
- ``machine(batch, device)``: a fresh machine that masks every choice, or ``None`` (tokens: free);
- ``train_mask(seqs)``: the machine's masks replayed along true sequences (teacher forcing,
  policy-gradient log-probabilities), or ``None``;
- ``to_smiles(ids)``: the string of one sequence; ``reward_string(ids)``: the string the objectives
  read (rules: the derivation's own Kekulé SMILES, which the scorer parses once, instead of
  canonicalising every rollout completion first);
- ``to_checkpoint()``: the entries that let a checkpoint rebuild the same symbols.

What the discriminator reads is a second, smaller choice (``[discriminator] input``): the
generator's own symbols (:class:`SymbolInput`), or for rules the SMILES tokens of each derivation
(:class:`SmilesInput`: the derivation's Kekulé string, written without RDKit, tokenised).

:class:`TokenSymbols` is the ORGAN of the papers (a :class:`~molgen.vocab.Vocabulary`, no
mask). :class:`RuleSymbols` wraps the Grammar VAE's :class:`~molgen.masking.codec.GrammarCodec`:
a sequence is a leftmost derivation followed by the grammar's padding rule, which plays the part
of the end token (once the derivation is complete the machine allows nothing else), and with
semantic constraints every completed derivation is a molecule RDKit sanitises.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch

from molgen import paths
from molgen.masking.codec import GrammarCodec
from molgen.organ.config import GeneratorConfig
from molgen.vocab import Vocabulary

log = logging.getLogger(__name__)


class TokenSymbols:
    """SMILES tokens + ``<eos>``, unconstrained (sequences may be invalid SMILES)."""

    kind = "tokens"
    masked = False  # no machine: machine() and train_mask() return None

    def __init__(self, vocab: Vocabulary, max_len: int) -> None:
        self.vocab, self.max_len = vocab, int(max_len)
        self.n_inputs = self.n_outputs = len(vocab)
        self.pad, self.bos, self.eos = vocab.pad, vocab.bos, vocab.eos

    def encode(self, smiles: Sequence[str]) -> np.ndarray:
        """``(n, max_len)`` ids (sequence + EOS, no BOS) of the molecules that fit; OOV and overlong reported."""
        ids, keep, report = self.vocab.encode_batch(list(smiles), self.max_len, add_bos=False, add_eos=True)
        if report.n_with_oov or report.n_untokenizable:
            log.warning("training data: %s", report.summary())
        if report.n_too_long:
            log.warning("training data: %d molecules longer than generator.max_len = %d tokens were skipped",
                        report.n_too_long, self.max_len)
        ids = ids[keep]
        return ids.astype(np.uint8) if self.n_inputs <= 256 else ids

    def machine(self, batch_size: int, device: torch.device | str) -> None:
        """Tokens are drawn from the whole vocabulary: no machine."""
        return None

    def train_mask(self, seqs: torch.Tensor) -> None:
        return None

    def to_smiles(self, ids: Sequence[int]) -> str:
        return self.vocab.decode(ids)

    def reward_string(self, ids: Sequence[int]) -> str:
        return self.vocab.decode(ids)

    def to_checkpoint(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_dict()}


class RuleSymbols:
    """Production rules of a Kekulé grammar under its machine (semantic by default); BOS is one extra input id."""

    kind = "rules"
    masked = True

    def __init__(self, codec: GrammarCodec) -> None:
        self.codec = codec
        self.max_len = codec.max_len + 1  # the derivation and the padding rule that ends it
        self.n_outputs = codec.n_symbols
        self.n_inputs = codec.n_symbols + 1
        self.pad = self.eos = codec.pad
        self.bos = codec.n_symbols

    def encode(self, smiles: Sequence[str]) -> np.ndarray:
        """``(n, max_len)`` rule ids (derivation, then padding) of the molecules the machine accepts;
        the others (not kekulisable, not parsed, too long, outside the constraints) are reported."""
        enc = self.codec.encode(smiles, cache_dir=paths.cache_dir("encoded"))  # the Grammar VAE's cache too
        if enc.n_failed:
            shown = "; ".join(f"{smiles[i]}: {why}" for i, why in enc.failures[:3])
            log.warning("training data: %d of %d molecules have no derivation within %d rules under %s constraints "
                        "and were skipped (e.g. %s)", enc.n_failed, len(smiles), self.codec.max_len,
                        self.codec.constraints, shown)
        ids = np.full((int(enc.keep.sum()), self.max_len), self.pad, dtype=np.int64)
        ids[:, : self.codec.max_len] = enc.ids[enc.keep]
        return ids.astype(np.uint8) if self.n_inputs <= 256 else ids

    def machine(self, batch_size: int, device: torch.device | str):
        """A fresh machine at the start of ``batch_size`` derivations."""
        return self.codec.machine(batch_size, device)

    def train_mask(self, seqs: torch.Tensor) -> torch.Tensor:
        """``(B, T, n_outputs)``: what the machine allows along the true sequences (and the true rule)."""
        return self.codec.train_mask(seqs)

    def to_smiles(self, ids: Sequence[int]) -> str:
        """RDKit's canonical aromatic SMILES of the derivation's molecule."""
        return self.codec.to_smiles(ids)

    def reward_string(self, ids: Sequence[int]) -> str:
        """The derivation's Kekulé SMILES as written (a valid SMILES of the same molecule)."""
        return self.codec.grammar.to_smiles([int(i) for i in ids])

    def to_checkpoint(self) -> dict[str, Any]:
        return self.codec.to_checkpoint()


Symbols = TokenSymbols | RuleSymbols


def symbols_from_data(cfg: GeneratorConfig, smiles: Sequence[str]) -> Symbols:
    """New symbols for a run: a vocabulary built from the training SMILES, or the configured grammar."""
    if cfg.symbols == "rules":
        from grammar import load_grammar

        return RuleSymbols(GrammarCodec(load_grammar(cfg.grammar), cfg.max_len - 1, cfg.constraints))
    return TokenSymbols(Vocabulary.build(smiles), cfg.max_len)


def symbols_from_checkpoint(ckpt: dict[str, Any], cfg: GeneratorConfig) -> Symbols:
    """The symbols a checkpoint was trained with (its vocabulary, or its exact grammar)."""
    if cfg.symbols == "rules":
        return RuleSymbols(GrammarCodec.from_checkpoint(ckpt, max_len=cfg.max_len - 1))
    return TokenSymbols(Vocabulary.from_dict(ckpt["vocab"]), cfg.max_len)


class SymbolInput:
    """The discriminator reads the generator's sequences as they are."""

    kind = "symbols"

    def __init__(self, symbols: Symbols) -> None:
        self.n_inputs, self.pad = symbols.n_inputs, symbols.pad

    def __call__(self, seqs: torch.Tensor) -> torch.Tensor:
        return seqs

    def to_checkpoint(self) -> dict[str, Any]:
        return {}


class SmilesInput:
    """The discriminator reads each rule sequence as the SMILES tokens of its derivation (+ EOS): the
    Kekulé string the rules write, the same form for real and generated molecules, so D judges
    molecules and not how the strings were made; its filters span about 2.5x more of a molecule
    than over rules."""

    kind = "smiles"

    def __init__(self, symbols: RuleSymbols, vocab: Vocabulary) -> None:
        self.symbols, self.vocab = symbols, vocab
        self.n_inputs, self.pad = len(vocab), vocab.pad

    @classmethod
    def from_data(cls, symbols: RuleSymbols, ids: np.ndarray, n: int = 20000) -> "SmilesInput":
        """Vocabulary of the Kekulé strings of (up to ``n`` of) the training derivations."""
        return cls(symbols, Vocabulary.build(symbols.reward_string(r) for r in ids[:n].tolist()))

    def __call__(self, seqs: torch.Tensor) -> torch.Tensor:
        """``(B, max_len)`` token ids (no BOS, EOS, padding) of the derivations in ``seqs``."""
        strings = [self.symbols.reward_string(r) for r in seqs.tolist()]
        ids, _, _ = self.vocab.encode_batch(strings, self.symbols.max_len, add_bos=False, add_eos=True)
        return torch.from_numpy(ids).to(seqs.device)

    def to_checkpoint(self) -> dict[str, Any]:
        return {"discriminator_vocab": self.vocab.to_dict()}


DiscriminatorInput = SymbolInput | SmilesInput


def discriminator_input(kind: str, symbols: Symbols, ids: np.ndarray | None = None,
                        ckpt: dict[str, Any] | None = None) -> DiscriminatorInput:
    """What D reads: from a checkpoint's stored vocabulary, else built from the training ``ids``."""
    if kind == "symbols":
        return SymbolInput(symbols)
    if ckpt is not None:
        return SmilesInput(symbols, Vocabulary.from_dict(ckpt["discriminator_vocab"]))  # type: ignore[arg-type]
    return SmilesInput.from_data(symbols, ids)  # type: ignore[arg-type]
