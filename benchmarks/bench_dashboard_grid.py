"""Dashboard grid: one page of molecule cards drawn as one HTML block (view only) vs the clickable
grid (a bordered container per card with a Select box and a Details button), through AppTest.

Usage: ``OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_dashboard_grid.py [--per-page 48] [--repeats 5]``.
Prints the server-side time of a rerun (best of ``--repeats``, depictions already cached, as after a
click) and the number of elements each sends, for the same page of MOSES molecules.
"""

from __future__ import annotations

import argparse
import os
import time

from molgen import paths

PAGE = """
import sys
sys.path.insert(0, {apps!r})
import streamlit as st
from molgen.dashboard import charts, depict, tables
@st.cache_data
def page_of(n):
    return tables.molecule_table(tables.chunk_properties(charts.reference_smiles(n=n, seed=0), alerts=True))
page = page_of({n})
if {clickable}:
    from shared import _card_grid
    _card_grid(page, "bench", None, set())
else:
    st.html(depict.grid_html(page, columns=6))
"""


def rerun_seconds(clickable: bool, n: int, repeats: int) -> tuple[float, int]:
    """Best rerun time of the page and how many elements it draws."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(PAGE.format(apps=str(paths.APPS_DIR), n=n, clickable=clickable), default_timeout=300)
    at.run()  # first run: properties and depictions computed and cached
    assert not at.exception, at.exception
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        at.run()
        best = min(best, time.perf_counter() - t0)
    elements = len(at.get("html")) + len(at.checkbox) + len(at.button)
    return best, elements


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-page", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"{args.per_page} MOSES molecules on one grid page; load average {os.getloadavg()[0]:.2f}, "
          f"cpu_count={os.cpu_count()}")
    html_s, html_n = rerun_seconds(False, args.per_page, args.repeats)
    cards_s, cards_n = rerun_seconds(True, args.per_page, args.repeats)
    print(f"one HTML block (view only)       : rerun {html_s * 1000:7.0f} ms, {html_n:4d} elements")
    print(f"clickable cards (Select, Details): rerun {cards_s * 1000:7.0f} ms, {cards_n:4d} elements")
    print(f"clickable / HTML: {cards_s / html_s:.1f}x the rerun time")


if __name__ == "__main__":
    main()
