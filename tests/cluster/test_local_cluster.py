"""Work on a ``local:N`` Dask LocalCluster: ``molgen sample`` gives the same molecules for the same
seed (and the single-process run's), loading the model once per worker; the objective scorer
(ORGAN's reward, ``molgen score``) sends only uncached SMILES to the cluster; an ORGAN run whose
``[reward] scheduler`` names a cluster trains exactly as without one."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from molgen.cli import main
from molgen.config import from_dict
from molgen.errors import ConfigError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture
def worker_path(monkeypatch):
    """Spawned workers import this module (for its test objective) and molgen from this tree."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(HERE)]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.distributed
def test_sample_on_a_local_cluster_repeats_and_equals_the_single_process_run(tmp_path, capsys, worker_path, one_thread):
    base = ["sample", "--model", "cvae", "-n", "30", "--chunk-size", "12", "--batch-size", "8", "--seed", "11",
            "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "single.csv")]) == 0
    assert main([*base, "--out", str(tmp_path / "a.csv"), "--scheduler", "local:2"]) == 0
    assert main([*base, "--out", str(tmp_path / "b"), "--scheduler", "local:2"]) == 0
    capsys.readouterr()
    single = (tmp_path / "single.csv").read_text()
    assert (tmp_path / "a.csv").read_text() == single and single.count("\n") == 31
    import pandas as pd

    parts = sorted((tmp_path / "b").glob("part-*.parquet"))
    assert len(parts) == 3  # 12 + 12 + 6 rows
    b = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    a = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    assert b["id"].tolist() == list(range(1, 31)) and b["smiles"].tolist() == a["smiles"].tolist()
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["seed"] == 11 and manifest["rows"] == 30
    loads = sum(p["model_loaded"] for p in manifest["partitions"])
    assert 1 <= loads <= 2  # once per worker process, not once per partition

    code = main([*base, "--out", str(tmp_path / "c.csv"), "--scheduler", "local:2", "--unique"])
    assert code == 2 and "--unique" in capsys.readouterr().err


def seen_by(batch, log: str = "") -> list[float]:
    """Test objective: 0 for every string, and the process that computed it noted in ``log``."""
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()} {len(batch.smiles)}\n")
    return [0.0] * len(batch.smiles)


seen_by.chemistry = False


@pytest.mark.distributed
def test_the_scorer_sends_only_uncached_smiles_to_the_cluster(train_smiles, tmp_path, worker_path):
    from molgen.scoring import ObjectiveContext, ObjectiveScorer, ObjectiveSpec

    log = tmp_path / "seen.txt"
    specs = [ObjectiveSpec("qed"), ObjectiveSpec("sa"), ObjectiveSpec("test_local_cluster:seen_by", params={"log": str(log)})]
    batch = list(train_smiles[:20]) + ["C1CC(bad", train_smiles[0]]
    local = ObjectiveScorer(specs, ObjectiveContext()).evaluate(batch)
    scorer = ObjectiveScorer(specs, ObjectiveContext(), scheduler="local:2", parallel_min=1, cluster_batch=6)
    log.write_text("")  # the specs' start-up dry runs (two probe molecules, here) are not the batch
    try:
        remote = scorer.evaluate(batch)
        assert scorer.cluster_tasks == 4  # 21 distinct SMILES in tasks of 6
        np.testing.assert_array_equal(remote.raw, local.raw)
        np.testing.assert_array_equal(remote.total, local.total)
        seen = [line.split() for line in log.read_text().splitlines()]
        assert {int(pid) for pid, _ in seen}.isdisjoint({os.getpid()}) and sum(int(n) for _, n in seen) == 21
        again = scorer.evaluate(batch[:10] + train_smiles[20:23])  # ten cached, three new
        assert scorer.cluster_tasks == 5
        assert sum(int(line.split()[1]) for line in log.read_text().splitlines()) == 24
        np.testing.assert_array_equal(again.raw[:10], local.raw[:10])
    finally:
        scorer.close()
    assert scorer._client is None


