"""molgen dashboard: generate, inspect and explore molecules; follow training runs.

    streamlit run apps/dashboard.py        (or: molgen dashboard, scripts/dashboard.sh)

Each page is a thin layout over molgen.dashboard (models, inputs, tables, charts, latent, runs, depict).
"""

import streamlit as st

st.set_page_config(page_title="molgen", page_icon=":material/science:", layout="wide")

pages = [
    st.Page("views/generate.py", title="Generate", icon=":material/auto_awesome:", default=True),
    st.Page("views/inspect.py", title="Inspect", icon=":material/search:"),
    st.Page("views/latent.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page("views/runs.py", title="Training runs", icon=":material/monitoring:"),
]
st.navigation(pages).run()
