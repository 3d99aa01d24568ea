"""Compare step counts: samples and metrics for NFE in {1, ..., 32} by run, with noise floors."""

import pandas as pd
import streamlit as st
import torch

from meanflow import figures, sample
from app_pages import common

NFE_CHOICES = [1, 2, 4, 8, 16, 32]
SAMPLE_SIZES = [500, 1000, 2000, 5000, 10000]
METRICS = {"hist_tv": "Histogram TV (local)", "sliced_w1": "Sliced W1 (global)", "in_support": "Fraction in cells"}


@st.cache_data(show_spinner="Sampling and scoring…", max_entries=64)
def quality_table(_entries, keys: tuple[str, ...], nfes: tuple[int, ...], n: int, seed: int):
    """Samples (run key, nfe) -> (n, 2) and a table of metrics; cached by run keys and settings."""
    rows, samples = [], {}
    for entry in _entries:
        evaluator = common.evaluator_for(entry, n, seed + 1)
        for k in nfes:
            x = sample(entry.flow, n, k, torch.Generator().manual_seed(seed)).samples
            samples[(entry.key, k)] = x
            rows.append({"run": entry.label, "target": entry.target.name, "nfe": k, **evaluator.score(x).to_dict()})
    return pd.DataFrame(rows).drop(columns="n"), samples


def main() -> None:
    st.title("Compare step counts")
    runs = common.ready_runs()
    by_key = {r.key: r for r in runs}
    default_keys = [r.key for r in runs if r.config.target == runs[0].config.target][:2]
    common.from_url("cmp_runs", default_keys, lambda s: [k for k in s.split(",") if k in by_key])
    st.session_state.cmp_runs = [k for k in st.session_state.cmp_runs if k in by_key]  # runs may have gone
    keys = st.multiselect("Runs", list(by_key), format_func=lambda k: by_key[k].label, key="cmp_runs")
    c1, c2, c3 = st.columns(3)
    common.from_url("cmp_nfe", NFE_CHOICES, lambda s: [k for k in common.int_list(s) if k in NFE_CHOICES])
    nfes = c1.multiselect("Steps (NFE)", NFE_CHOICES, key="cmp_nfe")
    common.from_url("cmp_n", 2000, int, common.one_of(SAMPLE_SIZES))
    n = c2.select_slider("Samples per cell", SAMPLE_SIZES, key="cmp_n")
    common.from_url("cmp_seed", 0, int, common.within(0, 2**31 - 1))
    seed = c3.number_input("Seed", 0, 2**31 - 1, key="cmp_seed")
    common.to_url("cmp_runs", "cmp_nfe", "cmp_n", "cmp_seed")
    if not keys or not nfes:
        st.info("Pick at least one run and one step count.")
        return
    entries = [by_key[k] for k in keys]
    nfes = tuple(sorted(nfes))
    table, samples = quality_table(entries, tuple(keys), nfes, int(n), int(seed))

    reference = common.target_preview(entries[0].target, 600)  # under every panel: a light sketch is enough
    for entry in entries:
        st.markdown(f"**{entry.label}**")
        grid = {common.steps_label(k): samples[(entry.key, k)] for k in nfes}
        fig = figures.scatter_grid(grid, columns=len(nfes), reference=reference, height_per_row=240)
        st.plotly_chart(fig, key=f"grid_{entry.key}", width="stretch")
        common.figure_download(fig, f"samples_{entry.config.method}_{entry.config.target}", key=f"html_{entry.key}")

    st.subheader("Metrics")
    st.caption("Each metric compares the samples with a large exact sample of the target; its floor is the same "
               "metric for an exact sample of the same size (no sampler can beat it). Sliced W1 is global and "
               "ranks a blurred sampler above a sharp but shrunk one; histogram TV and the in-cells fraction "
               "catch blur. Read them together.")
    st.dataframe(table, width="stretch", hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns
                                if table[c].dtype.kind == "f"})
    available = [m for m in METRICS if table[m].notna().any()]
    metric = st.radio("Chart", available, format_func=METRICS.get, horizontal=True, key="cmp_metric")
    chart = figures.quality_chart(table, metric, f"{metric}_floor")
    st.plotly_chart(chart, key="quality_chart", width="stretch")
    st.download_button("Metrics (CSV)", table.to_csv(index=False).encode(), file_name="metrics.csv",
                       mime="text/csv", key="metrics_csv", on_click="ignore")


main()
