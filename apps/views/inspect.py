"""Inspect: properties, filters and drawings of your own SMILES against the training set."""

import streamlit as st

from shared import (
    compare_with_training, molecule_browser, prepare_molecules, properties_with_progress, read_pasted, read_shipped_data, read_upload,
    reference_properties, user_errors,
)
from molgen.dashboard import charts, inputs, tables

EXAMPLE = """CC(=O)Oc1ccccc1C(=O)O aspirin
CN1C=NC2=C1C(=O)N(C(=O)N2C)C caffeine
CC(C)Cc1ccc(cc1)C(C)C(=O)O ibuprofen
CC(=O)Nc1ccc(O)cc1 paracetamol
O=C(C=Cc1ccccc1)c1ccc(O)cc1 hydroxychalcone
COc1ccc2[nH]cc(CCN(C)C)c2c1 5-MeO-DMT
"""

st.title("Inspect molecules")

source = st.radio("Molecules from", ["Paste SMILES", "Upload a file", "Shipped data set"], horizontal=True,
                  key="insp_source")
data = None
with user_errors("Cannot read the molecules") as out:
    if source == "Paste SMILES":
        text = st.text_area("One SMILES per line, optionally followed by a name", EXAMPLE, height=160,
                            key="insp_text")
        data = read_pasted(text)
    elif source == "Upload a file":
        c1, c2 = st.columns([3, 1])
        upload = c1.file_uploader("SMILES file (.smi .csv .tsv .sdf .parquet, optionally .gz)", key="insp_upload")
        column = c2.text_input("SMILES column (csv/tsv)", key="insp_column", placeholder="auto")
        if upload is not None:
            data = read_upload(upload.name, upload.getvalue(), column=column.strip() or None)
    else:
        files = inputs.shipped_data_files()
        c1, c2 = st.columns([3, 1])
        name = c1.selectbox("File under data/moses/", list(files), key="insp_file")
        limit = c2.number_input("First N molecules", 100, 250_000, 2000, step=1000, key="insp_limit")
        if name:
            data = read_shipped_data(name, limit=int(limit))

if data is None:
    if not out.failed:
        st.info("Paste SMILES, upload a file or pick a shipped data set.")
    st.stop()

for problem in data.problems:
    st.warning(problem)
t1, t2 = st.columns(2)
alerts = t1.toggle("Structural alerts (PAINS, Brenk, NIH)", value=len(data.smiles) <= tables.ALERTS_DEFAULT_MAX,
                   key="insp_alerts",
                   help=f"About 4 ms a molecule: off by default above {tables.ALERTS_DEFAULT_MAX:,} molecules.")
standardize = t2.toggle("Standardise (largest organic fragment, neutralised)", value=source != "Shipped data set",
                        key=f"insp_standardize_{source}",
                        help="As `molgen props --standardize` (RDKit rdMolStandardize): salts, counter-ions and "
                        "solvents are removed and charges neutralised before scoring. Multi-fragment and "
                        "inorganic inputs are flagged either way.")
scored, prepared = prepare_molecules(tuple(data.smiles), standardize)
props = properties_with_progress(scored, alerts=alerts)
table = tables.molecule_table(props, data.names)
table = table.join(tables.numbered(prepared)[["flags", "fragments", "inorganic"]])
if standardize:
    table["input_smiles"] = tables.numbered(prepared)["input_smiles"]
own = tables.file_columns(data.columns, list(table.columns)) if data.columns else None
if own is not None:  # an upload's activity, assay…: shown, sortable, filterable and exported
    table = table.join(own)
n_flagged = int((table["flags"] != "").sum())
if n_flagged:
    st.info(f"{n_flagged:,} of {len(table):,} inputs are flagged (salt or mixture, inorganic, charged"
            f"{', standardised' if standardize else ''}): see the ⚑ line on their cards and the flags column.")
n_bad = int((~table["valid"]).sum())
if n_bad == len(table):
    reasons = inputs.invalid_messages(data.smiles, 5, table["valid"])
    st.error("None of these SMILES is a valid molecule: " + "; ".join(reasons))
elif n_bad:
    reasons = inputs.invalid_messages(data.smiles, 3, table["valid"])
    st.warning(f"{n_bad:,} of {len(table):,} SMILES do not parse: " + "; ".join(reasons))

with st.expander("Property distributions against the training set", expanded=len(table) >= 50):
    compare = st.checkbox(f"Overlay the MOSES training set ({charts.REFERENCE_SIZE:,}-molecule sample)",
                          value=len(table) >= 50, key=f"insp_ref_{source}")  # each source its own default
    area = st.empty()  # the histograms, or the training set's progress while it is computed
    reference = None
    if compare:
        with user_errors("Training set"):
            reference = reference_properties(charts.REFERENCE_SIZE, area)
    valid = table[table["valid"].astype(bool)]
    with area.container():
        cols = st.columns(4)
        for i, column in enumerate(charts.HISTOGRAM_COLUMNS):
            frame = charts.histogram_frame(valid, reference, column)
            if len(frame):
                chart = charts.histogram_chart(frame, tables.PROPERTY_LABELS.get(column, column))
                cols[i % 4].altair_chart(chart, width="stretch", height=300, key=f"insp_hist_{column}")

table, training = compare_with_training(table, "insp", st.session_state.setdefault("insp_memo", {}))
molecule_browser(table, "inspect", training=training, own_columns=tuple(own.columns) if own is not None else ())
