"""Animate: particles flow from noise to data, one-step jumps beside K-step paths, in sync."""

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st
import torch

from meanflow.core.metrics import headline_metric
from meanflow.core.runs import SavedRun
from meanflow.core.sampling import Trajectory, sample, samples_csv
from meanflow.core.text import literal, steps_label
from meanflow.views import export, figures, geometry, palette
from meanflow.views.canvas import particle_animation_html
from meanflow.views.images import frames_along, player_html
from ui import downloads, keyboard, metrics, pickers, points, present, settings
from ui.session import RunEntry

STEP_CHOICES = (1, 2, 4, 8, 16, 32)
MAX_TRACED = 5  # particles followed at once
LEFT_STEPS = settings.Setting("anim_left_steps", 1, choices=STEP_CHOICES)
RIGHT_STEPS = settings.Setting("anim_right_steps", 8, choices=STEP_CHOICES)
PARTICLES = settings.Setting("particles", 1000, lo=100, hi=2000, integer=True)
SEED = settings.Setting("anim_seed", 0, lo=0, hi=2**31 - 1, integer=True)
COLOUR = settings.Setting("colour", "one colour", choices=("one colour", "starting point"))
TRACE = settings.Setting("trace", 0, lo=0, hi=MAX_TRACED, integer=True)
VIEW = settings.Setting("anim_view", "Particles", choices=("Particles", "Warped grid"))
GRID_LINES, GRID_POINTS = 17, 61  # the warped grid: lines per direction, points per line
AUTOPLAY = "anim_autoplay"  # URL only (a lesson's step): the animation plays once as the page opens


@dataclass(frozen=True)
class Panel:
    """One side of the animation: the run, its step count, and what it sampled."""

    entry: RunEntry
    saved: SavedRun
    trajectory: Trajectory
    steps: int
    label: int | None = None  # the class it sampled (None: none, or all classes)
    guidance: float = 1.0


def panel_settings(column, side: str, runs: list[RunEntry], default_index: int, steps_setting) -> tuple[RunEntry, int]:
    with column:
        entry = pickers.run_picker(f"{side} run", runs, key=f"anim_{side.lower()}_run", default_index=default_index)
        steps = settings.select_slider("Steps (network evaluations)", steps_setting)
    return entry, steps


def sample_panels(chosen: list[tuple[RunEntry, int]], n: int, seed: int) -> tuple[dict[str, Panel], bool]:
    """Each chosen run sampled from the same noise, by title (a class and guidance for a class-conditional
    run on the first conditional run's target; a run on another target samples all its classes), and
    whether one class was asked for."""
    loaded = [pickers.load(entry) for entry, _ in chosen]
    conditional = next((s.target for s in loaded if s.flow.classes), None)
    label, guidance = pickers.class_controls(conditional, "anim") if conditional is not None else (None, 1.0)
    panels: dict[str, Panel] = {}
    for (entry, steps), saved in zip(chosen, loaded):
        own_label = label if saved.target.name == getattr(conditional, "name", None) else None
        evaluations = steps * (2 if saved.flow.classes and guidance != 1.0 else 1)
        title = (
            f"{entry.label}, {steps_label(steps)}"
            + pickers.sampling_note(saved.flow, own_label, guidance, saved.target)
            + (f" ({evaluations} evaluations)" if evaluations != steps else "")
        )
        if title in panels:
            continue
        trajectory = sample(  # the same noise in both panels
            saved.flow, n, steps, torch.Generator().manual_seed(seed), label=own_label, guidance=guidance
        )
        panels[title] = Panel(entry, saved, trajectory, steps, own_label, guidance)
    return panels, label is not None


def particle_settings(panels: dict[str, Panel]) -> tuple[np.ndarray | None, tuple[int, ...]]:
    """Colour by starting point (each particle's colour, or None) and the particles to trace (clicks on
    the animation trace more, in the browser)."""
    c4, c5 = st.columns([2, 1])
    colour = settings.radio(
        "Colour particles by",
        COLOUR,
        where=c4,
        horizontal=True,
        help="Starting point: each particle keeps the colour of where its noise began (hue: direction, "
        "paleness: near the centre), so you can see which noise each map sends where.",
    )
    count = settings.number(
        "Trace particles",
        TRACE,
        where=c5,
        help="Draw the whole path of the first N particles (their positions in a table below), or click a "
        "particle in the animation to follow it (click it again to let it go).",
    )
    traced = tuple(range(int(count)))[:MAX_TRACED]
    first = next(iter(panels.values()))
    noise = first.saved.target.normaliser.to_model(first.trajectory.path[0])  # the same noise in every panel
    return (palette.start_colours(noise) if colour == "starting point" else None), traced


