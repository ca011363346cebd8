"""Prior sampling throughput: the vectorised stack machine vs per-molecule Python stack loops.

Same model, same run, batch 512 (default). Printed in one run:

1. end to end, molgen (``molgen.vae.decoding.decode``): z ~ N(0, I) decoded by the batched GRU
   step under the vectorised stack machine (stacks as a (B, depth) tensor, mask by gather,
   pushes by scatter, one uniform per row for sampling), finished rows dropped from the batch;
2. end to end, per molecule: each molecule decoded alone with a Python list stack (how the
   original code handles one molecule at a time) and the same ``Decoder.step``, extrapolated
   from ``--per-molecule`` samples;
3. masking only, as in the original Grammar VAE (its decoder is not autoregressive, so all
   logits exist before masking): the same precomputed (B, max_len, n_rules) logits pushed
   through the vectorised machine vs a per-molecule Python stack loop;
4. for a Kekulé-grammar model: the same weights decoded end to end under the semantic machine
   (rings, valence, length) and under the context-free mask alone, with the valid fraction of
   each (the semantic machine's cost, and what it buys), and the semantic decode one molecule per
   call (what vectorising the machine over the batch buys). The decodes alternate, and the
   cost is the median of back-to-back rounds' ratios (with their range): this machine's speed
   drifts by 10-20 % between runs, and runs back to back see the same machine.

The batched path is bound by the GRU's matrix products (about 0.5 MFLOP per molecule and step
for the shipped model), the per-molecule one by per-step overhead, so the ratio grows with the
cores the batched path can use. On a machine whose cores are busy with other work, OpenMP
threads spinning at barriers can dominate both figures: use ``--threads 1`` there (or set
OMP_WAIT_POLICY=PASSIVE). The load average is printed with the figures. The per-molecule loop
is timed at 1 thread as well as at ``--threads`` and the speed-up is taken against its faster
figure; each end-to-end figure is the median of ``--repeat`` runs after a full-size warm-up.

``--precision fp32|bf16|both`` first times batched prior sampling (z ~ N(0, I), decoded under the
model's own machine, as ``molgen sample --precision`` runs it) in that precision, ``both`` in the
same run with the ratio and the fraction of molecules that are the same in both; with
``--device cuda`` it runs on the GPU (synchronised before the clock is read), section 4 runs on
the GPU too (``device_constraints``: eager and, with ``--compile``, with the machine's step under
``torch.compile``; ``--profile`` lists the GPU kernels of one decode) and the CPU-only
comparisons 1-3 are skipped.

On CPU, section 4 times the semantic machine twice: with its step fused into one compiled loop
over rows (``molgen.masking.fused``, numba; the default on CPU) and as tensor operations (the GPU
path, and the CPU path before the fused step), alternating with the context-free decode.

``--semantic-batches 1024 2048 4096`` repeats section 4 at those batch sizes: the tensor
machine's cost is a fixed number of small tensor operations per step (Python dispatch, not
arithmetic), the GRU's grows with the batch, so that ratio falls as the batch grows.

Usage: python benchmarks/bench_vae_sampling.py [--model gvae] [--batch 512] [--threads 2] [--precision both] [--device cpu]
       [--semantic-batches 1024 2048 4096]
       python benchmarks/bench_vae_sampling.py --device cuda --compile [--profile] --semantic-batches 512 2048 8192 32768
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from molgen.precision import autocast
from molgen.vae.api import VAEModel, build_net
from molgen.vae.codec import GrammarCodec
from molgen.vae.config import VAEConfig
from molgen.vae.decoding import choose, decode


def python_stack_loop(grammar, logits: np.ndarray, gumbel: np.ndarray) -> list[list[int]]:
    """Masked decoding of precomputed logits (B, T, n_rules), one Python list stack per molecule."""
    mask = np.asarray(grammar.mask, dtype=bool)
    out = []
    for i in range(logits.shape[0]):
        stack, seq = [grammar.start], []
        for t in range(logits.shape[1]):
            if not stack:
                seq.append(grammar.pad_rule)
                continue
            top = stack.pop()
            r = int(np.argmax(np.where(mask[top], logits[i, t] + gumbel[i, t], -np.inf)))
            stack.extend(reversed(grammar.rhs_nonterminals[r]))
            seq.append(r)
        out.append(seq)
    return out


def vectorised_machine(codec, logits: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
    """The same decoding through molgen's GrammarMachine (whole batch per time step)."""
    machine = codec.machine(logits.shape[0], logits.device)
    out = torch.empty(logits.shape[:2], dtype=torch.long)
    for t in range(logits.shape[1]):
        r = choose(logits[:, t] + gumbel[:, t], machine.penalty())  # argmax of the allowed
        machine.advance(r)
        out[:, t] = r
        if bool(machine.stopped.all()):
            out[:, t + 1 :] = codec.pad
            break
    return out


