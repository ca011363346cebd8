"""How SMILES become symbol sequences and back, for every model that decodes under a machine.

A *codec* is the only place where a rule model and a token model differ (the Grammar VAE and
the character VAE, the ORGAN generator over rules and over tokens); it lives here, below the
model families, so that each family uses it without importing another:

- :class:`GrammarCodec` (kind ``"gvae"``): symbols are production rules of a
  :mod:`grammar` grammar; a sequence is a leftmost derivation padded with the grammar's
  ``Nothing -> None`` rule; decoding is constrained by the grammar's stack machine, and with
  ``constraints = "semantic"`` (a Kekulé grammar) also by ring, valence and length state
  (:mod:`molgen.masking.semantic`), in training (masks replayed from the true sequence) as in
  decoding, so every decoded derivation is a valid molecule.
- :class:`TokenCodec` (kind ``"cvae"``): symbols are :class:`molgen.vocab.Vocabulary`
  tokens; a sequence is the SMILES tokens + ``<eos>``, padded; no grammar mask.

Both expose the same attributes (``n_symbols``, ``pad``, ``max_len``) and methods
(``encode``, ``to_smiles``, ``train_mask``, ``machine``, ``to_checkpoint``) that the
model, trainer and decoder use, so those are written once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from molgen.errors import CheckpointError
from molgen.masking.stack import GrammarMachine, TokenMachine
from molgen.vocab import Vocabulary

#: How a Grammar VAE constrains its choices: the context-free stack alone, or rings, valence and length too.
CONSTRAINTS = ("grammar", "semantic")


#: training batches whose semantic masks are replayed through the machine together, by device
#: type. The replay is ~800 small tensor operations per derivation step whatever the number of
#: rows, so one replay over many batches costs about what one over a single batch does; a GPU
#: (where each operation is a kernel launch) gains from far more rows than a CPU, whose cost
#: grows with the rows. The masks depend on the sequences alone: the ahead count changes the
#: speed of a run, never its result.
REPLAY_AHEAD = {"cpu": 16, "cuda": 256}


def replay_ahead(device: torch.device | str) -> int:
    """How many training batches a trainer replays through the semantic machine at once on ``device``."""
    return REPLAY_AHEAD.get(torch.device(device).type, REPLAY_AHEAD["cpu"])


@dataclass
class EncodedSet:
    """Symbol ids of a batch of SMILES: ``ids`` (n, max_len) int64, one row per input (padding where
    not encodable), ``keep`` marks encodable rows; ``failures`` are (input row, reason) pairs."""

    ids: np.ndarray
    keep: np.ndarray
    n_failed: int
    failures: list = field(default_factory=list)  # a few (smiles, reason) pairs for the report


class GrammarCodec:
    """Production-rule sequences of a context-free SMILES grammar (Grammar VAE)."""

    kind = "gvae"

    def __init__(self, grammar, max_len: int, constraints: str = "grammar") -> None:
        from molgen.masking.tables import SemanticTables, UnsupportedGrammar

        if constraints not in CONSTRAINTS:
            raise ValueError(f"constraints {constraints!r} is not one of {', '.join(CONSTRAINTS)}")
        self.grammar = grammar
        self.max_len = int(max_len)
        self.constraints = constraints
        try:  # a Kekulé-shaped grammar: its strings are Kekulé SMILES, and semantic masks are possible
            self.semantic_tables = SemanticTables.from_grammar(grammar)
        except UnsupportedGrammar as exc:
            if constraints == "semantic":
                raise ValueError(f"semantic constraints need a Kekulé grammar: {exc}") from None
            self.semantic_tables = None
        #: "kekule": inputs are kekulised before parsing and decodes shown as canonical aromatic SMILES
        self.representation = "kekule" if self.semantic_tables is not None else "smiles"
        self._device_tables: dict[str, object] = {}
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
    def from_data(cls, grammar_name: str, constraints: str = "grammar") -> "GrammarCodec":
        """Codec for ``grammar_name`` before the data fixes ``max_len`` (set by :meth:`encode`)."""
        from grammar import load_grammar

        return cls(load_grammar(grammar_name), max_len=0, constraints=constraints)

    def _to_representation(self, smiles: Sequence[str]) -> tuple[list[str], list[tuple[int, str]]]:
        """The strings the grammar reads: Kekulé SMILES for a Kekulé grammar ("" and a reason where
        RDKit cannot kekulise), else the input as is."""
        if self.representation != "kekule":
            return list(smiles), []
        from molgen.chem.mol import kekule_smiles

        out, failures = [], []
        for i, s in enumerate(smiles):
            k, reason = kekule_smiles(s)
            out.append(k or "")
            if k is None:
                failures.append((i, reason or "cannot be kekulised"))
        return out, failures

    def encode(
        self, smiles: Sequence[str], cache_dir: str | os.PathLike | None = None, progress: bool = False,
        margin: float = 1.1, n_jobs: int | None = None, device: torch.device | str = "cpu",
    ) -> EncodedSet:
        """Parse ``smiles`` to padded rule ids (cached by the grammar package); sets ``max_len`` on first use.
        With semantic constraints the ids are replayed through the machine on ``device`` (a training's
        device: the replay of a large set is many small steps, which a GPU takes in seconds)."""
        from grammar import encode_dataset

        strings, kekule_failures = self._to_representation(smiles)
        enc = encode_dataset(
            strings, self.grammar, max_len=self.max_len or None, margin=margin, n_jobs=n_jobs,
            cache_dir=cache_dir, progress=progress,
        )
        if not self.max_len:
            self.max_len = int(enc.max_len)
        keep = np.asarray(enc.keep, dtype=bool)
        ids = np.zeros((len(strings), self.max_len), dtype=np.int64) + self.pad
        ids[keep] = np.asarray(enc.ids).astype(np.int64)
        failures = [(i, r) for i, r in kekule_failures] + [f for f in enc.failures if strings[f[0]]]
        if self.constraints == "semantic":
            rejected = self._cached_rejects(ids[keep], cache_dir, device)
            rows = np.flatnonzero(keep)[rejected[0]]
            keep[rows] = False
            failures += [(int(i), why) for i, why in zip(rows, rejected[1])]
        failures.sort()
        # one row per input (padding where not encodable), like TokenCodec: callers index with keep
        ids[~keep] = self.pad
        return EncodedSet(ids, keep, int((~keep).sum()), failures[:20])

    def _cached_rejects(self, ids: np.ndarray, cache_dir: str | os.PathLike | None,
                        device: torch.device | str = "cpu") -> tuple[np.ndarray, list[str]]:
        """:meth:`replay_rejects`, kept beside the grammar's encoding cache: replaying a 250,000-molecule
        set takes minutes on a CPU, and its verdict depends only on the ids, the grammar and ``max_len``."""
        if cache_dir is None:
            return self.replay_rejects(ids, device=device)
        import hashlib

        from molgen.atomic import atomic_path

        key = hashlib.sha1(np.ascontiguousarray(ids).tobytes() + f"{self.grammar.hash}:{self.max_len}".encode()).hexdigest()
        path = Path(cache_dir) / f"semantic-{self.grammar.name}-{key}.npz"
        try:
            with np.load(path) as cached:
                return cached["rows"], [str(r) for r in cached["reasons"]]
        except (OSError, KeyError, ValueError):
            pass
        rows, reasons = self.replay_rejects(ids, device=device)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, rows=rows, reasons=np.asarray(reasons, dtype=str))
        return rows, reasons

    def replay_rejects(self, ids: np.ndarray, batch_size: int = 4096,
                       device: torch.device | str = "cpu") -> tuple[np.ndarray, list[str]]:
        """Rows of ``ids`` whose derivation the semantic machine does not accept step by step, and why.

        Real molecules in canonical Kekulé form pass (the replay test checks the shipped data);
        what is left out is counted and reported, never trained on with a mask that forbids it.
        """
        bad_rows: list[int] = []
        reasons: list[str] = []
        for lo in range(0, len(ids), batch_size):
            x = torch.from_numpy(ids[lo : lo + batch_size]).to(device)
            allowed = self.semantic_masks(x)
            ok = allowed.gather(2, x.unsqueeze(2)).squeeze(2).cpu()
            x = x.cpu()
            for r in (~ok.all(1)).nonzero().squeeze(1).tolist():
                step = int((~ok[r]).nonzero()[0])
                bad_rows.append(lo + r)
                reasons.append(f"outside the semantic constraints at step {step} "
                               f"({self.grammar.rules[int(x[r, step])]}; multi-fragment, or longer than max_len allows)")
        return np.asarray(bad_rows, dtype=np.int64), reasons

    def encode_one(self, smiles: str) -> list[int]:
        """Rule ids of one SMILES; raises ``GrammarError`` if it does not parse, ``ValueError`` if too long."""
        if self.representation == "kekule":
            from molgen.chem.mol import kekule_smiles

            kekule, reason = kekule_smiles(smiles)
            if kekule is None:
                raise ValueError(f"{smiles}: {reason}")
            smiles = kekule
        ids = self.grammar.parse(smiles)
        if len(ids) > self.max_len:
            raise ValueError(f"{smiles}: needs {len(ids)} rules, the model handles at most {self.max_len}")
        return list(ids)

    def to_smiles(self, ids: Sequence[int]) -> str:
        """SMILES of a complete derivation (trailing padding ignored); a Kekulé derivation is shown
        as RDKit's canonical aromatic SMILES of the molecule (the string itself if it does not parse)."""
        text = self.grammar.to_smiles([int(i) for i in ids])
        if self.representation == "kekule":
            from molgen.chem.mol import canonical_smiles

            return canonical_smiles(text) or text
        return text

    def train_mask(self, targets: torch.Tensor) -> torch.Tensor:
        """Allowed rules at each position, from the true sequence: the rules of the true rule's LHS,
        and with semantic constraints the machine's mask replayed along the true sequence."""
        if self.constraints == "semantic":
            return self.semantic_masks(targets) | torch.nn.functional.one_hot(targets, self.n_symbols).bool()
        lhs = self.lhs.to(targets.device)[targets]
        return self.mask_table.to(targets.device)[lhs]

    def semantic_masks(self, targets: torch.Tensor) -> torch.Tensor:
        """``(B, T, n_rules)``: what the semantic machine allows at each step of the true sequences."""
        machine = self.machine(targets.shape[0], targets.device, semantic=True)
        masks = []
        for t in range(targets.shape[1]):
            masks.append(machine.allowed())
            machine.advance(targets[:, t])
        return torch.stack(masks, dim=1)

    def machine(self, batch_size: int, device: torch.device | str, semantic: bool | None = None,
                fused: bool | None = None):
        """A fresh vectorised machine for decoding ``batch_size`` sequences: the stack machine, or the
        semantic machine when the codec's constraints are semantic (``fused``: its step as the compiled
        loop of :mod:`molgen.masking.fused`; by default on CPU where numba is installed)."""
        if semantic if semantic is not None else self.constraints == "semantic":
            from molgen.masking.semantic import DeviceTables, SemanticMachine

            key = str(device)
            if key not in self._device_tables:
                self._device_tables[key] = DeviceTables(self.semantic_tables, device)
            return SemanticMachine(
                batch_size, self._device_tables[key], self.mask_table, self.rhs_table, self.rhs_len, self.start,
                self.pad_nonterminal, self.pad, self.max_len, device=device, fused=fused,
            )
        return GrammarMachine(
            batch_size, self.mask_table, self.rhs_table, self.rhs_len, self.start, self.pad_nonterminal,
            depth=self.max_len + self.max_rhs, device=device,
        )

    def to_checkpoint(self) -> dict:
        """Checkpoint entries that identify the grammar and how it constrains (``max_len`` goes in ``extra``)."""
        g = self.grammar
        return {"grammar": {"name": g.name, "text": g.text, "hash": g.hash}, "constraints": self.constraints,
                "representation": self.representation}

    @classmethod
    def from_checkpoint(cls, ckpt: dict, max_len: int | None = None) -> "GrammarCodec":
        """The exact grammar a model was trained with: the shipped one if its hash still matches,
        else rebuilt from the text stored in the checkpoint (rule ids must never shift).
        ``max_len`` defaults to the checkpoint's ``extra.max_len`` (a model whose config fixes it passes it)."""
        from grammar import Grammar, load_grammar

        info = ckpt.get("grammar")
        if not isinstance(info, dict) or not {"name", "text", "hash"} <= set(info):
            raise CheckpointError(f"{ckpt.get('kind', 'model')} checkpoint lacks its grammar {{name, text, hash}}")
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
        # checkpoints written before semantic constraints existed decode exactly as they did
        max_len = int(ckpt["extra"]["max_len"]) if max_len is None else max_len
        return cls(g, max_len=max_len, constraints=ckpt.get("constraints", "grammar"))


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
        margin: float = 1.1, n_jobs: int | None = None, device: torch.device | str = "cpu",
    ) -> EncodedSet:
        """Token ids + ``<eos>``; sets ``max_len`` from the data (x ``margin``) on first use (``device``
        is the grammar codec's: tokens need no replay)."""
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
        failures = [(int(i), f"untokenizable or longer than {self.max_len} tokens") for i in np.flatnonzero(~keep)[:20]]
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
        try:
            vocab = Vocabulary.from_dict(ckpt["vocab"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"cvae checkpoint has no usable vocabulary ({exc})") from exc
        return cls(vocab, max_len=int(ckpt["extra"]["max_len"]))


Codec = GrammarCodec | TokenCodec


def codec_from_checkpoint(ckpt: dict) -> Codec:
    """The codec a checkpoint of kind ``gvae`` or ``cvae`` was trained with."""
    return GrammarCodec.from_checkpoint(ckpt) if ckpt["kind"] == "gvae" else TokenCodec.from_checkpoint(ckpt)
