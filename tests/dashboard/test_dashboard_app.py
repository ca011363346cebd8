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

import pandas as pd
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


def _grid(at) -> str:
    """The molecule cards of the grid, in grid order (one HTML element each)."""
    cards = [h.proto.body for h in at.get("html") if "molgen-card" in h.proto.body]
    assert cards, "no molecule card on the page"
    return "".join(cards)


def _selection_list(at, key: str):
    """The selection list of the molecule browser ``key`` (its widget key carries the selection's version)."""
    return next(m for m in at.multiselect if m.key and m.key.startswith(f"{key}_selected_"))


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
    assert _grid(at).count("molgen-card") == 12  # the grid draws every row of the page
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download CSV", "Download SDF"], downloads
    _selection_list(at, "generated").select(2).select(5).run()
    assert at.session_state["generated_basket"] == [2, 5]
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download CSV", "Download SDF", "Download selection CSV", "Download selection SDF"]
    # The files are made on click, and the click must not rerun the page: the rerun could clear the
    # file's answer before it was sent, and the button then spun for ever (CI, a loaded machine).
    assert all(b.proto.deferred_file_id and b.proto.ignore_rerun for b in at.get("download_button"))
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
    html = _grid(at)
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
    at.checkbox(key="insp_ref_Upload a file").check().run()
    assert not at.exception and not _errors(at)
    assert len(at.get("vega_lite_chart")) == len(charts.HISTOGRAM_COLUMNS)


def _chart_sets(chart) -> tuple[set[str], dict]:
    """The ``set`` values a histogram draws (its data and named data sets) and its colour legend."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    frames = [convert_arrow_bytes_to_pandas_df(chart.proto.data.data)] if chart.proto.data.data else []
    frames += [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]
    spec = json.loads(chart.proto.spec)
    legend = spec["encoding"]["color"]["legend"]
    return {v for f in frames if "set" in f.columns for v in f["set"]}, legend


def test_inspect_overlay_draws_the_training_set_on_the_first_tick(app):
    """Issue 18 #3: one tick of "overlay the training set" and every histogram carries the training
    set's series, its legend below the plot with labels never truncated; unticked, the set alone."""
    at = _page(app, "views/inspect.py")
    assert not at.checkbox(key="insp_ref_Paste SMILES").value  # six molecules: off by default
    assert all(_chart_sets(c)[0] == {"this set"} for c in at.get("vega_lite_chart"))
    at.checkbox(key="insp_ref_Paste SMILES").check().run()
    drawn = [_chart_sets(c) for c in at.get("vega_lite_chart")]
    assert len(drawn) == len(charts.HISTOGRAM_COLUMNS)
    for sets, legend in drawn:
        assert sets == {"this set", "training set"}
        assert legend["orient"] == "bottom" and legend["labelLimit"] == 0
    assert not at.get("progress"), "the training set's progress bar gives way to the histograms"
    at.checkbox(key="insp_ref_Paste SMILES").uncheck().run()
    assert all(_chart_sets(c)[0] == {"this set"} for c in at.get("vega_lite_chart"))