ANIMATION_HEIGHT = 560  # the canvas's iframe: titles, two square panels, Play and the time slider


def references_of(panels: dict[str, Panel]) -> list[np.ndarray]:
    """Each panel's target points (800, in data units; beyond 2D on their first two principal axes) for
    drawing under it."""
    refs = []
    for p in panels.values():
        key = pickers.target_key(p.entry, p.saved.target)
        refs.append(points.flat(points.target_preview(p.saved.target, 800), p.saved.target, key))
    return refs


def animation_html(
    panels: dict[str, Panel],
    colours: np.ndarray | None,
    traced: tuple[int, ...],
    colour_key: bool = True,
    fit_window: bool = False,
) -> str:
    """The particle animation as a canvas page (no Plotly: the browser draws 2 x 2,000 particles at its
    frame rate, and nothing while the animation is off screen). Panels on different targets get their
    own axes; a click on a particle follows it, before, during or after playing. fit_window: in the
    presenter view, panels that fit the window (the page's main animation; not one under an image player)."""
    references = references_of(panels)
    shared = all(np.array_equal(references[0], r) for r in references)
    return particle_animation_html(
        {title: (p.trajectory.times, p.trajectory.path) for title, p in panels.items()},
        reference=references[0] if shared else None,
        references=None if shared else references,
        colours=colours,
        height=ANIMATION_HEIGHT,
        start_at_end=False,
        seconds=2.56,  # 64 frames at 25 per second, as the movie
        traced=traced,
        clickable=True,
        max_traced=MAX_TRACED,
        point_scale=present.SCALE if present.presenting() else 1.0,
        fit_window=fit_window and present.presenting(),
        autoplay=str(st.query_params.get(AUTOPLAY, "")).lower() in ("true", "1"),
        colour_key=colour_key,
    )


def warped_grid(panels: dict[str, Panel], reference: np.ndarray) -> None:
    """The noise plane's grid pushed through each panel's sampler, animated from t = 1 to t = 0."""
    grid = torch.as_tensor(geometry.noise_grid(GRID_LINES, GRID_POINTS), dtype=torch.float32)
    paths = {}
    for title, panel in panels.items():
        moved = sample(
            panel.saved.flow,
            len(grid),
            panel.steps,
            torch.Generator().manual_seed(0),
            label=panel.label,
            guidance=panel.guidance,
            noise=grid,
        )
        paths[title] = (moved.times, moved.path)
    fig = figures.warped_grid_animation(paths, GRID_LINES, GRID_POINTS, reference=reference)
    present.chart(fig, key="warped_grid", width="stretch")
    keyboard.keyboard_controls()
    st.caption(
        "Press Play. At t = 1 each panel shows a square grid over the noise plane (±3 standard deviations); "
        "each sampler carries the grid's points as it carries noise, so at t = 0 the grid shows the map "
        "from noise to data: where lines crowd, much noise lands on little data; where they stretch, a "
        "little noise covers much. Blue lines were horizontal, orange vertical. A one-step map jumps "
        "straight; a K-step map bends at each step."
    )


def how_to_read() -> None:
    """The caption under the animation."""
    st.caption(
        "Press Play. Straight segments are one-step jumps; polylines are K-step paths "
        "(thin lines: a sample of whole paths). Grey dots: the target. Click a particle to follow it "
        "(again to let it go), before, during or after playing. Keyboard: Tab to Play, then Enter; arrow "
        "keys move the time slider. With colours by starting point, the key beside the panels says where "
        "each particle's noise began (direction: hue; distance from the centre: strength): drag the slider "
        "to t = 1 to see the wheel itself, then play to see which noise each map sends where."
    )


def panel_numbers(panels: dict[str, Panel], n: int, one_class: bool, grid: bool = False) -> None:
    """Each panel's metrics beside their floors, and its samples as CSV. grid: the warped grid is shown,
    whose points are not what is scored."""
    cols = st.columns(len(panels))
    for i, (col, (title, panel)) in enumerate(zip(cols, panels.items())):
        q = pickers.evaluator_for(panel.entry, panel.saved.target, n).score(panel.trajectory.samples)
        with col:
            st.markdown(f"**{literal(title)}**")
            if panel.saved.flow.classes and one_class:
                st.caption("Metrics against the whole target: one class covers only its part of it.")
            metrics.show_metrics(q)
            scored = "The Particles view's" if grid else "These"  # the grid's points are not samples
            st.caption(f"{scored} {q.n:,} particles; {metrics.floors_sentence(q)}.")
            best = pickers.headline_for(panel.entry, panel.saved, panel.steps)
            headline = metrics.headline_sentence(best, headline_metric(panel.saved.target))
            st.caption(
                f"The run's headline at {steps_label(panel.steps)} (n = {best.n:,}, sampled from its seed "
                f"{panel.saved.config.seed}, against that seed's reference sample, floor included; a study's "
                f"table gives a row's mean over its seeds, and of their floors): {headline}."
            )
            st.download_button(
                "Samples (CSV)",
                samples_csv(panel.trajectory.samples),
                file_name=downloads.samples_file_name(panel.entry.label, panel.steps),
                mime="text/csv",
                key=f"csv_{i}",
                on_click="ignore",
            )


