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
    metrics = runs.compare_reports(with_report)
    curated, best = runs.curated_metrics(metrics)
    if len(curated):
        st.dataframe(curated.style.apply(lambda _: best.map(lambda b: "font-weight:bold;background-color:#e3f4e3"
                                                             if b else ""), axis=None),
                     height=min(600, 40 + 35 * len(curated)), key="runs_metrics")
        st.caption("↑ higher is better, ↓ lower is better; the best run of each row is highlighted.")
    with st.expander(f"All {len(metrics)} metrics"):
        st.dataframe(metrics.round(4), height=min(600, 40 + 35 * len(metrics)), key="runs_metrics_all")
else:
    st.caption("No report.json in these runs yet (run `molgen evaluate` to write one).")

shared_columns = runs.common_log_columns(infos)
if shared_columns:
    st.subheader("Runs overlaid")
    o1, o2 = st.columns([2, 1])
    column = o1.selectbox("Logged value", shared_columns, key="runs_overlay")
    overlay_log = o2.toggle("Log scale", key="runs_overlay_log")
    frame = runs.overlay_frame(infos, column)
    st.altair_chart(charts.line_chart(frame, column, runs.step_column(next(iter(infos.values())).log) or "row",
                                      log_scale=overlay_log, domain=runs.y_domain(frame)),
                    width="stretch", height=320)

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
        scale = st.radio("Y axis", ["clip early spikes", "linear", "log"], horizontal=True, key="runs_scale",
                         help="One early spike flattens a loss curve: clip it (the axis stops just above the "
                         "95th percentile) or use a log axis.")
        cols = st.columns(2)
        for i, (title, columns) in enumerate(groups.items()):
            frame = runs.curve_frame(info.log, columns)
            domain = runs.y_domain(frame) if scale == "clip early spikes" else None
            cols[i % 2].altair_chart(charts.line_chart(frame, title, x, log_scale=scale == "log", domain=domain),
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
