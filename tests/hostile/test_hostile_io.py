"""Hostile input and faults on the I/O side of the CLI (issue 18: items 1, 2, 6, 7, 9 and filter's
column reuse), each run the way a user meets it: a real ``molgen`` subprocess for signals and
crashes, ``cli.main`` in-process where an OS error is injected."""

from __future__ import annotations

import os
import signal
import time

import pytest

CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.mark.parametrize("sig, jobs", [(signal.SIGINT, "2"), (signal.SIGTERM, "2"), (signal.SIGINT, "1")],
                         ids=["SIGINT", "SIGTERM", "SIGINT-j1"])
@pytest.mark.parametrize("command", [["filter", "--where", "qed > 0.5"], ["props"]], ids=["filter", "props"])
def test_signal_stops_the_worker_pool_fast_and_leaves_no_temp_file(
        sig, jobs, command, moses_csv, cli_process, leftover_temp_files, tmp_path):
    # -j 1 too: RDKit's substructure search (alerts) takes SIGINT for itself while it runs, so an
    # in-process search swallowed the Ctrl-C and the run went on to the end
    src = moses_csv(3000)
    out = tmp_path / "out.csv"
    proc = cli_process(command[0], src, "-o", out, *command[1:], "-j", jobs, "--chunk-size", "100", "--no-progress")
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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_evaluate_on_the_pool(sig, moses_csv, cli_process, tmp_path, leftover_temp_files):
    train = moses_csv(6000, "train.csv")
    gen = moses_csv(3000, "gen.csv")
    report = tmp_path / "report.json"
    proc = cli_process("evaluate", gen, "--train", train, "--test", gen, "--test-scaffolds", "none", "--no-fcd",
                       "--no-cache", "-j", "2", "--no-progress", "-o", report)
    proc.wait_for(lambda: False, timeout=8)  # reading the sets, then features on the workers
    signalled = time.monotonic()
    proc.signal_group(sig)
    run = proc.finish(timeout=30, signalled=signalled)
    assert run.returncode == CODES[sig], run.stderr
    assert run.seconds_after_signal < 10 and "Traceback" not in run.stderr
    assert not proc.group_alive() and leftover_temp_files(tmp_path) == [] and not report.exists()


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


# --------------------------------------------------------------------------- input formats (item 6)


def _props(tmp_path, src, capsys, *extra):
    from molgen.cli import main

    out = tmp_path / "out.csv"
    code = main(["props", str(src), "-o", str(out), "-j", "1", "--no-alerts", "--no-progress", *extra])
    return code, out, capsys.readouterr().err


def _rows(path) -> list[tuple[str, str]]:
    import pandas as pd

    df = pd.read_csv(path)
    return list(zip(df["smiles"], df["name"]))


def test_cr_only_line_endings_keep_every_record(tmp_path, capsys):
    src = tmp_path / "mac.smi"
    src.write_bytes(b"CCO ethanol\rc1ccccc1 benzene\rCCN ethylamine\r\nCC(=O)O acetic acid\r")
    code, out, err = _props(tmp_path, src, capsys)
    assert code == 0, err
    assert _rows(out) == [("CCO", "ethanol"), ("c1ccccc1", "benzene"), ("CCN", "ethylamine"), ("CC(=O)O", "acetic acid")]


