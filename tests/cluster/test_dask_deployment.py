"""``molgen filter`` / ``props`` / ``score`` / ``evaluate`` features against a real Dask deployment
on 127.0.0.1 (a ``dask scheduler`` and two ``dask worker`` processes): the same rows and reject
counts as the single-process run, a worker killed mid-run loses and duplicates nothing, a re-run
skips the finished partitions, an unreachable scheduler fails fast with one line."""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from molgen.cli import main

pytestmark = pytest.mark.distributed


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([*argv, "--no-progress"] if argv[0] in ("filter", "props") else list(argv))
    return code, capsys.readouterr().err


def _computed(address: str, function: str) -> int:
    """Tasks of ``function`` the scheduler has seen computed (its cumulative state counts; a task
    prefix is the function's name without leading underscores)."""
    from distributed import Client

    def count(dask_scheduler) -> int:
        prefix = dask_scheduler.task_prefixes.get(function.lstrip("_"))
        return 0 if prefix is None else prefix.state_counts["memory"]

    with Client(address, timeout=30) as client:
        return client.run_on_scheduler(count)


def _parts(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))], ignore_index=True)


def test_filter_and_props_on_the_cluster_equal_the_single_process_run(deployment, library, bad_lines, tmp_path, capsys):
    args = ["--range", "qed=0.6:", "--no-alerts"]
    code, err_single = _run(capsys, "filter", str(library), "-o", str(tmp_path / "single.csv"), *args, "-j", "1")
    assert code == 0
    code, err_dask = _run(capsys, "filter", str(library), "-o", str(tmp_path / "dask.csv"), *args,
                          "--scheduler", deployment.address, "--partition-size", "16K")
    assert code == 0, err_dask
    single = (tmp_path / "single.csv").read_text()
    assert (tmp_path / "dask.csv").read_text() == single and single.count("\n") > 100
    assert not (tmp_path / "dask.csv.parts").exists()  # the staging folder goes once the file is written
    invalid = f"{len(bad_lines)} invalid"
    assert invalid in err_single and invalid in err_dask
    # the first rejects named in the summary are the same, with the same line numbers
    first = [line for line in err_single.splitlines() if "invalid (line" in line]
    assert first and first[0] in err_dask

    code, _ = _run(capsys, "props", str(library), "-o", str(tmp_path / "props.parquet"), "--no-alerts", "-j", "1")
    assert code == 0
    out = tmp_path / "props-parts"
    code, err = _run(capsys, "props", str(library), "-o", str(out), "--no-alerts", "--scheduler", deployment.address,
                     "--partition-size", "16K")
    assert code == 0, err
    assert len(list(out.glob("part-*.parquet"))) > 3
    expected = pd.read_parquet(tmp_path / "props.parquet")
    pd.testing.assert_frame_equal(_parts(out), expected, check_dtype=False)
    with open(out / "rejects.csv", newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [int(r["line"]) for r in rejects] == [i + 1 for i in sorted(bad_lines)]  # file lines, in input order
    assert all(r["file"] == str(library) and r["reason"] for r in rejects)
    lines = library.read_text().splitlines()
    assert all(lines[int(r["line"]) - 1] == bad_lines[int(r["line"]) - 1] for r in rejects)
    manifest = pd.read_json(out / "manifest.json", typ="series")
    assert manifest["complete"] and manifest["rows"] == len(expected) and manifest["invalid"] == len(bad_lines)
    assert manifest["records"] == len(lines)


def test_a_rerun_skips_finished_partitions_and_another_job_is_refused(deployment, library, tmp_path, capsys):
    out = tmp_path / "props"
    argv = ["props", str(library), "-o", str(out), "--no-alerts", "--scheduler", deployment.address,
            "--partition-size", "24K"]
    assert _run(capsys, *argv)[0] == 0
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) >= 3
    first = _parts(out)
    stamps = {p.name: p.stat().st_mtime_ns for p in parts}
    lost = parts[1]
    lost.unlink()  # as if the worker writing it had died: no part, so its summary alone does not count
    code, _ = _run(capsys, *argv)
    assert code == 0
    again = {p.name: p.stat().st_mtime_ns for p in sorted(out.glob("part-*.parquet"))}
    assert again.keys() == stamps.keys()
    assert [n for n in again if again[n] != stamps[n]] == [lost.name]  # only the missing part was redone
    pd.testing.assert_frame_equal(_parts(out), first)

    code, err = _run(capsys, "props", str(library), "-o", str(out), "--scheduler", deployment.address,
                     "--partition-size", "24K")  # alerts on: another job
    assert code == 2 and "another job" in err


