"""Run directories: validation, reading only the run files, curve grouping, report comparison."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from molgen.dashboard import runs
from molgen.errors import InputError


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "gvae-run"
    (d / "checkpoints").mkdir(parents=True)
    (d / "checkpoints" / "last.pt").write_bytes(b"x")
    (d / "config.toml").write_text("seed = 3\n[train]\nlr = 0.001\n")
    (d / "log.csv").write_text(
        "step,epoch,lr,loss,recon,kl,val_loss,val_valid,reward,uniqueness\n"
        "1,0,0.001,10.0,9.0,1.0,,,0.1,0.5\n"
        "2,0,0.001,8.0,7.5,0.5,8.5,0.1,0.2,0.6\n"
        "3,0,0.0005,6.0,5.8,0.2,,,0.3,0.7\n"
    )
    (d / "report.json").write_text(json.dumps(
        {"validity": 0.5, "uniqueness": {"at_1k": 0.9, "at_10k": 0.8}, "model": "gvae", "samples": [1, 2]}
    ))
    (d / "report.md").write_text("# Report\n\nvalidity 0.5\n")
    (d / "secret.txt").write_text("do not read")
    return d


def test_read_run_reads_the_run_files(run_dir):
    info = runs.read_run(run_dir)
    assert info.name == "gvae-run" and info.path == run_dir.resolve()
    assert info.config == {"seed": 3, "train": {"lr": 0.001}}
    assert "seed = 3" in info.config_text
    assert list(info.log["step"]) == [1, 2, 3]
    assert info.report["validity"] == 0.5
    assert info.report_md.startswith("# Report")
    assert info.checkpoints == ["last.pt"]
    assert info.problems == []


def test_read_run_never_opens_other_files(run_dir, monkeypatch):
    opened = []
    real = type(run_dir).read_text

    def spy(self, *a, **k):
        opened.append(self.name)
        return real(self, *a, **k)

    monkeypatch.setattr(type(run_dir), "read_text", spy)
    runs.read_run(run_dir)
    assert set(opened) <= set(runs.RUN_FILES)
    assert "secret.txt" not in opened


@pytest.mark.parametrize("what", ["missing", "file", "empty-dir", "blank"])
def test_validate_run_dir_rejects(tmp_path, what):
    targets = {"missing": tmp_path / "nope", "file": tmp_path / "f.txt", "empty-dir": tmp_path / "e", "blank": "  "}
    target = targets[what]
    if what == "file":
        target.write_text("x")
    if what == "empty-dir":
        target.mkdir()
    with pytest.raises(InputError):
        runs.validate_run_dir(target)


def test_broken_files_become_problems_not_failures(run_dir):
    (run_dir / "config.toml").write_text("seed = = 3")
    (run_dir / "report.json").write_text("{not json")
    info = runs.read_run(run_dir)
    assert info.config is None and info.report is None
    assert len(info.problems) == 2 and any("config.toml" in p for p in info.problems)
    assert info.log is not None


def test_links_out_of_the_run_directory_are_not_followed(run_dir, tmp_path):
    outside = tmp_path / "outside.toml"
    outside.write_text("secret = 1\n")
    (run_dir / "config.toml").unlink()
    (run_dir / "config.toml").symlink_to(outside)
    info = runs.read_run(run_dir)
    assert info.config is None and any("outside the run directory" in p for p in info.problems)


def test_oversized_file_is_refused(run_dir, monkeypatch):
    monkeypatch.setitem(runs.RUN_FILES, "log.csv", 10)
    info = runs.read_run(run_dir)
    assert info.log is None and any("larger than" in p for p in info.problems)


def test_curve_groups_and_frame(run_dir):
    log = runs.read_log(run_dir)
    groups = runs.curve_groups(log)
    assert groups["Losses"] == ["loss", "recon", "kl", "val_loss"]
    assert groups["Reward and objectives"] == ["reward"]
    assert groups["Validity, uniqueness, diversity"] == ["val_valid", "uniqueness"]
    assert groups["Learning rate"] == ["lr"]  # not on the axis of beta (issue 18 #10)
    assert "epoch" not in sum(groups.values(), [])
    frame = runs.curve_frame(log, ["loss", "val_loss"])
    assert list(frame.columns) == ["x", "metric", "value"]
    assert len(frame[frame.metric == "val_loss"]) == 1  # NaN rows dropped
    assert runs.step_column(log) == "step"


def test_compare_reports_flattens_and_aligns(run_dir, tmp_path):
    other = {"validity": 0.9, "novelty": 0.7}
    table = runs.compare_reports({"a": runs.read_run(run_dir), "b": other})
    assert list(table.columns) == ["a", "b"]
    assert table.loc["uniqueness.at_1k", "a"] == 0.9
    assert table.loc["validity", "b"] == 0.9
    assert table.loc["novelty", "a"] is None or math.isnan(table.loc["novelty", "a"])
    assert "samples" not in table.index  # lists are not metrics
    assert "model" not in table.index  # nor names and paths
    assert runs.compare_reports({"x": {"x": True, "y": {"z": 2}}})["x"].to_dict() == {"x": 1.0, "y.z": 2.0}


def test_reports_of_both_families_line_up():
    organ = {"model": "organ-qed", "n_samples": 1000, "metrics": {"validity": 0.9, "qed_mean": 0.8},
             "compared": {"organ-mle": {"validity": 0.7}}, "goals": {"validity": True}}
    vae = {"model": "data/models/gvae/model.pt", "kind": "gvae", "vae": {"prior_validity": 0.3},
           "distribution": {"validity": 0.3}}
    table = runs.compare_reports({"organ-qed": organ, "gvae": vae})
    assert table.loc["validity"].tolist() == [0.9, 0.3]
    assert "kind" not in table.index and table.dtypes.map(lambda d: d.kind == "f").all()
    assert table.loc["goal/validity", "organ-qed"] == 1.0
    assert "organ-mle.validity" not in table.index and "compared.organ-mle.validity" not in table.index
    assert list(table.index[:3]) == ["validity", "qed_mean", "prior_validity"]  # metrics before bookkeeping
    assert table.index[-1] == "goal/validity"


def test_reports_in_the_one_schema_show_every_model(tmp_path):
    """A ``molgen evaluate --report-dir`` report of two models gives a column per model."""
    from molgen.evaluation import new_report

    report = new_report({"gvae": {"source": "gvae", "kind": "gvae", "metrics": {"valid": 0.5}, "vae": {"reconstruction": 0.6}},
                         "organ-qed": {"source": "organ-qed", "kind": "organ", "metrics": {"valid": 0.9}}},
                        settings={"n_samples": 10}, command="test")
    table = runs.compare_reports({"run": report})
    assert list(table.columns) == ["run/gvae", "run/organ-qed"]
    assert table.loc["valid"].tolist() == [0.5, 0.9]
    assert table.loc["reconstruction", "run/gvae"] == 0.6 and math.isnan(table.loc["reconstruction", "run/organ-qed"])


def test_list_run_dirs_and_stamp(run_dir, tmp_path):
    (tmp_path / "not-a-run").mkdir()
    found = runs.list_run_dirs(tmp_path)
    assert found == {"gvae-run": run_dir}
    before = runs.run_stamp(run_dir)
    with open(run_dir / "log.csv", "a") as fh:
        fh.write("4,0,0.0005,5.0,4.9,0.1,,,0.4,0.8\n")
    assert runs.run_stamp(run_dir) != before
    assert runs.list_run_dirs(tmp_path / "missing") == {}


def test_organ_log_columns_are_grouped_by_meaning(tmp_path):
    (tmp_path / "log.csv").write_text(
        "step,stage,seconds,mle_loss,d_loss,d_acc,pg_loss,reward,obj_qed,obj_validity,validity,int_div,t_policy,entropy\n"
        "1,adv,0.5,1.0,0.7,0.6,-0.1,0.4,0.8,0.9,0.9,0.85,0.2,1.5\n"
    )
    groups = runs.curve_groups(runs.read_log(tmp_path))
    assert groups == {
        "Losses": ["mle_loss", "d_loss", "pg_loss"],
        "Reward and objectives": ["d_acc", "reward", "obj_qed", "obj_validity"],
        "Validity, uniqueness, diversity": ["validity", "int_div"],
        "Timing": ["t_policy"],
        "Other": ["entropy"],
    }


def test_curated_metrics_spikes_and_overlay(tmp_path):
    """Issue 18 #10: a curated, grouped metrics table with directions and the best per row; an early
    spike does not flatten a loss curve; the learning rate is not on β's axis; two runs overlaid."""
    from molgen.dashboard import charts

    shipped = {n: runs.read_run(str(p), n) for n, p in runs.shipped_run_dirs().items() if n in ("gvae", "cvae")}
    table = runs.compare_reports(shipped)
    curated, best = runs.curated_metrics(table)
    assert len(curated) < len(table) / 2 and curated.index.names == ["group", "metric"]
    assert ("Validity and novelty", "valid ↑") in curated.index and ("Likeness to the test set", "FCD ↓") in curated.index
    assert curated.loc[("Validity and novelty", "valid ↑"), "gvae"] == "1.000"
    assert best.loc[("Validity and novelty", "valid ↑")].to_dict() == {"cvae": False, "gvae": True}
    fcd = table.loc["fcd/test"]
    assert best.loc[("Likeness to the test set", "FCD ↓"), fcd.idxmin()]
    log = pd.DataFrame({"step": range(50), "loss": [500.0] + [10 - i * 0.1 for i in range(49)],
                        "lr": [1e-3] * 50, "beta": [i / 50 for i in range(50)]})
    groups = runs.curve_groups(log)
    assert groups["Learning rate"] == ["lr"] and groups["Schedule"] == ["beta"]
    frame = runs.curve_frame(log, ["loss"])
    lo, hi = runs.y_domain(frame)
    assert lo == pytest.approx(5.2) and hi < 20  # the spike at 500 is clipped, the decline stays visible
    assert runs.y_domain(runs.curve_frame(log, ["beta"])) is None
    spec = charts.line_chart(frame, "loss", domain=(lo, hi)).to_dict()
    assert spec["encoding"]["y"]["scale"]["domain"] == [lo, hi] and spec["encoding"]["y"]["scale"]["clamp"]
    assert charts.line_chart(frame, "loss", log_scale=True).to_dict()["encoding"]["y"]["scale"]["type"] == "log"
    a = runs.RunInfo(path=tmp_path / "a", name="a", log=log)
    b = runs.RunInfo(path=tmp_path / "b", name="b", log=log.assign(loss=log["loss"] / 2))
    over = runs.overlay_frame({"a": a, "b": b}, "loss")
    assert set(over["metric"]) == {"a", "b"} and len(over) == 100
    assert "loss" in runs.common_log_columns({"a": a, "b": b})