def per_molecule_decode(model: VAEModel, z: torch.Tensor, rng: np.random.Generator) -> None:
    """End-to-end decoding of one molecule at a time with a Python list stack (on ``z``'s device)."""
    g, dec = model.codec.grammar, model.net.decoder
    mask = np.asarray(g.mask, dtype=bool)
    with torch.no_grad():
        for i in range(len(z)):
            stack = [g.start]
            state = dec.init_state(z[i : i + 1])
            prev = torch.tensor([dec.start_id], device=z.device)
            for _ in range(model.codec.max_len):
                if not stack:
                    break
                logits, state = dec.step(prev, state)
                top = stack.pop()
                row = np.where(mask[top], logits[0].cpu().numpy(), -np.inf)
                r = int(np.argmax(row - np.log(-np.log(rng.random(row.shape[0])))))
                stack.extend(reversed(g.rhs_nonterminals[r]))
                prev = torch.tensor([r], device=z.device)


def clock_for(device: torch.device):
    """A wall clock that first waits for ``device``'s queued work (a GPU runs asynchronously)."""
    def clock() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()
    return clock


def compare_precisions(model: VAEModel, args) -> None:
    """Batched prior sampling in fp32 and/or bf16 on ``--device``: mol/s (median of ``--repeat``) and agreement."""
    device = torch.device(args.device)
    clock = clock_for(device)
    z = torch.randn((args.batch, model.latent_size), generator=torch.Generator().manual_seed(args.seed)).to(device)
    net = model.net.to(device)
    chosen = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    rates, ids = {}, {}
    for precision in chosen:
        def run():
            with autocast(device, precision):
                return decode(net, model.codec, z, greedy=False, generator=torch.Generator(device=device).manual_seed(args.seed))
        run()  # warm-up: kernels for every batch size the shrinking batch takes
        times, cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = clock(), time.process_time()
            res = run()
            times.append(clock() - t0)
            cpu.append(time.process_time() - c0)
        t, c = float(np.median(times)), float(np.median(cpu))
        rates[precision], ids[precision] = (args.batch / t, args.batch / c), res.ids.cpu()
        print(f"  {precision}: {args.batch / t:8.1f} mol/s ({t:.3f} s for {args.batch}, median of {args.repeat}; "
              f"{args.batch / c:.1f} mol per CPU second); {res.complete.float().mean():.1%} complete")
    if len(chosen) == 2:
        same = float((ids["fp32"] == ids["bf16"]).all(dim=1).float().mean())
        print(f"  -> bf16 {rates['bf16'][0] / rates['fp32'][0]:.2f}x the mol/s of fp32, "
              f"{rates['bf16'][1] / rates['fp32'][1]:.2f}x per CPU second (same run, batch {args.batch}); "
              f"{same:.1%} of the molecules identical in both")
    model.net.to("cpu")


class TensorMachineCodec:
    """A semantic codec whose machine runs its step as tensor operations (as on a GPU) instead of
    the fused CPU loop of ``molgen.masking.fused``: what the fused step buys, in the same run."""

    def __init__(self, codec: GrammarCodec) -> None:
        self.codec = codec

    def __getattr__(self, name):
        return getattr(self.codec, name)

    def machine(self, batch_size, device, semantic=None):
        return self.codec.machine(batch_size, device, semantic=semantic, fused=False)


def constraint_codecs(model, tensor_machine: bool = False) -> dict[str, GrammarCodec]:
    """The model's grammar under semantic and under context-free constraints (same weights, same
    max_len); with ``tensor_machine`` also the semantic machine without its fused CPU step."""
    codecs = {c: GrammarCodec(model.codec.grammar, model.codec.max_len, constraints=c) for c in ("semantic", "grammar")}
    if tensor_machine:
        codecs["semantic, tensor ops"] = TensorMachineCodec(codecs["semantic"])
    return codecs


