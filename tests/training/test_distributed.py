"""``molgen train`` under torchrun, as a real deployment: ``torchrun --nproc-per-node 2`` (gloo, CPU,
127.0.0.1, a free port) against the single-process run with the same global batch.

- the shard arithmetic (fast, no processes): each rank's rows and loss weight, the global noise draw;
- a Grammar VAE (semantic masks) killed by SIGTERM to torchrun's process group, resumed in one
  process: its loss curve up to the kill and its final weights equal the uninterrupted
  single-process run's;
- a single-process run stopped and resumed under torchrun: the same;
- ORGAN over rules: the MLE loss curve of 2 ranks equals one process's; the later stages run on
  rank 0 and the run ends with the single-process run's weights;
- the ranks' weight check fails loudly when the ranks diverge;
- a device/backend pair that cannot work is one line and exit 2.

Every process a test starts is ended by the test (torchrun starts its ranks in sessions of their own,
so they are found as torchrun's children and ended by pid).
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from molgen.checkpoint import load_checkpoint
from molgen.cli import main
from molgen.training.distributed import DistContext, context_from_env

ROOT = Path(__file__).resolve().parents[2]
#: log columns compared between runs (continuous values: float rounding differs with the batch split)
CURVE = ("loss", "recon", "kl", "val_loss", "val_recon", "val_kl", "mle_loss", "val_nll")


# ----------------------------------------------------------------------------- shard arithmetic
def test_each_rank_takes_rows_rank_of_world_and_the_weights_make_the_global_mean():
    tokens = np.array([5.0, 7.0, 2.0, 9.0, 4.0])
    shards = [DistContext(rank=r, world=2, launched=True).batch_shard(tokens, 9) for r in range(2)]
    assert [s.rows.tolist() for s in shards] == [[0, 2, 4], [1, 3]]
    # each rank's loss is a mean over its tokens; DDP averages the ranks' gradients, so
    # (w0 * mean0 + w1 * mean1) / 2 must be the global batch's mean over all its tokens
    nll = np.array([3.0, 1.5, 8.0, 2.0, 4.5])  # each row's summed loss
    means = [nll[s.rows].sum() / tokens[s.rows].sum() for s in shards]
    assert sum(s.weight * m for s, m in zip(shards, means)) / 2 == pytest.approx(nll.sum() / tokens.sum())
    assert DistContext().batch_shard(tokens, 9) is None  # one process: nothing to scale


def test_a_batch_smaller_than_the_world_gives_a_stand_in_row_that_counts_for_nothing():
    shards = [DistContext(rank=r, world=3, launched=True).batch_shard(np.ones(2), 4) for r in range(3)]
    assert [s.rows.tolist() for s in shards] == [[0], [1], [0]]
    assert [s.weight for s in shards] == [1.5, 1.5, 0.0]


def test_a_shards_noise_is_its_rows_of_the_global_draw():
    shard = DistContext(rank=1, world=2, launched=True).batch_shard(np.ones(5), 7)
    local = shard.draw(torch.rand, (2, 4), steps=True, generator=torch.Generator().manual_seed(0))
    full = torch.rand((5, 7), generator=torch.Generator().manual_seed(0))
    assert torch.equal(local, full[[1, 3], :4])


# ------------------------------------------------------------------------------ processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux /proc), deepest last."""
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def _end(pids: list[int]) -> None:
    """SIGKILL every process of ``pids`` still running, and wait (5 s at most) until they are gone."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


class Torchrun:
    """``torchrun --nproc-per-node N TARGET`` in a session of its own on 127.0.0.1 and a free port."""

    def __init__(self, target: list[str], tmp: Path, nproc: int = 2) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MOLGEN_CACHE_DIR": str(tmp / "cache"),
               "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *target]
        self.log_path = tmp / f"torchrun-{time.monotonic_ns()}.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.ranks: list[int] = []

    def poll_ranks(self) -> list[int]:
        """The rank processes seen so far (torchrun's children)."""
        self.ranks = sorted(set(self.ranks) | set(_children(self.proc.pid)))
        return self.ranks

    def wait(self, timeout: float = 240) -> tuple[int, str]:
        """torchrun's exit code and the output of it and its ranks."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.end()
        return code, self.output()

    def output(self) -> str:
        return self.log_path.read_text()

    def end(self) -> None:
        """Kill torchrun and its ranks if they still run (the ranks are in sessions of their own)."""
        self.poll_ranks()
        _end([self.proc.pid, *self.ranks])
        self.proc.wait(timeout=30)


@pytest.fixture
def torchrun(tmp_path):
    """``torchrun(args, nproc=2, script=None) -> Torchrun``: ``molgen ARGS`` (or ``python SCRIPT``) on
    ``nproc`` ranks; after the test no process of any launch is left."""
    launched: list[Torchrun] = []

    def launch(args: list[str], nproc: int = 2, script: Path | None = None) -> Torchrun:
        launched.append(Torchrun([str(script)] if script else ["-m", "molgen.cli", *args], tmp_path, nproc))
        return launched[-1]

    yield launch
    for run in launched:
        run.end()
        assert not any(_alive(p) for p in [run.proc.pid, *run.ranks])


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _assert_same_curve(a: list[dict[str, str]], b: list[dict[str, str]], rtol: float = 1e-4) -> None:
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        for key in CURVE:
            if ra.get(key):
                assert float(rb[key]) == pytest.approx(float(ra[key]), rel=rtol, abs=1e-6), (ra["step"], key)


def _assert_same_weights(a: Path, b: Path, atol: float = 1e-4) -> None:
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca["step"] == cb["step"]
    for key, value in ca["model"].items():
        assert torch.allclose(value, cb["model"][key], atol=atol, rtol=1e-4), key


def _train_args(kind: str, data: Path, config: Path, out: Path) -> list[str]:
    return ["train", kind, "--data", str(data), "--config", str(config), "--out", str(out), "--no-progress", "--device", "cpu"]


STEPS = 24


@pytest.fixture(scope="module")
def gvae_inputs(train_smiles, tiny_semantic_toml):
    """``gvae_inputs(folder) -> (data, config)``: the tiny semantic Grammar VAE (GRU encoder, Kekulé
    grammar, masks replayed by the semantic machine) trained 24 steps, two epochs of 360 molecules:
    353 for training, 11 batches of 32 an epoch and one of a single row, so that rank 1 runs that
    step on a stand-in row that counts for nothing. Free bits (0.03 nats a dimension, floored on the
    global batch's mean, at full KL weight from the first step) bind for some dimensions, not others."""
    text = (tiny_semantic_toml.replace("max_steps = 6", f"max_steps = {STEPS}").replace("epochs = 1", "epochs = 2")
            .replace("max_molecules = 300", "max_molecules = 0").replace("val_every = 3", "val_every = 8")
            .replace("batch_size = 32", "batch_size = 32\nkl_weight = 1.0\nkl_anneal_steps = 0\nfree_bits = 0.03"))
    assert all(f in text for f in (f"max_steps = {STEPS}", "epochs = 2", "max_molecules = 0", "val_every = 8", "free_bits"))

    def write(folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "train.csv").write_text("SMILES\n" + "\n".join(train_smiles[:360]) + "\n")
        (folder / "gvae.toml").write_text(text)
        return folder / "train.csv", folder / "gvae.toml"

    return write


@pytest.fixture(scope="module")
def gvae_reference(tmp_path_factory, gvae_inputs):
    """The uninterrupted single-process run these runs must equal."""
    folder = tmp_path_factory.mktemp("one")
    data, config = gvae_inputs(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOLGEN_CACHE_DIR", str(folder / "cache"))
        assert main(_train_args("gvae", data, config, folder / "run")) == 0
    return folder / "run"


@pytest.mark.distributed
def test_gvae_killed_under_torchrun_resumes_in_one_process_to_the_uninterrupted_result(
        tmp_path, gvae_inputs, gvae_reference, torchrun, monkeypatch):
    data, config = gvae_inputs(tmp_path)
    out = tmp_path / "run"
    run = torchrun(_train_args("gvae", data, config, out))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and run.proc.poll() is None:  # a few logged steps, then SIGTERM
        run.poll_ranks()
        if (out / "log.csv").exists() and len(_rows(out / "log.csv")) >= 2:
            break
        time.sleep(0.05)
    assert run.proc.poll() is None, run.output()
    assert len(run.poll_ranks()) == 2
    os.killpg(run.proc.pid, signal.SIGTERM)  # torchrun passes it on to its ranks
    code, output = run.wait()
    assert code != 0  # torchrun reports its ranks' stop (exit 130) as a failure, with its own traceback
    assert output.count("stopped at step") == 1 and output.count("Traceback") == 1, output
    stopped = load_checkpoint(out / "checkpoints" / "last.pt")
    assert 4 <= stopped["step"] < STEPS
    reference = _rows(gvae_reference / "log.csv")
    _assert_same_curve(reference[: len(_rows(out / "log.csv"))], _rows(out / "log.csv"))

    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    assert main([*_train_args("gvae", data, config, out), "--resume"]) == 0
    _assert_same_curve(reference, _rows(out / "log.csv"))
    _assert_same_weights(gvae_reference / "checkpoints" / "last.pt", out / "checkpoints" / "last.pt")


@pytest.mark.distributed
def test_a_single_process_run_resumes_under_torchrun_to_the_uninterrupted_result(
        tmp_path, gvae_inputs, gvae_reference, torchrun, monkeypatch):
    from molgen.training import TrainOptions
    from molgen.vae.trainer import train_from_options

    def stop_at_6(trainer):
        if trainer.step == 6:
            trainer.request_stop()

    data, config = gvae_inputs(tmp_path)
    out = tmp_path / "run"
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    opts = TrainOptions(kind="gvae", data=data, out=out, config=config, device="cpu", progress=False)
    assert train_from_options(opts, callbacks=[stop_at_6]) == 130
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 6
    code, output = torchrun([*_train_args("gvae", data, config, out), "--resume"]).wait()
    assert code == 0, output
    assert output.count(f"finished at step {STEPS}") == 1  # rank 0 speaks; rank 1 logs errors only
    _assert_same_curve(_rows(gvae_reference / "log.csv"), _rows(out / "log.csv"))
    _assert_same_weights(gvae_reference / "checkpoints" / "last.pt", out / "checkpoints" / "last.pt")


@pytest.mark.distributed
def test_organ_mle_on_two_ranks_equals_one_process_and_rank_0_finishes_the_run(tmp_path, train_smiles, torchrun,
                                                                               monkeypatch, organ_toml):
    data = tmp_path / "train.smi"
    data.write_text("\n".join(train_smiles[:400]) + "\n")
    # the smallest ORGAN run over semantic rules; an odd global batch: the ranks hold 17 and 16 rows,
    # weighted by their rules
    config = organ_toml(tmp_path / "organ.toml", "mini", generator__embedding_size=16, generator__hidden_size=32,
                        generator__max_len=170, generator__symbols="rules", generator__grammar="kekule",
                        generator__constraints="semantic", mle__steps=8, mle__batch_size=33)
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    assert main(_train_args("organ", data, config, tmp_path / "one")) == 0
    code, output = torchrun(_train_args("organ", data, config, tmp_path / "two")).wait()
    assert code == 0, output
    one, two = _rows(tmp_path / "one" / "log.csv"), _rows(tmp_path / "two" / "log.csv")
    mle = [r for r in one if r["stage"] == "mle"]
    assert len(mle) == 8 and mle[-1]["val_nll"]  # the last MLE step evaluates on rank 0
    _assert_same_curve(mle, [r for r in two if r["stage"] == "mle"])
    assert [r["stage"] for r in two] == [r["stage"] for r in one]
    ckpt = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")
    assert ckpt["stage"] == "done"
    _assert_same_weights(tmp_path / "one" / "checkpoints" / "last.pt", tmp_path / "two" / "checkpoints" / "last.pt")


CHECK = """
import sys
import torch
from molgen.errors import MolgenError
from molgen.training.distributed import start

with start("cpu") as ctx:
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    ctx.check_same(net, "equal weights")
    print(f"rank {ctx.rank}: same", flush=True)
    if ctx.rank == 1:
        with torch.no_grad():
            net.bias[0] += 0.5
    try:
        ctx.check_same(net, "after a drift")
    except MolgenError as exc:
        print(f"rank {ctx.rank}: {exc}", flush=True)
        sys.exit(3)
"""


@pytest.mark.distributed
def test_the_ranks_weight_check_fails_loudly_when_they_diverge(tmp_path, torchrun):
    (tmp_path / "rank_check.py").write_text(CHECK)
    code, output = torchrun([], script=tmp_path / "rank_check.py").wait()
    assert code != 0, output
    assert "rank 0: same" in output and "rank 1: same" in output
    assert "after a drift: the 2 ranks hold different weights (largest difference 0.5)" in output


# ------------------------------------------------------------------------------- bad input
RANK_ENV = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("args, message", [
    (["--dist-backend", "nccl", "--device", "cpu"], "--dist-backend nccl needs CUDA devices, but this run trains on cpu"),
    (["--device", "cuda"], "--device cuda under torchrun, but CUDA is not available"),
    (["--device", "cuda:1"], "under torchrun each rank uses cuda:LOCAL_RANK; pass --device cuda"),
])
def test_a_device_and_backend_that_cannot_work_under_torchrun_is_one_line(args, message, tmp_path, monkeypatch, capsys,
                                                                          tiny_vae_inputs, train_smiles):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:50])
    for key, value in RANK_ENV.items():
        monkeypatch.setenv(key, value)
    code = main(["train", "gvae", "--data", str(data), "--config", str(config), "--out", str(tmp_path / "run"),
                 "--no-progress", *args])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("molgen train: error: ") and message in last and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_a_backend_without_torchrun_is_a_usage_error(monkeypatch):
    for key in RANK_ENV:
        monkeypatch.delenv(key, raising=False)
    from molgen.errors import UsageError

    with pytest.raises(UsageError, match="needs a torchrun launch"):
        context_from_env("cpu", "gloo")
    assert context_from_env("cpu") == DistContext(device="cpu")


def test_a_rank_that_cannot_join_the_others_is_one_line(tmp_path, monkeypatch, capsys, tiny_vae_inputs, train_smiles):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:50])
    for key, value in RANK_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MASTER_ADDR")  # torchrun always sets it: this process was not started by torchrun
    code = main(["train", "gvae", "--data", str(data), "--config", str(config), "--out", str(tmp_path / "run"),
                 "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 1 and "Traceback" not in err
    assert last.startswith("molgen train: error: rank 0 of 2 could not join the other ranks (") and "MASTER_ADDR" in last
    assert not (tmp_path / "run").exists()