def test_features_and_scores_on_the_cluster_equal_local_ones(deployment, train_smiles, tmp_path, capsys):
    from molgen.metrics.features import compute_features

    smiles = list(train_smiles[:300]) + ["C1CC(bad", ""] + list(train_smiles[:20])
    local = compute_features(smiles, n_jobs=1)
    before = _computed(deployment.address, "_chunk_features")
    remote = compute_features(smiles, scheduler=deployment.address)
    assert _computed(deployment.address, "_chunk_features") > before
    assert remote.canonical == local.canonical
    assert (remote.fps == local.fps).all() and (remote.descriptors == local.descriptors).all()
    assert remote.scaffolds == local.scaffolds and remote.fragments == local.fragments

    samples = tmp_path / "samples.smi"
    samples.write_text("\n".join(smiles[:150] + ["C1CC(bad"]) + "\n")
    config = Path(__file__).resolve().parents[2] / "configs" / "scoring-qed.toml"
    assert _run(capsys, "score", str(samples), "--config", str(config), "-o", str(tmp_path / "a.csv"), "-j", "1")[0] == 0
    before = _computed(deployment.address, "cluster_values")
    code, err = _run(capsys, "score", str(samples), "--config", str(config), "-o", str(tmp_path / "b.csv"),
                     "--scheduler", deployment.address)
    assert code == 0, err
    assert _computed(deployment.address, "cluster_values") > before
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()
    assert "1 invalid" in err


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(deployment_factory, library, bad_lines, tmp_path, capsys):
    dep = deployment_factory(2)
    args = ["--range", "mw=:400", "--no-alerts"]
    assert _run(capsys, "filter", str(library), "-o", str(tmp_path / "single.csv"), *args, "-j", "1")[0] == 0
    out = tmp_path / "dask"
    victim = dep.workers[1]
    state: dict = {}

    def kill_after_first_part() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not list(out.glob("part-*.json")):
            time.sleep(0.02)
        state["done_at_kill"] = len(list(out.glob("part-*.json")))
        os.killpg(victim.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_after_first_part, daemon=True)
    killer.start()
    code, err = _run(capsys, "filter", str(library), "-o", str(out), *args, "--scheduler", dep.address,
                     "--partition-size", "8K")
    killer.join(timeout=60)
    assert code == 0, err
    assert victim.wait(timeout=30) == -signal.SIGKILL
    n_parts = len(list(out.glob("part-*.parquet")))
    assert 0 < state["done_at_kill"] < n_parts  # killed while partitions were still to do
    expected = pd.read_csv(tmp_path / "single.csv")
    got = _parts(out)
    assert len(got) == len(expected) and got["smiles"].tolist() == expected["smiles"].tolist()
    assert f"{len(bad_lines)} invalid" in err


def test_an_unreachable_scheduler_fails_fast_with_one_line(library, tmp_path, capsys, free_port):
    address = f"127.0.0.1:{free_port}"  # nothing listens there
    start = time.monotonic()
    code, err = _run(capsys, "props", str(library), "-o", str(tmp_path / "out"), "--scheduler", address)
    assert code == 1
    assert time.monotonic() - start < 60
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and address in lines[0] and "Traceback" not in err
    assert not (tmp_path / "out" / "part-00000.parquet").exists()


@pytest.mark.parametrize("bad", ["local:0", "local:x"])
def test_local_needs_a_worker_count(library, tmp_path, capsys, bad):
    code, err = _run(capsys, "filter", str(library), "-o", str(tmp_path / "out"), "--scheduler", bad)
    assert code == 2 and "local:N needs N >= 1" in err


def test_evaluate_computes_the_generated_features_on_the_cluster(deployment, train_smiles, test_smiles, tmp_path,
                                                                 monkeypatch, capsys):
    from molgen.evaluation import flat_metrics

    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    refs = []
    for name, smiles in (("train", train_smiles[:150]), ("test", test_smiles[:80])):
        path = tmp_path / f"{name}.smi"
        path.write_text("\n".join(smiles) + "\n")
        refs += [f"--{name}", str(path)]
    generated = tmp_path / "gen.smi"
    generated.write_text("\n".join(list(train_smiles[140:260]) + ["C1CC(bad"]) + "\n")
    base = ["evaluate", str(generated), *refs, "--test-scaffolds", "none", "--no-fcd", "--no-progress"]
    assert main([*base, "-o", str(tmp_path / "local.json")]) == 0
    monkeypatch.setenv("MOLGEN_SCHEDULER", deployment.address)  # the environment variable alone
    before = _computed(deployment.address, "_chunk_features")
    assert main([*base, "-o", str(tmp_path / "cluster.json")]) == 0
    assert _computed(deployment.address, "_chunk_features") > before
    capsys.readouterr()
    local, cluster = (flat_metrics(pd.read_json(tmp_path / f"{n}.json", typ="series").to_dict())["gen.smi"]
                      for n in ("local", "cluster"))
    assert cluster == local and local["n_generated"] == 121 and local["novelty"] < 1


def test_an_unreadable_line_in_a_later_partition_is_named_by_its_file_line(deployment, library, tmp_path, capsys):
    data = library.read_bytes().splitlines(keepends=True)
    data[1500] = b"CC\xff\xfeO\n"  # not UTF-8, far past the first partition
    bad = tmp_path / "bad.smi"
    bad.write_bytes(b"".join(data))
    code, err = _run(capsys, "props", str(bad), "-o", str(tmp_path / "out"), "--no-alerts",
                     "--scheduler", deployment.address, "--partition-size", "16K")
    assert code == 1
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and f"{bad}: line 1501: not UTF-8 text" in lines[0]
