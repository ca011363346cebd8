"""Monte-Carlo rollouts: shapes, the last-step rule, masking after EOS, and Q against hand counts."""

from __future__ import annotations

import math

import pytest
import torch

from molgen.organ.config import GeneratorConfig
from molgen.organ.generator import GeneratorNet, lengths
from molgen.organ.rollout import mc_rollout, reinforce_loss
from molgen.vocab import Vocabulary

VOCAB = Vocabulary(["<pad>", "<bos>", "<eos>", "<unk>", "C", "N"])
C, N, EOS, PAD = VOCAB.index["C"], VOCAB.index["N"], VOCAB.eos, VOCAB.pad


def fixed_generator(p_c: float, p_n: float, p_eos: float, max_len: int = 10, cell: str = "lstm") -> GeneratorNet:
    """A generator whose next-token distribution is the same at every step, whatever the prefix:
    zero recurrent weights give a zero hidden state, and the head's bias holds log-probabilities."""
    gen = GeneratorNet(GeneratorConfig(cell=cell, embedding_size=4, hidden_size=8, num_layers=2, max_len=max_len),
                    len(VOCAB), VOCAB.pad, VOCAB.bos, VOCAB.eos)
    with torch.no_grad():
        for p in gen.parameters():
            p.zero_()
        bias = torch.full((len(VOCAB),), -1e4)
        for tok, p in ((C, p_c), (N, p_n), (EOS, p_eos)):
            bias[tok] = math.log(p) if p > 0 else -1e4
        gen.head.bias.copy_(bias)
    return gen


def contains_n(seqs: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Deterministic reward: 1 when the sequence holds an N before its EOS."""
    lens = lengths(seqs, EOS)
    before_eos = torch.arange(seqs.size(1)).unsqueeze(0) < lens.unsqueeze(1)
    return ((seqs == N) & before_eos).any(1).float()


def seqs_from(rows: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows])


def test_shapes_mask_and_last_step_equals_reward():
    T = 10
    gen = fixed_generator(0.6, 0.1, 0.3, max_len=T)
    seqs = seqs_from([[C, C, N, EOS], [C, EOS], [N, C, C, C, C, C, C, C, C, C]], T)
    res = mc_rollout(gen, seqs, contains_n, n_rollouts=3, generator=torch.Generator().manual_seed(0))
    assert res.q.shape == (3, T) and res.mask.shape == (3, T)
    assert res.mask.sum(1).tolist() == [4, 2, 10]
    assert res.final_reward.tolist() == [1.0, 0.0, 1.0]
    # at the last step (EOS, or the last position when there is none) Q is the sequence's own reward
    assert res.q[0, 3] == 1.0 and res.q[1, 1] == 0.0 and res.q[2, 9] == 1.0
    # after EOS Q is masked out (and zero)
    assert (res.q[~res.mask] == 0).all()
    # prefixes: 3 + 1 + 9, each completed 3 times
    assert res.n_completions == (3 + 1 + 9) * 3


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_q_exact_when_completions_cannot_add_n(cell):
    """With p(N) = 0 in the rollout policy a prefix's Q is exactly 1 if it already holds N, else 0."""
    T = 8
    gen = fixed_generator(0.7, 0.0, 0.3, max_len=T, cell=cell)
    seqs = seqs_from([[C, N, C, EOS], [C, C, C, EOS], [C, C, C, C, C, C, N, C]], T)
    res = mc_rollout(gen, seqs, contains_n, n_rollouts=5, generator=torch.Generator().manual_seed(1))
    expected = torch.tensor([
        [0, 1, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 1],
    ], dtype=torch.float)
    assert torch.equal(res.q, expected)


def test_q_matches_hand_count_probability():
    """Q of a prefix without N = P(a completion emits N before EOS within the remaining slots):
    sum_{k < R} p_C^k p_N, with R = T - (prefix length) slots left."""
    T, p_c, p_n, p_e = 6, 0.5, 0.2, 0.3
    gen = fixed_generator(p_c, p_n, p_e, max_len=T)
    seqs = seqs_from([[C, C, C, C, N, EOS], [N, EOS]], T)
    res = mc_rollout(gen, seqs, contains_n, n_rollouts=4000, generator=torch.Generator().manual_seed(2), chunk=5000)
    for p in range(1, 5):  # prefixes C, CC, CCC, CCCC of the first sequence (Q at position p-1)
        left = T - p
        exact = sum(p_c**k * p_n for k in range(left))
        assert abs(float(res.q[0, p - 1]) - exact) < 0.03, (p, float(res.q[0, p - 1]), exact)
    assert float(res.q[0, 4]) == 1.0  # prefix CCCCN already holds N
    assert float(res.q[1, 0]) == 1.0 and float(res.q[1, 1]) == 1.0


def test_chunking_does_not_change_the_result_distribution():
    """Small chunks give the same exact Q values as one big batch when Q is deterministic."""
    T = 8
    gen = fixed_generator(0.7, 0.0, 0.3, max_len=T)
    seqs = seqs_from([[C, N, C, C, C, EOS], [C, C, EOS]], T)
    big = mc_rollout(gen, seqs, contains_n, 4, torch.Generator().manual_seed(0), chunk=10_000)
    small = mc_rollout(gen, seqs, contains_n, 4, torch.Generator().manual_seed(0), chunk=3)
    assert torch.equal(big.q, small.q)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_completions_do_not_depend_on_the_pool_size(cell):
    """Each completion draws from its own row of uniforms, so the rows in flight (and which of them
    finish first) never change a sampled completion: same seed, same completions, same Q."""
    torch.manual_seed(0)
    gen = GeneratorNet(GeneratorConfig(cell=cell, embedding_size=4, hidden_size=16, num_layers=2, max_len=12),
                    len(VOCAB), VOCAB.pad, VOCAB.bos, VOCAB.eos)
    seqs = gen.sample(5, generator=torch.Generator().manual_seed(0))
    runs = []
    for chunk in (1, 7, 100_000):
        seen = []

        def reward(s, groups):
            seen.append(s.clone())
            return (s == N).float().sum(1)

        res = mc_rollout(gen, seqs, reward, 3, torch.Generator().manual_seed(1), chunk=chunk)
        runs.append((seen[-1], res.q))
    for completions, q in runs[1:]:
        assert torch.equal(completions, runs[0][0]) and torch.equal(q, runs[0][1])
    completions = runs[0][0]
    lens = lengths(completions, EOS)
    after = torch.arange(completions.size(1)).unsqueeze(0) >= lens.unsqueeze(1)
    assert (completions[after] == PAD).all()  # nothing is written after a completion's EOS


def test_groups_are_batches_like_the_sampled_one():
    """Completions with the same prefix length and rollout index share a group id."""
    T = 6
    gen = fixed_generator(0.7, 0.0, 0.3, max_len=T)
    seqs = seqs_from([[C, C, EOS], [C, C, C, EOS]], T)
    seen = []

    def reward(s, groups):
        seen.append(groups.clone())
        return torch.zeros(s.size(0))

    mc_rollout(gen, seqs, reward, n_rollouts=2, generator=torch.Generator().manual_seed(0))
    final_groups, rollout_groups = seen
    assert final_groups.tolist() == [0, 0]
    # prefixes (b=0,p=1), (0,2), (1,1), (1,2), (1,3) each x 2 rollouts; group = (p-1)*2 + n
    assert rollout_groups.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5]


