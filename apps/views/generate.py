"""Generate: sample molecules from a shipped or trained model, then browse, filter and download them."""

import streamlit as st

from shared import model_picker, molecule_browser, user_errors
from molgen.dashboard import models, tables

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
    bar = st.progress(0.0, text="Sampling…")
    with user_errors("Generation failed") as out:
        table = models.generate_table(
            model, int(n), temperature=float(temperature), seed=int(seed),
            progress=lambda fraction, message: bar.progress(min(max(float(fraction), 0.0), 1.0), text=message),
        )
    bar.empty()
    if not out.failed:
        st.session_state["gen_result"] = {
            "table": tables.molecule_table(table), "model": getattr(model, "source", ""),
            "n": int(n), "temperature": float(temperature), "seed": int(seed),
        }

result = st.session_state.get("gen_result")
if result is None:
    st.info("Pick a model, choose how many molecules and press **Generate**.")
else:
    table = result["table"]
    for column, (label, value) in zip(st.columns(4), models.generation_summary(table).items()):
        column.metric(label, value)
    st.caption(f"{result['model']} · temperature {result['temperature']} · seed {result['seed']}")
    molecule_browser(table, "generated", title="generated strings")