def main() -> None:
    st.title("Animate")
    runs = pickers.ready_runs()
    left_default, right_default = pickers.default_runs(runs)
    with present.controls():
        c1, c2, c3 = st.columns([2, 2, 1])
        left = panel_settings(c1, "Left", runs, left_default, LEFT_STEPS)
        right = panel_settings(c2, "Right", runs, right_default, RIGHT_STEPS)
        n = settings.slider("Particles", PARTICLES, where=c3, step=100)
        seed = settings.number("Noise seed", SEED, where=c3)
        panels, one_class = sample_panels([left, right], n, int(seed))
        view = settings.segmented(
            "View",
            VIEW,
            help="Particles: samples travelling from noise to data. Warped grid: a square grid over the noise "
            "plane carried by each sampler, the map itself.",
        )
        if view != "Warped grid":
            colours, traced = particle_settings(panels)
    first = next(iter(panels.values()))
    dims = {p.saved.target.dim for p in panels.values()}
    if len(dims) > 1:
        st.warning(
            "These runs draw points of different dimensions ("
            + " and ".join(f"{literal(p.saved.target.name)}: {p.saved.target.dim}" for p in panels.values())
            + "); pick two runs on the same target to see them side by side."
        )
        return
    if points.is_image(first.saved.target):
        image_view(panels, colours, traced)
        panel_numbers(panels, n, one_class)
        return
    reference = points.target_preview(first.saved.target, 800)  # SVG under animated panels: keep it light
    if view == "Warped grid":
        warped_grid(panels, reference)
        panel_numbers(panels, n, one_class, grid=True)
        return
    html = animation_html(panels, colours, traced, fit_window=True)  # the page's picture: on one screen
    st.iframe(html, height=ANIMATION_HEIGHT)
    how_to_read()
    if traced:
        trace_table(panels, traced)
    panel_numbers(panels, n, one_class)
    st.download_button(
        "Animation (HTML, opens in any browser)",
        html.encode(),
        file_name="animation.html",
        mime="text/html",
        key="animation_html",
        on_click="ignore",
    )
    movie_export(panels, colours, traced)


def flat_panels(panels: dict[str, Panel]) -> dict[str, Panel]:
    """The panels with their paths on the target's first two principal axes (data of more than 2 dimensions)."""
    out = {}
    for title, p in panels.items():
        key = pickers.target_key(p.entry, p.saved.target)
        path = points.flat(p.trajectory.path, p.saved.target, key).astype(np.float32)
        out[title] = replace(p, trajectory=Trajectory(p.trajectory.times, path))
    return out


def image_view(panels: dict[str, Panel], colours: np.ndarray | None, traced: tuple[int, ...]) -> None:
    """Image targets (the digits): the first 36 particles of each panel as image grids, frame by frame from
    noise (t = 1) to samples (t = 0), one step beside K steps from the same noise; below, every particle's
    path on the data's first two principal axes, as the 2D view draws them."""
    first = next(iter(panels.values()))
    target = first.saved.target
    paths = {title: (p.trajectory.times, p.trajectory.path) for title, p in panels.items()}
    frames = image_frames(paths, target)
    autoplay = str(st.query_params.get(AUTOPLAY, "")).lower() in ("true", "1")
    st.iframe(player_html(frames, list(panels), autoplay=autoplay), height=IMAGE_PLAYER_HEIGHT)
    st.caption(
        "Press ▶ Play: the same 36 noise images in each panel become samples. A one-step sampler fades each "
        "noise image straight into its sample; a K-step sampler moves it in K steps. Below: every particle on "
        "the digits' first two principal axes (the plane that shows most of their spread), coloured by the "
        "digit the classifier reads in its final sample."
    )
    flat = flat_panels(panels)
    by_class = colours is None and target.classify is not None
    if by_class:
        colours = class_colours(first)
        names = palette.DIGIT_COLOUR_NAMES
        st.caption("Digits: " + ", ".join(f"{k} {name}" for k, name in enumerate(names)) + ".")
    st.iframe(animation_html(flat, colours, traced, colour_key=not by_class), height=ANIMATION_HEIGHT)
    if traced:
        trace_table(flat, traced)
    movie_export(panels, colours, traced, frames_of=lambda: image_frames(paths, target, frames=export.FRAMES))


IMAGE_PLAYER_HEIGHT = 480


