"""Every dashboard page through Streamlit's AppTest, with a tiny Grammar VAE trained for a few steps.

The tiny model stands in for the shipped ones (``api.MODELS_DIR`` points at a temporary
folder), so these tests never depend on the size or presence of data/models.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest

from molgen import api, paths
from molgen.dashboard import charts, models

APP = str(paths.APPS_DIR / "dashboard.py")
TIMEOUT = 300

@pytest.fixture(scope="module")
def models_dir(tiny_models_dir, tmp_path_factory) -> Path:
    """The tiny trained GVAE twice, with report.json files as finished runs have, used as data/models:
    ``tiny-gvae`` (reported 60 % valid, the default) and ``tiny-weak`` (reported 1 % valid)."""
    folder = tmp_path_factory.mktemp("app-models")
    shutil.copytree(tiny_models_dir / "tiny-gvae", folder / "tiny-gvae")
    shutil.copytree(tiny_models_dir / "tiny-gvae", folder / "tiny-weak")
    (folder / "tiny-gvae" / "report.json").write_text(json.dumps({"validity": 0.6, "uniqueness": {"at_1k": 0.5}}))
    (folder / "tiny-weak" / "report.json").write_text(json.dumps({"validity": 0.01}))
    return folder


@pytest.fixture
def app(models_dir, monkeypatch):
    """A fresh AppTest of the whole dashboard with the tiny model as the only shipped one."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(api, "MODELS_DIR", models_dir)
    monkeypatch.setattr(charts, "REFERENCE_SIZE", 60)  # keep the training-set histograms cheap here
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def _page(at, path: str):
    at.switch_page(path)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def _table(at):
    """The molecule table shown (the first data frame with a SMILES column)."""
    for df in at.dataframe:
        if "smiles" in df.value.columns:
            return df.value
    raise AssertionError("no molecule table on the page")


def _caption(at, needle: str) -> str:
    found = [c.value for c in at.caption if needle in c.value]
    assert found, f"no caption containing {needle!r}: {[c.value for c in at.caption]}"
    return found[0]


@pytest.mark.parametrize("page", ["views/generate.py", "views/inspect.py", "views/latent.py", "views/runs.py"])
def test_every_page_loads_without_errors(app, page):
    _page(app, page)
    assert not _errors(app)
    assert app.title[0].value


