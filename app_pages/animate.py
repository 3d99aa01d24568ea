"""Animate: particles flow from noise to data, one-step jumps beside K-step paths, in sync."""

import streamlit as st
import torch

from meanflow import figures, sample
from meanflow.sampling import samples_csv
from meanflow.text import literal
from ui import downloads, pickers, settings

STEP_CHOICES = (1, 2, 4, 8, 16, 32)
LEFT_STEPS = settings.Setting("anim_left_steps", 1, choices=STEP_CHOICES)
RIGHT_STEPS = settings.Setting("anim_right_steps", 8, choices=STEP_CHOICES)
PARTICLES = settings.Setting("particles", 1000, lo=100, hi=2000, integer=True)
SEED = settings.Setting("anim_seed", 0, lo=0, hi=2**31 - 1, integer=True)


def default_runs(runs) -> tuple[int, int]:
    """Left: the first MeanFlow run; right: a flow-matching run on the same target, if any."""
    left = next((i for i, r in enumerate(runs) if r.method == "meanflow"), 0)
    target = runs[left].target_name
    right = next(
        (i for i, r in enumerate(runs) if r.method == "flow-matching" and r.target_name == target),
        min(1, len(runs) - 1),
    )
    return left, right


def panel_settings(column, side: str, runs, default_index: int, steps_setting):
    with column:
        entry = pickers.run_picker(f"{side} run", runs, key=f"anim_{side.lower()}_run", default_index=default_index)
        steps = settings.select_slider("Steps (network evaluations)", steps_setting)
    return entry, steps


def main() -> None:
    st.title("Animate")
    runs = pickers.ready_runs()
    left_default, right_default = default_runs(runs)
    c1, c2, c3 = st.columns([2, 2, 1])
    left = panel_settings(c1, "Left", runs, left_default, LEFT_STEPS)
    right = panel_settings(c2, "Right", runs, right_default, RIGHT_STEPS)
    n = settings.slider("Particles", PARTICLES, where=c3, step=100)
    seed = settings.number("Noise seed", SEED, where=c3)

    panels, trajectories = {}, {}
    for entry, steps in (left, right):
        title = f"{entry.label}, {settings.steps_label(steps)}"
        if title in panels:
            continue
        saved = pickers.load(entry)
        traj = sample(saved.flow, n, steps, torch.Generator().manual_seed(int(seed)))  # same noise in both panels
        panels[title] = (traj.times, traj.path)
        trajectories[title] = (entry, saved, traj, steps)
    reference = pickers.target_preview(pickers.load(left[0]).target, 800)  # SVG under animated panels: keep it light
    fig = figures.trajectory_animation(panels, reference=reference)
    st.plotly_chart(fig, key="animation", width="stretch")
    st.caption(
        "Press ▶ to play. Straight segments are one-step jumps; polylines are K-step paths "
        "(thin lines: a sample of whole paths). Grey dots: the target."
    )

    cols = st.columns(len(trajectories))
    for i, (col, (entry, saved, traj, steps)) in enumerate(zip(cols, trajectories.values())):
        q = pickers.evaluator_for(entry, saved.target, n).score(traj.samples)
        with col:
            st.markdown(f"**{literal(entry.label)}, {settings.steps_label(steps)}**")
            m1, m2, m3 = st.columns(3)
            m1.metric("Sliced W1 (global)", f"{q.sliced_w1:.3f}", help=f"noise floor {q.sliced_w1_floor:.3f}")
            m2.metric("Histogram TV (local)", f"{q.hist_tv:.3f}", help=f"noise floor {q.hist_tv_floor:.3f}")
            if q.in_support is not None:
                m3.metric("In cells", f"{q.in_support:.0%}", help=f"noise floor {q.in_support_floor:.0%}")
            st.caption(f"floors at n = {q.n}: W1 {q.sliced_w1_floor:.3f}, TV {q.hist_tv_floor:.3f}")
            st.download_button(
                "Samples (CSV)",
                samples_csv(traj.samples),
                file_name="samples.csv",
                mime="text/csv",
                key=f"csv_{i}",
                on_click="ignore",
            )
    downloads.figure_html(fig, "animation", key="animation_html")


main()