@pytest.fixture
def organ_cfg(organ_toml):
    """``organ_cfg(path, scheduler, log) -> path``: the smallest ORGAN run (max_len 50, 2 adversarial
    steps of 2 rollouts) rewarded by QED and :func:`seen_by` noting its processes in ``log``, with
    ``[reward] scheduler`` set to ``scheduler`` (``None``: no key)."""

    def write(path: Path, scheduler: str | None, log: Path) -> Path:
        return organ_toml(path, "mini", generator__max_len=50, mle__lr=None, mle__eval_every=None,
                          adversarial__steps=2, adversarial__rollouts=2,
                          reward={"lam": 0.5, "parallel_min": 1}, reward__scheduler=scheduler,
                          objectives=[{"name": "qed"}, {"name": "test_local_cluster:seen_by", "params": {"log": str(log)}}])

    return write


def _read_log(path: Path) -> list[dict]:
    timing = {"seconds", "t_policy", "t_reward"}
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in timing} for row in csv.DictReader(fh)]


@pytest.mark.distributed
def test_organ_rewards_on_a_local_cluster_train_as_without_one(tmp_path, train_smiles, worker_path, one_thread,
                                                                  organ_cfg):
    from molgen.checkpoint import load_checkpoint
    from molgen.organ import trainer
    from molgen.training import TrainOptions

    data = tmp_path / "train.smi"
    data.write_text("\n".join(train_smiles[:200]) + "\n")
    runs = {}
    for name, scheduler in (("local", None), ("cluster", "local:1")):
        log = tmp_path / f"{name}-seen.txt"
        cfg = organ_cfg(tmp_path / f"{name}.toml", scheduler, log)
        out = tmp_path / name
        opts = TrainOptions(kind="organ", data=data, out=out, config=cfg, command="test", progress=False)
        assert trainer.train_from_options(opts) == 0
        runs[name] = (out, {int(line.split()[0]) for line in log.read_text().splitlines()})
    (local, local_pids), (cluster, cluster_pids) = runs["local"], runs["cluster"]
    # here only the config's dry run on two probe molecules; the rewards were computed on the cluster
    assert local_pids == {os.getpid()} and cluster_pids - {os.getpid()}
    assert _read_log(local / "log.csv") == _read_log(cluster / "log.csv")
    a, b = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (local, cluster))
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name


@pytest.mark.parametrize("bad", ["local:0", "local:x"])
def test_config_scheduler_keys_refuse_a_bad_local_cluster(bad):
    from molgen.organ.config import OrganConfig
    from molgen.scoring.spec import ScoringConfig

    with pytest.raises(ConfigError, match="local:N needs N >= 1"):
        from_dict(OrganConfig, {"reward": {"scheduler": bad}})
    with pytest.raises(ConfigError, match="local:N needs N >= 1"):
        from_dict(ScoringConfig, {"objectives": [{"name": "qed"}], "scheduler": bad})
    assert from_dict(OrganConfig, {"reward": {"scheduler": "tcp://10.1.2.3:8786"}}).reward.scheduler == "tcp://10.1.2.3:8786"


def test_the_scorer_names_an_unreachable_scheduler(free_port):
    from molgen.errors import ClusterError
    from molgen.scoring import ObjectiveContext, ObjectiveScorer, ObjectiveSpec

    scorer = ObjectiveScorer([ObjectiveSpec("qed")], ObjectiveContext(), scheduler=f"127.0.0.1:{free_port}", parallel_min=1)
    try:
        with pytest.raises(ClusterError, match=f"127.0.0.1:{free_port}"):
            scorer.evaluate(["CCO", "c1ccccc1O"])
    finally:
        scorer.close()


def test_an_organ_run_with_an_unreachable_scheduler_fails_before_training(tmp_path, train_smiles, free_port, one_thread,
                                                                         organ_cfg):
    from molgen.errors import ClusterError
    from molgen.organ import trainer
    from molgen.training import TrainOptions

    data = tmp_path / "train.smi"
    data.write_text("\n".join(train_smiles[:100]) + "\n")
    cfg = organ_cfg(tmp_path / "organ.toml", f"127.0.0.1:{free_port}", tmp_path / "seen.txt")
    opts = TrainOptions(kind="organ", data=data, out=tmp_path / "run", config=cfg, command="test", progress=False)
    with pytest.raises(ClusterError, match=f"127.0.0.1:{free_port}"):
        trainer.train_from_options(opts)
    assert not list((tmp_path / "run").glob("checkpoints/*.pt"))
