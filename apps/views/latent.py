"""Latent space (GVAE / CVAE): neighbours of a molecule, interpolation between two, and
Bayesian optimisation of a property."""

import streamlit as st

from shared import download_button, model_picker, molecule_browser, user_errors
from molgen.dashboard import depict, latent, models, tables

st.title("Latent space")

with st.sidebar:
    model = model_picker("lat", latent_only=True)
if model is None:
    st.info("Pick a Grammar VAE or character VAE model in the sidebar.")
    st.stop()

neigh_tab, interp_tab, opt_tab = st.tabs(["Neighbours", "Interpolation", "Optimise"])

current = models.model_name(model)


def stale(key: str) -> None:
    """Mark a result computed with another model than the one picked now."""
    made_with = st.session_state.get(f"{key}_model")
    if made_with is not None and made_with != current:
        st.warning(f"Stale: computed with **{made_with}**, not the model now picked ({current}). "
                   "Run it again to update.", icon=":material/history:")


with neigh_tab:
    with st.form("lat_neigh_form"):
        smiles = st.text_input("Molecule (SMILES)", "CC(=O)Nc1ccc(O)cc1", key="lat_smiles")
        c1, c2, c3, c4 = st.columns(4)
        radius = c1.slider("Radius (latent units)", 0.05, 5.0, 1.0, 0.05, key="lat_radius")
        n = c2.number_input("Number of samples", 1, 500, 24, key="lat_n")
        seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="lat_seed")
        min_atoms = c4.number_input("Drop neighbours under N heavy atoms", 0, 50, 3, key="lat_min_atoms",
                                    help="Trivial decodes (methane, ethanol…) say little about the query.")
        go = st.form_submit_button("Explore neighbours", type="primary", key="lat_neigh_go")
    if go:
        with user_errors("Neighbours") as out:
            centre = latent.reconstruction(model, smiles)
            table = latent.neighbours_table(model, smiles, float(radius), int(n), int(seed), int(min_atoms))
            st.session_state["lat_neigh"] = (centre.smiles, table)
            st.session_state["lat_neigh_centre"] = centre
            st.session_state["lat_neigh_model"] = current
        if out.failed:
            for key in ("lat_neigh", "lat_neigh_centre", "lat_neigh_model"):
                st.session_state.pop(key, None)
    if "lat_neigh" in st.session_state:
        stale("lat_neigh")
        centre_smiles, table = st.session_state["lat_neigh"]
        centre = st.session_state["lat_neigh_centre"]
        for warning in centre.warnings:
            st.warning(warning)
        c1, c2, c3, c4 = st.columns([1, 2, 1, 2])
        c1.html(depict.svg_img(depict.mol_svg(centre_smiles, 260, 200), alt=centre_smiles))
        c2.markdown(f"**Query** `{centre_smiles}`")
        c3.html(depict.svg_img(depict.mol_svg(centre.decoded, 260, 200), alt=centre.decoded))
        verdict = ("reconstructed exactly" if centre.same else
                   f"**not reconstructed**: Tanimoto {centre.similarity:.2f} to the query" if centre.decoded else
                   "**not reconstructed**: the decode is empty")
        c4.markdown(f"**Centre (decode of the query's latent mean)** `{centre.decoded or '(empty)'}`  \n{verdict}")
        if not centre.same:
            st.warning("The model does not reconstruct this molecule: its neighbours surround the decoded centre, "
                       "not the query.")
        st.caption(f"{len(table)} distinct valid molecules decoded around it, most similar (Tanimoto, Morgan r=2) first.")
        if table.empty:
            st.warning("No valid molecule was decoded around this one: try a smaller radius or more samples.")
        else:
            molecule_browser(table, "neighbours", title="distinct valid neighbours", export_stem="neighbours",
                             provenance={"model": st.session_state["lat_neigh_model"], "query": centre_smiles})