def test_a_large_set_opens_with_the_training_set_overlaid(app):
    """Fresh eyes: after the six pasted examples (overlay off), the first 100 molecules of a shipped
    file opened the distributions with the overlay still off (the box kept the paste's state), so
    the expanded histograms showed no training set; each source now has its own default."""
    at = _page(app, "views/inspect.py")
    assert not at.checkbox(key="insp_ref_Paste SMILES").value
    at.session_state["insp_limit"] = 100
    at.radio(key="insp_source").set_value("Shipped data set").run()
    assert not at.exception and not _errors(at), _errors(at)
    assert _caption(at, "shown").startswith("100 of 100")
    assert at.checkbox(key="insp_ref_Shipped data set").value
    assert all(_chart_sets(c)[0] == {"this set", "training set"} for c in at.get("vega_lite_chart"))


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
    path_downloads = [b for b in at.get("download_button") if b.proto.label.startswith("Download path")]
    assert len(path_downloads) == 2 and all(b.proto.ignore_rerun for b in path_downloads)


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
    assert any("is an organ model without an encoder" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "lat_neigh_go" not in [b.key for b in at.button]


# ----------------------------------------------------------------------------- issue 18: dashboard hardening


def _card_ids(at) -> list[int]:
    """The ``#n`` of every card of the grid, in grid order."""
    return [int(n) for n in re.findall(r"<b>#(\d+)</b>", _grid(at))]


def test_bad_expression_leaves_the_other_filters_on(app):
    """#1: a typo in the expression keeps the slider and preset filters in force and says it is not applied."""
    at = _page(app, "views/inspect.py")
    at.slider(key="inspect_rng_mw_0_1000").set_value((0.0, 160.0)).run()
    assert _caption(at, "shown").startswith("1 of 6")
    for typo in ("mww > 1", "qed > 0.5 && mw < 300", "(qed > 0.5"):
        at.text_input(key="inspect_expr").input(typo).run()
        assert _caption(at, "shown").startswith("1 of 6"), typo  # before the fix: "6 of 6"
        assert any(e.startswith("filter expression not applied") for e in _errors(at)), _errors(at)
        assert any("still applied" in c.value for c in at.caption)


def test_sort_puts_the_best_first_everywhere(app):
    """#2: QED sorts descending by default; the grid, the table and the download agree."""
    at = _page(app, "views/inspect.py")
    at.selectbox(key="inspect_sort").select("qed").run()
    assert at.toggle(key="inspect_desc_qed").value
    table = _table(at)
    assert table["qed"].is_monotonic_decreasing
    assert _card_ids(at) == list(table.index)
    labels = at.selectbox(key="inspect_sort").options  # readable names, as the sliders and the detail have
    assert {"QED", "SA score (1 easy – 10 hard)", "Molecular weight (Da)"} <= set(labels) and "qed" not in labels
    assert "cLogP (Crippen)" in at.multiselect(key="inspect_ranged").options
    at.selectbox(key="inspect_sort").select("sa").run()
    assert not at.toggle(key="inspect_desc_sa").value  # lower SA (easier synthesis) is better
    assert _table(at)["sa"].is_monotonic_increasing


def test_salts_are_standardised_flagged_and_not_drugs(app):
    """#4: uploads and pastes are standardised by default, multi-fragment/inorganic inputs flagged,
    and Lipinski does not pass table salt."""
    at = _page(app, "views/inspect.py")
    at.text_area(key="insp_text").input("[Na+].[Cl-] salt\nCC(=O)[O-].[Na+] sodium acetate\nCCO ethanol").run()
    assert at.toggle(key="insp_standardize_Paste SMILES").value
    table = _table(at)
    assert table["smiles"].tolist() == ["Cl", "CC(=O)O", "CCO"]
    assert "inorganic (no carbon)" in table.loc[1, "flags"] and "2 fragments" in table.loc[2, "flags"]
    assert any("2 of 3 inputs are flagged" in i.value for i in at.info)
    grid = _grid(at)
    assert grid.count("molgen-flag") == 2
    at.checkbox(key="inspect_preset_lipinski").check().run()
    assert _caption(at, "shown").startswith("2 of 3")


def test_default_model_is_the_most_valid_and_results_go_stale(app):
    """#5 and #6: the default model is the best one; switching model marks the previous results stale;
    the generated sets are kept per model and compared side by side."""
    at = app
    assert at.selectbox(key="gen_model").options[:2] == ["tiny-gvae · 60.0% valid", "tiny-weak · 1.0% valid"]
    at.number_input(key="gen_n").set_value(8)
    at.button(key="gen_go").click().run()
    assert not any("Stale" in w.value for w in at.warning)
    at.selectbox(key="gen_model").select("tiny-weak").run()
    assert any("Stale" in w.value and "tiny-gvae" in w.value for w in at.warning)
    at.button(key="gen_go").click().run()
    assert not any("Stale" in w.value for w in at.warning)
    assert list(at.session_state["gen_sets"]) == ["tiny-gvae", "tiny-weak"]
    assert at.multiselect(key="gen_compare_tiny-gvae|tiny-weak").value == ["tiny-gvae", "tiny-weak"]
    compare = next(df.value for df in at.dataframe if "model" in df.value.columns)
    assert compare["model"].tolist() == ["tiny-gvae", "tiny-weak"]
    assert len(at.get("vega_lite_chart")) == len(charts.HISTOGRAM_COLUMNS)  # both models and the training set


def test_substructure_similarity_selection_and_scaffolds(app):
    """Features: substructure include/exclude with the match highlighted, a similarity column to sort
    by, MaxMin picks into the selection, scaffold groups, range filters on any column."""
    at = _page(app, "views/inspect.py")
    at.text_input(key="inspect_sub_in").input("c1ccccc1O").run()  # an aryl oxygen, pasted as SMILES
    assert _caption(at, "shown").startswith("4 of 6")  # aspirin, paracetamol, hydroxychalcone, 5-MeO-DMT
    grid = _grid(at)
    images = re.findall(r"base64,([^']*)'", grid)
    assert all("<ellipse" in base64.b64decode(i).decode() for i in images)  # the match is highlighted
    at.text_input(key="inspect_sub_out").input("C=CC(=O)").run()
    assert _caption(at, "shown").startswith("3 of 6")  # the chalcone's enone is excluded
    at.text_input(key="inspect_sub_in").input("c1ccc(").run()
    assert any("substructure (must contain) not applied" in e for e in _errors(at))
    at.text_input(key="inspect_sub_in").input("").run()
    at.text_input(key="inspect_sub_out").input("").run()
    at.text_input(key="inspect_ref").input("CC(=O)Nc1ccc(O)cc1").run()
    at.selectbox(key="inspect_sort").select("reference_similarity").run()
    table = _table(at)
    assert table.index[0] == 4 and table["reference_similarity"].iloc[0] == pytest.approx(1.0)
    at.multiselect(key="inspect_ranged").select("hbd").run()
    at.slider(key="inspect_rng_hbd_0_2").set_value((2.0, 2.0)).run()
    assert _caption(at, "shown").startswith("1 of 6")
    at.multiselect(key="inspect_ranged").unselect("hbd").run()
    groups = next(df.value for df in at.dataframe if "scaffold" in df.value.columns)
    assert groups.iloc[0]["scaffold"] == "c1ccccc1" and groups.iloc[0]["count"] == 3
    at.number_input(key="inspect_maxmin_k").set_value(3)
    at.button(key="inspect_maxmin_go").click().run()
    assert len(at.session_state["inspect_picked"]) == 3
    assert any("3 selected (3 by the MaxMin picker)" in c.value for c in at.caption)
    assert [b.proto.label for b in at.get("download_button")][-2:] == ["Download selection CSV", "Download selection SDF"]


def test_novelty_columns_and_filter(app, tmp_path, monkeypatch):
    """Features: per-molecule 'in training set' and nearest-training-neighbour similarity, novel-only."""

    train = tmp_path / "train.csv.gz"
    pd.DataFrame({"SMILES": ["CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1"]}).to_csv(train, index=False)
    monkeypatch.setattr(paths, "MOSES_DIR", tmp_path)
    at = app
    at.number_input(key="gen_n").set_value(10)
    at.button(key="gen_go").click().run()
    at.toggle(key="gen_novelty").set_value(True).run()
    assert not _errors(at), _errors(at)
    table = _table(at)
    assert {"in_training", "nn_similarity"} <= set(table.columns)
    assert any("exact match among the 3 molecules of train.csv.gz" in c.value for c in at.caption)
    at.checkbox(key="generated_novel").check().run()
    assert not _table(at)["in_training"].any()


def test_latent_page_shows_the_decoded_centre(app):
    """#9: the centre's decode and its similarity are shown, salts warned about, trivial neighbours dropped."""
    at = _page(app, "views/latent.py")
    at.text_input(key="lat_smiles").input("CC(=O)[O-].[Na+]")
    at.number_input(key="lat_n").set_value(6)
    at.number_input(key="lat_min_atoms").set_value(4)
    at.button(key="lat_neigh_go").click().run()
    assert not at.exception and not _errors(at), _errors(at)
    centre = at.session_state["lat_neigh_centre"]
    assert any("2 fragments (salt or mixture)" in w.value for w in at.warning)
    assert any("Centre (decode of the query's latent mean)" in m.value for m in at.markdown)
    if not centre.same:
        assert any("does not reconstruct" in w.value for w in at.warning)
    _, table = at.session_state["lat_neigh"]
    assert table.empty or (table["heavy_atoms"] >= 4).all()
    at.selectbox(key="lat_model").select("tiny-weak").run()
    assert any("Stale" in w.value for w in at.warning)


def test_training_runs_curated_metrics_and_overlay(app):
    """#10: the curated metrics table (grouped, arrows, best per row) with the full one behind an
    expander, the learning rate on its own chart, spikes clipped, runs overlaid."""
    at = _page(app, "views/runs.py")
    at.multiselect(key="runs_shipped").set_value([]).run()
    at.text_area(key="runs_extra").input(f"{paths.ROOT / 'data/models/gvae'}\n{paths.ROOT / 'data/models/cvae'}").run()
    assert not at.exception and not _errors(at), _errors(at)
    curated, full = at.dataframe[0].value, at.dataframe[1].value
    assert ("Validity and novelty", "valid ↑") in curated.index and list(curated.columns) == ["gvae", "cvae"]
    assert "kl/BertzCT" in full.index and len(full) > 2 * len(curated)
    assert at.radio(key="runs_scale").value == "clip early spikes"
    assert "lr" in at.selectbox(key="runs_overlay").options
    at.selectbox(key="runs_overlay").select("loss").run()
    assert not at.exception


def test_dashboard_and_cli_exports_are_the_same_table(models_dir, tmp_path):
    """#11: the Generate page's CSV download and `molgen sample --out x.csv` are one writer's output:
    same columns, same rows, same formatting, for the same model, seed and temperature."""
    from molgen.cli import main
    from molgen.dashboard import tables
    from molgen.sampling import provenance

    ckpt = str(models_dir / "tiny-gvae" / "model.pt")
    out = tmp_path / "cli.csv"
    assert main(["sample", "--model", ckpt, "-n", "9", "--seed", "4", "--temperature", "0.9", "--out", str(out),
                 "--no-progress"]) == 0
    model = models.load_generator(ckpt)
    table = tables.molecule_table(models.generate_table(model, 9, temperature=0.9, seed=4))
    download = tables.export_bytes(table, "csv", provenance(ckpt, 4, 0.9)).decode()
    assert download == out.read_text()


def _dialog_text(at) -> str:
    """Everything the detail dialog shows as markdown, code, HTML and captions ("" when it is closed)."""
    from streamlit.testing.v1.element_tree import Block

    def walk(node) -> list[str]:
        out = []
        for child in getattr(node, "children", {}).values():
            proto = getattr(child, "proto", None)
            for field in ("body", "code_text"):
                if proto is not None and hasattr(proto, field):
                    out.append(str(getattr(proto, field)))
            if isinstance(child, Block):
                out.extend(walk(child))
        return out

    dialogs = [b for b in _blocks(at._tree) if b.type == "dialog"]
    return "\n".join(t for d in dialogs for t in walk(d))


def _blocks(node):
    from streamlit.testing.v1.element_tree import Block

    for child in getattr(node, "children", {}).values():
        if isinstance(child, Block):
            yield child
            yield from _blocks(child)


def test_cards_open_the_detail_and_select_for_export(app):
    """Issue 18, clickable cards: a card's Details opens the molecule in a dialog (drawing, properties,
    SMILES); its Select box puts the molecule in the selection the downloads are restricted to, the
    selection survives a page change, and the dialog's own toggle and the table's rows edit the same list."""
    at = _page(app, "views/inspect.py")
    assert not _dialog_text(at)
    at.button(key="inspect_open_4").click().run()
    text = _dialog_text(at)
    assert "CC(=O)Nc1ccc(O)cc1" in text and "molgen-detail" in text  # paracetamol, drawn large
    sheets = [df.value for df in at.dataframe if list(df.value.columns) == ["property", "value"]]
    assert any("QED" in s["property"].tolist() for s in sheets)
    assert any("Nearest training molecule" in c.value for c in at.caption)  # novelty off: says how to get it
    at.run()
    assert not _dialog_text(at)  # opened by the click, not on every rerun

    at.checkbox(key="inspect_pick_2").check().run()
    at.checkbox(key="inspect_pick_5").check().run()
    assert at.session_state["inspect_basket"] == [2, 5] and _selection_list(at, "inspect").value == [2, 5]
    assert [b.proto.label for b in at.get("download_button")][-2:] == ["Download selection CSV", "Download selection SDF"]
    at.selectbox(key="inspect_per_page").select(12)
    at.run()
    at.checkbox(key="inspect_pick_2").uncheck().run()
    assert at.session_state["inspect_basket"] == [5] and _selection_list(at, "inspect").value == [5]
    assert at.checkbox(key="inspect_pick_5").value and not at.checkbox(key="inspect_pick_2").value

    at.button(key="inspect_open_1").click().run()  # the dialog's toggle edits the same selection
    at.toggle(key="inspect_dialog_pick_1").set_value(True).run()
    assert at.session_state["inspect_basket"] == [5, 1]
    at.run()  # closing the dialog reruns the page
    assert at.checkbox(key="inspect_pick_1").value and _selection_list(at, "inspect").value == [1, 5]
    _selection_list(at, "inspect").unselect(5).run()  # the list edits the same selection
    assert at.session_state["inspect_basket"] == [1] and not at.checkbox(key="inspect_pick_5").value


def test_detail_shows_the_nearest_training_molecule(app, tmp_path, monkeypatch):
    """Issue 18, the detail view: with the training set compared, the nearest training molecule is
    drawn with its similarity; a molecule of the training set is said to be not novel."""
    train = tmp_path / "train.csv.gz"
    pd.DataFrame({"SMILES": ["CCO", "CC(=O)Nc1ccc(OC)cc1", "CC(=O)Oc1ccccc1C(=O)O"]}).to_csv(train, index=False)
    monkeypatch.setattr(paths, "MOSES_DIR", tmp_path)
    at = _page(app, "views/inspect.py")
    at.toggle(key="insp_novelty").set_value(True).run()
    assert not _errors(at), _errors(at)
    at.button(key="inspect_open_4").click().run()  # paracetamol: its methyl ether is the nearest
    text = _dialog_text(at)
    assert "Nearest training molecule" in text and "COc1ccc(NC(C)=O)cc1" in text and "molgen-neighbour" in text
    at.run()
    at.button(key="inspect_open_1").click().run()  # aspirin is in the training set
    assert any("this molecule is not novel" in i.value for i in at.info)


def test_an_uploaded_activity_column_is_shown_sorted_and_exported(app):
    """Fresh eyes: a CSV's activity column was dropped without a word; it is now in the table, sorts
    (Sort by), filters (Range filters on) and goes into the download with its molecule."""
    from molgen.dashboard import tables

    at = _page(app, "views/inspect.py")
    at.radio(key="insp_source").set_value("Upload a file").run()
    data = b"compound_id,smiles,activity\nCPD-1,CCO,5.1\nCPD-2,c1ccccc1O,7.5\nCPD-3,CC(=O)Nc1ccc(O)cc1,6.0\n"
    at.file_uploader(key="insp_upload").set_value(("mine.csv", data, "text/csv")).run()
    assert not _errors(at), _errors(at)
    shown = _table(at)
    assert shown["activity"].tolist() == [5.1, 7.5, 6.0] and shown["name"].tolist() == ["CPD-1", "CPD-2", "CPD-3"]
    assert "activity" in at.selectbox(key="inspect_sort").options
    assert "activity" in at.multiselect(key="inspect_ranged").options
    at.selectbox(key="inspect_sort").select("activity").run()
    at.toggle(key="inspect_desc_activity").set_value(True).run()
    assert _table(at)["activity"].tolist() == [7.5, 6.0, 5.1] and _card_ids(at) == [2, 3, 1]
    exported = tables.export_bytes(_table(at), "csv").decode().splitlines()
    assert "activity" in exported[0].split(",") and exported[1].startswith("2,")