def test_tab_separated_data_named_csv_keeps_its_names(tmp_path, capsys):
    src = tmp_path / "tabs.csv"
    src.write_text("smiles\tname\nCCO\tethanol\nc1ccccc1\tbenzene\n")
    code, out, err = _props(tmp_path, src, capsys)
    assert code == 0, err
    assert _rows(out) == [("CCO", "ethanol"), ("c1ccccc1", "benzene")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_text_is_read_not_called_binary(encoding, tmp_path, capsys):
    src = tmp_path / "unicode.csv"
    src.write_bytes("smiles,name\nCCO,éthanol\nc1ccccc1,benzène\n".encode(encoding))
    code, out, err = _props(tmp_path, src, capsys)
    assert code == 0, err
    assert _rows(out) == [("CCO", "éthanol"), ("c1ccccc1", "benzène")]


def test_smiles_in_a_binary_parquet_column(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "bin.parquet"
    smiles = pa.array([b"CCO", b"c1ccccc1", b"\xff\xfe"], pa.binary())
    pq.write_table(pa.table({"smiles": smiles, "name": ["a", "b", "c"]}), src)
    code, out, err = _props(tmp_path, src, capsys)
    assert code == 0, err
    assert _rows(out) == [("CCO", "a"), ("c1ccccc1", "b")]
    assert "3 records, 2 valid, 1 invalid (line 3: SMILES syntax error" in err


def test_props_to_smi_refuses_instead_of_dropping_every_column(tmp_path, capsys):
    from molgen.cli import main

    src = tmp_path / "a.smi"
    src.write_text("CCO ethanol\n")
    assert main(["props", str(src), "-o", str(tmp_path / "x.smi")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "every property column would be lost; write .csv" in err
    assert main(["filter", str(src), "-o", str(tmp_path / "x.smi"), "-j", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "x.smi holds SMILES and names only; " in err and "property columns (mw, logp" in err
    assert (tmp_path / "x.smi").read_text() == "CCO ethanol\n"


# --------------------------------------------------------------------------- OS errors (item 7)


def _one_line_error(err: str, code: int, expected_code: int = 1) -> str:
    assert code == expected_code, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_unreadable_input_is_one_line(tmp_path, capsys):
    # reading /proc/self/mem at offset 0 fails with EIO: a real OS read error, also as root
    src = tmp_path / "broken.smi"
    src.symlink_to("/proc/self/mem")
    code, out, err = _props(tmp_path, src, capsys)
    assert "broken.smi: cannot read: Input/output error" in _one_line_error(err, code)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes regardless of permissions")
def test_permission_denied_input_and_output_folder(tmp_path, capsys):
    src = tmp_path / "secret.smi"
    src.write_text("CCO\n")
    src.chmod(0)
    code, out, err = _props(tmp_path, src, capsys)
    assert "secret.smi: cannot read: Permission denied" in _one_line_error(err, code)
    src.chmod(0o644)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    from molgen.cli import main

    code = main(["props", str(src), "-o", str(locked / "o.csv"), "-j", "1", "--no-progress"])
    assert "o.csv: cannot write: permission denied" in _one_line_error(capsys.readouterr().err, code)


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux sysfs, where no file can be created")
def test_output_folder_where_no_file_can_be_created(moses_csv, tmp_path, capsys):
    from molgen.cli import main

    src = moses_csv(50)
    code = main(["filter", str(src), "-o", "/sys/kernel/hits.csv", "-j", "1", "--no-progress"])
    err = _one_line_error(capsys.readouterr().err, code)
    assert "/sys/kernel/hits.csv: cannot write: " in err and "records" not in err  # refused before reading


@pytest.mark.parametrize("where", ["results", "results.csv", "parent is a file"])
def test_output_path_problems_are_found_before_the_work(where, moses_csv, tmp_path, capsys):
    from molgen.cli import main

    src = moses_csv(200)
    if where != "parent is a file":
        target, expected = tmp_path / where, f"{where}: is a directory; give a file name to write"
        target.mkdir()
    else:
        (tmp_path / "plain").write_text("x")
        target, expected = tmp_path / "plain" / "o.csv", "plain is a file, not a folder"
    for command in (["props"], ["filter", "--where", "qed > 0.1"]):
        code = main([command[0], str(src), "-o", str(target), *command[1:], "-j", "1", "--no-progress"])
        err = _one_line_error(capsys.readouterr().err, code)
        assert expected in err and "records" not in err


@pytest.fixture
def full_disk(monkeypatch, tmp_path):
    """Atomic writes go to /dev/full, where every write fails with the kernel's real ENOSPC
    (no tmpfs can be mounted without root, so the temporary is redirected instead)."""
    import molgen.atomic

    def make_temp(target):
        link = target.parent / f".{target.name}.full.tmp"
        link.symlink_to("/dev/full")
        return link

    monkeypatch.setattr(molgen.atomic, "_make_temp", make_temp)
    return make_temp


@pytest.mark.parametrize("ext", [".csv", ".csv.gz", ".parquet", ".sdf", ".tsv"])
def test_disk_full_in_every_table_writer(ext, full_disk, moses_csv, tmp_path, capsys, leftover_temp_files):
    from molgen.cli import main

    src = moses_csv(50)
    out = tmp_path / f"out{ext}"
    code = main(["props", str(src), "-o", str(out), "-j", "1", "--no-alerts", "--no-progress"])
    err = _one_line_error(capsys.readouterr().err, code)
    assert f"out{ext}: cannot write: no space left on device" in err
    assert not out.exists() and leftover_temp_files(tmp_path) == []


def test_disk_full_in_atomic_open_and_torch_save(full_disk, monkeypatch, tmp_path):
    import collections

    import torch

    import molgen.atomic
    from molgen.atomic import atomic_open, atomic_path
    from molgen.errors import OutputError

    with pytest.raises(OutputError, match="log.csv: cannot write: no space left on device"):
        with atomic_open(tmp_path / "log.csv") as fh:
            fh.write("step,loss\n" * 100_000)
    # torch's zip writer reports ENOSPC as "unexpected pos N vs M" (a RuntimeError): the file system
    # is asked; statvfs is injected to report the full disk that /dev/full stands for
    stat = collections.namedtuple("stat", "f_bavail f_frsize")
    monkeypatch.setattr(molgen.atomic.os, "statvfs", lambda _: stat(0, 4096))
    with pytest.raises(OutputError, match=r"model.pt: cannot write: no space left on device \(.*unexpected pos"):
        with atomic_path(tmp_path / "model.pt") as tmp:
            torch.save({"w": torch.zeros(10_000)}, tmp)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- filter expressions (item 9)


@pytest.mark.parametrize("expression, outcome", [
    ("(" * 200 + "qed > 0.5" + ")" * 200, "parentheses nested too deeply (more than 50 levels)"),
    ("(not " * 1000 + "pains" + ")" * 1000, "parentheses nested too deeply (more than 50 levels)"),
    ("not " * 10_000 + "pains", None),  # even count: the same as 'pains'
    ("not " * 10_001 + "pains", None),
    (" or ".join(["qed > 0.9"] * 5000), None),
])
def test_deep_filter_expressions_give_a_caret_error_or_work(expression, outcome, tmp_path, capsys):
    from molgen.cli import main

    src = tmp_path / "a.smi"
    src.write_text("CCO ethanol\nO=C1C(=Cc2ccccc2)SC(=S)N1 rhodanine\n")
    out = tmp_path / "o.smi"
    code = main(["filter", str(src), "-o", str(out), "--where", expression, "-j", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RecursionError" not in err
    if outcome:
        assert code == 2 and outcome in err
        opening = [i for i, c in enumerate(expression) if c == "("]
        assert err.splitlines()[-1].index("^") == 2 + opening[50]  # under the 51st parenthesis
    else:
        assert code == 0, err
        kept = out.read_text().split()
        pains_kept = "rhodanine" in kept
        if expression.startswith("not"):
            assert pains_kept == (expression.count("not") % 2 == 0) and ("ethanol" in kept) != pains_kept


@pytest.mark.parametrize("command", [
    ["decode", "z.npy", "--model", "gvae", "-o", "{out}"],
    ["score", "a.smi", "--config", "scoring.toml", "-o", "{out}"],
    ["optimize", "--model", "gvae", "--objective", "qed", "-o", "best.csv", "--trajectory", "{out}"],
], ids=["decode", "score", "optimize"])
def test_every_table_command_checks_its_output_before_the_work(command, tmp_path, capsys, monkeypatch):
    from molgen.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results.csv").mkdir()
    start = time.monotonic()
    code = main([part.format(out="results.csv") for part in command])
    err = _one_line_error(capsys.readouterr().err, code)
    assert "results.csv: is a directory; give a file name to write" in err
    assert time.monotonic() - start < 5  # no model loaded, no input read


def test_a_pipe_or_device_is_never_replaced_by_the_output(tmp_path, capsys):
    from molgen.cli import main

    src = tmp_path / "a.smi"
    src.write_text("CCO\n")
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    code = main(["props", str(src), "-o", str(fifo), "-j", "1", "--no-progress"])
    assert "out.csv: is not a regular file (a device, pipe or socket)" in _one_line_error(capsys.readouterr().err, code)
    assert fifo.is_fifo()


def test_evaluate_checks_its_report_path_before_scoring(tmp_path, capsys):
    from molgen.cli import main

    (tmp_path / "report.json").mkdir()
    src = tmp_path / "a.smi"
    src.write_text("CCO\n")
    start = time.monotonic()
    code = main(["evaluate", str(src), "-o", str(tmp_path / "report.json"), "--no-fcd"])
    assert "report.json: is a directory; give a file name to write" in _one_line_error(capsys.readouterr().err, code)
    assert time.monotonic() - start < 5