def alternate(codecs: dict, run, repeat: int, clock=time.perf_counter) -> tuple[dict[str, list[float]], dict, float]:
    """``run(codec)`` once per codec (warm-up), then alternately (semantic, context-free, semantic, ...)
    for ``repeat`` pairs: on a shared machine whose speed drifts by 10-20 % from one run to the next,
    a pair run back to back sees the same machine, where two blocks of runs may not. Returns each
    codec's times, its last result, and the warm-up's time."""
    t0 = clock()
    for codec in codecs.values():
        run(codec)
    warm = clock() - t0
    times: dict[str, list[float]] = {c: [] for c in codecs}
    results = {}
    for _ in range(repeat):
        for c, codec in codecs.items():
            t0 = clock()
            results[c] = run(codec)
            times[c].append(clock() - t0)
    return times, results, warm


def pair_ratio(times: dict[str, list[float]], of: str = "semantic", to: str = "grammar") -> tuple[float, np.ndarray]:
    """The ``of`` / ``to`` (default semantic / context-free) ratio of each back-to-back pair, and their median."""
    pairs = np.array(times[of]) / np.array(times[to])
    return float(np.median(pairs)), pairs


def device_constraints(model, args) -> None:
    """``--device cuda``: section 4 on the GPU. At each of ``--semantic-batches`` (default
    ``--batch``), the semantic and the context-free decode alternate for ``--repeat`` pairs, eager
    and, with ``--compile``, with the machine's step compiled (``decode(compiled=True)``, the
    same for both); the cost is the median of the pairs' ratios. The per-molecule loop (context-free,
    Python stack, batch 1) is timed on the GPU and on this machine's CPU at one thread, and each
    speed-up is taken against its faster figure. ``--save-ids DIR`` writes the decoded rule ids of
    the first batch size (``ids.npz``) so that their validity can be checked with RDKit elsewhere."""
    device = torch.device(args.device)
    clock = clock_for(device)
    net = model.net.to(device)
    twin = VAEModel(net, GrammarCodec(model.codec.grammar, model.codec.max_len), model.model_config, {})
    k = min(args.per_molecule, 16)
    t_mol = {}
    for where in dict.fromkeys([args.device, "cpu"]):
        twin.net.to(where)
        torch.set_num_threads(1)
        zk = torch.randn((k, model.latent_size), generator=torch.Generator().manual_seed(args.seed)).to(where)
        per_molecule_decode(twin, zk[:2], np.random.default_rng(args.seed + 1))  # warm-up
        t0 = clock()
        per_molecule_decode(twin, zk, np.random.default_rng(args.seed))
        t_mol[where] = (clock() - t0) / k
        print(f"  per-molecule context-free loop on {where}: {1 / t_mol[where]:8.1f} mol/s (from {k})")
    torch.set_num_threads(args.threads)
    net.to(device)
    best = min(t_mol.values())
    codecs = constraint_codecs(model)
    modes = [False, True] if args.compile else [False]
    saved = {}
    summary = []
    for batch in args.semantic_batches or [args.batch]:
        z = torch.randn((batch, model.latent_size), generator=torch.Generator().manual_seed(args.seed)).to(device)
        for compiled in modes:
            label = "compiled" if compiled else "eager"

            def run(codec):
                return decode(net, codec, z, greedy=False, compiled=compiled,
                              generator=torch.Generator(device=device).manual_seed(args.seed))
            try:  # the warm-up compiles, when compiled
                times, results, warm = alternate(codecs, run, args.repeat, clock)
            except Exception as exc:  # noqa: BLE001 - report and go on with the other settings
                print(f"  {label}, batch {batch}: failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
                continue
            if batch == (args.semantic_batches or [args.batch])[0]:
                for c, res in results.items():
                    saved[f"{c}_{label}_ids"] = res.ids.cpu().numpy()
                    saved[f"{c}_{label}_complete"] = res.complete.cpu().numpy()
            t_sem, t_cf = float(np.median(times["semantic"])), float(np.median(times["grammar"]))
            ratio, pairs = pair_ratio(times)
            print(f"  {label:>8}, batch {batch:6d}: semantic {batch / t_sem:9.1f} mol/s, context-free {batch / t_cf:9.1f} "
                  f"mol/s (medians of {args.repeat}; first runs {warm:.1f} s) -> semantic costs {ratio:.2f}x "
                  f"({pairs.min():.2f}-{pairs.max():.2f}x); {best * batch / t_sem:.0f}x the per-molecule loop")
            summary.append((batch, label, ratio, best * batch / t_sem))
    print("  summary (batch, mode, semantic / context-free, semantic / per-molecule loop): "
          + "; ".join(f"{b} {m} {r:.2f}x {s:.0f}x" for b, m, r, s in summary))
    if args.profile:
        profile_step(net, codecs, args, device)
    if args.save_ids and saved:
        os.makedirs(args.save_ids, exist_ok=True)
        np.savez_compressed(os.path.join(args.save_ids, "ids.npz"), **saved)
    model.net.to("cpu")


def profile_step(net, codecs, args, device) -> None:
    """The GPU kernels of one decode per constraints and mode at the first batch size (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    batch = (args.semantic_batches or [args.batch])[0]
    z = torch.randn((batch, net.decoder.h0.in_features), generator=torch.Generator().manual_seed(args.seed)).to(device)
    for compiled in [False, True] if args.compile else [False]:
        for c, codec in codecs.items():
            try:
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    res = decode(net, codec, z, greedy=False, compiled=compiled,
                                 generator=torch.Generator(device=device).manual_seed(args.seed))
                    torch.cuda.synchronize(device)
            except Exception as exc:  # noqa: BLE001
                print(f"  profile {c}, compiled {compiled}: failed ({type(exc).__name__})")
                continue
            steps = int((res.ids != codec.pad).sum(1).max())
            events = [e for e in prof.key_averages() if e.device_type.name == "CUDA" and e.self_device_time_total > 0]
            n = sum(e.count for e in events)
            total = sum(e.self_device_time_total for e in events)
            print(f"  profile {c}, {'compiled' if compiled else 'eager'}, batch {batch}: {n} GPU kernels ({n / steps:.0f} a step over "
                  f"{steps} steps), {total / 1e3:.1f} ms of GPU time")
            for e in sorted(events, key=lambda e: -e.self_device_time_total)[:6]:
                print(f"    {e.self_device_time_total / 1e3:7.2f} ms  x{e.count:5d}  {e.key[:90]}")


def load(name: str) -> tuple[VAEModel, str]:
    try:
        from molgen.api import load_model

        return load_model(name), f"trained model {name!r}"
    except Exception as exc:  # noqa: BLE001 - no checkpoint: an untrained default-size model
        from grammar import load_grammar

        cfg = VAEConfig()
        codec = GrammarCodec(load_grammar(cfg.grammar), max_len=180)
        return VAEModel(build_net(cfg.model, codec), codec, cfg.model, {}), f"untrained default-config model ({type(exc).__name__})"


def compare_constraints(model, z: torch.Tensor, args, t_mol: float) -> tuple[float, float]:
    """Section 4: the model's weights decoded under semantic and under context-free constraints, at
    the batch size of ``z``; ``t_mol`` is the per-molecule loop's time for that many molecules.

    The decodes alternate for ``--repeat`` rounds (:func:`alternate`), and the cost is the median
    of the rounds' ratios. The semantic machine runs its fused CPU step (``molgen.masking.fused``, the
    default on CPU) and, for comparison, its tensor operations (the GPU path, and this machine's path
    before the fused step). Returns the fused semantic / context-free ratio and the fused semantic
    decode's median time."""
    from molgen.chem.mol import to_mol

    batch = len(z)
    codecs = constraint_codecs(model, tensor_machine=True)
    times, results, _ = alternate(codecs, lambda codec: decode(
        model.net, codec, z, greedy=False, generator=torch.Generator().manual_seed(args.seed)), args.repeat)
    for constraints, codec in codecs.items():
        res = results[constraints]
        twin = VAEModel(model.net, codec, model.model_config, {})
        ids = res.ids.cpu().numpy()
        smiles = [twin.codec.to_smiles(row) if ok else "" for row, ok in zip(ids, res.complete.cpu().numpy())]
        valid = np.mean([bool(s) and to_mol(s) is not None for s in smiles])
        t = float(np.median(times[constraints]))
        print(f"  {constraints:>20} constraints, batch {batch}: {batch / t:8.1f} mol/s ({t:.2f} s, median of "
              f"{args.repeat}); valid {valid:.1%}, complete {res.complete.float().mean():.1%}")
    same = bool((results["semantic"].ids == results["semantic, tensor ops"].ids).all())
    ratio, pairs = pair_ratio(times)
    tensor_ratio, tensor_pairs = pair_ratio(times, of="semantic, tensor ops")
    gain, gains = pair_ratio(times, of="semantic, tensor ops", to="semantic")
    t_sem = float(np.median(times["semantic"]))
    print(f"  -> the semantic machine costs {ratio:.2f}x the context-free decode end to end (median of {args.repeat} "
          f"back-to-back rounds; {pairs.min():.2f}-{pairs.max():.2f}x); with its step as tensor operations "
          f"{tensor_ratio:.2f}x ({tensor_pairs.min():.2f}-{tensor_pairs.max():.2f}x): the fused step makes semantic "
          f"decoding {gain:.2f}x faster ({gains.min():.2f}-{gains.max():.2f}x), same molecules: {same}")
    print(f"  -> semantic decoding is {t_mol / t_sem:.1f}x the per-molecule context-free loop above")
    return ratio, t_sem


