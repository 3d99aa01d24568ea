"""Velocity fields: the instantaneous field v(z, t) and the average field u(z, r, t) on a grid."""

from dataclasses import dataclass

import numpy as np
import streamlit as st

from meanflow.core.sampling import Flow, integrated_average_velocity, velocity_field
from meanflow.core.text import literal
from meanflow.views import figures, geometry
from ui import downloads, pickers, present, settings, studies
from ui.points import target_preview
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


@dataclass(frozen=True)
class Field:
    """One panel's field on the grid: its title, the vectors (m, 2), what it is called in the probe, and
    the caption under it."""

    title: str
    vectors: np.ndarray
    name: str
    note: str


def instantaneous(flow: Flow, points: np.ndarray, t: float) -> Field:
    name = "u(z, t, t)" if flow.method.learns_average else "v(z, t)"
    return Field(
        f"{name} at t = {t:.2f}",  # short titles: a panel is half the page, a quarter of it at 800 px
        velocity_field(flow, points, t, t),
        name,
        "The instantaneous field: where a particle at z is heading at time t. Sampling follows these "
        "arrows backwards in time.",
    )


def average(entry: RunEntry, flow: Flow, points: np.ndarray, r: float, t: float) -> Field:
    """The average field over [r, t]: learned (MeanFlow and its kin) or measured by integrating v (flow matching)."""
    if flow.method.learns_average:
        return Field(
            f"u(z, r, t), r = {r:.2f}, t = {t:.2f}",
            velocity_field(flow, points, r, t),
            "u(z, r, t)",
            f"The average field, learned: {literal(entry.label)} gives the average velocity over [r, t] "
            "directly: one jump z_r = z_t − (t − r) u.",
        )
    return Field(
        f"v averaged over [{r:.2f}, {t:.2f}]",
        integrated_average_velocity(flow, points, r, t),
        "average of v",
        f"{literal(entry.label)} learns no average field of its own: this one is measured by integrating v "
        "in 32 small steps — what MeanFlow learns to give in one evaluation.",
    )


def hover_texts(points: np.ndarray, fields: list[Field]) -> list[str]:
    """Per grid point: z and each field's vector and length there (the probe's numbers)."""
    rows = []
    for i, (x, y) in enumerate(points):
        lines = [f"z = ({x:.2f}, {y:.2f})"]
        for f in fields:
            a, b = f.vectors[i]
            lines.append(f"{f.name} = ({a:.3f}, {b:.3f}), length {np.hypot(a, b):.3f}")
        rows.append("\n".join(lines))
    return rows


def field_panel(field: Field, points: np.ndarray, key: str, bounds, reference, hover, probe) -> int | None:
    """One field with the probe; returns the index of a grid point just clicked (None: no new click)."""
    fig = figures.velocity_field_figure(
        points, field.vectors, field.title, bounds=bounds, reference=reference, hover=hover, probe=probe
    )
    event = present.chart(fig, key=key, width="stretch", on_select="rerun", selection_mode="points")
    st.caption(field.note)
    picked = [p.get("customdata") for p in (event.selection.points if event else [])]
    picked = [int(p[0] if isinstance(p, list) else p) for p in picked if p is not None]
    seen = st.session_state.get(f"{key}_seen")
    if picked and picked[0] != seen:
        st.session_state[f"{key}_seen"] = picked[0]
        return picked[0]
    return None


def field_over_time(flow: Flow, points: np.ndarray, bounds, reference) -> None:
    st.subheader("The instantaneous field over time")
    frames = [(f"t={tt:.2f}", velocity_field(flow, points, float(tt), float(tt))) for tt in ANIMATION_TIMES]
    anim = figures.velocity_field_animation(
        points, frames, "instantaneous field from noise (t = 1) to data (t = 0)", bounds=bounds, reference=reference
    )
    present.chart(anim, key="field_animation", width="stretch")
    downloads.figure_html(anim, "velocity_field", key="field_html")


def probe_numbers(point: np.ndarray, fields: list[Field], index: int) -> None:
    """The probed point's vectors as numbers, and how far apart they are."""
    cols = st.columns(len(fields) + 2)
    cols[0].metric("Probe at z", f"({point[0]:.2f}, {point[1]:.2f})")
    for col, f in zip(cols[1:], fields):
        a, b = f.vectors[index]
        col.metric(f.name, f"({a:.3f}, {b:.3f})", help=f"length {np.hypot(a, b):.3f}")
    if len(fields) == 2:
        gap = float(np.linalg.norm(fields[0].vectors[index] - fields[1].vectors[index]))
        cols[-1].metric("Difference", f"{gap:.3f}", help="the length of the difference of the two vectors")
    if cols[-1].button("Clear probe", key="field_probe_clear"):
        st.session_state.pop("field_probe", None)
        st.rerun()


