"""Generate: sample molecules from a shipped or trained model, then browse, filter, compare and download them."""

import streamlit as st

from shared import compare_with_training, model_picker, molecule_browser, reference_properties, user_errors
from molgen.dashboard import charts, models, tables
from molgen.sampling import provenance

st.title("Generate molecules")

with st.sidebar:
    model = model_picker("gen")

with st.form("gen_form"):
    c1, c2, c3 = st.columns(3)
    n = c1.number_input("Number of molecules", 1, 20000, 200, step=50, key="gen_n")
    temperature = c2.slider("Temperature", 0.1, 2.0, 1.0, 0.05, key="gen_temperature",
                            help="Below 1: safer, less diverse samples; above 1: more diverse, fewer valid.")
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed",
                           help="The same model, settings and seed give the same molecules here and with "
                           "`molgen sample --seed`.")
    submitted = st.form_submit_button("Generate", type="primary", disabled=model is None, key="gen_go")

if submitted and model is not None:
    bar = st.progress(0.0, text=f"Sampling {int(n):,} strings…")
    with user_errors("Generation failed") as out:
        table = models.generate_table(
            model, int(n), temperature=float(temperature), seed=int(seed),
            progress=lambda fraction, message: bar.progress(min(max(float(fraction), 0.0), 1.0), text=message),
        )
    bar.empty()
    if not out.failed:
        result = {
            "table": tables.molecule_table(table), "model": models.model_name(model),
            "n": int(n), "temperature": float(temperature), "seed": int(seed),
        }
        st.session_state["gen_result"] = result
        st.session_state.setdefault("gen_sets", {})[result["model"]] = result

result = st.session_state.get("gen_result")
if result is None:
    st.info("Pick a model, choose how many molecules and press **Generate**.")
    st.stop()

table = result["table"]
current = models.model_name(model) if model is not None else None
if current != result["model"]:
    st.warning(f"Stale: these molecules come from **{result['model']}**, not the model now picked "
               f"({current or 'none'}). Press **Generate** to sample from it.", icon=":material/history:")
summary = models.generation_summary(table)
for column, (label, value) in zip(st.columns(len(summary)), summary.items()):
    column.metric(label, value, border=label == "Valid")
st.caption(f"{result['model']} · temperature {result['temperature']} · seed {result['seed']}")

table, training = compare_with_training(table, "gen", result)

molecule_browser(table, "generated", title="generated strings", valid_default=True,
                 provenance=provenance(result["model"], result["seed"], result["temperature"]),
                 export_stem="generated", training=training)

sets = st.session_state.get("gen_sets", {})
with st.expander(f"Compare models side by side ({len(sets)} generated set{'s' if len(sets) != 1 else ''} kept)",
                 expanded=len(sets) > 1):
    chosen = st.multiselect("Sets to compare (the last sample of each model)", list(sets),
                            default=list(sets)[-2:], key="gen_compare_" + "|".join(sets))  # a new set: fresh default
    overlay = st.checkbox(f"With the MOSES training set ({charts.REFERENCE_SIZE:,}-molecule sample)", value=True,
                          key="gen_compare_ref")
    frames = {name: sets[name]["table"][sets[name]["table"]["valid"].astype(bool)] for name in chosen}
    if overlay and frames:
        with user_errors("Training set"):
            frames["training set"] = reference_properties(charts.REFERENCE_SIZE)
    if frames:
        rows = [{"model": name, **models.generation_summary(sets[name]["table"])} for name in chosen]
        st.dataframe(rows, hide_index=True, key="gen_compare_table")
        cols = st.columns(4)
        for i, column in enumerate(charts.HISTOGRAM_COLUMNS):
            frame = charts.histogram_frames(frames, column)
            if len(frame):
                chart = charts.histogram_chart(frame, tables.PROPERTY_LABELS.get(column, column))
                cols[i % 4].altair_chart(chart, width="stretch", height=300)
