"""Widgets shared by the dashboard pages: model picker, molecule browser, cached wrappers.

Layout only: the computations are in :mod:`molgen.dashboard`; this module adds Streamlit
caching and widgets around them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, Iterator

import pandas as pd
import streamlit as st

from molgen.dashboard import charts, depict, inputs, models, novelty, runs, selection, tables
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
        format_func=lambda name: name if name == OTHER_MODEL else models.model_label(name),
        help="Shipped models live in data/models/, the most valid first (validity from each model's report); "
        "'Other' loads a run directory or a .pt checkpoint you trained.",
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
        st.warning(f"{text} is {models.with_article(getattr(model, 'kind', '?'))} model without an encoder: "
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
prepare_molecules = st.cache_data(inputs.prepare_molecules, show_spinner="Checking the structures…", max_entries=8)


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


REFERENCE_CHUNK = 500  # training molecules per cached chunk of the reference histograms


@st.cache_data(show_spinner=False, max_entries=2)
def _reference_smiles(n: int) -> list[str]:
    return charts.reference_smiles(n=n)


@st.cache_data(show_spinner=False, max_entries=64, persist="disk")
def _reference_chunk(smiles: tuple[str, ...]) -> pd.DataFrame:
    return tables.chunk_properties(smiles, alerts=False, n_jobs=None)


def reference_properties(n: int, area: Any | None = None) -> pd.DataFrame:
    """Properties of a fixed random sample of ``n`` molecules of the shipped MOSES training set.

    Computed once (kept on disk between servers) in chunks behind a progress bar. Pass ``area``, the
    ``st.empty`` the histograms are drawn in: the bar then takes their place, so the histograms of the
    set alone are not left on screen while the training set is computed (on a fresh clone that took
    long enough for "overlay the training set" to look as if it had done nothing, issue 18 #3).
    """
    memo = st.session_state.get("_reference_memo")
    if memo is not None and memo[0] == n:
        return memo[1]
    smiles = _reference_smiles(n)
    parts = tables.chunks(smiles, REFERENCE_CHUNK)
    text = f"Computing the properties of {len(smiles):,} training-set molecules (first use only)…"
    bar = (area if area is not None else st).progress(0.0, text=text)
    frames = []
    for i, part in enumerate(parts):
        frames.append(_reference_chunk(tuple(part)))
        bar.progress((i + 1) / len(parts), text=f"{text} {min((i + 1) * REFERENCE_CHUNK, len(smiles)):,} / "
                     f"{len(smiles):,}")
    if area is None:
        bar.empty()
    table = pd.concat(frames, ignore_index=True) if frames else tables.chunk_properties([], alerts=False)
    st.session_state["_reference_memo"] = (n, table)
    return table


@st.cache_resource(show_spinner=False, max_entries=1)
def _training_index(path: str, mtime: float) -> Any:
    bar = st.progress(0.0, text="Reading the training set…")
    index = novelty.load_training_index(path, progress=lambda f, message: bar.progress(f, text=message))
    bar.empty()
    return index


def training_index(path: str | None = None) -> Any:
    """:func:`molgen.dashboard.novelty.build_training_index` of the training file, built once per server
    (behind a progress bar) and rebuilt when the file changes."""
    file = inputs.training_file(path)
    return _training_index(str(file), file.stat().st_mtime)


def compare_with_training(table: pd.DataFrame, key: str, memo: dict) -> tuple[pd.DataFrame, Any | None]:
    """The "Compare with the training set" toggle: ``table`` with ``in_training`` and ``nn_similarity``
    and the training index (for the detail view's nearest molecule), or ``table`` and ``None`` when off.

    The columns are kept in ``memo`` (the generated set's record, or the page's) under the set's
    SMILES, so a filter change does not recompute them.
    """
    if not st.toggle("Compare with the training set (novelty)", key=f"{key}_novelty",
                     help="Adds 'in training set' and the Tanimoto similarity to the nearest training molecule, "
                     "the 'Novel only' filter, and the nearest training molecule in the detail view. The very "
                     "first use indexes the training set (minutes on a busy machine); the index is then "
                     "cached on disk and loads in seconds."):
        return table, None
    index = None
    with user_errors("Training set"):
        index = training_index()
        stamp = (len(table), hash(tuple(table["smiles"])))
        if memo.get("novelty_of") != stamp:  # once per set, not on every filter change
            with st.spinner("Comparing with the training set…"):
                memo["novelty"] = novelty.novelty_columns(table, index)
            memo["novelty_of"] = stamp
        table = table.join(memo["novelty"])
        st.caption(index.description)
    return table, index


# ----------------------------------------------------------------------------- molecule browser


def _filter_widgets(table: pd.DataFrame, key: str, valid_default: bool) -> tuple[tables.FilterChoice, str]:
    """The filter panel; returns the choice and the reference SMILES for the similarity column ("" for none)."""
    choice = tables.FilterChoice()
    with st.expander("Filters, substructure and similarity", expanded=False):
        flags = st.columns(6)
        choice.valid_only = flags[0].checkbox("Valid only", value=valid_default, key=f"{key}_valid")
        choice.unique_only = flags[1].checkbox("Unique only", key=f"{key}_unique",
                                               help="Keep the first row of each molecule (by canonical SMILES).")
        if "in_training" in table.columns:
            choice.novel_only = flags[2].checkbox("Novel only", key=f"{key}_novel",
                                                  help="Drop molecules found in the training set.")
        presets = st.columns(len(tables.filter_presets()))
        for pc, preset in zip(presets, tables.filter_presets()):
            if pc.checkbox(tables.preset_label(preset), key=f"{key}_preset_{preset}",
                           help="Rule presets never pass an inorganic input (no carbon)."):
                choice.presets.append(preset)
        s1, s2, s3 = st.columns(3)
        include = s1.text_input("Must contain (SMARTS or SMILES)", key=f"{key}_sub_in", placeholder="c1ccccc1C(=O)N",
                                help="Substructure search, as `molgen filter --smarts-include`; matches are "
                                "highlighted on the drawings.")
        exclude = s2.text_input("Must not contain (SMARTS or SMILES)", key=f"{key}_sub_out", placeholder="[N+](=O)[O-]")
        reference = s3.text_input("Similarity to (SMILES)", key=f"{key}_ref", placeholder="CC(=O)Nc1ccc(O)cc1",
                                  help="Adds a sortable column: Tanimoto similarity (Morgan r=2, as "
                                  "`molgen filter --similar-to`) to this molecule.")
        choice.smarts_include = [include.strip()] if include.strip() else []
        choice.smarts_exclude = [exclude.strip()] if exclude.strip() else []
        numeric = tables.numeric_columns(table) + (["reference_similarity"] if reference.strip() else [])
        ranged = st.multiselect("Range filters on", numeric, default=[c for c in tables.SLIDERS if c in numeric],
                                key=f"{key}_ranged", help="Any numeric column can be filtered by range.",
                                format_func=tables.column_label)
        cols = st.columns(min(5, max(1, len(ranged))))
        for i, name in enumerate(ranged):
            if name not in table.columns:
                continue
            lo, hi = tables.slider_bounds(table, name)
            label = tables.SLIDERS[name][0] if name in tables.SLIDERS else tables.PROPERTY_LABELS.get(name, name)
            # The bounds are part of the key: new data with a wider range starts a fresh slider.
            value = cols[i % len(cols)].slider(label, lo, hi, (lo, hi), step=tables.slider_step(table, name),
                                               key=f"{key}_rng_{name}_{lo:g}_{hi:g}")
            if tuple(value) != (lo, hi):
                choice.ranges[name] = (float(value[0]), float(value[1]))
        choice.expression = st.text_input(
            "Filter expression", key=f"{key}_expr",
            placeholder="qed >= 0.6 and mw <= 450 and not pains",
            help="Columns: qed, sa, mw, logp, tpsa, hbd, hba, rotatable_bonds, rings, aromatic_rings, "
            "heavy_atoms, formal_charge, fsp3, lipinski_violations, pains, brenk, nih, valid, and any other "
            "numeric column shown (nn_similarity, reference_similarity…). Operators: < <= > >= == !=, "
            "between … and …, and, or, not; presets (lipinski, veber, ghose, lead_like) as names.",
        )
    return choice, reference.strip()


def _show_not_applied(messages: list[str]) -> None:
    for text in messages:
        first, _, rest = text.partition("\n")
        st.error(first)
        if rest:
            st.code(rest, language=None)
    if messages:
        st.caption("The other filters are still applied.")


def molecule_browser(
    table: pd.DataFrame, key: str, title: str = "molecules", *, valid_default: bool = False,
    provenance: dict[str, Any] | None = None, export_stem: str | None = None, training: Any | None = None,
    own_columns: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Filters, substructure and similarity, sort, paginated grid of clickable cards, sortable table,
    scaffolds and diversity picking, selection, detail view and downloads for a molecule table.

    ``table`` is indexed by molecule number (``id``, shown as ``#n``). Downloads go through the
    CLI's writer with ``provenance`` columns. ``training`` (a :class:`molgen.dashboard.novelty.TrainingIndex`)
    adds the nearest training molecule to the detail view; ``own_columns`` (an upload's activity…)
    are shown in the table after the computed ones. Returns the filtered, sorted table.
    """
    choice, reference = _filter_widgets(table, key, valid_default)
    if reference:
        with user_errors("Similarity"):
            table = table.assign(reference_similarity=tables.similarity_column(table, reference))
    shown = table
    with user_errors("Filter"):
        outcome = tables.filter_table(table, choice)
        shown = table[outcome.mask.to_numpy()]
        _show_not_applied(outcome.not_applied)
    sortable = tables.sortable_columns(shown)
    if st.session_state.get(f"{key}_sort") not in (None, "(original order)", *sortable):
        st.session_state[f"{key}_sort"] = "(original order)"  # a column the new data lacks
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    sort_by = c1.selectbox("Sort by", ["(original order)"] + sortable, key=f"{key}_sort",
                           format_func=tables.column_label,
                           help="The grid, the table and the downloads all follow this order.")
    column = None if sort_by.startswith("(") else sort_by
    # One toggle per column: "higher is better" columns (QED, similarity) start descending. The state
    # is seeded here, not with value=, so a header click may set it too (see _table_clicked).
    desc_key = f"{key}_desc_{sort_by}"
    if desc_key not in st.session_state:
        st.session_state[desc_key] = tables.default_descending(column)
    descending = c2.toggle("Descending", key=desc_key)
    shown = tables.sort_table(shown, column, ascending=not descending)
    per_page = c3.selectbox("Per page", [12, 24, 48, 96], index=1, key=f"{key}_per_page")
    pages = tables.n_pages(len(shown), per_page)
    page = c4.number_input(f"Page (of {pages})", 1, pages, 1, key=f"{key}_page")
    st.caption(f"{len(shown):,} of {len(table):,} {title} shown"
               + (f" · {int(shown['valid'].sum()):,} valid" if "valid" in shown.columns else ""))

    on_page = tables.page_slice(shown, int(page), int(per_page))
    highlight = choice.smarts_include[0] if choice.smarts_include else None
    grid_tab, table_tab, scaffold_tab, detail_tab = st.tabs(["Grid", "Table", "Scaffolds & diversity", "Molecule detail"])
    with grid_tab:
        opened = _card_grid(on_page, key, highlight, set(_selected_ids(table, key)))
    with table_tab:
        # Clicking a column header selects the column (which turns the grid's own, view-only header
        # sort off) and sorts by it through the "Sort by" control: grid, table and downloads agree.
        st.dataframe(
            shown[tables.display_columns(shown, own_columns)], height=420, key=f"{key}_table",
            on_select=functools.partial(_table_clicked, key, sortable, list(shown.index)),
            selection_mode=["multi-row", "single-column"],
            column_config={
                "smiles": st.column_config.TextColumn("SMILES", width="large"),
                "qed": st.column_config.NumberColumn("QED", format="%.3f"),
                "sa": st.column_config.NumberColumn("SA", format="%.2f"),
                "mw": st.column_config.NumberColumn("MW", format="%.1f"),
                "logp": st.column_config.NumberColumn("logP", format="%.2f"),
                "tpsa": st.column_config.NumberColumn("TPSA", format="%.1f"),
                "similarity": st.column_config.NumberColumn("similarity", format="%.3f"),
                "reference_similarity": st.column_config.NumberColumn("sim. to reference", format="%.3f"),
                "nn_similarity": st.column_config.NumberColumn("NN train sim.", format="%.3f"),
            },
        )
        st.caption("Select rows (left edge) to add them to the selection; click a column header to sort by it "
                   "(again to reverse).")
    with scaffold_tab:
        _scaffolds_and_diversity(shown, key)
    selected = _selection(table, key)
    with detail_tab:
        molecule_detail(table.loc[selected] if selected else on_page, key, highlight=highlight, training=training)
    _downloads(shown, table.loc[selected], key, provenance, export_stem or key)
    if opened is not None:
        _detail_dialog(table.loc[opened], opened, key, highlight, training)
    return shown


def _card_grid(page: pd.DataFrame, key: str, highlight: str | None, selected: set, columns: int = 6) -> Any:
    """The page's molecules as cards, each with a Select box (the selection the downloads can be
    restricted to) and a Details button; returns the id whose Details was pressed in this run, if any."""
    if page.empty:
        st.info("No molecules to show.")
        return None
    opened = None
    rows = page.to_dict("index")
    for ids in tables.chunks(list(page.index), columns):
        for column, number in zip(st.columns(columns), ids):
            with column.container(border=True, key=f"{key}_card_{number}"):
                st.html(depict.card_html(number, rows[number], highlight=highlight, framed=False))
                box = f"{key}_pick_{number}"
                _show_state(box, number in selected)
                with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                    st.checkbox("Select", key=box, on_change=_card_picked, args=(key, number, box))
                    if st.button("Details", key=f"{key}_open_{number}", type="tertiary",
                                 icon=":material/open_in_full:", help="Drawing, every property, alerts, "
                                 "nearest training molecule"):
                        opened = number
    return opened


# The selection lives in a plain session key (``<key>_basket``), never in a widget's own state: the
# browser sends every widget's value with each click, and a widget whose value the server changed
# (the selection list after a card was ticked) still holds its old value until the rerun has drawn
# it, so two quick clicks would let that stale value undo the first one. The list widget is keyed by
# the basket's version instead: each change from elsewhere draws a new list, whose stale twin the
# server ignores.


def _show_state(box: str, on: bool) -> None:
    """Make the Select box ``box`` show ``on`` (the selection is the truth, kept across pages), writing
    its state only where it differs: a written state is pushed to the browser, over whatever the
    user is clicking at that moment."""
    if st.session_state.get(box) != on:
        st.session_state[box] = on


def _basket(key: str) -> list:
    """The selection's ids in the order they were added."""
    return list(st.session_state.get(f"{key}_basket", []))


def _set_basket(key: str, ids: list, redraw_list: bool = True) -> None:
    """Replace the selection; ``redraw_list`` gives the selection list a new key (see above)."""
    st.session_state[f"{key}_basket"] = list(ids)
    if redraw_list:
        st.session_state[f"{key}_basket_version"] = st.session_state.get(f"{key}_basket_version", 0) + 1


def _card_picked(key: str, number: Any, box: str) -> None:
    """Select box callback (a card's, or the detail dialog's): add the molecule to the selection or drop it."""
    on = bool(st.session_state.get(box))
    _set_basket(key, selection.toggled(_basket(key), number, on))
    if not on:
        st.session_state[f"{key}_picked"] = selection.toggled(st.session_state.get(f"{key}_picked", []), number, False)


def _list_edited(key: str, widget: str) -> None:
    """Selection list callback: the list as the user left it is the selection. A list of an older
    version is ignored: the browser still sends its stale value (and Streamlit calls this for it)
    when cards are ticked faster than the page redraws."""
    if widget != f"{key}_selected_{st.session_state.get(f'{key}_basket_version', 0)}":
        return
    _set_basket(key, st.session_state.get(widget, []), redraw_list=False)
    kept = set(st.session_state.get(widget, []))
    st.session_state[f"{key}_picked"] = [i for i in st.session_state.get(f"{key}_picked", []) if i in kept]


def _selected_ids(table: pd.DataFrame, key: str) -> list:
    """The selection: ids chosen on cards, table rows or in the list, and the MaxMin picks, in table order."""
    return selection.in_table_order(table.index, _basket(key), st.session_state.get(f"{key}_picked", []))


def _detail_dialog(row: pd.Series, number: Any, key: str, highlight: str | None, training: Any | None) -> None:
    """A card's Details: the molecule's detail view in a dialog over the grid, with its Select box."""
    name = row.get("name")
    title = f"#{number}" + (f"  {name}" if isinstance(name, str) and name else "")

    @st.dialog(title, width="large", on_dismiss="rerun")  # closing reruns the page: the cards show the selection
    def show() -> None:
        box = f"{key}_dialog_pick_{number}"
        _show_state(box, number in set(_basket(key)) | set(st.session_state.get(f"{key}_picked", [])))
        st.toggle("In the selection (exported by the 'Download selection' buttons)", key=box,
                  on_change=_card_picked, args=(key, number, box))
        _molecule_panel(row, number, highlight, training)

    show()


def _table_clicked(key: str, sortable: list[str], ids: list) -> None:
    """Table callback: rows picked or dropped edit the selection; a selected column header becomes
    the "Sort by" choice (and a new click on it reverses it)."""
    state = (st.session_state.get(f"{key}_table") or {}).get("selection", {}) or {}
    added, removed = selection.table_rows_changed(st.session_state.get(f"{key}_table_ids", []),
                                                  state.get("rows", []), ids)
    if added or removed:
        st.session_state[f"{key}_table_ids"] = selection.edited(
            st.session_state.get(f"{key}_table_ids", []), added, removed)
        _set_basket(key, selection.edited(_basket(key), added, removed))
        if removed:
            st.session_state[f"{key}_picked"] = selection.edited(
                st.session_state.get(f"{key}_picked", []), [], removed)
    columns = [c for c in state.get("columns", []) if c in sortable]
    if not columns:
        return
    current = st.session_state.get(f"{key}_sort")
    column = columns[-1]
    descending = st.session_state.get(f"{key}_desc_{current}", tables.default_descending(current))
    sort_by, desc = tables.header_sort(None if current == "(original order)" else current, descending, column)
    st.session_state[f"{key}_sort"] = sort_by
    st.session_state[f"{key}_desc_{sort_by}"] = desc


def _scaffolds_and_diversity(shown: pd.DataFrame, key: str) -> None:
    from molgen.dashboard import diversity

    if shown.empty:
        st.info("No molecule to group.")
        return
    groups = diversity.scaffold_groups(shown)
    st.caption(f"{len(groups):,} Bemis–Murcko scaffolds among {int(shown['valid'].sum()) if 'valid' in shown else len(shown):,} "
               "valid molecules, largest groups first.")
    st.dataframe(groups, height=240, hide_index=True, key=f"{key}_scaffolds")
    c1, c2, c3 = st.columns([1, 1, 2])
    k = c1.number_input("Pick K diverse molecules", 1, 1000, min(12, len(shown)), key=f"{key}_maxmin_k")
    seed = c2.number_input("Picker seed", 0, 2**31 - 1, 0, key=f"{key}_maxmin_seed")
    if c3.button("Pick (RDKit MaxMin) into the selection", key=f"{key}_maxmin_go"):
        st.session_state[f"{key}_picked"] = diversity.maxmin_pick(shown, int(k), int(seed))
        st.session_state[f"{key}_basket_version"] = st.session_state.get(f"{key}_basket_version", 0) + 1


def _selection(table: pd.DataFrame, key: str) -> list:
    """The selection list (cards, table rows and this list edit it) and the diversity picks, in table
    order; a basket over the whole set, kept while the filters, sort and page change."""
    picked = [i for i in st.session_state.get(f"{key}_picked", []) if i in table.index]
    selected = _selected_ids(table, key)
    widget = f"{key}_selected_{st.session_state.get(f'{key}_basket_version', 0)}"
    st.multiselect(
        "Selection (tick cards or table rows, or add here; export it below; the detail view shows it)",
        list(table.index), default=selected, key=widget, on_change=_list_edited, args=(key, widget),
        format_func=lambda i: f"#{i}  {str(table.at[i, 'smiles'])[:40]}",
    )
    if selected:
        st.caption(f"{len(selected):,} selected" + (f" ({len(picked):,} by the MaxMin picker)" if picked else ""))
    return selected


def download_button(where: Any, label: str, make: Callable[[], bytes], file_name: str, key: str,
                    mime: str | None = None) -> None:
    """A download button in ``where`` (``st`` or a column) whose file ``make()`` builds on click.

    Every download of the dashboard goes through here. The click does not rerun the page
    (``on_click="ignore"``): a click that reran it could lose the file's answer to the rerun
    (Streamlit 1.67 clears the messages not yet sent when a run starts, and the button then spun
    for ever on a loaded machine), and a rerun redraws a whole grid for nothing."""
    where.download_button(label, make, file_name=file_name, mime=mime, key=key, on_click="ignore")


def _downloads(shown: pd.DataFrame, selection: pd.DataFrame, key: str, provenance: dict[str, Any] | None,
               stem: str) -> None:
    """CSV and SDF of the filtered, sorted set and of the selection, through the CLI's writer."""
    sets = [("", shown)] + ([("selection", selection)] if len(selection) else [])
    cols = st.columns(4)
    i = 0
    for which, frame in sets:
        for fmt, mime in (("csv", "text/csv"), ("sdf", "chemical/x-mdl-sdfile")):
            label = f"Download {'selection ' if which else ''}{fmt.upper()}"
            name = tables.export_name(f"{stem}-{which}" if which else stem, fmt, provenance)
            download_button(cols[i], label, lambda f=frame, x=fmt: tables.export_bytes(f, x, provenance),
                            name, f"{key}_{which or 'all'}_{fmt}", mime)
            i += 1


def molecule_detail(table: pd.DataFrame, key: str, highlight: str | None = None, training: Any | None = None) -> None:
    """One molecule of ``table`` (the selection, else the grid page shown), picked in a list, in
    :func:`_molecule_panel`."""
    if table.empty:
        st.info("No molecule to show.")
        return
    number = st.selectbox("Molecule #", list(table.index), key=f"{key}_detail",
                          format_func=lambda i: f"#{i}  {str(table.at[i, 'smiles'])[:60]}")
    _molecule_panel(table.loc[number], number, highlight, training)


def _molecule_panel(row: pd.Series, number: Any, highlight: str | None, training: Any | None) -> None:
    """Large drawing with its alert atoms and the substructure query highlighted, every property,
    the nearest training molecule (with ``training``), and what is wrong and where if it does not parse."""
    smiles = str(row["smiles"])
    left, right = st.columns([3, 2])
    with left:
        matches = depict.alert_matches(smiles)
        if highlight:
            from molgen.chem.mol import to_mol

            mol = to_mol(smiles)
            atoms = depict.substructure_atoms(mol, highlight)[0] if mol is not None else []
            if atoms:
                matches = [(f"substructure {highlight}", tuple(atoms))] + matches
        svg, legend = depict.highlighted_svg(smiles, matches)
        st.html(depict.svg_img(svg, alt=smiles, style="max-width:100%;height:auto", css_class="molgen-detail"))
        if legend:
            st.html(depict.legend_html(legend))
        st.code(smiles, language=None)
    with right:
        st.dataframe(tables.property_sheet(row), height=520, hide_index=True, width="stretch")
    valid = bool(row.get("valid", True))
    if not valid:
        from molgen.chem.mol import explain_smiles

        reason = explain_smiles(smiles) or "empty string"
        first, _, rest = reason.partition("\n")
        st.warning(f"#{number} is not a valid molecule: {first}")
        if rest:
            st.code(rest, language=None)
    elif training is None:
        st.caption("Nearest training molecule: switch on **Compare with the training set** above the molecules.")
    else:
        neighbour = novelty.nearest_neighbour(smiles, training)
        if neighbour is not None:
            _neighbour(neighbour, training)


def _neighbour(neighbour: Any, training: Any) -> None:
    """The nearest training molecule beside the detail: drawing, SMILES and Tanimoto similarity."""
    if neighbour.exact:
        st.info(f"In the training set ({training.source}): this molecule is not novel.",
                icon=":material/content_copy:")
        return
    st.markdown(f"**Nearest training molecule** · Tanimoto {neighbour.similarity:.2f} (Morgan r=2, among "
                f"{len(training.fingerprints):,} molecules of {training.source})")
    svg = depict.mol_svg(neighbour.smiles, 300, 220)
    st.html(depict.svg_img(svg, alt=neighbour.smiles, style="max-width:320px;height:auto",
                           css_class="molgen-neighbour"))
    st.code(neighbour.smiles, language=None)


# ----------------------------------------------------------------------------- runs


@st.cache_data(show_spinner=False, max_entries=64)
def _read_run(path: str, name: str | None, stamp: tuple) -> Any:
    return runs.read_run(path, name)


def run_info(path: str, name: str | None) -> Any:
    """:func:`molgen.dashboard.runs.read_run`, cached until one of the run's files changes."""
    p = runs.validate_run_dir(path)
    return _read_run(str(p), name, runs.run_stamp(p))
