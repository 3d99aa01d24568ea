"""Plotly figure builders for the app: point clouds, sampling animations, velocity fields, curves.

Pure: numpy arrays (or a pandas table) in, `go.Figure` out; no streamlit, no torch. Plotly reads
titles, names and tick labels as HTML, so every string a caller passes is escaped here (text.literal):
callers pass plain text, user text included. Every 2D
panel has fixed ranges and equal aspect, so shapes are not distorted and animations do not
rescale between frames. Animations are Plotly frames played in the browser (STYLE habit 7).
"""

from __future__ import annotations

import itertools
import math
import statistics
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..core.text import literal
from .geometry import Bounds, bounds_of, grid_lines, noted_shared_bounds, positions_at, shared_view
from .palette import CLASS_COLOURS, LINE_COLOURS, PARTICLE_COLOUR, TRACE_COLOURS, colour_wheel_png, line_styles


def _text(text) -> str:
    """A caller's plain text as Plotly shows it: inert HTML."""
    return literal(str(text), "html")


def _panel_title(text, columns: int, note: str = "") -> str:
    """A subplot's title as Plotly shows it (inert HTML), broken into lines at its commas where it is wider
    than its column (TITLE_CHARS across the figure), then at its spaces where a part is still wider, so
    neighbours' titles do not run together down to a page about 800 px wide;
    a note (what the view leaves out) on a line of its own under it."""
    width = max(12, TITLE_CHARS // max(1, columns))
    lines: list[str] = []
    for part in str(text).split(", "):
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += ", " + part
        else:
            lines.append(part)
    lines = [wrapped for line in lines for wrapped in textwrap.wrap(line, width, break_long_words=False) or [""]]
    return "<br>".join(_text(line) for line in [*lines, *([note] if note else [])])


TITLE_CHARS = 60  # characters of panel titles across a figure (120 ran together at 800 px: 'SplitMeanFlowReflow')
TITLE_SIZE = 12  # px: Plotly's 16 px subplot titles ran into their neighbours on narrow pages
MARGIN = dict(l=10, r=10, t=40, b=10)
FLOOR_LINE = dict(dash="dash", color="grey", width=1.5)  # a noise floor, on every chart that draws one
FLOOR_LABEL_ROOM = 80  # px right of a bar chart for its "noise floor" label
UPRIGHT_BARS = 6  # more cells than this lie across, each name beside its bar
OFF_SCALE = 100.0  # a bar this many times the others' lower median is drawn cut at the top, its value written
LOG_SPAN = 5.0  # a metric axis turns logarithmic where its lines span more than this factor
MIN_SPAN = 0.1  # a linear metric axis spans at least this share of its largest value
# a legend under the plot, left-aligned: above it, four entries ran into the chart's title on the Train page
LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0)
ANIMATION_MARGIN = dict(l=10, r=10, t=40, b=90)  # room under the panels for play/pause and the slider
REFERENCE_STYLE = dict(
    mode="markers",
    marker=dict(size=3, color="rgba(150, 150, 150, 0.35)"),
    hoverinfo="skip",
    showlegend=False,
    name="target",
)
# Plotly's white template with Okabe and Ito's colour-blind-safe colours for lines and bars (methods,
# runs), registered once under a name of our own.
pio.templates["meanflow"] = go.layout.Template(layout=dict(colorway=list(LINE_COLOURS)))
TEMPLATE = "plotly_white+meanflow"
GHOST_LINE = dict(width=0.7, color="rgba(230, 110, 30, 0.3)")
ARROW_LINE = dict(width=1.3, color="#1f4e9c")


def _square_axes(n_panels: int, bounds: Bounds) -> dict:
    """Layout entries fixing every subplot's ranges and locking its aspect to 1."""
    xmin, xmax, ymin, ymax = bounds
    layout = {}
    for i in range(1, n_panels + 1):
        s = "" if i == 1 else str(i)
        # constrain="domain" shrinks the plot area rather than widening a range: the ranges stay fixed
        layout[f"xaxis{s}"] = dict(range=[xmin, xmax], constrain="domain", zeroline=False, showticklabels=False)
        layout[f"yaxis{s}"] = dict(
            range=[ymin, ymax],
            scaleanchor=f"x{s}",
            scaleratio=1,
            constrain="domain",
            zeroline=False,
            showticklabels=False,
        )
    return layout


def _controls(names: list[str], labels: list[str], frame_ms: int, active: int = 0) -> dict:
    """Layout entries for Play/Pause buttons and a slider stepping through the named frames.

    active: the frame shown first. Shown at the last frame, Play replays from the first one.
    """
    replay = active == len(names) - 1
    play = [
        names if replay else None,
        {
            "frame": {"duration": frame_ms, "redraw": False},
            "fromcurrent": not replay,
            "mode": "immediate",
            "transition": {"duration": 0},
        },
    ]
    pause = [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}]
    buttons = dict(
        type="buttons",
        direction="left",
        x=0.0,
        y=0.0,
        xanchor="left",
        yanchor="top",
        pad=dict(t=45, r=10),
        showactive=False,
        buttons=[dict(label="Play", method="animate", args=play), dict(label="Pause", method="animate", args=pause)],
    )
    steps = [
        dict(
            label=label,
            method="animate",
            args=[
                [name],
                {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}},
            ],
        )
        for name, label in zip(names, labels)
    ]
    # Dozens of tick labels would overprint each other: hide them and let the current value speak
    tick_font = dict(color="rgba(0, 0, 0, 0)") if len(steps) > 12 else {}
    slider = dict(
        active=active,
        steps=steps,
        x=0.16,
        len=0.84,
        y=0.0,
        yanchor="top",
        pad=dict(t=30, b=0),
        font=tick_font,
        transition=dict(duration=0),
        currentvalue=dict(visible=True, prefix="", xanchor="right", font=dict(color="#2a3f5f")),
    )
    return dict(updatemenus=[buttons], sliders=[slider])


def _reference_trace(reference: np.ndarray | None, gl: bool = False) -> list[go.Scatter]:
    # Static pictures use WebGL (a 12-panel grid of SVG points took 7 s to paint); animated
    # figures stay SVG, since WebGL traces do not move with redraw-free frames.
    if reference is None:
        return []
    ref = np.asarray(reference, dtype=np.float32)
    return [(go.Scattergl if gl else go.Scatter)(x=ref[:, 0], y=ref[:, 1], **REFERENCE_STYLE)]


