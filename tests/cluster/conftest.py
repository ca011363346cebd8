"""Real Dask deployments on 127.0.0.1 for the cluster tests: a ``dask scheduler`` and one-thread
``dask worker`` processes of this venv, on free ports, no dashboards; every process is started
in its own process group and killed (with its children) when the fixture ends, pass or fail.
And a small real library: MOSES SMILES with invalid lines put in at known places."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = {5: "C1CC(bad", 400: "not_a_smiles", 1234: "C(C)(C)(C)(C)C", 1801: "c1ccccc"}  # index in the file -> text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (free when asked)."""
    return _free_port()


@pytest.fixture(scope="session")
def bad_lines() -> dict[int, str]:
    """The invalid lines of :func:`library`: index in the file (0-based) -> text."""
    return dict(BAD)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


@dataclass
class Deployment:
    """A running scheduler (``address``) and its worker processes."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    def start_worker(self) -> subprocess.Popen:
        log = open(self.logs / f"worker-{len(self.workers)}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--host", "127.0.0.1"],
            stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
        self.workers.append(proc)
        return proc

    def wait_for_workers(self, n: int, timeout: float = 180.0) -> None:
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def start_deployment(folder: Path, n_workers: int = 2) -> Deployment:
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = open(folder / "scheduler.log", "wb")
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"],
        stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    dep = Deployment(f"tcp://127.0.0.1:{port}", scheduler, logs=folder)
    try:
        for _ in range(n_workers):
            dep.start_worker()
        deadline = time.monotonic() + 120
        while True:  # the scheduler's port opens before the workers can register
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or scheduler.poll() is not None:
                    raise RuntimeError(f"dask scheduler did not start: {(folder / 'scheduler.log').read_text()[-2000:]}")
                time.sleep(0.2)
        dep.wait_for_workers(n_workers)
    except BaseException:
        dep.stop()
        raise
    return dep


@pytest.fixture
def deployment_factory(tmp_path):
    """``start(n_workers=2) -> Deployment``; all are stopped when the test ends."""
    started: list[Deployment] = []

    def start(n_workers: int = 2) -> Deployment:
        dep = start_deployment(tmp_path / f"dask-{len(started)}", n_workers)
        started.append(dep)
        return dep

    yield start
    for dep in started:
        dep.stop()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """One scheduler and two workers shared by a module's tests."""
    dep = start_deployment(tmp_path_factory.mktemp("dask"))
    yield dep
    dep.stop()


@pytest.fixture(scope="session")
def library(tmp_path_factory, train_smiles) -> Path:
    """2,000 MOSES training SMILES with four invalid lines (:data:`BAD`), as a .smi file."""
    lines = list(train_smiles[:2000])
    for i, text in sorted(BAD.items()):
        lines.insert(i, text)
    path = tmp_path_factory.mktemp("library") / "library.smi"
    path.write_text("\n".join(lines) + "\n")
    return path