def test_generate_fills_table_and_filters_narrow_it(app):
    at = app
    assert at.selectbox(key="gen_model").value == "tiny-gvae"
    at.number_input(key="gen_n").set_value(12)
    at.number_input(key="gen_seed").set_value(1)
    at.button(key="gen_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    table = at.session_state["gen_result"]["table"]
    assert len(table) == 12 and {"smiles", "valid", "qed", "mw"} <= set(table.columns)
    n_valid = int(table["valid"].sum())
    assert n_valid < 12, "the tiny model is expected to produce some invalid strings"
    assert at.checkbox(key="generated_valid").value  # issue 18 #5: valid only by default
    assert _caption(at, "shown").startswith(f"{n_valid} of 12")
    assert [m.label for m in at.metric][:2] == ["Generated", "Valid"]
    at.checkbox(key="generated_valid").uncheck().run()
    assert _caption(at, "shown").startswith("12 of 12")
    shown = _table(at)
    assert len(shown) == 12 and "smiles" in shown.columns and list(shown.index) == list(range(1, 13))
    assert at.get("html")[0].proto.body.count("molgen-card") == 12  # the grid draws every row of the page
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download CSV", "Download SDF"], downloads
    at.multiselect(key="generated_selected").select(2).select(5).run()
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download CSV", "Download SDF", "Download selection CSV", "Download selection SDF"]
    at.text_input(key="generated_expr").input("mw > 100000").run()
    assert _caption(at, "shown").startswith("0 of 12")


def test_generate_reports_a_wrong_checkpoint(app, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint")
    at = app
    at.selectbox(key="gen_model").select(at.selectbox(key="gen_model").options[-1]).run()
    at.text_input(key="gen_model_path").input(str(bad)).run()
    assert not at.exception
    errors = _errors(at)
    assert any("Cannot load the model" in e and "not a readable torch checkpoint" in e for e in errors), errors
    at.text_input(key="gen_model_path").input(str(paths.ROOT / "pyproject.toml")).run()
    assert any("only molgen checkpoints" in e for e in _errors(at)), _errors(at)


def test_inspect_table_filter_and_bad_smiles(app):
    at = _page(app, "views/inspect.py")
    assert _caption(at, "shown").startswith("6 of 6")
    html = at.get("html")[0].proto.body
    assert html.count("molgen-card") == 6 and "aspirin" in html and "data:image/svg+xml" in html
    assert at.selectbox(key="inspect_detail").value == 1 and "#1  CC(=O)Oc1ccccc1C(=O)O" in at.selectbox(
        key="inspect_detail").options[0]  # issue 18 #7: the first molecule is #1 everywhere
    at.selectbox(key="inspect_detail").select(5).run()  # hydroxychalcone: a Michael acceptor
    detail = [h.proto.body for h in at.get("html") if "molgen-detail" in h.proto.body]
    assert len(detail) == 1
    svg = base64.b64decode(re.search(r"base64,([^']*)'", detail[0]).group(1)).decode()
    assert "<ellipse" in svg  # the alert's atoms are highlighted
    legend = [h.proto.body for h in at.get("html") if "molgen-alert" in h.proto.body]
    assert legend and "Brenk: Michael acceptor 1" in legend[0] and "title='unwanted functionality" in legend[0]
    at.text_input(key="inspect_expr").input("mw < 160").run()
    assert _caption(at, "shown").startswith("1 of 6")  # paracetamol
    assert len(_table(at)) == 1
    at.text_input(key="inspect_expr").input("qed >= = 0.5").run()
    assert any("filter expression not applied" in e and "==" in e for e in _errors(at)), _errors(at)
    assert any("^" in c.value for c in at.code)  # the caret under the bad token
    at.text_input(key="inspect_expr").input("").run()
    at.checkbox(key="inspect_preset_lipinski").check().run()
    assert _caption(at, "shown").startswith("6 of 6")
    at.text_area(key="insp_text").input("C1CC broken ring\nc1cccc1").run()
    assert not at.exception
    assert any("None of these SMILES is a valid molecule" in e and "#1: unclosed ring 1 at position 1" in e
               for e in _errors(at)), _errors(at)
    at.text_area(key="insp_text").input("CCO ethanol\nC(C)(C)(C)(C)C").run()
    assert any("1 of 2 SMILES do not parse" in w.value and "valence" in w.value.lower() for w in at.warning)
    at.checkbox(key="inspect_preset_lipinski").uncheck().run()
    at.selectbox(key="inspect_detail").select(2).run()
    assert any("#2 is not a valid molecule: Explicit valence" in w.value and "at position 0" in w.value
               for w in at.warning)
    assert any("^" in c.value and "C(C)(C)(C)(C)C" in c.value for c in at.code)


def test_inspect_upload_and_histograms(app):
    at = _page(app, "views/inspect.py")
    at.radio(key="insp_source").set_value("Upload a file").run()
    at.file_uploader(key="insp_upload").set_value(("mols.png", b"\x89PNG....", "image/png")).run()
    assert any("unsupported file type" in e for e in _errors(at)), _errors(at)
    at.file_uploader(key="insp_upload").set_value(("mols.smi", b"CCO ethanol\nCCN amine\nxx bad\n", "text/plain")).run()
    assert not _errors(at), _errors(at)
    assert any("could not be read" in w.value for w in at.warning)
    assert _caption(at, "shown").startswith("2 of 2")
    at.checkbox(key="insp_ref").check().run()
    assert not at.exception and not _errors(at)
    assert len(at.get("vega_lite_chart")) == len(charts.HISTOGRAM_COLUMNS)


def test_latent_space_neighbours_interpolation_and_bad_smiles(app):
    at = _page(app, "views/latent.py")
    assert at.selectbox(key="lat_model").value == "tiny-gvae"
    at.text_input(key="lat_smiles").input("C1CC")  # inside a form: committed by the submit below
    at.button(key="lat_neigh_go").click().run()
    assert any("not a valid SMILES" in e for e in _errors(at)), _errors(at)
    at.text_input(key="lat_smiles").input("CCO")
    at.number_input(key="lat_n").set_value(6)
    at.number_input(key="lat_min_atoms").set_value(0)
    at.button(key="lat_neigh_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    centre, table = at.session_state["lat_neigh"]
    assert centre == "CCO" and "similarity" in table.columns
    at.slider(key="lat_steps").set_value(4)
    at.text_input(key="lat_b").input("c1ccccc1")
    at.button(key="lat_interp_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    path = at.session_state["lat_interp"]
    assert list(path["step"]) == [0, 1, 2, 3]
    assert any(h.proto.body.count("molgen-card") == 4 for h in at.get("html"))


def test_latent_space_optimise_panel(app):
    """The optimise tab runs Bayesian optimisation over the same function as ``molgen optimize``."""
    at = _page(app, "views/latent.py")
    at.number_input(key="lat_opt_budget").set_value(6)
    at.number_input(key="lat_opt_init").set_value(12)
    at.button(key="lat_opt_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    objective, best, traj, summary = at.session_state["lat_opt"]
    assert objective.startswith("QED") and (traj.source == "proposal").sum() == 6
    assert summary["invalid"] == (~traj[traj.source == "proposal"].valid).sum()
    assert "qed" in best.columns and best["qed"].is_monotonic_decreasing
    assert [m.label for m in at.metric][:2] == ["Best", "Mean of the top 10"]


def test_training_runs_page(app, models_dir, tmp_path):
    at = _page(app, "views/runs.py")
    assert at.multiselect(key="runs_shipped").value == ["tiny-gvae", "tiny-weak"]
    assert not _errors(at)
    metrics = at.dataframe[0].value
    assert "validity" in metrics.index and list(metrics.columns) == ["tiny-gvae", "tiny-weak"]
    assert len(at.get("vega_lite_chart")) >= 2  # losses and schedule at least
    assert any("[train]" in c.value for c in at.code)  # the config
    at.text_area(key="runs_extra").input(f"{tmp_path}\n{models_dir / 'tiny-gvae'}").run()
    assert any("not a molgen run directory" in e for e in _errors(at)), _errors(at)
    assert not at.exception


def test_generation_matches_the_command_line_sampler(models_dir):
    from molgen.sampling import sample_table

    model = models.load_generator(models_dir / "tiny-gvae" / "model.pt")
    calls = []
    got = models.generate_table(model, 10, temperature=0.8, seed=5, progress=lambda f, msg: calls.append(f), chunk=4)
    expected = sample_table(model, 10, temperature=0.8, seed=5)
    assert got.equals(expected)  # same rows as `molgen sample --seed 5 --temperature 0.8 -n 10`
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)
    with pytest.raises(Exception, match="at least 1"):
        models.generate_table(model, 0)


def test_latent_page_refuses_a_model_without_encoder(app, models_dir, tmp_path, monkeypatch):
    class NoEncoder:
        kind = "organ"
        checkpoint: dict = {}

        def sample(self, n, **kwargs):
            return ["CCO"] * n

    ckpt = tmp_path / "organ.pt"
    shutil.copy(models_dir / "tiny-gvae" / "model.pt", ckpt)  # a new path: not in the model cache
    monkeypatch.setattr(models, "load_generator", lambda path: NoEncoder())
    at = _page(app, "views/latent.py")
    at.selectbox(key="lat_model").select(at.selectbox(key="lat_model").options[-1]).run()
    at.text_input(key="lat_model_path").input(str(ckpt)).run()
    assert any("without an encoder" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "lat_neigh_go" not in [b.key for b in at.button]
