"""Partitions of a job's input (no cluster needed): byte ranges cut at line starts whose records,
read range by range, are the whole file's records with the same line numbers; one partition per
file of a directory or glob; the scheduler option's checks; an output folder of another job refused."""

from __future__ import annotations

import gzip
import json

import pytest

from molgen.cluster import PartStore, local_workers, resolve_scheduler
from molgen.commands._args import byte_size
from molgen.data.partitions import input_files, plan_partitions, split_text
from molgen.data.readers import RecordReader
from molgen.errors import InputError, UsageError


def _records(path, span=None, column=None):
    return [(r.line, r.smiles, r.name) for r in RecordReader(path, column, span=span)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("target", [1, 7, 50, 333, 10_000])
def test_ranges_of_a_smiles_file_read_as_the_whole_file(tmp_path, train_smiles, newline, target):
    lines = ["# a comment", *(f"{s} m{i}" for i, s in enumerate(train_smiles[:60])), "", "C1CC(bad x", "CCO"]
    path = tmp_path / "lib.smi"
    path.write_bytes(newline.join(lines).encode())  # no newline at the end
    spans = split_text(path, target)
    assert spans[0].start == 0 and spans[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    if newline != "\r":  # a classic-Mac file has no LF to cut after: one range
        assert len(spans) > 1 or target >= path.stat().st_size
    data = path.read_bytes()
    assert all(data[s.start - 1 : s.start] == b"\n" for s in spans[1:])
    pieces = [rec for s in spans for rec in _records(path, s)]
    assert pieces == _records(path)


def test_ranges_of_a_csv_take_the_header_and_keep_line_numbers(tmp_path, train_smiles):
    rows = [f"m{i},{s},{i * 0.5}" for i, s in enumerate(train_smiles[:80])]
    rows[10] = "m10,C1CC(bad,5"
    path = tmp_path / "lib.csv"
    path.write_text("id,SMILES,score\n" + "\n".join(rows) + "\n")
    spans = split_text(path, 400)
    assert len(spans) > 3
    pieces = [rec for s in spans for rec in _records(path, s)]
    assert pieces == _records(path)
    assert (12, "C1CC(bad", "m10") in pieces


@pytest.mark.parametrize("target", [1, 7, 50, 333, 2_000])
@pytest.mark.parametrize("sep", [",", "\t"])
def test_no_range_starts_inside_a_quoted_field_that_spans_lines(tmp_path, train_smiles, target, sep):
    """A name with a line break in it (quoted, CSV style, ``""`` for a quote) is one record whose
    line ends are not record starts: cutting there read its second line as a record of its own."""
    rows = []
    for i, s in enumerate(train_smiles[:60]):
        name = f'"compound {i}\nbatch ""{i % 7}""\n\nend"' if i % 3 == 0 else f"m{i}"
        rows.append(f"{name}{sep}{s}{sep}{i * 0.5}")
    path = tmp_path / ("lib.csv" if sep == "," else "lib.tsv")
    path.write_text(f"name{sep}smiles{sep}score\n" + "\n".join(rows) + "\n")
    whole = _records(path)
    assert len(whole) == 60 and whole[0][2] == 'compound 0\nbatch "0"\n\nend'
    spans = split_text(path, target)
    assert spans[0].start == 0 and spans[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert [rec for s in spans for rec in _records(path, s)] == whole
    if target < 1_000:  # the cut that ignores quotes does split those records (what the test guards)
        naive = [rec for s in split_text(path, target, quoted=False) for rec in _records(path, s)]
        assert naive != whole


def test_a_headerless_one_column_csv_is_not_read_twice(tmp_path, train_smiles):
    path = tmp_path / "plain.csv"
    path.write_text("\n".join(train_smiles[:40]) + "\n")
    spans = split_text(path, 200)
    assert [rec for s in spans for rec in _records(path, s)] == _records(path)


def test_directories_globs_and_gzip_are_one_partition_per_file(tmp_path, train_smiles):
    (tmp_path / "a.smi").write_text("\n".join(train_smiles[:300]) + "\n")
    with gzip.open(tmp_path / "b.smi.gz", "wt") as fh:
        fh.write("\n".join(train_smiles[300:600]) + "\n")
    (tmp_path / "notes.md").write_text("not molecules")
    assert [p.name for p in input_files(tmp_path)] == ["a.smi", "b.smi.gz"]
    assert [p.name for p in input_files(str(tmp_path / "*.smi"))] == ["a.smi"]
    parts = plan_partitions(tmp_path, 2000)
    assert [p.index for p in parts] == list(range(len(parts)))
    assert sum(p.path.endswith("a.smi") for p in parts) > 1  # the plain file is cut
    assert [p.span for p in parts if p.path.endswith(".gz")] == [None]  # the gzipped one is not
    with pytest.raises(InputError, match="no file matches"):
        input_files(str(tmp_path / "*.sdf"))
    with pytest.raises(InputError, match="no such file"):
        input_files(tmp_path / "missing.smi")


def test_scheduler_option(monkeypatch):
    monkeypatch.delenv("MOLGEN_SCHEDULER", raising=False)
    assert resolve_scheduler(None) is None
    assert resolve_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    monkeypatch.setenv("MOLGEN_SCHEDULER", "local:3")
    assert resolve_scheduler(None) == "local:3" and local_workers("local:3") == 3
    assert resolve_scheduler("local:1") == "local:1"  # the option wins over the environment
    for bad in ("local:0", "local:x", "local:", "local:-2"):
        with pytest.raises(UsageError, match="local:N needs N >= 1"):
            resolve_scheduler(bad)


@pytest.mark.parametrize("text, value", [("65536", 65536), ("512K", 512 << 10), ("64M", 64 << 20), ("1g", 1 << 30),
                                          ("1.5MiB", int(1.5 * (1 << 20)))])
def test_byte_size(text, value):
    assert byte_size(text) == value


@pytest.mark.parametrize("text", ["0", "-5", "lots", "nanM", "infG", ""])
def test_byte_size_refuses(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        byte_size(text)


def test_an_output_folder_of_another_job_is_refused(tmp_path):
    store = PartStore(tmp_path / "out", {"command": "props", "inputs": "a.smi"}, 3)
    store.open()
    store.write_manifest([None, None, None], {})
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["complete"] is False
    PartStore(tmp_path / "out", {"command": "props", "inputs": "a.smi"}, 3).open()  # the same job resumes
    with pytest.raises(UsageError, match="another job"):
        PartStore(tmp_path / "out", {"command": "filter", "inputs": "a.smi"}, 3).open()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        PartStore(tmp_path / "other", {"command": "props"}, 1).open()


def test_automatic_partitions_give_each_worker_about_four(tmp_path):
    from molgen.data.partitions import MAX_AUTO_BYTES, MIN_AUTO_BYTES, auto_partition_bytes

    small = tmp_path / "small.smi"
    small.write_text("CCO\n" * 1000)
    assert auto_partition_bytes([small], 2) == MIN_AUTO_BYTES  # never tiny tasks
    big = tmp_path / "big.smi"
    with open(big, "wb") as fh:
        fh.truncate(40 << 20)  # sparse: only its size matters here
    assert auto_partition_bytes([big], 2) == (40 << 20) // 8
    assert auto_partition_bytes([big], 1) == (40 << 20) // 4
    with open(big, "wb") as fh:
        fh.truncate(1 << 30)
    assert auto_partition_bytes([big], 2) == MAX_AUTO_BYTES


def test_a_rerun_keeps_the_plan_it_started_with(tmp_path):
    from molgen.data.partitions import Partition
    from molgen.data.readers import ByteSpan

    job = {"command": "props", "inputs": "a.smi"}
    plan = [Partition(0, "a.smi", ByteSpan(0, 10, 1)), Partition(1, "a.smi", ByteSpan(10, 20, 3))]
    first = PartStore(tmp_path / "out", job)
    first.set_plan(plan)
    first.open()
    first.write_manifest([None, None], {})
    again = PartStore(tmp_path / "out", job)
    assert [Partition.from_dict(d) for d in again.previous_plan()] == plan
    assert PartStore(tmp_path / "out", {**job, "command": "filter"}).previous_plan() is None
