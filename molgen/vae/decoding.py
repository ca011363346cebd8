"""Constrained decoding, vectorised over the batch (CPU or GPU), under any machine of
:mod:`molgen.masking` (the codec says which).

:func:`decode` drops finished rows from the batch as it goes (the longest molecule sets the
number of steps, most finish long before), and draws its random numbers for the whole batch
at every step, so what a row gets does not depend on when the others finish.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from molgen.masking.choice import choose, uniform
from molgen.masking.stack import GrammarMachine, TokenMachine

__all__ = ["DecodeResult", "GrammarMachine", "TokenMachine", "choose", "decode", "uniform"]


@dataclass
class DecodeResult:
    """Decoded symbol ids (B, max_len) and, per row, whether it is complete, out of length or overflowed."""

    ids: torch.Tensor
    complete: torch.Tensor
    out_of_length: torch.Tensor
    overflow: torch.Tensor


MIN_ROWS = 32  # decode never compacts its batch below this many rows


def _choose_and_advance(machine, logits: torch.Tensor, u: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """One step of the machine: the mask, one symbol per row, and the machine's update."""
    symbols = choose(logits, machine.penalty(), u, temperature)
    machine.advance(symbols)
    return symbols


_compiled_step = None


def compiled_step():
    """:func:`_choose_and_advance` under ``torch.compile`` (built once per process; dynamic batch size).

    The semantic machine's step is some 150 small tensor operations, each a kernel launch on a
    GPU: a decoding step of the shipped ``gvae`` ran 334 GPU kernels eager and 61 compiled (the
    context-free decode 27), and semantic sampling measured 1.8-3.7x faster on an H200
    (``benchmarks/bench_vae_sampling.py --device cuda --compile``), with the same molecules.
    CUDA only: on CPU, inductor's C++ code for this step measured slower than eager (3.4 vs 2.1 ms
    a step at batch 512, torch 2.13), and the semantic machine's CPU step is already one compiled
    loop over rows (:mod:`molgen.masking.fused`, 0.17 ms a step at batch 512).
    (``mode="reduce-overhead"`` was tried: inductor skips CUDA graphs for a step that updates its
    inputs in place, as the machine does.)
    """
    global _compiled_step
    if _compiled_step is None:
        _compiled_step = torch.compile(_choose_and_advance, dynamic=True)
    return _compiled_step


def check_compilable(device: torch.device | str) -> None:
    """Raise ``ValueError`` unless compiled decoding may run on ``device`` (CUDA only, see :func:`compiled_step`)."""
    if torch.device(device).type != "cuda":
        raise ValueError(f"compiled decoding is for CUDA (on {device} the compiled step measured slower than eager)")


@torch.no_grad()
def decode(
    net, codec, z: torch.Tensor, greedy: bool = True, temperature: float = 1.0,
    generator: torch.Generator | None = None, compact: bool = True, check_every: int = 4, compiled: bool = False,
) -> DecodeResult:
    """Decode latent vectors ``z`` step by step under ``codec``'s constraints.

    ``net`` is a :class:`molgen.vae.model.SequenceVAE` (its decoder needs ``init_state``,
    ``step`` and the state's ``select``); the loop runs over time steps only (at most
    ``codec.max_len``) and stops once every row is finished (checked every ``check_every``
    steps). With ``compact``, rows that will only emit padding are then dropped from the batch,
    but never below ``MIN_ROWS`` rows: for fewer rows, CPU BLAS may switch to kernels that round
    differently, and a row's result must not depend on when the others finish. On CPU the result
    is the same with and without ``compact``; on a GPU, whose matrix-product kernels may change
    with the number of rows at any size, the two can differ by rounding. ``compiled`` (CUDA only)
    runs the machine's step under ``torch.compile`` (:func:`compiled_step`); its fused softmax may
    round differently from the eager one, so a sample could differ where two symbols' cumulative
    probabilities meet (512 of 512 rows were identical in the measurement).
    """
    if not greedy and temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    batch = z.shape[0]
    device = z.device
    if compiled:
        check_compilable(device)
    step = compiled_step() if compiled else _choose_and_advance
    machine = codec.machine(batch, device)
    out = torch.full((batch, codec.max_len), codec.pad, dtype=torch.long, device=device)
    complete = torch.zeros(batch, dtype=torch.bool, device=device)
    overflow = torch.zeros(batch, dtype=torch.bool, device=device)
    rows = torch.arange(batch, device=device)  # original index of each row still in the batch
    start, symbols = 0, []  # the symbols chosen since the batch last changed, one (len(rows),) tensor per step

    def flush() -> None:
        if symbols:
            out[rows, start : start + len(symbols)] = torch.stack(symbols, dim=1)
        complete[rows] = machine.finished
        overflow[rows] = machine.overflow

    state = net.decoder.init_state(z)
    prev = torch.full((batch,), net.decoder.start_id, dtype=torch.long, device=device)
    for t in range(codec.max_len):
        logits, state = net.decoder.step(prev, state)
        # uniforms for the whole batch, whichever rows are left, so a row's draws never change
        u = None if greedy else uniform(batch, generator, device)
        if u is not None and len(rows) < batch:
            u = u.index_select(0, rows)
        prev = step(machine, logits, u, temperature)
        symbols.append(prev)
        if (t + 1) % check_every:
            continue
        stopped = machine.stopped
        idx = (~stopped).nonzero().squeeze(1)  # rows still decoding
        if len(idx) == 0:
            break
        keep = max(len(idx), min(len(rows), MIN_ROWS))
        if compact and len(rows) - keep >= max(1, len(rows) // 16):
            flush()
            if len(idx) < keep:  # made up to MIN_ROWS with rows that only emit padding
                idx = torch.cat([idx, stopped.nonzero().squeeze(1)[: keep - len(idx)]])
            rows, prev, state = rows[idx], prev[idx], state.select(idx)
            machine.select(idx)
            start, symbols = t + 1, []
    flush()
    return DecodeResult(out, complete, ~complete & ~overflow, overflow)