def test_reinforce_loss_pushes_up_good_actions():
    """The gradient raises log-probabilities of actions whose Q is above the baseline."""
    logp = torch.zeros(1, 3, requires_grad=True)
    q = torch.tensor([[1.0, 0.0, 0.5]])
    mask = torch.tensor([[True, True, False]])
    loss = reinforce_loss(logp, torch.zeros(1, 3), q, mask, baseline=0.5)
    loss.backward()
    assert logp.grad[0, 0] < 0 < logp.grad[0, 1] and logp.grad[0, 2] == 0


@pytest.mark.parametrize("preset", ["small", "seqgan"])
def test_discriminator_lookup_path_equals_convolution(preset):
    """The inference path (table lookups, cropped length, chunked by length) gives the conv path's scores."""
    from molgen.organ.config import DiscriminatorConfig
    from molgen.organ.discriminator import Discriminator

    torch.manual_seed(0)
    disc = Discriminator(DiscriminatorConfig(preset=preset), 12, 0, 40).eval()
    lens = torch.randint(1, 41, (50,))
    seqs = torch.randint(4, 12, (50, 40)) * (torch.arange(40).unsqueeze(0) < lens.unsqueeze(1))
    with torch.no_grad():
        want = torch.sigmoid(disc(seqs))
    got = disc.reward(seqs, batch_size=7)
    assert torch.allclose(got, want, atol=1e-5)


def test_stride_rolls_out_every_kth_prefix_and_fills_the_rest():
    T = 8
    gen = fixed_generator(0.7, 0.0, 0.3, max_len=T)
    seqs = seqs_from([[C, C, N, C, C, C, EOS], [C, EOS]], T)
    res = mc_rollout(gen, seqs, contains_n, n_rollouts=3, generator=torch.Generator().manual_seed(0), stride=2)
    assert res.n_completions == 3 * 3  # prefixes of length 2, 4, 6 of the first sequence only
    # column j holds Q of the prefix of j + 1 tokens; odd lengths copy the next even one
    assert res.q[0].tolist() == [0, 0, 1, 1, 1, 1, 1, 0]
    assert res.q[1].tolist() == [0, 0, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("constraint", ["clip", "gp"])
def test_wasserstein_critic_trains_and_stays_constrained(constraint):
    """OR(W)GAN: the critic has no sigmoid; clipping keeps weights in range, the penalty adds a finite term."""
    from molgen.organ.config import DiscriminatorConfig
    from molgen.organ.discriminator import Discriminator

    torch.manual_seed(0)
    cfg = DiscriminatorConfig(preset="small", loss="wasserstein", wgan_constraint=constraint, clip_value=0.05)
    disc = Discriminator(cfg, 12, 0, 20)
    real, fake = torch.randint(4, 8, (16, 20)), torch.randint(8, 12, (16, 20))
    opt = torch.optim.Adam(disc.parameters(), lr=1e-2)
    for _ in range(5):
        loss, acc = disc.loss(real, fake)
        assert torch.isfinite(loss) and 0 <= acc <= 1
        opt.zero_grad()
        loss.backward()
        opt.step()
        disc.clip_weights()
    scores = disc.reward(torch.cat([real, fake]))
    assert scores[:16].mean() > scores[16:].mean()  # the critic separates real from fake
    if constraint == "clip":
        assert max(float(p.detach().abs().max()) for p in disc.parameters()) <= 0.05 + 1e-7
