"""molgen.precision: what ``auto`` resolves to (bf16 only where the hardware runs it), the autocast
context, and that masked draws stay exact when the logits come out of bf16 products."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from molgen import precision
from molgen.errors import UsageError
from molgen.masking.choice import choose, uniform


def test_explicit_precisions_are_kept_and_unknown_ones_refused():
    assert precision.resolve_precision("fp32", "cpu") == "fp32"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(UsageError, match="unknown precision 'fp16'"):
        precision.resolve_precision("fp16", "cpu")


@pytest.mark.parametrize("supported, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_follows_the_cpu_capability_probe(monkeypatch, supported, expected):
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: supported)
    assert precision.bf16_supported("cpu") is supported
    assert precision.resolve_precision("auto", "cpu") == expected
    with precision.autocast("cpu", "auto"):
        out = torch.nn.functional.linear(torch.randn(4, 8), torch.randn(3, 8))
    assert out.dtype == (torch.bfloat16 if supported else torch.float32)


def test_auto_on_a_cuda_device_without_cuda_is_fp32():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert precision.bf16_supported("cuda") is False
    assert precision.resolve_precision("auto", "cuda") == "fp32"


def test_cpu_probe_falls_back_to_the_cpuinfo_flags(monkeypatch):
    """Without torch's own probes the answer is whether /proc/cpuinfo lists amx_bf16 or avx512_bf16."""
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if cpuinfo.exists() else []
    expected = "amx_bf16" in flags or "avx512_bf16" in flags
    assert precision.cpu_bf16_supported.__wrapped__() is expected


def test_fp32_autocast_changes_nothing():
    x, w = torch.randn(4, 8), torch.randn(3, 8)
    with precision.autocast("cpu", "fp32"):
        out = torch.nn.functional.linear(x, w)
    assert out.dtype == torch.float32 and torch.equal(out, torch.nn.functional.linear(x, w))


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_draws_from_bf16_logits_are_the_fp32_draws_of_the_same_values_and_never_masked(temperature):
    """choose casts bf16 logits to fp32 before the -inf mask and the cumulative sum: the pick is
    that of the same values in fp32, and a forbidden symbol is never drawn even at large logits."""
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(512, 40, generator=gen) * 30).to(torch.bfloat16)
    allowed = torch.rand(512, 40, generator=gen) < 0.3
    allowed[:, 0] = True
    penalty = torch.zeros(512, 40).masked_fill_(~allowed, float("-inf"))
    u = uniform(512, gen, "cpu")
    got = choose(logits.clone(), penalty, u, temperature)
    assert torch.equal(got, choose(logits.float(), penalty, u, temperature))
    assert bool(allowed.gather(1, got.unsqueeze(1)).all())
    assert bool(allowed.gather(1, choose(logits.clone(), penalty).unsqueeze(1)).all())  # argmax too
