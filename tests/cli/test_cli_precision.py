"""``--precision`` on ``molgen sample``, ``train`` and ``evaluate``: a bad value is one usage line
(exit 2), bf16 sampling runs, and ``evaluate`` records the sampling precision in report.json."""

from __future__ import annotations

import pytest

from molgen.cli import main
from molgen.evaluation import load_report


@pytest.mark.parametrize("command", [
    ["sample", "--model", "organ-mle", "-n", "2"],
    ["train", "organ", "--data", "x.smi", "--out", "run"],
    ["evaluate", "--model", "organ-mle"],
])
def test_a_bad_precision_is_one_usage_line(command, capsys):
    assert main([*command, "--precision", "fp16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "argument --precision: 'fp16' is not one of 'fp32', 'bf16', 'auto'" in err[0], err


def test_sample_in_bf16_writes_the_molecules(tmp_path, one_thread):
    out = tmp_path / "s.smi"
    assert main(["sample", "--model", "organ-mle", "-n", "12", "--seed", "0", "--precision", "bf16", "--no-props",
                 "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    assert len(out.read_text().splitlines()) == 12


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_evaluate_records_the_sampling_precision(tmp_path, monkeypatch, test_smiles, precision, one_thread):
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    refs = []
    for name, smiles in (("train", test_smiles[:60]), ("test", test_smiles[60:120]), ("test-scaffolds", test_smiles[120:160])):
        path = tmp_path / f"{name}.csv"
        path.write_text("SMILES\n" + "\n".join(smiles) + "\n")
        refs += [f"--{name}", str(path)]
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", "organ-mle", "-n", "20", *refs, "--no-fcd", "--no-progress",
                 "--precision", precision, "--report-dir", str(out)]) == 0
    report = load_report(out / "report.json")
    assert report["settings"]["precision"] == precision
    assert report["models"]["organ-mle"]["precision"] == precision
