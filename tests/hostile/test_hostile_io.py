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


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_giant_molecules_are_skipped_and_reported_before_rdkit_sees_them(jobs, run_cli, tmp_path):
    # 'C' * 30000 segfaulted RDKit's SMILES writer; 'C' * 1_000_000 ran for minutes; 600 atoms is over the default
    src = tmp_path / "big.csv"
    src.write_text("smiles,name\nCCO,eth\n" + "C" * 30_000 + ",chain\nc1ccccc1,benz\n" + "C" * 1_000_000
                   + ",huge\n" + "C" * 600 + ",wax\n")
    out = tmp_path / "out.csv"
    run = run_cli("props", src, "-o", out, "-j", jobs, "--no-progress", timeout=60)
    assert run.returncode == 0, run.stderr
    assert "5 records, 2 valid, 3 invalid" in run.stderr
    assert "line 3: SMILES too long (30,000 characters; limit 10,000, --max-chars)" in run.stderr
    assert "line 5: SMILES too long (1,000,000 characters" in run.stderr
    assert out.read_text().count("\n") == 3  # header, ethanol, benzene
    wax = run_cli("filter", src, "-o", out, "-j", jobs, "--no-progress", "--max-atoms", "100", timeout=60)
    assert wax.returncode == 0 and "line 6: molecule too large (600 heavy atoms; limit 100, --max-atoms)" in wax.stderr


@pytest.mark.slow  # RDKit takes ~30 s on the 30,000-atom chain before it crashes (tests/core covers the pool in 1 s)
def test_a_worker_killed_by_rdkit_fails_with_the_lines_it_held(run_cli, tmp_path, leftover_temp_files):
    # limits raised past what RDKit survives: the segfault must fail the run clearly, not hang it
    src = tmp_path / "big.smi"
    src.write_text("CCO\n" * 5 + "C" * 30_000 + "\n" + "CCN\n" * 5)
    run = run_cli("props", src, "-o", tmp_path / "out.csv", "-j", "2", "--chunk-size", "4", "--no-progress",
                  "--max-atoms", "100000", "--max-chars", "100000", timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "a worker process died (killed by SIGSEGV) while working on lines" in run.stderr
    assert leftover_temp_files(tmp_path) == [] and not (tmp_path / "out.csv").exists()


def test_size_limits_must_be_positive(run_cli, tmp_path):
    src = tmp_path / "a.smi"
    src.write_text("CCO\n")
    run = run_cli("props", src, "-o", tmp_path / "o.csv", "--max-atoms", "0")
    assert run.returncode == 2 and "--max-atoms must be at least 1, got 0" in run.stderr
