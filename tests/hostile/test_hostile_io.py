"""Hostile input and faults on the I/O side of the CLI (issue 18: items 1, 2, 6, 7, 9 and filter's
column reuse), each run the way a user meets it: a real ``molgen`` subprocess for signals and
crashes, ``cli.main`` in-process where an OS error is injected."""

from __future__ import annotations

import signal
import time

import pytest

CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", [["filter", "--where", "qed > 0.5"], ["props"]], ids=["filter", "props"])
def test_signal_stops_the_worker_pool_fast_and_leaves_no_temp_file(
        sig, command, moses_csv, cli_process, leftover_temp_files, tmp_path):
    src = moses_csv(3000)
    out = tmp_path / "out.csv"
    proc = cli_process(command[0], src, "-o", out, *command[1:], "-j", "2", "--chunk-size", "100", "--no-progress")
    assert proc.wait_for(lambda: leftover_temp_files(tmp_path), timeout=60), "the run never started writing"
    time.sleep(1.0)  # workers busy on their chunks
    signalled = time.monotonic()
    proc.signal_group(sig)
    run = proc.finish(timeout=30, signalled=signalled)
    assert run.returncode == CODES[sig], run.stderr
    assert run.seconds_after_signal < 10
    assert "Traceback" not in run.stderr
    assert not proc.group_alive(), "a worker outlived the command"
    assert leftover_temp_files(tmp_path) == [] and not out.exists()