@st.cache_data(show_spinner="Drawing the image grids…", max_entries=8)
def _image_frames(paths: dict, shape: tuple[int, int], value_range: tuple[float, float], frames: int) -> list:
    return frames_along(paths, shape, value_range, frames=frames)


def image_frames(paths: dict, target, frames: int = 33) -> list[np.ndarray]:
    return _image_frames(paths, target.image_shape, target.value_range, frames)


def class_colours(panel: Panel) -> np.ndarray | None:
    """(n, 3) uint8: each particle in the colour of the class the target's classifier reads in its sample."""
    classify = panel.saved.target.classify
    if classify is None:
        return None
    probs, _ = classify(panel.trajectory.samples)
    rgb = np.array([palette.hex_rgb(c) for c in palette.DIGIT_COLOURS], dtype=np.uint8)
    return rgb[probs.argmax(axis=1) % len(rgb)]


def trace_table(panels: dict[str, Panel], traced: tuple[int, ...]) -> None:
    """The traced particles' positions at each step of each panel."""
    rows = []
    for title, panel in panels.items():
        traj = panel.trajectory
        for i in traced:
            if i < traj.path.shape[1]:
                for j, (t, (x, y)) in enumerate(zip(traj.times, traj.path[:, i])):
                    rows.append({"panel": title, "particle": i, "step": j, "t": round(float(t), 4), "x": x, "y": y})
    st.markdown("**The traced particles, step by step**")
    st.caption(
        "Each traced path of the animation as numbers: 'particle' is the particle's index among the noise "
        "drawn (the same index starts from the same noise in every panel), 'step' counts from the noise "
        "(t = 1) to the sample (t = 0)."
    )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        height=min(400, 38 + 35 * len(rows)),
        column_config={c: st.column_config.NumberColumn(format="%.4f") for c in ("x", "y")},
    )


def movie_export(panels: dict[str, Panel], colours: np.ndarray | None, traced: tuple[int, ...], frames_of=None) -> None:
    """GIF and MP4 of the animation (64 frames, 800 x 400, the traced particles' paths drawn; an image
    target's image grids from frames_of()), made when asked, with a progress bar; a movie made for other
    settings is not offered. Not in the presenter view, which hides downloads: a movie is made before class."""
    if present.presenting():
        return
    paths = {title: (p.trajectory.times, p.trajectory.path) for title, p in panels.items()}
    digest = hashlib.sha1(repr((list(paths), traced)).encode())
    for _, path in paths.values():
        digest.update(path.tobytes())
    digest.update(b"" if colours is None else colours.tobytes())
    fingerprint = digest.hexdigest()
    # a key keeps the expander one element across the rerun a Make button starts (without one the first
    # click closed it: a walk never saw the progress bar, nor the Download button until it reopened it)
    with st.expander("Take it to class: GIF or MP4", key="movie_expander"):
        st.caption(
            "64 frames, 800 × 400, the panels side by side with their titles and the particles traced above "
            "(set by 'Trace particles'). A PNG of any chart: the camera icon in the chart's toolbar."
        )
        c1, c2 = st.columns(2)
        for col, kind in ((c1, "GIF"), (c2, "MP4")):
            if col.button(f"Make {kind}", key=f"make_{kind}"):
                if frames_of is not None:
                    grey = frames_of()
                    frames = [np.repeat(f[..., None], 3, axis=2) for f in grey]
                    movie = export.gif_bytes(frames) if kind == "GIF" else export.mp4_bytes(frames)
                else:
                    movie = make_movie(kind, paths, references_of(panels), colours, traced)
                st.session_state[f"movie_{kind}"] = (fingerprint, movie)
            made = st.session_state.get(f"movie_{kind}")
            if made is not None and made[0] == fingerprint:
                col.download_button(
                    f"Download {kind} ({len(made[1]) / 1e6:.1f} MB)",
                    made[1],
                    file_name=f"animation.{kind.lower()}",
                    mime="image/gif" if kind == "GIF" else "video/mp4",
                    key=f"download_{kind}",
                    on_click="ignore",
                )


def make_movie(kind: str, paths: dict, references: list[np.ndarray], colours, traced: tuple[int, ...]) -> bytes:
    bar = st.progress(0.0, text=f"Drawing the {kind}'s frames…")
    frames = export.movie_frames(
        paths,
        references=references,
        colours=colours,
        traced=traced,
        on_frame=lambda done, total: bar.progress(0.8 * done / total),
    )
    bar.progress(0.85, text=f"Encoding the {kind}…")
    data = export.gif_bytes(frames) if kind == "GIF" else export.mp4_bytes(frames)
    bar.progress(1.0, text=f"{kind} ready: {len(data) / 1e6:.1f} MB")
    return data


main()
