"""Animate: particles flow from noise to data, one-step jumps beside K-step paths, in sync."""

import streamlit as st
import torch

from meanflow import figures, sample
from app_pages import common

STEP_CHOICES = [1, 2, 4, 8, 16, 32]


def default_runs(runs) -> tuple[int, int]:
    """Left: the first MeanFlow run; right: a flow-matching run on the same target, if any."""
    left = next((i for i, r in enumerate(runs) if r.config.method == "meanflow"), 0)
    target = runs[left].config.target
    right = next((i for i, r in enumerate(runs) if r.config.method == "flow-matching" and r.config.target == target),
                 min(1, len(runs) - 1))
    return left, right


def panel_settings(column, side: str, runs, default_index: int, default_steps: int):
    with column:
        entry = common.run_picker(f"{side} run", runs, key=f"anim_{side.lower()}_run", default_index=default_index)
        common.from_url(f"anim_{side.lower()}_steps", default_steps, int, common.one_of(STEP_CHOICES))
        steps = st.select_slider("Steps (network evaluations)", STEP_CHOICES, key=f"anim_{side.lower()}_steps")
    return entry, steps


def main() -> None:
    st.title("Animate")
    runs = common.ready_runs()
    left_default, right_default = default_runs(runs)
    c1, c2, c3 = st.columns([2, 2, 1])
    left = panel_settings(c1, "Left", runs, left_default, 1)
    right = panel_settings(c2, "Right", runs, right_default, 8)
    with c3:
        common.from_url("particles", 1000, int, common.within(100, 2000))
        n = st.slider("Particles", 100, 2000, step=100, key="particles")
        common.from_url("anim_seed", 0, int, common.within(0, 2**31 - 1))
        seed = st.number_input("Noise seed", 0, 2**31 - 1, key="anim_seed")
    common.to_url("anim_left_run", "anim_left_steps", "anim_right_run", "anim_right_steps", "particles", "anim_seed")

    panels, trajectories = {}, {}
    for entry, steps in (left, right):
        title = f"{entry.label}, {common.steps_label(steps)}"
        if title in panels:
            continue
        traj = sample(entry.flow, n, steps, torch.Generator().manual_seed(int(seed)))  # same noise in both panels
        panels[title] = (traj.times, traj.path)
        trajectories[title] = (entry, traj)
    reference = common.target_preview(left[0].target, 800)  # SVG under animated panels: keep it light
    fig = figures.trajectory_animation(panels, reference=reference)
    st.plotly_chart(fig, key="animation", width="stretch")
    st.caption("Press ▶ to play. Straight segments are one-step jumps; polylines are K-step paths "
               "(thin grey lines: a sample of whole paths). Grey dots: the target.")

    cols = st.columns(len(trajectories))
    for col, (title, (entry, traj)) in zip(cols, trajectories.items()):
        q = common.evaluator_for(entry, n).score(traj.samples)
        with col:
            st.markdown(f"**{title}**")
            m1, m2, m3 = st.columns(3)
            m1.metric("Sliced W1 (global)", f"{q.sliced_w1:.3f}", help=f"noise floor {q.sliced_w1_floor:.3f}")
            m2.metric("Histogram TV (local)", f"{q.hist_tv:.3f}", help=f"noise floor {q.hist_tv_floor:.3f}")
            if q.in_support is not None:
                m3.metric("In cells", f"{q.in_support:.0%}", help=f"noise floor {q.in_support_floor:.0%}")
            st.caption(f"floors at n = {q.n}: W1 {q.sliced_w1_floor:.3f}, TV {q.hist_tv_floor:.3f}")
            st.download_button("Samples (CSV)", common.samples_csv(traj.samples), file_name="samples.csv",
                               mime="text/csv", key=f"csv_{title}", on_click="ignore")
    common.figure_download(fig, "animation", key="animation_html")


main()
