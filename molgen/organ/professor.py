"""Professor forcing (Lamb et al. 2016) for the ORGAN generator's MLE pretraining.

Each batch is run twice: teacher-forced (the true previous symbol is the input) and free-running
(the generator's own draw is the input, for at most as many steps as the batch is wide). Each run
is read up to its own end: the true sequence up to its end symbol, the free-running one up to the
end symbol it drew (molecules differ in length; past its own end a free run's states describe no
molecule, and matching them to a real prefix's taught the generator to write on: a run of the
comparison in docs/seed-methods.md that read free runs to the true length lost all validity). A
discriminator, a bidirectional GRU + MLP over the two *behaviour* sequences (the top recurrent
layer's hidden states, and optionally each step's output distribution), learns to tell them apart;
the generator's loss is the NLL plus ``weight`` x the term that makes its free-running behaviour
look teacher-forced (and, with ``reverse``, the teacher-forced one look free-running). The drawn
symbols are constants: the gradient flows through the free-running hidden states.

Over production rules the free-running draw is made under the symbols' machine, as sampling does,
so the run the discriminator sees is one the generator can actually produce.

Gating (the paper's): D is not updated while its accuracy on the batch is above ``d_threshold``
(0.99), and G gets no adversarial gradient while D's accuracy is below ``g_threshold`` (0.75).
Within a step D is updated first (on detached behaviours), then G's term is built on the updated D.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from molgen.masking.choice import choose, uniform
from molgen.organ.config import ProfessorConfig
from molgen.organ.discriminator import frozen
from molgen.organ.generator import GeneratorNet, State, lengths


class BehaviourDiscriminator(nn.Module):
    """Behaviour sequences ``(B, T, F)`` of given lengths -> one logit each (teacher-forced = 1):
    a bidirectional GRU whose two final states feed an MLP."""

    def __init__(self, cfg: ProfessorConfig, n_features: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(n_features, cfg.hidden_size, batch_first=True, bidirectional=True)
        self.mlp = nn.Sequential(nn.Linear(2 * cfg.hidden_size, cfg.mlp_size), nn.ReLU(), nn.Linear(cfg.mlp_size, 1))

    def forward(self, behaviour: Tensor, lens: Tensor) -> Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(behaviour, lens.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)  # (2, B, H): the forward direction after step len, the backward one after step 1
        return self.mlp(torch.cat([h[0], h[1]], dim=1)).squeeze(1)


def behaviours(generator: GeneratorNet, seqs: Tensor, machine=None, rng: torch.Generator | None = None,
               use_outputs: bool = False, train_mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The teacher-forced and free-running behaviours ``(B, T, F)`` of ``generator`` on ``seqs``
    ``(B, T)``: the top layer's hidden state at each step (``F = hidden_size``), with ``use_outputs``
    also the step's output distribution (``F += n_outputs``; teacher-forced under ``train_mask``),
    and the free runs' lengths ``(B,)``: up to and including the end symbol each drew (``T`` if none).
    The free-running run draws its own symbols (constants, from ``rng``; under ``machine``, a fresh
    one of ``B`` rows, when given) and keeps the graph through its hidden states."""
    B, T = seqs.shape
    device = seqs.device
    h_tf, _ = generator.rnn(generator.embed(generator.inputs_for(seqs)))
    tf = [h_tf]
    if use_outputs:
        logits = generator.head(h_tf)
        if train_mask is not None:
            logits = logits.masked_fill(~train_mask[:, :T], float("-inf"))
        tf.append(torch.softmax(logits, dim=-1))
    free = torch.zeros(B, generator.n_outputs, device=device)
    tokens = torch.full((B, 1), generator.bos, dtype=torch.long, device=device)
    state: State | None = None
    fr_h, fr_p = [], []
    fr_lens = torch.full((B,), T, dtype=torch.long, device=device)
    for t in range(T):
        out, state = generator.rnn(generator.embed(tokens), state)
        h = out[:, 0]
        logits = generator.head(h)
        penalty = free if machine is None else machine.penalty()
        nxt = choose(logits.detach().clone(), penalty, uniform(B, rng, device))
        if machine is not None:
            machine.advance(nxt)
        fr_lens = torch.where((nxt == generator.eos) & (fr_lens == T), t + 1, fr_lens)
        fr_h.append(h)
        if use_outputs:
            fr_p.append(torch.softmax(logits + penalty, dim=-1))
        tokens = nxt.unsqueeze(1)
    fr = [torch.stack(fr_h, 1)] + ([torch.stack(fr_p, 1)] if use_outputs else [])
    return torch.cat(tf, dim=-1), torch.cat(fr, dim=-1), fr_lens


