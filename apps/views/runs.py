"""Training runs: logged curves, config and evaluation report of runs; metric tables side by side."""

import streamlit as st

from shared import run_info, user_errors
from molgen.dashboard import charts, runs

st.title("Training runs")

shipped = runs.shipped_run_dirs()
c1, c2 = st.columns(2)
chosen = c1.multiselect("Shipped models", list(shipped), default=list(shipped), key="runs_shipped")
extra = c2.text_area("Run directories (one per line)", key="runs_extra", height=100,
                     placeholder="runs/gvae\nruns/organ-qed")

infos = {}
for name in chosen:
    with user_errors():
        infos[name] = run_info(str(shipped[name]), name)
for line in extra.splitlines():
    if line.strip():
        with user_errors():
            info = run_info(line.strip(), None)
            infos[f"{info.name} ({info.path.parent.name})" if info.name in infos else info.name] = info

if not infos:
    st.info("Choose shipped models or type a run directory (the folder `molgen train --out` wrote).")
    st.stop()

with_report = {name: info for name, info in infos.items() if info.report}
st.subheader("Evaluation metrics")
if with_report:
    metrics = runs.compare_reports(with_report).round(4)
    st.dataframe(metrics, height=min(600, 40 + 35 * len(metrics)))
else:
    st.caption("No report.json in these runs yet (run `molgen evaluate` to write one).")

st.subheader("Run details")
name = st.selectbox("Run", list(infos), key="runs_detail")
info = infos[name]
st.caption(f"{info.path} · checkpoints: {', '.join(info.checkpoints) or 'none'}")
for problem in info.problems:
    st.warning(problem)
curves_tab, config_tab, report_tab = st.tabs(["Curves", "Config", "Report"])
with curves_tab:
    if info.log is None or info.log.empty:
        st.caption("No log.csv in this run.")
    else:
        x = runs.step_column(info.log) or "row"
        groups = runs.curve_groups(info.log)
        cols = st.columns(2)
        for i, (title, columns) in enumerate(groups.items()):
            cols[i % 2].altair_chart(charts.line_chart(runs.curve_frame(info.log, columns), title, x),
                                     width="stretch", height=320)
        with st.expander("Raw log"):
            st.dataframe(info.log, height=300)
with config_tab:
    if info.config_text:
        st.code(info.config_text, language="toml")
    else:
        st.caption("No config.toml in this run.")
with report_tab:
    if info.report_md:
        st.markdown(info.report_md)
    elif info.report:
        st.json(info.report)
    else:
        st.caption("No report in this run.")
