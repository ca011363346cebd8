"""Training on several processes (``torchrun``): the one place a trainer meets ``torch.distributed``.

``molgen train`` started by ``torchrun --nproc-per-node N`` (or ``python -m torch.distributed.run``)
finds ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in its environment; :func:`start` joins the process
group (gloo on CPU, NCCL on CUDA, each rank on ``cuda:LOCAL_RANK``) and hands the trainer a
:class:`DistContext`. Without those variables the context is the single process it always was:
no sharding, no wrapper, and every collective below returns its input or does nothing, so a
trainer has one code path.

How a step stays equal to the single-process step with the same global batch:

- the config's batch size is the *global* batch; every rank computes the same global order (a
  function of the seed) and takes rows ``rank::world`` of each batch (:meth:`DistContext.shard`);
- random draws that depend on the batch (the VAE's reparameterisation noise, word dropout) are
  drawn for the whole global batch on every rank and sliced (:meth:`Shard.draw`), so each row gets
  the noise it gets in one process and every rank's generator advances alike;
- each rank scales its loss by its share of the global batch's weight (molecules or tokens) times
  the world size, so DDP's gradient *average* is the gradient of the global batch's mean loss;
- what is logged is the all-reduced global value; decisions (stop on Ctrl-C/SIGTERM, validation
  results) are agreed or broadcast, so every rank takes the same branch.

Dropout inside a network (``dropout`` between stacked GRU/LSTM layers, off by default) draws its
masks per rank from the same seeded stream, so with it N processes agree with one process in
distribution, not to float rounding.

Rank 0 writes the config, the log, the checkpoints and the progress bar; the other ranks write
nothing. Before each checkpoint the ranks check that they hold the same weights
(:meth:`DistContext.check_same`), so a checkpoint always stands for every rank.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from molgen.errors import UsageError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: the environment torchrun gives every rank
ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
BACKENDS = ("auto", "gloo", "nccl")
#: how long a rank waits for the others in one collective (rank 0 validates while the others wait)
TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Shard:
    """The rows of a global batch of ``size`` rows (longest sequence ``width``) this rank holds:
    positions ``rows`` of the batch, whose loss counts with ``weight`` (its share of the global
    batch's molecules or tokens times the world size; 0 for a stand-in row when the batch has
    fewer rows than there are ranks)."""

    rows: np.ndarray
    size: int
    width: int
    weight: float = 1.0

    def draw(self, sample: Callable[..., "torch.Tensor"], shape: Sequence[int], *, steps: bool = False,
             **kwargs: Any) -> "torch.Tensor":
        """``sample(shape, **kwargs)`` for this rank's rows: drawn for the global batch, then sliced.

        ``shape`` is the local ``(rows, n)``; with ``steps`` its second axis runs over sequence
        positions (the global draw has ``width`` of them, this shard uses the first ``n``)."""
        import torch

        full = sample((self.size, self.width if steps else shape[1]), **kwargs)
        return full[torch.from_numpy(self.rows).to(full.device)][:, : shape[1]]


def _method_module(net: "torch.nn.Module", method: str) -> "torch.nn.Module":
    """A module whose ``forward`` is ``net.<method>``: DDP only synchronises gradients of what runs
    through its own ``forward``, and the trainers' losses are methods (``loss``, ``nll``)."""
    import torch

    class Method(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(self.net, method)(*args, **kwargs)

    return Method()


@dataclass
class DistContext:
    """Where this process stands in a training: its rank among ``world`` processes and its device.

    ``launched`` is False for a plain ``molgen train`` (one process, nothing to synchronise)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"
    backend: str | None = None
    launched: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes config, log, checkpoints and progress."""
        return self.rank == 0

    # ------------------------------------------------------------- batches
    def shard(self, rows: np.ndarray) -> np.ndarray:
        """This rank's rows of a global batch: ``rows[rank::world]``."""
        return rows[self.rank :: self.world]

    def batch_shard(self, weights: np.ndarray, width: int) -> Shard | None:
        """How this rank's rows of a global batch count: ``weights`` holds each row's weight in the
        loss (1 per molecule, or its number of tokens). None in a single process (nothing to scale)."""
        if not self.launched:
            return None
        positions = np.arange(len(weights))
        mine = self.shard(positions)
        total = float(np.sum(weights))
        if len(mine) == 0:  # fewer rows than ranks: a stand-in row that counts for nothing keeps DDP in step
            return Shard(positions[:1], len(weights), width, 0.0)
        return Shard(mine, len(weights), width, float(np.sum(weights[mine])) / total * self.world)

    def wrap(self, net: "torch.nn.Module", method: str = "forward") -> Callable[..., Any]:
        """``net.<method>`` as the training step calls it: through DistributedDataParallel when launched
        (gradients averaged over the ranks in backward; rank 0's weights broadcast at the start)."""
        if not self.launched:
            return getattr(net, method)
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if self.device.startswith("cuda") else None
        return DistributedDataParallel(_method_module(net, method), device_ids=ids)

    # --------------------------------------------------------- collectives
    def all_reduce_sum(self, values: Sequence[float]) -> list[float]:
        """The sum over the ranks of each value (the values themselves in one process)."""
        if not self.launched:
            return [float(v) for v in values]
        import torch
        import torch.distributed as dist

        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (a stop request seen by one rank stops all)."""
        return self.all_reduce_sum([1.0 if flag else 0.0])[0] > 0

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (plain Python data)."""
        if not self.launched:
            return obj
        import torch.distributed as dist

        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=self._object_device())
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank reaches this point."""
        if self.launched:
            import torch.distributed as dist

            dist.barrier(device_ids=[self.local_rank] if self.backend == "nccl" else None)

    def check_same(self, net: "torch.nn.Module", where: str) -> None:
        """Fail loudly unless every rank holds rank 0's weights exactly (DDP keeps them identical:
        the same averaged gradients meet the same optimizer). Costs one broadcast of the weights."""
        if not self.launched:
            return
        import torch
        import torch.distributed as dist

        with torch.no_grad():
            mine = torch.cat([p.detach().reshape(-1).float() for p in net.state_dict().values()
                              if torch.is_floating_point(p)])
            ref = mine.clone()
            dist.broadcast(ref, src=0)
            diff = torch.tensor([float((mine - ref).abs().max()) if len(mine) else 0.0],
                                dtype=torch.float64, device=mine.device)
            dist.all_reduce(diff, op=dist.ReduceOp.MAX)
        if float(diff) > 0:
            from molgen.errors import MolgenError

            raise MolgenError(f"{where}: the {self.world} ranks hold different weights (largest difference "
                              f"{float(diff):.3g}); the ranks ran different steps: no checkpoint written")

    def alone(self) -> "DistContext":
        """Rank 0 going on without the others (ORGAN's adversarial stage): a single-process context."""
        return DistContext(device=self.device)

    def _object_device(self) -> str:
        return self.device if self.backend == "nccl" else "cpu"


def _launched(environ: dict[str, str]) -> bool:
    return all(k in environ for k in ENV)


def _int_env(environ: dict[str, str], key: str) -> int:
    try:
        value = int(environ[key])
    except ValueError:
        raise UsageError(f"environment variable {key}={environ[key]!r} is not an integer "
                         "(molgen train reads it as torchrun sets it)") from None
    return value


def context_from_env(device: str = "auto", backend: str = "auto",
                     environ: dict[str, str] | None = None) -> DistContext:
    """What this process is in a training (no process group joined yet): one process, or a rank of
    a torchrun launch. A device/backend pair that cannot work is a :class:`UsageError`."""
    import torch

    from molgen.runtime import pick_device

    env = dict(os.environ) if environ is None else environ
    if backend not in BACKENDS:
        raise UsageError(f"--dist-backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if not _launched(env):
        if backend != "auto":
            raise UsageError(f"--dist-backend {backend} needs a torchrun launch (RANK, WORLD_SIZE and LOCAL_RANK "
                             "are not set); run: torchrun --nproc-per-node N -m molgen.cli train ...")
        return DistContext(device=pick_device(device))
    rank, world, local = (_int_env(env, k) for k in ENV)
    if not 0 <= rank < world or local < 0:
        raise UsageError(f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}: not a valid torchrun rank")
    if device.startswith("cuda:"):
        raise UsageError(f"--device {device}: under torchrun each rank uses cuda:LOCAL_RANK; pass --device cuda")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda under torchrun, but CUDA is not available on this machine; use --device cpu")
        if local >= torch.cuda.device_count():
            raise UsageError(f"LOCAL_RANK {local} needs GPU {local}, but this node has {torch.cuda.device_count()}; "
                             "start at most that many processes per node (--nproc-per-node)")
        device = f"cuda:{local}"
    else:
        device = pick_device(device)
    if backend == "auto":
        backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl" and not device.startswith("cuda"):
        raise UsageError(f"--dist-backend nccl needs CUDA devices, but this run trains on {device}; "
                         "use --dist-backend gloo (or auto) on CPU, or --device cuda")
    import torch.distributed as dist

    available = {"gloo": dist.is_gloo_available(), "nccl": dist.is_nccl_available()}
    if not available[backend]:
        raise UsageError(f"--dist-backend {backend}: this torch build has no {backend} support")
    return DistContext(rank, world, local, device, backend, launched=True)


@contextlib.contextmanager
def start(device: str = "auto", backend: str = "auto") -> Iterator[DistContext]:
    """The training's :class:`DistContext`, with the process group joined for its duration (and
    left, whatever happens). Ranks other than 0 log errors only (they do what rank 0 does and says)."""
    ctx = context_from_env(device, backend)
    if not ctx.launched:
        yield ctx
        return
    import torch
    import torch.distributed as dist

    if ctx.device.startswith("cuda"):
        torch.cuda.set_device(ctx.device)
    try:
        dist.init_process_group(ctx.backend, rank=ctx.rank, world_size=ctx.world, timeout=TIMEOUT)
    except (ValueError, RuntimeError) as exc:  # env:// rendezvous: a variable missing, the store unreachable
        from molgen.errors import MolgenError

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MolgenError(f"rank {ctx.rank} of {ctx.world} could not join the other ranks ({first}); "
                          "start molgen train with torchrun") from None
    quiet = logging.getLogger("molgen")
    level = quiet.level
    if not ctx.is_main:
        quiet.setLevel(logging.ERROR)
    log.info("rank %d of %d on %s (%s)", ctx.rank, ctx.world, ctx.device, ctx.backend)
    try:
        yield ctx
        # every rank done before any tears down: a rank leaving first (the others still saving)
        # closed its gloo connections under them, and a peer could abort at exit (SIGABRT)
        ctx.barrier()
    finally:
        quiet.setLevel(level)
        dist.destroy_process_group()