def semantic_one_at_a_time(model, z: torch.Tensor, args, t_batched: float) -> None:
    """The same semantic decode with one molecule per call (batch 1, as a per-molecule decoder runs
    it): what vectorising the machine over the batch buys; ``t_batched`` is the batched decode's
    time for ``--batch`` molecules. At batch 1 a step's cost is the GRU's and the machine's fixed
    per-call overheads, which the batch shares out."""
    codec = GrammarCodec(model.codec.grammar, model.codec.max_len, constraints="semantic")
    k = min(args.per_molecule, 16)
    decode(model.net, codec, z[:1], greedy=False, generator=torch.Generator().manual_seed(0))  # warm-up
    t0 = time.perf_counter()
    for i in range(k):
        decode(model.net, codec, z[i : i + 1], greedy=False, generator=torch.Generator().manual_seed(args.seed + i))
    t1 = (time.perf_counter() - t0) / k
    print(f"  semantic machine, one molecule per decode: {1 / t1:8.1f} mol/s (from {k}) -> batch {args.batch} "
          f"is {t1 * args.batch / t_batched:.0f}x faster")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gvae", help="gvae checkpoint or shipped name (default gvae)")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--per-molecule", type=int, default=32, help="molecules timed for the per-molecule decode")
    p.add_argument("--repeat", type=int, default=5, help="timed runs of each end-to-end path (the median is printed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--semantic-batches", type=int, nargs="*", default=[],
                   help="also compare semantic and context-free decoding at these batch sizes (the machine's cost "
                        "is per step, the GRU's per molecule, so the ratio falls as the batch grows)")
    p.add_argument("--precision", choices=("fp32", "bf16", "both"), default=None,
                   help="time prior sampling in this precision first (both: fp32 and bf16, with the ratio)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: the precision comparison and the semantic vs context-free decodes on the GPU")
    p.add_argument("--compile", action="store_true",
                   help="with --device cuda, also time both decodes with the machine's step compiled")
    p.add_argument("--profile", action="store_true", help="with --device cuda, list the GPU kernels of one decode")
    p.add_argument("--save-ids", default=None, help="with --device cuda, write the first batch size's rule ids here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, what = load(args.model)
    if args.precision is not None or args.device == "cuda":
        args.precision = args.precision or "both"
        print(f"model: {what}; prior sampling on {args.device}, batch {args.batch}, torch threads {torch.get_num_threads()}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        compare_precisions(model, args)
        if args.device == "cuda":
            if getattr(model.codec, "semantic_tables", None) is not None:
                print("semantic vs context-free constraints, same weights, on the GPU:")
                device_constraints(model, args)
            return
    semantic = getattr(model.codec, "constraints", "grammar") == "semantic"
    # sections 1-3 compare like with like (the per-molecule loops are context-free): a semantic
    # model is run there under its grammar's context-free mask; section 4 measures the semantic cost
    codec = GrammarCodec(model.codec.grammar, model.codec.max_len) if semantic else model.codec
    print(f"model: {what}; batch {args.batch}; torch threads {torch.get_num_threads()}; max_len {codec.max_len}; "
          f"{codec.n_symbols} rules; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    z = torch.randn((args.batch, model.latent_size), generator=torch.Generator().manual_seed(args.seed))

    # warm-up at full size, other latents: oneDNN builds a kernel for each new number of rows (the
    # batch shrinks as rows finish), once per process; a library sampling in batches pays it once
    z_warm = torch.randn(z.shape, generator=torch.Generator().manual_seed(args.seed + 1))
    decode(model.net, codec, z_warm, greedy=False, generator=torch.Generator().manual_seed(0))
    k = min(args.per_molecule, args.batch)
    model = VAEModel(model.net, codec, model.model_config, {}) if semantic else model
    per_molecule_decode(model, z_warm[:4], np.random.default_rng(args.seed + 1))

    def timed(fn):
        """Median wall time of ``--repeat`` runs of ``fn``, and what its last run returned."""
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times)), out

    t_vec, res = timed(lambda: decode(model.net, codec, z, greedy=False, generator=torch.Generator().manual_seed(args.seed)))
    # the per-molecule loop gains nothing from threads (one-row products) and loses to OpenMP
    # barriers with more than one, so it is timed at 1 thread too and compared at its fastest
    t_mols = {}
    for threads in sorted({1, args.threads}):
        torch.set_num_threads(threads)
        t_mols[threads] = timed(lambda: per_molecule_decode(model, z[:k], np.random.default_rng(args.seed)))[0] * args.batch / k
    torch.set_num_threads(args.threads)
    best = min(t_mols, key=t_mols.get)
    t_mol = t_mols[best]
    print("end to end (GRU decoder + masking):")
    print(f"  vectorised stack machine, batch {args.batch}: {args.batch / t_vec:8.1f} mol/s ({t_vec:.2f} s, median of {args.repeat}; "
          f"{res.complete.float().mean():.1%} complete, {res.out_of_length.float().mean():.1%} out of length)")
    for threads, t in t_mols.items():
        print(f"  per-molecule Python stack loop, {threads} thread{'s' * (threads > 1)}: {args.batch / t:8.1f} mol/s "
              f"({t:.2f} s, from {k}, median of {args.repeat})")
    print(f"  -> speed-up {t_mol / t_vec:.1f}x (vectorised at {args.threads} thread{'s' * (args.threads > 1)} "
          f"vs the per-molecule loop at its fastest, {best} thread{'s' * (best > 1)})")

    if getattr(codec, "semantic_tables", None) is not None:
        print("semantic vs context-free constraints, same weights:")
        ratio, t_sem = compare_constraints(model, z, args, t_mol)
        semantic_one_at_a_time(model, z, args, t_sem)
        ratios = {args.batch: ratio}
        for batch in args.semantic_batches:
            if batch == args.batch:
                continue
            zb = torch.randn((batch, model.latent_size), generator=torch.Generator().manual_seed(args.seed))
            ratios[batch] = compare_constraints(model, zb, args, t_mol * batch / args.batch)[0]
        if len(ratios) > 1:
            print("  semantic / context-free by batch size: "
                  + ", ".join(f"{b}: {r:.2f}x" for b, r in sorted(ratios.items())))

    gen = torch.Generator().manual_seed(args.seed)
    logits = 3.0 * torch.randn((args.batch, codec.max_len, codec.n_symbols), generator=gen)
    u = torch.rand(logits.shape, generator=gen).clamp_(1e-10, 1 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    t0 = time.perf_counter()
    ids_vec = vectorised_machine(codec, logits, gumbel)
    t_mv = time.perf_counter() - t0
    t0 = time.perf_counter()
    ids_py = python_stack_loop(codec.grammar, logits.numpy(), gumbel.numpy())
    t_mp = time.perf_counter() - t0
    same = bool((ids_vec == torch.tensor(ids_py)).all())
    print("masking only (precomputed logits, as in the original non-autoregressive decoder):")
    print(f"  vectorised stack machine:       {args.batch / t_mv:9.1f} mol/s ({t_mv:.2f} s)")
    print(f"  per-molecule Python stack loop: {args.batch / t_mp:9.1f} mol/s ({t_mp:.2f} s)"
          f"  -> speed-up {t_mp / t_mv:.1f}x; identical rule sequences: {same}")


if __name__ == "__main__":
    main()
