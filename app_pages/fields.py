"""Velocity fields: the instantaneous field v(z, t) and the average field u(z, r, t) on a grid."""

import numpy as np
import streamlit as st

from meanflow.core.sampling import Flow, integrated_average_velocity, velocity_field
from meanflow.core.text import literal
from meanflow.views import figures, geometry
from ui import downloads, pickers, present, settings
from ui.session import RunEntry

GRID = 21  # arrows per side
ANIMATION_TIMES = np.round(np.linspace(1.0, 0.0, 11), 2)
TIME_STEP = 0.05  # the sliders' step: a URL value is rounded to it, as the slider would
T = settings.Setting("field_t", 0.8, lo=0.0, hi=1.0)
R = settings.Setting("field_r", 0.0, lo=0.0, hi=1.0)


def grid_points(bounds) -> np.ndarray:
    """(GRID * GRID, 2) points covering the plot bounds."""
    xmin, xmax, ymin, ymax = bounds
    xs, ys = np.meshgrid(np.linspace(xmin, xmax, GRID), np.linspace(ymin, ymax, GRID))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def time_settings(where_t, where_r) -> tuple[float, float]:
    """t and r (r <= t) on the sliders' grid, so a URL cannot ask for a time no slider can show."""
    for setting in (T, R):
        on_grid = round(settings.initialise(setting) / TIME_STEP) * TIME_STEP
        st.session_state[setting.key] = round(on_grid, 6)  # 0.3, not 0.30000000000000004 (the URL shows it)
    t = settings.slider("t (1 = noise, 0 = data)", T, where=where_t, step=TIME_STEP)
    st.session_state.field_r = min(st.session_state.field_r, t)
    if t <= 0:
        return t, 0.0
    r_setting = settings.Setting("field_r", 0.0, lo=0.0, hi=t)
    return t, settings.slider("r (end of the jump)", r_setting, where=where_r, step=TIME_STEP)


def instantaneous_panel(flow: Flow, points: np.ndarray, t: float, name: str, bounds, reference) -> None:
    fig = figures.velocity_field_figure(
        points,
        velocity_field(flow, points, t, t),
        f"{name} at t = {t:.2f}",  # short titles: a panel is half the page, a quarter of it at 800 px
        bounds=bounds,
        reference=reference,
    )
    present.chart(fig, key="instant", width="stretch")
    st.caption(
        "The instantaneous field: where a particle at z is heading at time t. Sampling follows these "
        "arrows backwards in time."
    )


def average_panel(entry: RunEntry, flow: Flow, points: np.ndarray, r: float, t: float, bounds, reference) -> None:
    """The average field over [r, t]: learned (MeanFlow and its kin) or measured by integrating v (flow matching)."""
    if r >= t - TIME_STEP / 2:
        st.info("Set r below t to see the average field over [r, t].")
        return
    if flow.method.learns_average:
        avg = velocity_field(flow, points, r, t)
        title = f"u(z, r, t), r = {r:.2f}, t = {t:.2f}"
        note = (
            f"The average field, learned: {literal(entry.label)} gives the average velocity over [r, t] "
            "directly: one jump z_r = z_t − (t − r) u."
        )
    else:
        avg = integrated_average_velocity(flow, points, r, t)
        title = f"v averaged over [{r:.2f}, {t:.2f}]"
        note = (
            f"{literal(entry.label)} learns no average field of its own: this one is measured by integrating v "
            "in 32 small steps — what MeanFlow learns to give in one evaluation."
        )
    fig = figures.velocity_field_figure(points, avg, title, bounds=bounds, reference=reference)
    present.chart(fig, key="average", width="stretch")
    st.caption(note)


def field_over_time(flow: Flow, points: np.ndarray, bounds, reference) -> None:
    st.subheader("The instantaneous field over time")
    frames = [(f"t={tt:.2f}", velocity_field(flow, points, float(tt), float(tt))) for tt in ANIMATION_TIMES]
    anim = figures.velocity_field_animation(
        points, frames, "instantaneous field from noise (t = 1) to data (t = 0)", bounds=bounds, reference=reference
    )
    present.chart(anim, key="field_animation", width="stretch")
    downloads.figure_html(anim, "velocity_field", key="field_html")


def main() -> None:
    st.title("Velocity fields")
    runs = pickers.ready_runs()
    c1, c2, c3 = st.columns([2, 1, 1])
    entry = pickers.run_picker("Run", runs, key="field_run", where=c1)
    t, r = time_settings(c2, c3)
    saved = pickers.load(entry)
    reference = pickers.target_preview(saved.target, 800)
    noise = saved.flow.normaliser.to_data(np.random.default_rng(0).normal(size=(500, 2)))
    bounds = geometry.bounds_of(reference, noise, margin=0.05)  # the field matters where noise and data are
    points = grid_points(bounds)
    left, right = st.columns(2)
    with left:
        instantaneous_panel(
            saved.flow, points, t, "u(z, t, t)" if saved.flow.method.learns_average else "v(z, t)", bounds, reference
        )
    with right:
        average_panel(entry, saved.flow, points, r, t, bounds, reference)
    field_over_time(saved.flow, points, bounds, reference)


main()