def pairing_note(entry: RunEntry, flow: Flow, fields: list[Field], target_name: str) -> None:
    """Why u(z, t, t) and u(z, r, t) may look alike here, and where to see them differ at the same pairing."""
    if len(fields) < 2 or not flow.method.learns_average:
        return
    size = float(np.linalg.norm(fields[0].vectors, axis=1).mean())
    gap = float(np.linalg.norm(fields[0].vectors - fields[1].vectors, axis=1).mean())
    text = f"On this grid the two fields differ by {gap:.3f} on average, against a field size of {size:.3f}. "
    if flow.coupling == "minibatch-ot":
        text += (
            "They look alike because this run paired noise with data by minibatch optimal transport: its "
            "paths are nearly straight, and along a straight path the average velocity is the instantaneous "
            "one. (Flow matching's v looks different for a second reason: it trained with independent pairs.) "
            "To see instantaneous against average, compare at the same pairing:"
        )
    else:
        text += "This run trained with independent pairs, so its paths curve and the two fields differ. Compare:"
    st.info(text)
    links = same_pairing_runs(target_name)
    if links:
        cols = st.columns(len(links))
        for i, (col, (label, key)) in enumerate(zip(cols, links.items())):
            col.button(label, key=f"same_pairing_{i}", on_click=open_run, args=(key,), icon=":material/explore:")
    else:
        st.page_link(
            "app_pages/train.py",
            label="Train MeanFlow and flow matching with the same pairing",
            query_params={"methods": "meanflow,flow-matching", "coupling": "independent"},
            icon=":material/fitness_center:",
        )


def open_run(key: str) -> None:
    """Show the run `key` (a callback: before the picker is drawn, so the picker opens it from the URL)."""
    st.session_state.pop("field_run", None)
    st.session_state.pop("field_probe", None)
    st.query_params["field_run"] = key


def same_pairing_runs(target_name: str) -> dict[str, str]:
    """Bundled coupling-study runs on this target: label -> the run key the picker opens (study:ID)."""
    record = studies.bundled("coupling") or {}
    cells = record.get("runs", {}).get(target_name, {})
    wanted = {
        "MeanFlow, independent": "MeanFlow with independent pairs",
        "flow matching, minibatch OT": "Flow matching with minibatch OT",
    }
    return {label: f"study:{cells[cell]}" for cell, label in wanted.items() if cell in cells}


def main() -> None:
    st.title("Velocity fields")
    runs = pickers.ready_runs()
    with present.controls():
        c1, c2, c3 = st.columns([2, 1, 1])
        entry = pickers.run_picker("Run", runs, key="field_run", where=c1)
        t, r = time_settings(c2, c3)
    saved = pickers.load(entry)
    reference = target_preview(saved.target, 800)
    noise = saved.flow.normaliser.to_data(np.random.default_rng(0).normal(size=(500, 2)))
    bounds = geometry.bounds_of(reference, noise, margin=0.05)  # the field matters where noise and data are
    points = grid_points(bounds)
    fields = [instantaneous(saved.flow, points, t)]
    if r < t - TIME_STEP / 2:
        fields.append(average(entry, saved.flow, points, r, t))
    hover = hover_texts(points, fields)
    index = st.session_state.get("field_probe")
    index = index if index is not None and index < len(points) else None
    probe = (points[index], {f.name: f.vectors[index] for f in fields}) if index is not None else None
    clicked, columns = None, st.columns(2)
    for column, field, key in zip(columns, fields, ("instant", "average")):
        with column:
            clicked = field_panel(field, points, key, bounds, reference, hover, probe) if clicked is None else clicked
    if len(fields) == 1:
        columns[1].info(
            "Set r below t to see the average field over [r, t]."
            if t > 0
            else "At t = 0 (the data) there is no interval to average over: raise t, then set r below it."
        )
    if clicked is not None:
        st.session_state.field_probe = clicked
        st.rerun()
    st.caption("Hover over a point to read the fields there; click it to draw both arrows from it.")
    if index is not None:
        probe_numbers(points[index], fields, index)
    pairing_note(entry, saved.flow, fields, saved.target.name)
    field_over_time(saved.flow, points, bounds, reference)


main()