class ProfessorForcing:
    """The behaviour discriminator, its optimizer, and the professor-forcing loss of one MLE batch."""

    def __init__(self, cfg: ProfessorConfig, generator: GeneratorNet) -> None:
        self.cfg = cfg
        n_features = generator.cfg.hidden_size + (generator.n_outputs if cfg.use_outputs else 0)
        self.discriminator = BehaviourDiscriminator(cfg, n_features).to(generator.head.weight.device)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr)

    def discriminator_step(self, tf: Tensor, fr: Tensor, lens: Tensor, fr_lens: Tensor | None = None) -> tuple[float, float, bool]:
        """D's loss and accuracy on the (detached) behaviours, each read up to its length (``fr_lens``:
        the free runs' own, default ``lens``); D is updated unless its accuracy is above ``d_threshold``.
        Returns (loss, accuracy, updated)."""
        d, bce = self.discriminator, nn.functional.binary_cross_entropy_with_logits
        d.train()
        s_tf, s_fr = d(tf.detach(), lens), d(fr.detach(), lens if fr_lens is None else fr_lens)
        loss = bce(s_tf, torch.ones_like(s_tf)) + bce(s_fr, torch.zeros_like(s_fr))
        acc = float(((s_tf > 0).sum() + (s_fr <= 0).sum()) / (2 * len(s_tf)))
        update = acc <= self.cfg.d_threshold
        if update:
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(d.parameters(), self.cfg.grad_clip)
            self.optimizer.step()
        return loss.item(), acc, update

    def loss(self, generator: GeneratorNet, seqs: Tensor, mask: Tensor | None = None, machine=None,
             rng: torch.Generator | None = None) -> tuple[Tensor, dict[str, Any]]:
        """G's loss on an MLE batch: NLL (under the training ``mask``) + ``weight`` x the adversarial term
        when D's accuracy reaches ``g_threshold``; D takes its (gated) step first. Returns the loss and the
        log row: ``mle_loss`` (the NLL), ``pf_d_loss``, ``pf_g_loss``, ``pf_d_accuracy``, ``pf_d_update``,
        ``pf_g_update``."""
        c, bce = self.cfg, nn.functional.binary_cross_entropy_with_logits
        nll = generator.nll(seqs, mask)
        tf, fr, fr_lens = behaviours(generator, seqs, machine, rng, c.use_outputs, mask)
        lens = lengths(seqs, generator.eos)
        d_loss, acc, d_update = self.discriminator_step(tf, fr, lens, fr_lens)
        g_update = acc >= c.g_threshold and c.weight > 0
        with frozen(self.discriminator) as d, torch.set_grad_enabled(g_update):
            s_fr = d(fr, fr_lens)
            g_adv = bce(s_fr, torch.ones_like(s_fr))  # free-running judged teacher-forced
            if c.reverse:
                s_tf = d(tf, lens)
                g_adv = g_adv + bce(s_tf, torch.zeros_like(s_tf))
        loss = nll + c.weight * g_adv if g_update else nll
        return loss, {"mle_loss": nll.item(), "pf_d_loss": d_loss, "pf_g_loss": g_adv.item(), "pf_d_accuracy": acc,
                      "pf_d_update": int(d_update), "pf_g_update": int(g_update)}

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the discriminator's weights and its optimizer's state."""
        return {"discriminator": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
