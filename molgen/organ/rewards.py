"""ORGAN's reward R(Y) = lambda * D(Y) + (1 - lambda) * O(Y) over symbol sequences (tokens or rules).

D is the discriminator's probability that a sequence is real; O is the objective score from
:mod:`molgen.scoring` (components, transforms, aggregation, cache, diversity memory), shared
with any other RL generator. ORGAN's duplicate rule divides a reward by the count of the same
sequence in its batch group.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import Tensor

from molgen.organ.symbols import Symbols
from molgen.scoring.memory import DiversityMemory
from molgen.scoring.scorer import ObjectiveScorer


class OrganReward:
    """The reward given to the rollouts: R(Y) = lam * D(Y) + (1 - lam) * O(Y) on symbol sequences,
    then (optionally) ORGAN's duplicate rule: divided by the count of the same sequence in its group.
    D is evaluated once per distinct sequence; O once per distinct SMILES (scorer cache)."""

    def __init__(self, symbols: Symbols, discriminator: torch.nn.Module | None, scorer: ObjectiveScorer | None,
                 lam: float, divide_by_count: bool = True, memory: DiversityMemory | None = None,
                 disc_input: Callable[[Tensor], Tensor] | None = None) -> None:
        if lam > 0 and discriminator is None:
            raise ValueError("lam > 0 needs a discriminator")
        if lam < 1 and scorer is None:
            raise ValueError("lam < 1 needs objectives")
        self.symbols, self.discriminator, self.scorer = symbols, discriminator, scorer
        self.lam, self.divide_by_count = lam, divide_by_count
        self.memory = memory if lam < 1 else None
        self.disc_input = disc_input  # what D reads (None: the sequences themselves)
        self.seconds = {"discriminator": 0.0, "chemistry": 0.0, "decode": 0.0}

    def components(self, seqs: Tensor, groups: Tensor | None = None) -> dict[str, Tensor]:
        """Every term per sequence: ``d``, each objective, ``objective`` and the final ``reward``;
        with a diversity memory also ``memory`` (its factor) and ``objective_raw`` (O before it)."""
        n = seqs.size(0)
        groups = torch.zeros(n, dtype=torch.long, device=seqs.device) if groups is None else groups
        uniq, inverse = torch.unique(seqs, dim=0, return_inverse=True)
        out: dict[str, Tensor] = {}
        reward = torch.zeros(n, device=seqs.device)
        if self.lam > 0:
            t0 = time.perf_counter()
            d_ids = uniq if self.disc_input is None else self.disc_input(uniq)
            out["d"] = self.discriminator.reward(d_ids)[inverse].float()
            self.seconds["discriminator"] += time.perf_counter() - t0
            reward = reward + self.lam * out["d"]
        if self.lam < 1:
            t0 = time.perf_counter()
            words = [self.symbols.reward_string(r) for r in uniq.tolist()]
            smiles = [words[i] for i in inverse.tolist()]
            t1 = time.perf_counter()
            self.seconds["decode"] += t1 - t0
            terms = self.scorer.score(smiles, groups.cpu().numpy())
            if self.memory is not None:
                factors = self.memory.factors(words)[inverse.cpu().numpy()]
                terms["memory"] = factors
                terms["objective_raw"] = terms["objective"]
                terms["objective"] = terms["objective"] * factors
            self.seconds["chemistry"] += time.perf_counter() - t1
            for k, v in terms.items():
                out[k] = torch.as_tensor(v, dtype=torch.float32, device=seqs.device)
            reward = reward + (1 - self.lam) * out["objective"]
        if self.divide_by_count:
            key = inverse * (int(groups.max()) + 1) + groups
            _, key_inv, counts = torch.unique(key, return_inverse=True, return_counts=True)
            reward = reward / counts[key_inv].float()
        out["reward"] = reward
        return out

    def __call__(self, seqs: Tensor, groups: Tensor) -> Tensor:
        return self.components(seqs, groups)["reward"]
