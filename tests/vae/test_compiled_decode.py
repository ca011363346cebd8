"""``decode(compiled=True)`` / ``molgen sample --compile``: the semantic machine's step traces into
one graph (no graph breaks, so torch.compile can fuse it), compiled decoding is refused on CPU
with a clear message, the model and the command pass the setting through, and on a GPU (where
present: the suite hides it unless CUDA_VISIBLE_DEVICES is set) compiled and eager decoding give the
same molecules."""

from __future__ import annotations

import pytest
import torch

from molgen.api import load_model
from molgen.cli import main
from molgen.masking.choice import uniform
from molgen.vae import api as vae_api
from molgen.vae.decoding import _choose_and_advance, decode


@pytest.fixture(scope="module")
def gvae():
    return load_model("gvae")


@pytest.mark.parametrize("semantic", [True, False])
def test_the_machine_step_traces_without_graph_breaks(gvae, semantic):
    """A graph break (an untraceable object, a data-dependent branch) would split the compiled
    step into pieces with eager code between them, and lose most of what compiling buys."""
    batch = 64
    machine = gvae.codec.machine(batch, "cpu", semantic=semantic, fused=False)  # the tensor machine CUDA compiles
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):  # a few steps in, so ring and stack state are not all at their start values
        logits = torch.randn((batch, gvae.codec.n_symbols), generator=gen)
        _choose_and_advance(machine, logits, uniform(batch, gen, "cpu"), 1.0)
    logits = torch.randn((batch, gvae.codec.n_symbols), generator=gen)
    explained = torch._dynamo.explain(_choose_and_advance)(machine, logits, uniform(batch, gen, "cpu"), 1.0)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_compiled_decoding_is_refused_on_cpu(gvae):
    with pytest.raises(ValueError, match="compiled decoding is for CUDA"):
        decode(gvae.net, gvae.codec, torch.zeros((2, gvae.latent_size)), compiled=True)


def test_the_model_passes_compiled_to_decode(gvae, monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["compiled"])
        return decode(*args, **{**kwargs, "compiled": False})

    monkeypatch.setattr(vae_api, "decode", spy)
    model = load_model("gvae")
    model.compiled = True
    assert len(model.sample(3, seed=0)) == 3
    assert seen == [True]


@pytest.mark.parametrize("extra, message", [
    (["--model", "gvae", "--device", "cpu"], "--compile: compiled decoding is for CUDA (on cpu the compiled step"),
    (["--model", "organ-mle", "--device", "cpu"], "--compile is for grammar VAE models (gvae); organ models"),
    (["--model", "gvae-cf", "--device", "cpu"], "--compile: compiling speeds up the semantic machine; this model decodes under context-free"),
    (["--model", "gvae", "--scheduler", "127.0.0.1:1", "--out", "x.csv"], "--compile applies to sampling in this process"),
])
def test_sample_compile_misuse_is_one_usage_line(extra, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "-n", "2", "--compile", "--no-progress", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="compiled decoding needs CUDA")
def test_compiled_and_eager_decoding_agree_on_cuda(gvae):
    net = gvae.net.to("cuda")
    try:
        z = torch.randn((512, gvae.latent_size), generator=torch.Generator().manual_seed(0)).cuda()
        runs = [decode(net, gvae.codec, z, greedy=False, compiled=compiled,
                       generator=torch.Generator(device="cuda").manual_seed(0)) for compiled in (False, True)]
    finally:
        gvae.net.to("cpu")
    eager, compiled = runs
    assert bool(compiled.complete.all()) and bool(eager.complete.all())
    assert float((compiled.ids == eager.ids).all(1).float().mean()) >= 0.99