def _grid(n_panels: int, columns: int) -> list[tuple[int, int]]:
    return [(i // columns + 1, i % columns + 1) for i in range(n_panels)]


def scatter_figure(
    points: np.ndarray,
    title: str = "",
    bounds: Bounds | None = None,
    reference: np.ndarray | None = None,
    height: int = 420,
    labels: np.ndarray | None = None,
    class_names: tuple[str, ...] = (),
    gl: bool = True,
) -> go.Figure:
    """points: (n, 2) as small markers; reference: optional (m, 2) target sample drawn underneath.
    labels: optional (n,) class of each point, drawn in that class's colour with `class_names` as the
    legend. gl: WebGL (fast for many points, but each chart holds a WebGL context of the browser's few,
    and a browser without a GPU draws it in software); False: SVG, for small charts redrawn often."""
    points = np.asarray(points, dtype=np.float32)
    bounds = bounds or bounds_of(points, *([] if reference is None else [reference]))
    fig = go.Figure(_reference_trace(reference, gl=gl))
    groups = (
        [(k, np.asarray(labels) == k) for k in range(len(class_names))] if labels is not None else [(None, slice(None))]
    )
    for k, rows in groups:
        fig.add_trace(
            (go.Scattergl if gl else go.Scatter)(
                x=points[rows, 0],
                y=points[rows, 1],
                mode="markers",
                name="samples" if k is None else _text(class_names[k]),
                showlegend=k is not None,
                marker=dict(
                    size=3,
                    color=PARTICLE_COLOUR if k is None else CLASS_COLOURS[k % len(CLASS_COLOURS)],
                    opacity=0.7,
                ),
            )
        )
    fig.update_layout(
        _square_axes(1, bounds), title=dict(text=_text(title)), template=TEMPLATE, height=height, margin=MARGIN
    )
    if labels is not None:
        fig.update_layout(legend=dict(orientation="h", y=-0.05, itemsizing="constant"))
    return fig


def drawing_canvas(shapes: list[tuple[int, np.ndarray]], levels: int = 5, height: int = 420) -> go.Figure:
    """The unit square to draw a target on with Plotly's lasso and box selection: the shapes so far
    (density level, (k, 2) vertices) filled, darker for denser, over a faint grid of points that the
    selection tools need to act on."""
    g = (np.arange(24) + 0.5) / 24
    gx, gy = np.meshgrid(g, g)
    fig = go.Figure(
        go.Scatter(
            x=gx.ravel(),
            y=gy.ravel(),
            mode="markers",
            marker=dict(size=3, color="rgba(150, 150, 150, 0.25)"),
            hoverinfo="skip",
            showlegend=False,
            name="canvas",
        )
    )
    for level, vertices in shapes:
        v = np.asarray(vertices)
        fig.add_trace(
            go.Scatter(
                x=np.append(v[:, 0], v[0, 0]),
                y=np.append(v[:, 1], v[0, 1]),
                mode="lines",
                fill="toself",
                line=dict(width=1, color=PARTICLE_COLOUR),
                fillcolor=f"rgba(31, 78, 156, {0.12 + 0.7 * level / levels:.2f})",
                hoverinfo="skip",
                showlegend=False,
                name="shape",
            )
        )
    axis = dict(range=[0, 1], showgrid=False, zeroline=False, showticklabels=False, fixedrange=True)
    fig.update_layout(
        xaxis=axis,
        yaxis=dict(axis, scaleanchor="x", scaleratio=1),
        dragmode="lasso",
        template=TEMPLATE,
        height=height,
        margin=MARGIN,
        title=dict(text="Draw with the lasso (or the box) tool"),
    )
    return fig


def scatter_grid(
    panels: dict[str, np.ndarray],
    columns: int,
    bounds: Bounds | None = None,
    reference: np.ndarray | None = None,
    height_per_row: int = 260,
) -> go.Figure:
    """One subplot per entry of panels (title: (n, 2) points), all with the same fixed bounds.

    reference: optional (m, 2) target sample drawn under every panel.
    """
    if not panels:
        raise ValueError("scatter_grid needs at least one panel")
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    notes = [""] * len(panels)
    if bounds is None:
        bounds, notes = shared_view(list(panels.values()), reference)
    titles = [_panel_title(t, columns, note) for t, note in zip(panels, notes)]
    title_lines = max(t.count("<br>") + 1 for t in titles)
    # every title as many lines as the longest (blank ones below), so a row's titles start on one line
    titles = [t + "<br>&nbsp;" * (title_lines - 1 - t.count("<br>")) for t in titles]
    height = height_per_row * rows + 15 * (title_lines - 1) * rows
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=titles,
        horizontal_spacing=0.03,
        vertical_spacing=min((30 + 15 * title_lines) / height, 1 / max(rows - 1, 1)),
    )  # ~45 px for each row's one-line titles, 15 more per further line
    for (title, points), (row, col) in zip(panels.items(), _grid(len(panels), columns)):
        points = np.asarray(points, dtype=np.float32)
        for trace in _reference_trace(reference, gl=True):
            fig.add_trace(trace, row=row, col=col)
        fig.add_trace(
            go.Scattergl(
                x=points[:, 0],
                y=points[:, 1],
                mode="markers",
                name=_text(title),
                showlegend=False,
                marker=dict(size=2.5, color=PARTICLE_COLOUR, opacity=0.7),
            ),
            row=row,
            col=col,
        )
    margin = dict(MARGIN, t=25 + 15 * title_lines)  # room above the first row for its titles' lines
    fig.update_layout(_square_axes(rows * columns, bounds), template=TEMPLATE, height=height, margin=margin)
    fig.update_annotations(font_size=TITLE_SIZE)
    for i in range(len(panels) + 1, rows * columns + 1):  # empty cells of the last row
        fig.update_layout({f"xaxis{i}": dict(visible=False), f"yaxis{i}": dict(visible=False)})
    return fig


def colour_key(radius: float = 3.0, pixels: int = 121, height: int = 220) -> go.Figure:
    """The legend of start_colours: the colour wheel over the noise plane, with the 1 and 2 sigma
    circles (39% and 86% of the Gaussian's mass inside them). A small RGBA image, light to send."""
    source = colour_wheel_png(radius, pixels)
    step = 2 * radius / (pixels - 1)
    fig = go.Figure(go.Image(source=source, x0=-radius, dx=step, y0=-radius, dy=step, hoverinfo="skip"))
    theta = np.linspace(0, 2 * np.pi, 97)
    for r in (1.0, 2.0):
        fig.add_trace(
            go.Scatter(
                x=r * np.cos(theta),
                y=r * np.sin(theta),
                mode="lines",
                line=dict(color="rgba(60, 60, 60, 0.6)", width=1, dash="dot"),
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_annotation(x=r * 0.71, y=-r * 0.71, text=f"{r:g}σ", showarrow=False, font=dict(size=10))
    fig.update_layout(
        title=dict(text="Colour key: where the noise started", font=dict(size=12)),
        height=height,
        margin=dict(l=30, r=10, t=30, b=30),
        plot_bgcolor="rgba(0, 0, 0, 0)",
        paper_bgcolor="rgba(0, 0, 0, 0)",
    )
    fig.update_xaxes(range=[-radius, radius], title=dict(text="noise x", font=dict(size=10)), showgrid=False)
    fig.update_yaxes(
        range=[-radius, radius],
        title=dict(text="noise y", font=dict(size=10)),
        showgrid=False,
        scaleanchor="x",
        autorange=False,
    )
    return fig


def _css_colours(rgb: np.ndarray) -> list[str]:
    return [f"rgb({r},{g},{b})" for r, g, b in rgb]


def _polylines(path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of all particles' polylines in one trace: path (k + 1, g, 2) -> (g * (k + 2),) each.

    Each polyline is followed by one None, which breaks the line (g Nones in all).
    """
    xy = np.round(path.transpose(1, 0, 2), 4).astype(object)  # (g, k + 1, 2)
    gap = np.full((xy.shape[0], 1, 2), None, dtype=object)
    xy = np.concatenate([xy, gap], axis=1).reshape(-1, 2)
    return xy[:, 0], xy[:, 1]


def _checked_panels(panels: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The panels as float64 (times (k + 1,), path (k + 1, n, 2)); ValueError naming a panel of another shape."""
    paths = {
        title: (np.asarray(times, dtype=np.float64), np.asarray(path, dtype=np.float64))
        for title, (times, path) in panels.items()
    }
    for title, (times, path) in paths.items():
        if times.ndim != 1 or len(times) < 2 or path.shape[:1] != times.shape or path.ndim != 3:
            raise ValueError(
                f"panel {title!r}: need times (k + 1,) with k >= 1 and path (k + 1, n, 2), "
                f"got {times.shape} and {path.shape}"
            )
    return paths


def _ghost_trace(title: str, path: np.ndarray) -> go.Scatter:
    """The whole polylines of some particles, path (k + 1, g, 2), as one faint trace."""
    gx, gy = _polylines(path)
    return go.Scatter(
        x=gx, y=gy, mode="lines", line=GHOST_LINE, hoverinfo="skip", showlegend=False, name=_text(f"{title}: paths")
    )


def _particle_trace(title: str, xy: np.ndarray, colours: np.ndarray | None) -> go.Scatter:
    """The particles at one frame, xy (n, 2), each hovering as its index (to click and follow it)."""
    n = len(xy)
    return go.Scatter(
        x=xy[:, 0],
        y=xy[:, 1],
        mode="markers",
        name=_text(title),
        showlegend=False,
        marker=dict(
            size=3,
            color=PARTICLE_COLOUR if colours is None else _css_colours(colours[:n]),
            opacity=0.75 if colours is None else 0.9,
        ),
        customdata=np.arange(n),
        hovertemplate="particle %{customdata}<extra></extra>",
    )


def _particle_frames(names: list[str], traces: list[int], frame_xy: list[np.ndarray]) -> list[dict]:
    """One animation frame per name, moving only the particle traces; frame_xy: per trace (F, n, 2).

    Plain dicts holding numpy arrays: plotly checks an array whole, where a list is checked value by
    value (benchmarks/figures_bench.py)."""
    return [
        dict(name=name, traces=traces, data=[dict(type="scatter", x=xy[f, :, 0], y=xy[f, :, 1]) for xy in frame_xy])
        for f, name in enumerate(names)
    ]


def trajectory_animation(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    n_frames: int = 64,
    bounds: Bounds | None = None,
    ghost_paths: int = 150,
    reference: np.ndarray | None = None,
    height: int = 520,
    start_at_end: bool = False,
    colours: np.ndarray | None = None,
    traced: tuple[int, ...] = (),
) -> go.Figure:
    """Side-by-side panels of particles travelling from noise (t = 1) to samples (t = 0), on shared frames.

    start_at_end: first show the samples (a result at first paint); Play then replays from the noise.
    colours: optional (n, 3) uint8 colour per particle (start_colours: by where its noise started);
    the same particle has the same colour in every panel. traced: particle indices whose whole path is
    drawn bold in every panel, with a marker and the position (hover) at each step.

    panels: title -> (times, path) with times (k + 1,) decreasing from 1 to 0 and path (k + 1, n, 2),
        path[0] the noise and path[-1] the samples; k may differ between panels.
    Frame f shows every panel at tau = 1 - f / (n_frames - 1), each particle linearly interpolated
    along its own piecewise-linear path. Static per panel: the optional reference (m, 2) in grey, and
    the full polylines of the first `ghost_paths` particles; frames resend only the particle traces.
    """
    if not panels:
        raise ValueError("trajectory_animation needs at least one panel")
    if n_frames < 2:
        raise ValueError(f"an animation needs at least 2 frames, got {n_frames}")
    paths = _checked_panels(panels)
    titles = list(paths)
    if bounds is None:  # the samples decide which panel diverged; the noise is every panel's
        ends = [p[-1] for _, p in paths.values()]
        bounds, titles = noted_shared_bounds(titles, ends, reference, *(p[0] for _, p in paths.values()))
    titles = [_text(t) for t in titles]
    taus = 1.0 - np.arange(n_frames) / (n_frames - 1)  # (F,)
    fig = make_subplots(rows=1, cols=len(paths), subplot_titles=titles, horizontal_spacing=0.03)
    moving, frame_xy = [], []
    for col, (title, (times, path)) in enumerate(paths.items(), start=1):
        for trace in _reference_trace(reference):
            fig.add_trace(trace, row=1, col=col)
        fig.add_trace(_ghost_trace(title, path[:, :ghost_paths]), row=1, col=col)
        # float32 rather than rounding: plotly ships numpy arrays as base64 bytes, where rounding saves
        # nothing and float32 halves the JSON (precision ~1e-6)
        xy = positions_at(times, path, taus).astype(np.float32)  # (F, n, 2)
        fig.add_trace(_particle_trace(title, xy[-1 if start_at_end else 0], colours), row=1, col=col)
        moving.append(len(fig.data) - 1)
        frame_xy.append(xy)
        for i in traced:
            if 0 <= i < path.shape[1]:
                fig.add_trace(_traced_path(times, path[:, i], title, i), row=1, col=col)

    _frames_and_layout(fig, len(paths), moving, frame_xy, taus, bounds, 40, n_frames - 1 if start_at_end else 0, height)
    return fig


def _frames_and_layout(
    fig: go.Figure,
    n_panels: int,
    moving: list[int],
    frame_xy: list[np.ndarray],
    taus: np.ndarray,
    bounds: Bounds,
    frame_ms: int,
    active: int,
    height: int,
) -> None:
    """An animation's frames (frame f moves the traces `moving` to frame_xy[i][f], each (F, n, 2)), its
    n_panels square panels, Play and the time slider (at frame `active`)."""
    names = [str(f) for f in range(len(taus))]
    fig.frames = _particle_frames(names, moving, frame_xy)
    # one dict: update_layout's second positional argument is `overwrite`, not more layout
    fig.update_layout(
        {
            **_square_axes(n_panels, bounds),
            **_controls(names, [f"t={tau:.2f}" for tau in taus], frame_ms, active=active),
        },
        template=TEMPLATE,
        height=height,
        margin=ANIMATION_MARGIN,
        showlegend=False,
    )


GRID_COLOURS = ("#0072B2", "#D55E00")  # the noise grid's horizontal and vertical lines (Okabe-Ito)


def _grid_traces(
    title: str, per_frame: list[tuple[np.ndarray, np.ndarray]], half: int
) -> list[tuple[go.Scatter, list]]:
    """The horizontal and the vertical lines of a moving grid: each a trace at the last frame (t = 0: the
    map's image) and its (x, y) at every frame. per_frame: grid_lines' (x, y) per frame; half: the
    horizontal lines' length."""
    out = []
    for part, colour in zip((slice(0, half), slice(half, None)), GRID_COLOURS):
        frames = [(x[part].astype(np.float32), y[part].astype(np.float32)) for x, y in per_frame]
        trace = go.Scatter(
            x=frames[-1][0],
            y=frames[-1][1],
            mode="lines",
            line=dict(width=1, color=colour),
            hoverinfo="skip",
            showlegend=False,
            name=_text(f"{title}: grid"),
        )
        out.append((trace, frames))
    return out


def warped_grid_animation(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    lines: int,
    per_line: int,
    n_frames: int = 33,
    bounds: Bounds | None = None,
    reference: np.ndarray | None = None,
    height: int = 520,
) -> go.Figure:
    """A square grid over the noise plane carried by each panel's sampler, from t = 1 to t = 0.

    panels: title -> (times (k + 1,), path (k + 1, 2 * lines * per_line, 2)), the points of
    geometry.noise_grid pushed along each sampler's steps (path[0] the grid itself). Horizontal lines
    in blue, vertical in orange, so a fold or a twist of the map shows. Frame f: every panel at
    tau = 1 - f / (n_frames - 1), points linear between their step times (as trajectory_animation).
    It opens on the last frame (t = 0: the map's image); Play replays it from the grid itself.
    """
    if not panels:
        raise ValueError("warped_grid_animation needs at least one panel")
    if n_frames < 2:
        raise ValueError(f"an animation needs at least 2 frames, got {n_frames}")
    paths = _checked_panels(panels)
    for title, (_, path) in paths.items():
        if path.shape[1] != 2 * lines * per_line:
            raise ValueError(f"panel {title!r}: {path.shape[1]} points, not a grid of {lines} x {per_line} lines")
    bounds = bounds or bounds_of(*(p[0] for _, p in paths.values()), *(p[-1] for _, p in paths.values()), margin=0.02)
    taus = 1.0 - np.arange(n_frames) / (n_frames - 1)  # (F,)
    fig = make_subplots(rows=1, cols=len(paths), subplot_titles=[_text(t) for t in paths], horizontal_spacing=0.03)
    moving, frame_lines = [], []
    for col, (title, (times, path)) in enumerate(paths.items(), start=1):
        for trace in _reference_trace(reference):
            fig.add_trace(trace, row=1, col=col)
        xy = positions_at(times, path, taus)  # (F, m, 2)
        for trace, lines_per_frame in _grid_traces(
            title, [grid_lines(p, lines, per_line) for p in xy], lines * (per_line + 1)
        ):
            fig.add_trace(trace, row=1, col=col)
            moving.append(len(fig.data) - 1)
            frame_lines.append(np.stack([np.stack(xy_f, axis=-1) for xy_f in lines_per_frame]))  # (F, L, 2)
    _frames_and_layout(fig, len(paths), moving, frame_lines, taus, bounds, 60, n_frames - 1, height)
    return fig


def _traced_path(times: np.ndarray, path: np.ndarray, title: str, index: int) -> go.Scatter:
    """One particle's whole path (k + 1, 2): a bold line with a marker and its position at each step."""
    hover = [f"particle {index}, t = {t:.3f}: ({x:.3f}, {y:.3f})" for t, (x, y) in zip(times, path)]
    return go.Scatter(
        x=path[:, 0],
        y=path[:, 1],
        mode="lines+markers",
        line=dict(width=2.5, color=TRACE_COLOURS[index % len(TRACE_COLOURS)]),
        marker=dict(size=7, symbol="circle-open"),
        text=hover,
        hovertemplate="%{text}<extra></extra>",
        showlegend=False,
        name=_text(f"{title}: particle {index}"),
    )


def _grid_spacing(grid_points: np.ndarray) -> float:
    """The smallest positive gap between distinct grid coordinates (1 for a single point)."""
    gaps = [np.diff(np.unique(grid_points[:, d])) for d in range(2)]
    gaps = np.concatenate(gaps)
    gaps = gaps[gaps > 1e-9]
    return float(gaps.min()) if len(gaps) else 1.0


def _arrows(grid_points: np.ndarray, vectors: np.ndarray, scale: float) -> tuple[tuple, tuple]:
    """Shafts and heads as None-separated (x, y) arrays; each arrow is centred on its grid point.

    grid_points, vectors: (m, 2). Shafts: tail, tip, None, so (3 m,) each; heads: left barb, tip,
    right barb, None (two strokes sharing the tip), so (4 m,) each.
    """
    d = vectors * scale  # (m, 2)
    # A few wild arrows (a network extrapolating far from the data, often near t = 0) must not
    # cross the plot: cap each at 1.5 grid spacings, keeping its direction.
    cap = 1.5 * _grid_spacing(grid_points)
    length = np.linalg.norm(d, axis=1, keepdims=True)
    d = np.where(length > cap, d * cap / np.maximum(length, 1e-12), d)
    tail, tip = grid_points - d / 2, grid_points + d / 2
    # Heads 30% of the arrow's own length, 25 degrees off the shaft: short arrows get small heads
    c, s = math.cos(math.radians(25)), math.sin(math.radians(25))
    back = -0.3 * d
    left = tip + np.stack([c * back[:, 0] - s * back[:, 1], s * back[:, 0] + c * back[:, 1]], axis=1)
    right = tip + np.stack([c * back[:, 0] + s * back[:, 1], -s * back[:, 0] + c * back[:, 1]], axis=1)
    gap = np.full_like(tip, np.nan)
    shafts = np.stack([tail, tip, gap], axis=1).reshape(-1, 2)  # (3 m, 2)
    heads = np.stack([left, tip, right, gap], axis=1).reshape(-1, 2)  # (4 m, 2): left stroke, tip, right stroke

    def with_nones(a):
        gaps = np.isnan(a)
        a = np.round(a, 4).astype(object)
        a[gaps] = None
        return a[:, 0], a[:, 1]

    return with_nones(shafts), with_nones(heads)


ARROW_QUANTILE = 0.9  # the arrow length that gets 0.9 grid spacings; longer ones are capped


def _auto_scale(grid_points: np.ndarray, vectors: np.ndarray) -> float:
    """The multiplier making the 90th-percentile arrow 0.9 of the grid spacing (robust to outliers)."""
    lengths = np.linalg.norm(vectors, axis=1) if len(vectors) else np.zeros(1)
    typical = float(np.quantile(lengths, ARROW_QUANTILE))
    return 0.9 * _grid_spacing(grid_points) / typical if typical > 0 else 1.0


def _arrow_traces(grid_points: np.ndarray, vectors: np.ndarray, scale: float) -> list[go.Scatter]:
    (sx, sy), (hx, hy) = _arrows(grid_points, vectors, scale)
    return [
        go.Scatter(x=sx, y=sy, mode="lines", line=ARROW_LINE, hoverinfo="skip", showlegend=False, name="arrows"),
        go.Scatter(x=hx, y=hy, mode="lines", line=ARROW_LINE, hoverinfo="skip", showlegend=False, name="arrowheads"),
    ]


PROBE_COLOURS = ("#0072B2", "#D55E00")  # the probe's arrows: v, then u


def _probe_traces(point: np.ndarray, arrows: dict[str, np.ndarray], scale: float, spacing: float) -> list[go.Scatter]:
    """Bold arrows from `point` (2,), one per named vector (2,), at the field's scale (capped at 3 grid
    spacings), each in the legend with its value; and the point itself."""
    traces = []
    for (name, vector), colour in zip(arrows.items(), PROBE_COLOURS):
        d = np.asarray(vector, dtype=np.float64) * scale
        length = float(np.linalg.norm(d))
        d = d * min(1.0, 3 * spacing / length) if length > 0 else d
        (sx, sy), (hx, hy) = _arrows((point + d / 2)[None, :], (d / scale)[None, :], scale)
        label = _text(f"{name} = ({vector[0]:.3f}, {vector[1]:.3f})")
        traces.append(
            go.Scatter(
                x=list(sx) + list(hx),
                y=list(sy) + list(hy),
                mode="lines",
                line=dict(color=colour, width=3.5),
                name=label,
                hoverinfo="skip",
                showlegend=True,
            )
        )
    traces.append(
        go.Scatter(
            x=[point[0]],
            y=[point[1]],
            mode="markers",
            marker=dict(size=9, color="#000000"),
            name="probe",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    return traces


def velocity_field_figure(
    grid_points: np.ndarray,
    vectors: np.ndarray,
    title: str = "",
    bounds: Bounds | None = None,
    scale: float | None = None,
    reference: np.ndarray | None = None,
    height: int = 480,
    hover: list[str] | None = None,
    probe: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
) -> go.Figure:
    """Arrows on a grid: grid_points (m, 2), vectors (m, 2); reference: optional (k, 2) sample underneath.

    scale multiplies each vector to give its arrow; None makes the 90th-percentile arrow 0.9 of the grid
    spacing (longer arrows are capped at 1.5 spacings, keeping their direction).
    hover: one text per grid point (plain text, lines split by newlines), shown on hover and clickable
    (the 'probe' trace; customdata: the point's index). probe: (point (2,), name -> vector (2,)): bold
    arrows from the point with their values in the legend.
    Traces: [reference], shafts, heads, [probe points], [probe arrows and point].
    """
    grid_points = np.asarray(grid_points, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    scale = _auto_scale(grid_points, vectors) if scale is None else scale
    bounds = bounds or bounds_of(grid_points, margin=0.08, quantile=1.0)
    fig = go.Figure(_reference_trace(reference) + _arrow_traces(grid_points, vectors, scale))
    if hover is not None:
        fig.add_trace(
            go.Scatter(
                x=grid_points[:, 0],
                y=grid_points[:, 1],
                mode="markers",
                marker=dict(size=14, opacity=0.01),
                customdata=np.arange(len(grid_points)),
                text=[_text(h).replace("\n", "<br>") for h in hover],
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
                name="probe points",
            )
        )
    if probe is not None:
        for trace in _probe_traces(np.asarray(probe[0], dtype=np.float64), probe[1], scale, _grid_spacing(grid_points)):
            fig.add_trace(trace)
    fig.update_layout(
        _square_axes(1, bounds),
        title=dict(text=_text(title)),
        template=TEMPLATE,
        height=height,
        margin=MARGIN,
        legend=dict(orientation="h", yanchor="top", y=-0.02, xanchor="left", x=0),
    )
    return fig


def velocity_field_animation(
    grid_points: np.ndarray,
    frames: list[tuple[str, np.ndarray]],
    title: str = "",
    bounds: Bounds | None = None,
    reference: np.ndarray | None = None,
    height: int = 480,
) -> go.Figure:
    """The arrows of velocity_field_figure animated over frames: a list of (label, vectors (m, 2)).

    One scale for all frames (the 90th-percentile arrow over all frames is 0.9 of the grid spacing), so
    lengths compare across frames. The slider is labelled with each frame's label.
    """
    if not frames:
        raise ValueError("velocity_field_animation needs at least one frame")
    grid_points = np.asarray(grid_points, dtype=np.float64)
    fields = [np.asarray(v, dtype=np.float64) for _, v in frames]
    scale = _auto_scale(grid_points, np.concatenate(fields))
    fig = velocity_field_figure(grid_points, fields[0], title, bounds, scale, reference, height)
    n = len(fig.data)
    names = [str(i) for i in range(len(frames))]
    fig.frames = [
        dict(
            name=name,
            traces=[n - 2, n - 1],
            data=[dict(type="scatter", x=x, y=y) for x, y in _arrows(grid_points, v, scale)],
        )
        for name, v in zip(names, fields)
    ]
    fig.update_layout(_controls(names, [label for label, _ in frames], 150), margin=ANIMATION_MARGIN)
    return fig


def _moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last `window` values (fewer at the start), same length as y."""
    window = max(1, int(window))
    c = np.concatenate([[0.0], np.cumsum(y, dtype=np.float64)])
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def loss_curves(
    histories: dict[str, np.ndarray], column: str = "loss", smooth: int = 50, log_y: bool = True, height: int = 300
) -> go.Figure:
    """One run a colour: `column` of each history (config.HISTORY_DTYPE rows) against its step, raw and smoothed.

    Raw values are a faint line; the trailing mean over `smooth` rows is solid. Runs without rows
    yet are skipped.
    """
    fig = go.Figure()
    palette = qualitative.Plotly
    for i, (label, history) in enumerate(histories.items()):
        if len(history) == 0:
            continue
        colour = palette[i % len(palette)]
        step, y = np.asarray(history["step"], dtype=np.float64), np.asarray(history[column], dtype=np.float64)
        if not np.isfinite(y).any():  # a run that diverged before its first logged value
            continue
        fig.add_trace(
            go.Scatter(
                x=step,
                y=y,
                mode="lines",
                line=dict(color=colour, width=1),
                opacity=0.25,
                legendgroup=label,
                showlegend=False,
                hoverinfo="skip",
                name=_text(label),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=step,
                y=_moving_average(y, smooth),
                mode="lines",
                line=dict(color=colour, width=2),
                legendgroup=label,
                name=_text(label),
            )
        )
    if not fig.data:
        rows = any(len(h) for h in histories.values())
        text = f"no finite {column} to draw (the run diverged)" if rows else "no steps yet"
        fig.add_annotation(text=_text(text), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin=MARGIN,
        title=dict(text=column),
        xaxis_title="step",
        yaxis=dict(title=column, type="log" if log_y else "linear", minorloglabels="complete"),
        legend=LEGEND_BELOW,
    )
    return fig


SPIKE_FACTOR, SPIKE_WINDOW = 3.0, 20  # a spike: a row's loss above 3x the median of the 20 rows before it
SPLIT_COLOURS = {"loss_instant": "#0072B2", "loss_average": "#D55E00"}
SPLIT_NAMES = {"loss_instant": "r = t (instantaneous v)", "loss_average": "r ≠ t (average u)"}


def loss_spikes(y: np.ndarray, window: int = SPIKE_WINDOW, factor: float = SPIKE_FACTOR) -> np.ndarray:
    """Indices of the rows whose value is above `factor` times the median of the `window` rows before it
    (rows with fewer before them are never spikes; non-finite values are skipped)."""
    y = np.asarray(y, dtype=np.float64)
    out = []
    for i in range(window, len(y)):
        before = y[i - window : i]
        before = before[np.isfinite(before)]
        if len(before) and np.isfinite(y[i]) and y[i] > factor * max(float(np.median(before)), 1e-12):
            out.append(i)
    return np.asarray(out, dtype=int)


def split_loss_curves(history: np.ndarray, smooth: int = 20, height: int = 300) -> go.Figure:
    """A MeanFlow-kin run's loss with its mse split into the r = t and the r != t rows, spikes marked.

    history: config.HISTORY_DTYPE rows. The total loss is grey (raw faint, trailing mean solid); the two
    parts of the mse are smoothed lines; a red cross marks each row whose loss is a spike (loss_spikes),
    so instability is seen: which part spikes, and when."""
    fig = go.Figure()
    step, loss = np.asarray(history["step"], dtype=np.float64), np.asarray(history["loss"], dtype=np.float64)
    fig.add_trace(
        go.Scatter(
            x=step,
            y=loss,
            mode="lines",
            line=dict(color="#999999", width=1),
            opacity=0.5,
            showlegend=False,
            hoverinfo="skip",
            name="loss",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=step,
            y=_moving_average(loss, smooth),
            mode="lines",
            line=dict(color="#555555", width=2),
            name="loss (weighted)",
        )
    )
    for column, colour in SPLIT_COLOURS.items():
        y = np.asarray(history[column], dtype=np.float64)
        keep = np.isfinite(y)
        if keep.any():
            fig.add_trace(
                go.Scatter(
                    x=step[keep],
                    y=_moving_average(y[keep], smooth),
                    mode="lines",
                    line=dict(color=colour, width=2),
                    name=_text(SPLIT_NAMES[column]),
                )
            )
    spikes = loss_spikes(loss)
    if len(spikes):
        fig.add_trace(
            go.Scatter(
                x=step[spikes],
                y=loss[spikes],
                mode="markers",
                marker=dict(symbol="x", size=9, color="#CC0000"),
                name=f"spikes ({len(spikes)})",
                hovertemplate="spike at step %{x:,}: loss %{y:.3g}<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin=MARGIN,
        title=dict(text="loss, split at r = t and r ≠ t"),
        xaxis_title="step",
        yaxis=dict(title="mean squared error", type="log", minorloglabels="complete"),  # 50, 20, 10, not 5, 2, 10
        legend=LEGEND_BELOW,
    )
    return fig


PREVIEW_HEADLINES = {  # a target's headline metric -> its history column and label (core.metrics.headline_metric)
    "hist_tv": ("preview_tv", "histogram TV (local)"),
    "fd": ("preview_fd", "FD, classifier features"),
}


def preview_quality_chart(
    history: np.ndarray,
    tv_floor: float | None,
    w1_floor: float | None,
    n: int,
    height: int = 300,
    headline: str = "hist_tv",
) -> go.Figure:
    """The one-step previews' headline metric (histogram TV in 2D, the local one; FD on the digits) and sliced
    W1 (global) against the training step, each beside its noise floor for n samples (dotted): quality over
    time, not the loss. tv_floor: the headline metric's floor."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    step = np.asarray(history["step"], dtype=np.float64)
    first, first_label = PREVIEW_HEADLINES.get(headline, PREVIEW_HEADLINES["hist_tv"])
    for column, label, colour, floor, secondary in (
        (first, first_label, "#0072B2", tv_floor, False),
        ("preview_w1", "sliced W1 (global)", "#D55E00", w1_floor, True),
    ):
        y = np.asarray(history[column], dtype=np.float64)
        keep = np.isfinite(y)
        fig.add_trace(
            go.Scatter(
                x=step[keep],
                y=y[keep],
                mode="lines+markers",
                marker=dict(size=4),
                line=dict(color=colour, width=2),
                name=label,
            ),
            secondary_y=secondary,
        )
        if floor is not None and keep.any():
            fig.add_trace(
                go.Scatter(
                    x=[step[keep][0], step[keep][-1]],
                    y=[floor, floor],
                    mode="lines",
                    line=dict(color=colour, width=1, dash="dot"),
                    name=f"{label.split(' (')[0]} floor",
                    hovertemplate=f"noise floor at n = {n:,}: %{{y:.3f}}<extra></extra>",
                ),
                secondary_y=secondary,
            )
    if not np.isfinite(np.asarray(history["preview_w1"], dtype=np.float64)).any():
        fig.add_annotation(text="no scored preview yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin=MARGIN,
        title=dict(text=f"one-step quality, n = {n:,}"),
        xaxis_title="step",
        legend=LEGEND_BELOW,
    )
    fig.update_yaxes(title_text="FD" if headline == "fd" else "TV", rangemode="tozero", secondary_y=False)
    # its own round ticks (0.05, 0.1): Plotly otherwise lines them up with the left axis's (0.0445, 0.0889)
    fig.update_yaxes(title_text="W1", rangemode="tozero", secondary_y=True, showgrid=False, tickmode="auto")
    return fig


def _floors_by_target(table, floor_column: str | None) -> dict[str, float]:
    """target -> the mean of floor_column over its rows (one entry, '', where the table has no target
    column); targets without a finite floor are left out. A floor is its target's: the mean of two targets'
    floors belongs to neither."""
    if floor_column is None or floor_column not in table or not len(table):
        return {}
    groups = table.groupby("target", sort=False) if "target" in table else [("", table)]
    floors = {str(t): pd.to_numeric(rows[floor_column], errors="coerce").mean() for t, rows in groups}
    return {t: float(v) for t, v in floors.items() if np.isfinite(v)}


def _metric_axis(values: list[float], floor: float | None, title: str, shown: list[float] = ()) -> tuple[dict, bool]:
    """A metric's y axis over its lines' finite values: logarithmic where all are positive (a share of 0
    would vanish from a log axis) and span more than a factor of LOG_SPAN (flow matching's one step near 1
    beside one-step methods near 0.1, or a run that barely trained: on a linear axis the good lines pile up
    in the bottom tenth), with the floor in range; `shown`: more of the chart's values that a linear range
    must hold (bands, other targets' floors).
    Returns the axis and whether it is logarithmic."""
    wide = bool(values) and min(values) > 0 and max(values) > LOG_SPAN * min(values)  # a 0 would vanish on a log
    if not wide:
        held = values + [v for v in (floor, *shown) if _finite(v)]
        return dict(title=_text(title)) | _least_span(held), False
    low = min(values + ([floor] if _finite(floor) and floor > 0 else []))
    lo, hi = low / 1.3, max(values) * 1.3
    ticks = _log_ticks(lo, hi)
    axis = dict(title=_text(title), type="log", range=[math.log10(lo), math.log10(hi)])
    return axis | dict(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks]), True


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _least_span(values: list[float]) -> dict:
    """A linear axis's range where Plotly's own would magnify noise: lines within MIN_SPAN of their largest
    value (class accuracies of 0.998 and 1.0 drawn as a cliff) get a range that wide, topped just above the
    highest; else nothing (Plotly's autorange)."""
    if not values:
        return {}
    lo, hi = min(values), max(values)
    need = MIN_SPAN * max(abs(lo), abs(hi))
    if need == 0 or hi - lo >= need:
        return {}
    return dict(range=[hi - need, hi + 0.05 * need])


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2 and 5 times the powers of ten in [lo, hi], each labelled whole: '0.05', not Plotly's lone '5'
    beside '0.1' (read as five), nor every minor tick labelled, which crowded each decade's top."""
    ticks = []
    for power in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        ticks += [float(f"{m}e{power}") for m in (1, 2, 5) if lo <= float(f"{m}e{power}") <= hi]
    return ticks


def _noise_floor(fig: go.Figure, floor: float | None, below: bool = False, log: bool = False) -> bool:
    """A dashed grey line at the metric's noise floor, labelled (nothing for None or NaN). below: the label
    under the line at the left (line charts: no sampler's curve is there); else beside the plot's right
    edge, in a margin the caller leaves (FLOOR_LABEL_ROOM: over the bars it hid the first one and its error
    bar); log: the metric's axis is logarithmic (Plotly places an annotation by the log of its value
    there, a line by the value). Returns whether it drew them."""
    if not _finite(floor) or (log and floor <= 0):
        return False
    fig.add_hline(y=float(floor), line=FLOOR_LINE)
    fig.add_annotation(
        text="noise floor",
        x=0 if below else 1,
        xref="x domain",
        xanchor="left",
        y=math.log10(floor) if log else float(floor),
        yref="y",
        yanchor="top" if below else "middle",
        showarrow=False,
        font=dict(color="grey"),
        bgcolor="rgba(255, 255, 255, 0.85)",  # readable where it crosses a curve
    )
    return True


def quality_chart(
    table,
    metric: str,
    floor_column: str | None,
    height: int = 320,
    label: str | None = None,
    family: dict[str, str] | None = None,
    order: tuple[str, ...] = (),
) -> go.Figure:
    """metric against NFE, one line per run, and the noise floor dashed: the mean of floor_column, or one
    floor per target where the table has runs on several (each named in the legend).

    table: a pandas DataFrame with columns run (str), nfe (int), metric and, if given, floor_column;
    label: the metric's name for a reader ('Histogram TV'), in the title and on the axis; family, order:
    a run's method and the methods' order, for the same colours as anytime_chart's (palette.line_styles).
    """
    label = label or metric
    fig = go.Figure()
    styles = line_styles(list(dict.fromkeys(table["run"])) if len(table) else [], family or {}, order)
    for run, rows in table.groupby("run", sort=False):
        rows = rows.sort_values("nfe")
        if metric not in rows or rows[metric].isna().all():
            continue  # a run whose target has no such metric (the digits beside a 2D run): no empty legend entry
        fig.add_trace(
            go.Scatter(
                x=rows["nfe"].to_numpy(),
                y=pd.to_numeric(rows[metric], errors="coerce").to_numpy(),
                mode="lines+markers",
                name=_text(run),
                line=styles[run],
            )
        )
    floors = _floors_by_target(table, floor_column)
    floor = min(floors.values()) if floors else np.nan
    values = [v for trace in fig.data for v in trace.y if np.isfinite(v)]
    yaxis, wide = _metric_axis(values, floor, label, shown=list(floors.values()))
    nfe = sorted({int(v) for v in table["nfe"].dropna()}) if len(table) else []
    if "target" in table and table["target"].nunique() > 1:  # several targets: each its own floor, named
        for (target, value), dash in zip(floors.items(), itertools.cycle(("dash", "dot", "dashdot", "longdash"))):
            line = {**FLOOR_LINE, "dash": dash}
            fig.add_hline(y=value, line=line)  # across the plot, also where one step count is shown
            name = _text(f"noise floor, {target}")
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=line))  # its legend entry
    else:
        _noise_floor(fig, floor, below=True, log=wide)
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin=MARGIN,
        title=dict(text=f"{label} by step count"),
        xaxis=dict(title="NFE (network evaluations)", type="log", tickvals=nfe, ticktext=[str(v) for v in nfe]),
        yaxis=yaxis,
    )
    return fig


def anytime_chart(
    curves: dict,
    title: str = "",
    height: int = 340,
    metric_label: str = "histogram TV",
    family: dict[str, str] | None = None,
    order: tuple[str, ...] = (),
) -> go.Figure:
    """Quality against training time, one line per cell with its spread over seeds as a band, and the
    noise floor (dashed). curves: cell -> [[fraction, seconds, mean TV, std TV, seeds, floor], ...]
    (lab.tables.anytime_curves); family, order: a cell's method and the methods' order, so a method keeps
    its colour on every chart (palette.line_styles). The time axis is linear (the previews are at fractions
    of one budget); the metric's axis is logarithmic where the values span more than a factor of ten (a
    run that barely trained beside the others)."""
    fig = go.Figure()
    floors, values, bands = [], [], []
    styles = line_styles(list(curves), family or {}, order)
    for cell, points in curves.items():
        seconds = [p[1] for p in points]
        mean = np.array([p[2] for p in points], dtype=float)
        spread = np.nan_to_num(np.array([p[3] for p in points], dtype=float))
        fig.add_trace(
            go.Scatter(
                x=seconds + seconds[::-1],
                y=np.concatenate([mean + spread, (mean - spread)[::-1]]),
                fill="toself",
                fillcolor=styles[cell]["color"],
                opacity=0.12,
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=seconds,
                y=mean,
                mode="lines+markers",
                name=_text(cell),
                line=styles[cell],
                customdata=[p[4] for p in points],
                hovertemplate="%{x:.1f} s: %{y:.3f} (%{customdata} seeds)",
            )
        )
        floors += [p[5] for p in points]
        values += [v for v in mean if np.isfinite(v)]
        bands += [float(v) for v in np.concatenate([mean + spread, mean - spread])]
    floor = float(np.mean(floors)) if floors else None
    # the lines' span decides the scale, not the bands' (a band may reach 0); a linear range holds the bands
    yaxis, wide = _metric_axis(values, floor, metric_label, shown=bands)
    _noise_floor(fig, floor, below=True, log=wide)
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin=MARGIN,
        title=dict(text=_text(title)),
        xaxis=dict(title="seconds of training", rangemode="tozero"),
        yaxis=yaxis,
    )
    return fig


def study_bars(
    rows: list[dict],
    metric: str,
    floor: float | None = None,
    title: str = "",
    height: int = 340,
    metric_label: str | None = None,
) -> go.Figure:
    """One bar per cell of a study: the metric's mean over seeds with its standard deviation as an error
    bar, and the metric's noise floor as a dashed line. rows: dicts with 'cell', metric, metric + '_std';
    metric_label names the metric on the axis (default: its key). More than UPRIGHT_BARS cells lie across,
    a row each with its name beside it (eleven names under upright bars stood on end and, on an 800 px page,
    left the plot about 100 px)."""
    cells = [r for r in rows if metric in r]
    names = [_text(r["cell"]) for r in cells]
    means = [r[metric] for r in cells]
    stds = [r.get(f"{metric}_std") for r in cells]
    stds = [0.0 if s is None or not math.isfinite(s) else s for s in stds]
    across = len(cells) > UPRIGHT_BARS
    spread = dict(  # none for one seed; never below zero (a metric of distances or shares)
        type="data",
        symmetric=False,
        array=stds,
        arrayminus=[min(s, max(m, 0.0)) if math.isfinite(m) else 0.0 for m, s in zip(means, stds)],
        visible=any(s > 0 for s in stds),
    )
    bar = dict(orientation="h", x=means, y=names, error_x=spread) if across else dict(x=names, y=means, error_y=spread)
    fig = go.Figure(go.Bar(**bar, marker_color=PARTICLE_COLOUR, name=metric))
    label = _text(metric_label or metric)
    if across:  # the floor's line runs down the plot; its name goes with the axis's (a label would cover a bar)
        labelled = _finite(floor)
        if labelled:
            fig.add_vline(x=float(floor), line=FLOOR_LINE)
        fig.update_layout(
            xaxis_title=f"{label} (dashed: noise floor)" if labelled else label,
            yaxis=dict(autorange="reversed"),  # the study's first row on top
            height=max(height, 26 * len(cells) + 110),
            margin=MARGIN,
        )
    else:
        labelled = _noise_floor(fig, floor)
        margin = {**MARGIN, "r": FLOOR_LABEL_ROOM} if labelled else MARGIN
        fig.update_layout(yaxis_title=label, height=height, margin=margin)
    fig.update_layout(template=TEMPLATE, title=dict(text=_text(title)), showlegend=False)
    _off_the_scale(fig, names, means, stds, floor, across)
    return fig


def _off_the_scale(
    fig: go.Figure, names: list[str], means: list[float], stds: list[float], floor, across: bool = False
) -> None:
    """Where a bar is more than OFF_SCALE times the lower median of the bars (a diverged cell: W1 369 beside
    0.02 flattened the rest to nothing), the value axis stops beyond the others and that bar's value is
    written at its end, marked as off the scale. across: the bars lie along x."""
    positive = [m for m in means if math.isfinite(m) and m > 0]
    if not positive or max(positive) <= 1:  # shares and TV (at most 1, some higher-is-better) never diverge
        return
    base = statistics.median_low(positive)
    off = [not math.isfinite(m) or m > OFF_SCALE * base for m in means]
    if not any(off) or all(off):
        return
    finite_floor = [floor] if _finite(floor) else []
    top = 1.3 * max([m + s for m, s, o in zip(means, stds, off) if not o] + finite_floor)
    (fig.update_xaxes if across else fig.update_yaxes)(range=[0, top])
    bar = fig.data[0]  # an off-scale bar's spread would be a line through the whole plot: its value says it
    error = bar.error_x if across else bar.error_y
    error.array = [0.0 if o else s for s, o in zip(error.array, off)]
    error.arrayminus = [0.0 if o else s for s, o in zip(error.arrayminus, off)]
    for name, mean, out in zip(names, means, off):
        if not out:
            continue
        value = f"{mean:.3g}" if math.isfinite(mean) else "not scored"
        mark = f"{value} → off the scale" if across else f"{value} ↑<br>off the scale"
        place = dict(x=top, y=name, xanchor="right") if across else dict(x=name, y=top, yanchor="top")
        fig.add_annotation(
            **place,
            text=mark if math.isfinite(mean) else value,
            showarrow=False,
            font=dict(color="black"),
            bgcolor="rgba(255, 255, 255, 0.85)",  # readable over the bar
        )
