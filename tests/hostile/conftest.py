"""Hostile-input and fault tests: the CLI run as a real subprocess (signals, crashes, OS errors).

Each CLI process starts in its own session, so a signal can be sent to its whole process group
the way a terminal's Ctrl-C is, and every wait is bounded so a regression fails instead of hanging.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CliRun:
    """A finished CLI subprocess: exit code, output, and how long it took after a signal."""

    returncode: int
    stdout: str
    stderr: str
    seconds_after_signal: float | None = None


class CliProcess:
    """A running ``python -m molgen.cli`` subprocess in its own session (process group)."""

    def __init__(self, args: list[str], cwd: Path):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        # a suite started in the background (nohup, `cmd &` without job control) has SIGINT
        # ignored, and exec keeps an ignored signal ignored, so the CLI would rightly ignore the
        # tests' Ctrl-C; a handled signal is reset to the default at exec: the terminal's SIGINT
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "molgen.cli", *args], cwd=cwd, env=env, start_new_session=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
        finally:
            signal.signal(signal.SIGINT, previous)

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Poll ``condition`` until it holds, the process ends, or ``timeout`` seconds pass."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            if condition():
                return True
            time.sleep(0.1)
        return False

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the whole process group, as a terminal does on Ctrl-C."""
        os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float, signalled: float | None = None) -> CliRun:
        """Wait at most ``timeout`` seconds; a process still running is killed and the test fails."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"molgen did not exit within {timeout} s (hang); stderr tail: {err[-2000:]}")
        took = None if signalled is None else time.monotonic() - signalled
        return CliRun(self.proc.returncode, out, err, took)

    def group_alive(self) -> bool:
        """Whether any process of the group (a worker left behind) is still running."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.group_alive():
            os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def cli_process(tmp_path):
    """Factory starting CLI subprocesses in ``tmp_path``; any left running is killed at teardown."""
    started: list[CliProcess] = []

    def start(*args: str) -> CliProcess:
        p = CliProcess([str(a) for a in args], tmp_path)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


@pytest.fixture
def run_cli(cli_process):
    """Run the CLI to the end (bounded by ``timeout``) and return a :class:`CliRun`."""

    def run(*args: str, timeout: float = 120) -> CliRun:
        return cli_process(*args).finish(timeout)

    return run


@pytest.fixture
def moses_csv(tmp_path) -> Callable[[int], Path]:
    """Write the first ``n`` rows of the shipped MOSES training sample as a plain CSV."""

    def write(n: int, name: str = "train.csv") -> Path:
        path = tmp_path / name
        with gzip.open(ROOT / "data" / "moses" / "train.csv.gz", "rt") as src, open(path, "w") as dst:
            dst.write(src.readline())
            for _, line in zip(range(n), src):
                dst.write(line)
        return path

    return write


def temp_files(folder: Path) -> list[str]:
    """Hidden atomic-write temporaries (``.name.XXXX.tmp``) left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


@pytest.fixture
def leftover_temp_files() -> Callable[[Path], list[str]]:
    """The hidden ``.tmp`` files an interrupted atomic write would leave in a folder."""
    return temp_files
