"""DDP step time of ``molgen train gvae`` under torchrun against one process, with the same global batch.

Each mode is a fresh process (or torchrun launch) that trains the Grammar VAE of ``--config`` on
the first ``--molecules`` molecules of the MOSES sample for ``--warmup`` + ``--steps`` steps of one
global batch of ``--batch`` rows, through the trainer's own step (:meth:`VAETrainer.train_batch`:
the rank's rows of each batch, DDP's gradient all-reduce, the global loss all-reduced), and reports
the median step time and the largest difference of the loss curve from the single-process run.
With ``--repeat R`` the modes run R times in turn (on a shared machine the load drifts) and each
mode's time is the median over all its timed steps.

- ``--device cpu`` (default): 1 process (1 thread), 1 process (2 threads), torchrun 1 process
  (DDP, world 1: the wrapper's cost alone), torchrun 2 processes (gloo, 1 thread each). This
  machine has 2 cores shared with other work: the figures show that DDP computes the same
  losses and what it costs, not a speed-up.
- ``--device cuda``: plain single-device training on cuda:0 against DDP on 1 GPU (torchrun
  1 process, NCCL), the same config; and torchrun with one process per GPU when there are several.

Usage: OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_ddp.py [--device cpu|cuda] [--steps 20] [--batch 128] [--repeat 1]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def read(n: int) -> list[str]:
    with gzip.open(ROOT / "data" / "moses" / "train.csv.gz", "rt") as fh:
        fh.readline()
        return [next(fh).strip().split(",")[0] for _ in range(n)]


def worker(args: argparse.Namespace) -> None:
    """One mode: train ``warmup + steps`` steps and write the step times and losses (rank 0)."""
    import torch

    from molgen.config import load_config
    from molgen.masking.codec import GrammarCodec
    from molgen.training.distributed import start
    from molgen.training.rng import set_seed
    from molgen.vae.config import VAEConfig
    from molgen.vae.trainer import VAETrainer, cache_dir, epoch_batches

    cfg = load_config(VAEConfig, args.config)
    cfg.train.batch_size, cfg.train.tensorboard = args.batch, False
    with start(args.device) as dist, tempfile.TemporaryDirectory(prefix="bench-ddp-") as out:
        smiles = read(args.molecules)
        codec = GrammarCodec.from_data(cfg.grammar, constraints=cfg.resolved_constraints())
        codec.max_len = cfg.train.max_len
        enc = codec.encode(smiles, cache_dir=cache_dir(), progress=False, margin=cfg.len_margin("gvae"))
        kept = [s for s, k in zip(smiles, enc.keep) if k]
        set_seed(cfg.seed)  # the same initial weights in every mode (as molgen train seeds them)
        trainer = VAETrainer(cfg, codec, enc.ids[enc.keep], kept, out, device=dist.device, progress=False, dist=dist)
        batches = epoch_batches(cfg.seed, 0, trainer.train_lengths, cfg.train.batch_size)
        cuda = dist.device.startswith("cuda")
        times, losses = [], []
        for k in range(args.warmup + args.steps):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            metrics = trainer.train_batch(batches, k % len(batches))
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            losses.append(metrics["loss"])
            trainer.step += 1
        if dist.is_main:
            Path(args.result).write_text(json.dumps({"times": times[args.warmup :], "losses": losses}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_mode(args: argparse.Namespace, procs: int, threads: int, ddp: bool, cache: str) -> dict:
    """Start one mode in fresh processes; its step times and losses."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result = fh.name
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MOLGEN_CACHE_DIR": cache,
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    me = [str(Path(__file__).resolve()), "--worker", "--result", result, "--device", args.device, "--config", args.config,
          "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch", str(args.batch),
          "--molecules", str(args.molecules)]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--master-addr", "127.0.0.1",
              "--master-port", str(_free_port())] if ddp else [sys.executable]
    subprocess.run(launch + me, env=env, check=True, stdout=subprocess.DEVNULL)
    data = json.loads(Path(result).read_text())
    os.unlink(result)
    return data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--config", default=str(ROOT / "configs" / "gvae-small.toml"))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--molecules", type=int, default=4000)
    p.add_argument("--repeat", type=int, default=1, help="run the modes this many times in turn")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    if args.device == "cpu":
        modes = [("1 process, 1 thread", 1, 1, False), ("1 process, 2 threads", 1, 2, False),
                 ("torchrun 1 process (DDP)", 1, 1, True), ("torchrun 2 processes (DDP, gloo)", 2, 1, True)]
    else:
        import torch

        modes = [("1 process on cuda:0", 1, 1, False), ("torchrun 1 process (DDP, NCCL)", 1, 1, True)]
        if torch.cuda.device_count() > 1:
            n = torch.cuda.device_count()
            modes.append((f"torchrun {n} processes (DDP, NCCL)", n, 1, True))
    print(f"GVAE {Path(args.config).name}, global batch {args.batch}, {args.steps} timed steps after {args.warmup}; "
          f"device {args.device}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")
    times: dict[str, list[float]] = {name: [] for name, *_ in modes}
    losses: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ddp-cache-") as cache:
        for _ in range(args.repeat):
            for name, procs, threads, ddp in modes:
                r = run_mode(args, procs, threads, ddp, cache)
                times[name] += r["times"]
                losses[name] = r["losses"]
    results = [(name, {"times": times[name], "losses": losses[name]}) for name, *_ in modes]
    base_time = statistics.median(results[0][1]["times"])
    base_losses = results[0][1]["losses"]
    print(f"{'mode':36s} {'ms/step':>9s} {'mol/s':>8s} {'vs first':>9s} {'max |loss - first|':>19s}")
    for name, r in results:
        t = statistics.median(r["times"])
        diff = max(abs(a - b) for a, b in zip(r["losses"], base_losses))
        print(f"{name:36s} {1000 * t:9.1f} {args.batch / t:8.0f} {t / base_time:8.2f}x {diff:19.2e}")
    print(f"(the same global batch in every mode: equal losses show DDP computes the single-process step; "
          f"the loss is ~{statistics.mean(base_losses):.0f} nats per molecule)")
    if args.device == "cpu":
        print("This machine has 2 cores, shared: 2 DDP processes against 1 show correctness and overhead, not speed-up.")


if __name__ == "__main__":
    main()
