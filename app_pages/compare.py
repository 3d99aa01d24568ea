"""Compare step counts: samples and metrics for NFE in {1, ..., 32} by run, with noise floors."""

import pandas as pd
import streamlit as st
import torch

from meanflow import figures, sample
from meanflow.text import literal
from ui import downloads, pickers, settings

NFE = settings.Setting("cmp_nfe", [1, 2, 4, 8, 16, 32], choices=(1, 2, 4, 8, 16, 32), multi=True)
SAMPLES = settings.Setting("cmp_n", 2000, choices=(500, 1000, 2000, 5000, 10000))
SEED = settings.Setting("cmp_seed", 0, lo=0, hi=2**31 - 1, integer=True)
MAX_RUNS = 6  # runs compared at once: each adds a grid of up to 6 panels
METRICS = {"hist_tv": "Histogram TV (local)", "sliced_w1": "Sliced W1 (global)", "in_support": "Fraction in cells"}


@st.cache_data(show_spinner="Sampling and scoring…", max_entries=32)
def quality_table(_entries, keys: tuple[str, ...], nfes: tuple[int, ...], n: int, seed: int):
    """Samples (run key, nfe) -> (n, 2) and a table of metrics; cached by run keys and settings."""
    rows, samples = [], {}
    for entry in _entries:
        saved = pickers.load(entry)
        evaluator = pickers.evaluator_for(entry, saved.target, n, seed + 1)
        for k in nfes:
            x = sample(saved.flow, n, k, torch.Generator().manual_seed(seed)).samples
            samples[(entry.key, k)] = x
            rows.append({"run": entry.label, "target": entry.target_name, "nfe": k, **evaluator.score(x).to_dict()})
    return pd.DataFrame(rows).drop(columns="n"), samples


def main() -> None:
    st.title("Compare step counts")
    runs = pickers.ready_runs()
    by_key = {r.key: r for r in runs}
    run_choices = settings.Setting(
        "cmp_runs", [r.key for r in runs if r.target_name == runs[0].target_name][:2], choices=tuple(by_key), multi=True
    )
    settings.seed(run_choices)
    st.session_state.cmp_runs = [k for k in st.session_state.cmp_runs if k in by_key]  # runs may have gone
    keys = settings.multiselect("Runs", run_choices, format_func=lambda k: by_key[k].label, max_selections=MAX_RUNS)
    c1, c2, c3 = st.columns(3)
    nfes = settings.multiselect("Steps (NFE)", NFE, where=c1)
    n = settings.select_slider("Samples per cell", SAMPLES, where=c2)
    seed = settings.number("Seed", SEED, where=c3)
    if not keys or not nfes:
        st.info("Pick at least one run and one step count.")
        return
    entries = [by_key[k] for k in keys[:MAX_RUNS]]
    nfes = tuple(sorted(set(nfes)))
    table, samples = quality_table(entries, tuple(e.key for e in entries), nfes, int(n), int(seed))

    reference = pickers.target_preview(pickers.load(entries[0]).target, 600)  # a light sketch under every panel
    for entry in entries:
        st.markdown(f"**{literal(entry.label)}**")
        grid = {settings.steps_label(k): samples[(entry.key, k)] for k in nfes}
        fig = figures.scatter_grid(grid, columns=len(nfes), reference=reference, height_per_row=240)
        st.plotly_chart(fig, key=f"grid_{entry.key}", width="stretch")
        downloads.figure_html(fig, f"samples_{entry.method}_{entry.target_name}", key=f"html_{entry.key}")

    st.subheader("Metrics")
    st.caption(
        "Each metric compares the samples with a large exact sample of the target; its floor is the same "
        "metric for an exact sample of the same size (no sampler can beat it). Sliced W1 is global and "
        "ranks a blurred sampler above a sharp but shrunk one; histogram TV and the in-cells fraction "
        "catch blur. Read them together."
    )
    st.dataframe(
        table,
        width="stretch",
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in table.columns if table[c].dtype.kind == "f"
        },
    )
    available = [m for m in METRICS if table[m].notna().any()]
    metric = st.radio("Chart", available, format_func=METRICS.get, horizontal=True, key="cmp_metric")
    chart = figures.quality_chart(
        table.assign(run=table["run"].map(lambda s: literal(s, "html"))), metric, f"{metric}_floor"
    )
    st.plotly_chart(chart, key="quality_chart", width="stretch")
    st.download_button(
        "Metrics (CSV)",
        table.to_csv(index=False).encode(),
        file_name="metrics.csv",
        mime="text/csv",
        key="metrics_csv",
        on_click="ignore",
    )


main()