with interp_tab:
    with st.form("lat_interp_form"):
        c1, c2 = st.columns(2)
        a = c1.text_input("From (SMILES)", "CC(=O)Nc1ccc(O)cc1", key="lat_a")
        b = c2.text_input("To (SMILES)", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", key="lat_b")
        steps = st.slider("Steps", 3, 30, 8, key="lat_steps")
        go = st.form_submit_button("Interpolate", type="primary", key="lat_interp_go")
    if go:
        with user_errors("Interpolation") as out:
            path = latent.interpolation_table(model, a, b, int(steps))
            st.session_state["lat_interp"] = path
            st.session_state["lat_interp_ends"] = (latent.check_smiles(a), latent.check_smiles(b))
            st.session_state["lat_interp_model"] = current
        if out.failed:
            st.session_state.pop("lat_interp", None)
    if "lat_interp" in st.session_state:
        stale("lat_interp")
        path = st.session_state["lat_interp"]
        start, end = st.session_state["lat_interp_ends"]
        c1, c2, c3, c4 = st.columns([1, 2, 1, 2])
        c1.html(depict.svg_img(depict.mol_svg(start, 220, 170), alt=start))
        c2.markdown(f"**From (A)** `{start}`")
        c3.html(depict.svg_img(depict.mol_svg(end, 220, 170), alt=end))
        c4.markdown(f"**To (B)** `{end}`")
        st.subheader("Decoded path from A to B")
        st.caption("Evenly spaced points on the line between the two latent means, decoded greedily; "
                   "sim A / sim B: Tanimoto similarity to each end.")
        st.html(depict.grid_html(path, columns=min(8, max(1, len(path)))))
        st.dataframe(path[tables.display_columns(path)], height=300)
        info = {"model": st.session_state["lat_interp_model"], "from": start, "to": end}
        d1, d2, _ = st.columns([1, 1, 3])
        for col, fmt in ((d1, "csv"), (d2, "sdf")):
            download_button(col, f"Download path {fmt.upper()}", lambda x=fmt: tables.export_bytes(path, x, info),
                            tables.export_name(f"path-{info['model']}", fmt), f"lat_interp_{fmt}")

with opt_tab:
    with st.form("lat_opt_form"):
        c1, c2, c3, c4 = st.columns(4)
        objective = c1.selectbox("Objective", list(latent.OPTIMISE_OBJECTIVES), key="lat_opt_obj")
        budget = c2.number_input("Evaluations", 5, 2000, 50, key="lat_opt_budget")
        n_init = c3.number_input("Seed molecules", 10, 2000, 100, key="lat_opt_init")
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="lat_opt_seed")
        go = st.form_submit_button("Optimise", type="primary", key="lat_opt_go")
    st.caption("Bayesian optimisation (BoTorch, expected improvement) in the latent space, starting from "
               "shipped training molecules: propose latent points, decode, score, repeat.")
    if go:
        bar = st.progress(0.0, text="Encoding the seed molecules…")
        with user_errors("Optimisation") as out:
            best, traj, summary = latent.optimise_table(
                model, latent.OPTIMISE_OBJECTIVES[objective], int(budget), int(n_init), int(seed),
                progress=lambda done, total: bar.progress(done / total, text=f"{done} of {total} evaluations"))
            st.session_state["lat_opt"] = (objective, best, traj, summary)
        bar.empty()
        if out.failed:
            st.session_state.pop("lat_opt", None)
    if "lat_opt" in st.session_state:
        objective, best, traj, summary = st.session_state["lat_opt"]
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Best", f"{summary['best']:.3f}")
        c2.metric("Mean of the top 10", f"{summary['top10_mean']:.3f}")
        c3.metric("Invalid proposals", int(summary["invalid"]))
        c4.metric("Time", f"{summary['seconds']:.0f} s")
        curve = traj[traj.source == "proposal"].reset_index(drop=True)
        st.line_chart(curve[["best_so_far"]], x_label="evaluation", y_label=f"best {objective}")
        if best.empty:
            st.warning("No valid molecule was proposed: try more evaluations.")
        else:
            molecule_browser(best, "optimised", title="best molecules found")
