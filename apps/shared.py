"""Widgets shared by the dashboard pages: model picker, molecule browser, cached wrappers.

Layout only: the computations are in :mod:`molgen.dashboard`; this module adds Streamlit
caching and widgets around them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

import pandas as pd
import streamlit as st

from molgen.dashboard import charts, depict, inputs, models, runs, tables
from molgen.errors import MolgenError

log = logging.getLogger("molgen.dashboard")

OTHER_MODEL = "Other: run directory or checkpoint…"
CHUNK = 2000  # molecules per cached property chunk (big enough for worker processes)


# ----------------------------------------------------------------------------- errors


class Outcome:
    """Set by :func:`user_errors`: ``failed`` is True when the block raised."""

    failed = False


@contextlib.contextmanager
def user_errors(what: str = "") -> Iterator[Outcome]:
    """Show any exception raised in the block as one ``st.error`` (never a stack trace)."""
    outcome = Outcome()
    prefix = f"{what}: " if what else ""
    try:
        yield outcome
    except MolgenError as exc:
        outcome.failed = True
        text = str(exc)
        if "\n" in text:  # filter expressions carry a caret line: keep it aligned
            first, _, rest = text.partition("\n")
            st.error(f"{prefix}{first}")
            st.code(rest, language=None)
        else:
            st.error(prefix + text)
    except Exception as exc:  # noqa: BLE001 - the page never shows a traceback; the server log keeps it
        outcome.failed = True
        log.exception("dashboard: unexpected error%s", f" ({what})" if what else "")
        st.error(f"{prefix}unexpected error ({type(exc).__name__}): {exc}")


# ----------------------------------------------------------------------------- models


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def _load_model(path: str, mtime: float) -> Any:
    return models.load_generator(path)


def model_picker(key: str, latent_only: bool = False) -> Any | None:
    """Select box of shipped models plus a path field; returns the loaded model or ``None`` (error shown)."""
    names = models.shipped_model_names()
    options = names + [OTHER_MODEL]
    choice = st.selectbox(
        "Model", options, key=f"{key}_model",
        help="Shipped models live in data/models/; 'Other' loads a run directory or a .pt checkpoint you trained.",
    )
    if choice == OTHER_MODEL:
        text = st.text_input(
            "Run directory or checkpoint (.pt)", key=f"{key}_model_path",
            placeholder="runs/gvae  or  runs/gvae/checkpoints/best.pt",
        )
        if not text.strip():
            if not names:
                st.info("No shipped models are installed: type the path of a run directory or checkpoint.")
            return None
    else:
        text = choice
    with user_errors("Cannot load the model") as out:
        path = models.resolve_checkpoint(text)
        model = _load_model(*models.checkpoint_key(path))
    if out.failed:
        return None
    if latent_only and not models.is_latent(model):
        st.warning(f"{text} is a {getattr(model, 'kind', '?')} model without an encoder: "
                   "the latent space needs a Grammar VAE or character VAE.")
        return None
    summary = models.model_summary(model)
    st.caption(" · ".join(f"{k}: {v}" for k, v in summary.items() if k != "command"))
    return model


# ----------------------------------------------------------------------------- input sets, properties

# Input sets are parsed once, not on every rerun (errors are not cached: they raise again).
read_pasted = st.cache_data(inputs.parse_pasted, show_spinner=False, max_entries=8)
read_upload = st.cache_data(inputs.read_upload, show_spinner="Reading the file…", max_entries=4)
read_shipped_data = st.cache_data(inputs.read_shipped_data, show_spinner="Reading the data set…", max_entries=4)


@st.cache_data(show_spinner=False, max_entries=256)
def _chunk_properties(smiles: tuple[str, ...], alerts: bool) -> pd.DataFrame:
    return tables.chunk_properties(smiles, alerts=alerts, n_jobs=None if len(smiles) >= 2000 else 1)


def properties_with_progress(smiles: list[str], alerts: bool = True) -> pd.DataFrame:
    """Properties of ``smiles``, computed in cached chunks behind a progress bar.

    The whole table is also kept in the session for the last input, so a rerun (a filter or
    page change) costs one hash of the SMILES instead of re-assembling 100,000 rows.
    """
    memo_key = (hash(tuple(smiles)), len(smiles), alerts)
    memo = st.session_state.get("_properties_memo")
    if memo is not None and memo[0] == memo_key:
        return memo[1]
    table = _properties_in_chunks(smiles, alerts)
    st.session_state["_properties_memo"] = (memo_key, table)
    return table


def _properties_in_chunks(smiles: list[str], alerts: bool) -> pd.DataFrame:
    parts = tables.chunks(smiles, CHUNK)
    if len(parts) <= 1:
        with st.spinner(f"Computing properties of {len(smiles):,} molecules…"):
            return _chunk_properties(tuple(smiles), alerts) if smiles else tables.chunk_properties([], alerts=alerts)
    bar = st.progress(0.0, text="Computing properties…")
    frames = []
    for i, part in enumerate(parts):
        frames.append(_chunk_properties(tuple(part), alerts))
        done = min((i + 1) * CHUNK, len(smiles))
        bar.progress((i + 1) / len(parts), text=f"Computing properties… {done:,} / {len(smiles):,}")
    bar.empty()
    return pd.concat(frames, ignore_index=True)


@st.cache_data(show_spinner="Computing training-set properties (once)…", max_entries=2, persist="disk")
def reference_properties(n: int) -> pd.DataFrame:
    """Properties of a fixed random sample of the shipped MOSES training set."""
    return tables.chunk_properties(charts.reference_smiles(n=n), alerts=False, n_jobs=None)


# ----------------------------------------------------------------------------- molecule browser


def _filter_widgets(table: pd.DataFrame, key: str) -> tables.FilterChoice:
    choice = tables.FilterChoice()
    with st.expander("Filters", expanded=False):
        cols = st.columns(len(tables.SLIDERS))
        for col, (name, (label, _, _, step)) in zip(cols, tables.SLIDERS.items()):
            lo, hi = tables.slider_bounds(table, name)
            # The bounds are part of the key: new data with a wider range starts a fresh slider.
            value = col.slider(label, lo, hi, (lo, hi), step=step, key=f"{key}_rng_{name}_{lo:g}_{hi:g}")
            if tuple(value) != (lo, hi):
                choice.ranges[name] = (float(value[0]), float(value[1]))
        presets = tables.filter_presets()
        pcols = st.columns(len(presets) + 1)
        choice.valid_only = pcols[0].checkbox("Valid only", key=f"{key}_valid")
        for pc, preset in zip(pcols[1:], presets):
            if pc.checkbox(tables.preset_label(preset), key=f"{key}_preset_{preset}"):
                choice.presets.append(preset)
        choice.expression = st.text_input(
            "Filter expression", key=f"{key}_expr",
            placeholder="qed >= 0.6 and mw <= 450 and not pains",
            help="Columns: qed, sa, mw, logp, tpsa, hbd, hba, rotatable_bonds, rings, aromatic_rings, "
            "heavy_atoms, formal_charge, fsp3, lipinski_violations, pains, brenk, nih, valid. "
            "Operators: < <= > >= == !=, between … and …, and, or, not; presets (lipinski, veber, "
            "ghose, lead_like) as names.",
        )
    return choice


def molecule_browser(table: pd.DataFrame, key: str, title: str = "molecules") -> pd.DataFrame:
    """Filters, sort, paginated grid, sortable table, detail view and downloads for a molecule table.

    ``table`` is indexed by molecule number (shown as ``#n``). Returns the filtered table.
    """
    choice = _filter_widgets(table, key)
    shown = table
    if choice.is_active():
        with user_errors("Filter") as out:
            shown = table[tables.filter_mask(table, choice)]
        if out.failed:
            shown = table
    sortable = [c for c in ("qed", "sa", "mw", "logp", "tpsa", "similarity", "step") if c in table.columns]
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    sort_by = c1.selectbox("Sort by", ["(original order)"] + sortable, key=f"{key}_sort")
    descending = c2.toggle("Descending", value=sort_by in ("qed", "similarity"), key=f"{key}_desc")
    shown = tables.sort_table(shown, None if sort_by.startswith("(") else sort_by, ascending=not descending)
    per_page = c3.selectbox("Per page", [12, 24, 48, 96], index=1, key=f"{key}_per_page")
    pages = tables.n_pages(len(shown), per_page)
    page = c4.number_input(f"Page (of {pages})", 1, pages, 1, key=f"{key}_page")
    st.caption(f"{len(shown):,} of {len(table):,} {title} shown"
               + (f" · {int(shown['valid'].sum()):,} valid" if "valid" in shown.columns else ""))

    on_page = tables.page_slice(shown, int(page), int(per_page))
    grid_tab, table_tab, detail_tab = st.tabs(["Grid", "Table", "Molecule detail"])
    with grid_tab:
        st.html(depict.grid_html(on_page, columns=6))
    with table_tab:
        st.dataframe(
            shown[tables.display_columns(shown)], height=420, key=f"{key}_table",
            column_config={
                "smiles": st.column_config.TextColumn("SMILES", width="large"),
                "qed": st.column_config.NumberColumn("QED", format="%.3f"),
                "sa": st.column_config.NumberColumn("SA", format="%.2f"),
                "mw": st.column_config.NumberColumn("MW", format="%.1f"),
                "logp": st.column_config.NumberColumn("logP", format="%.2f"),
                "tpsa": st.column_config.NumberColumn("TPSA", format="%.1f"),
                "similarity": st.column_config.NumberColumn("similarity", format="%.3f"),
            },
        )
    with detail_tab:
        molecule_detail(on_page, key)
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button("Download CSV", lambda: tables.table_csv(shown[tables.display_columns(shown)]),
                       file_name=f"{key}.csv", mime="text/csv", key=f"{key}_csv")
    d2.download_button("Download SDF", lambda: tables.table_sdf(shown[tables.display_columns(shown)]),
                       file_name=f"{key}.sdf", mime="chemical/x-mdl-sdfile", key=f"{key}_sdf")
    return shown


def molecule_detail(table: pd.DataFrame, key: str) -> None:
    """One molecule of ``table`` (the grid page shown): large drawing with its alert atoms highlighted,
    every property, and why it does not parse if it does not."""
    if table.empty:
        st.info("No molecule to show.")
        return
    number = st.selectbox("Molecule # (on this grid page)", list(table.index), key=f"{key}_detail",
                          format_func=lambda i: f"#{i}  {str(table.at[i, 'smiles'])[:60]}")
    row = table.loc[number]
    smiles = str(row["smiles"])
    left, right = st.columns([3, 2])
    with left:
        matches = depict.alert_matches(smiles)
        svg, legend = depict.highlighted_svg(smiles, matches)
        st.html(depict.svg_img(svg, alt=smiles, style="max-width:100%;height:auto", css_class="molgen-detail"))
        if legend:
            st.html(depict.legend_html(legend))
        st.code(smiles, language=None)
    with right:
        st.dataframe(tables.property_sheet(row), height=520, hide_index=True, width="stretch")
    if not row.get("valid", True):
        st.warning("This SMILES does not parse: " + "; ".join(inputs.invalid_messages([smiles])))


# ----------------------------------------------------------------------------- runs


@st.cache_data(show_spinner=False, max_entries=64)
def _read_run(path: str, name: str | None, stamp: tuple) -> Any:
    return runs.read_run(path, name)


def run_info(path: str, name: str | None) -> Any:
    """:func:`molgen.dashboard.runs.read_run`, cached until one of the run's files changes."""
    p = runs.validate_run_dir(path)
    return _read_run(str(p), name, runs.run_stamp(p))
