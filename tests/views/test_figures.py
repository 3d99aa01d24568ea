"""Figure builders: frame contents, interpolation along paths, fixed square axes, trace counts."""

import base64
import html
import math

import numpy as np
import pandas as pd
import pytest

from meanflow.core.config import HISTORY_DTYPE, empty_history, history_from_rows
from meanflow.views.figures import (
    MIN_SPAN,
    anytime_chart,
    colour_key,
    loss_curves,
    loss_spikes,
    preview_quality_chart,
    quality_chart,
    scatter_figure,
    scatter_grid,
    split_loss_curves,
    study_bars,
    trajectory_animation,
    velocity_field_animation,
    velocity_field_figure,
    warped_grid_animation,
)
from meanflow.views.geometry import bounds_of, grid_lines, noise_grid
from meanflow.views.palette import line_styles, start_colours

N = 30


def _path(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """times (k + 1,) from 1 to 0 and a random path (k + 1, N, 2)."""
    rng = np.random.default_rng(seed)
    return np.linspace(1.0, 0.0, k + 1), rng.normal(size=(k + 1, N, 2))


@pytest.fixture
def panels():
    return {"MeanFlow, 1 step": _path(1, 0), "Flow matching, 4 steps": _path(4, 1)}


def _frame_xy(fig_dict: dict, frame: int, panel: int) -> np.ndarray:
    """(n, 2): a panel's particles in one frame, decoded from the figure's own dict."""
    trace = fig_dict["frames"][frame]["data"][panel]
    return np.column_stack([_decode(trace["x"]), _decode(trace["y"])])


def _decode(a) -> np.ndarray:
    """plotly 6+ ships numpy arrays as base64 typed-array specs; undo that."""
    if isinstance(a, dict):
        return np.frombuffer(base64.b64decode(a["bdata"]), dtype=np.dtype(a["dtype"])).astype(np.float64)
    return np.asarray(a, dtype=np.float64)


def test_bounds_are_square_and_cover_the_points():
    """bounds_of gives equal x and y spans that contain the points (bar quantile outliers)."""
    pts = np.column_stack([np.linspace(-4, 2, 101), np.linspace(0, 1, 101)])
    xmin, xmax, ymin, ymax = bounds_of(pts, margin=0.1, quantile=1.0)
    assert xmax - xmin == pytest.approx(ymax - ymin)
    assert xmin < -4 and xmax > 2 and ymin < 0 and ymax > 1
    assert bounds_of() == (-1.0, 1.0, -1.0, 1.0)


def test_animation_has_one_particle_trace_per_panel_in_every_frame(panels):
    """n_frames frames, each resending only the particle traces, N points each."""
    fig = trajectory_animation(panels, n_frames=9, ghost_paths=5)
    d = fig.to_dict()
    assert len(d["frames"]) == 9
    for f in range(9):
        assert len(d["frames"][f]["data"]) == 2
        assert [fig.data[i].mode for i in d["frames"][f]["traces"]] == ["markers", "markers"]
        assert _frame_xy(d, f, 1).shape == (N, 2)


def test_first_frame_is_the_noise_and_last_the_samples(panels):
    """Frame 0 equals path[0] and the last frame equals path[-1], for paths of different k."""
    d = trajectory_animation(panels, n_frames=7).to_dict()
    for p, (_, path) in enumerate(panels.values()):
        np.testing.assert_allclose(_frame_xy(d, 0, p), path[0], atol=1e-5)
        np.testing.assert_allclose(_frame_xy(d, 6, p), path[-1], atol=1e-5)


def test_initial_data_is_frame_zero(panels):
    """The figure opens on the noise: each particle trace's data equals frame 0."""
    fig = trajectory_animation(panels, n_frames=5)
    d = fig.to_dict()
    for p, i in enumerate(d["frames"][0]["traces"]):
        xy = np.column_stack([_decode(d["data"][i]["x"]), _decode(d["data"][i]["y"])])
        np.testing.assert_array_equal(xy, _frame_xy(d, 0, p))


def test_one_step_moves_in_a_straight_segment(panels):
    """At the middle frame a 1-step particle sits at the midpoint of its noise and its sample."""
    d = trajectory_animation(panels, n_frames=11).to_dict()
    _, path = panels["MeanFlow, 1 step"]
    np.testing.assert_allclose(_frame_xy(d, 5, 0), (path[0] + path[1]) / 2, atol=1e-5)


def test_k_step_frames_follow_the_polyline(panels):
    """A frame on a grid time shows that path point; between grid times, the linear blend."""
    d = trajectory_animation(panels, n_frames=9).to_dict()  # tau = 1 - f / 8; 4-step grid at 1, .75, .5, .25, 0
    _, path = panels["Flow matching, 4 steps"]
    np.testing.assert_allclose(_frame_xy(d, 2, 1), path[1], atol=1e-5)  # tau = 0.75
    np.testing.assert_allclose(_frame_xy(d, 3, 1), (path[1] + path[2]) / 2, atol=1e-5)  # tau = 0.625


def test_ghost_paths_are_one_trace_per_panel_with_a_gap_after_each(panels):
    """Each panel has one ghost trace holding g polylines of k + 1 points, g None separators."""
    fig = trajectory_animation(panels, ghost_paths=7)
    ghosts = [t for t in fig.data if t.mode == "lines"]
    assert len(ghosts) == 2
    for ghost, (times, _) in zip(ghosts, panels.values()):
        x = list(ghost.x)
        assert sum(v is None for v in x) == 7 and len(x) == 7 * (len(times) + 1)


def test_axes_are_fixed_identical_and_square(panels):
    """Every panel has the same explicit ranges, its y locked to its own x, in separate domains."""
    bounds = (-3.0, 3.0, -2.0, 4.0)
    layout = trajectory_animation(panels, bounds=bounds).layout
    assert list(layout.xaxis.range) == list(layout.xaxis2.range) == [-3.0, 3.0]
    assert list(layout.yaxis.range) == list(layout.yaxis2.range) == [-2.0, 4.0]
    assert (layout.yaxis.scaleanchor, layout.yaxis2.scaleanchor) == ("x", "x2")
    assert layout.xaxis.domain[1] <= layout.xaxis2.domain[0]


def test_controls_play_pause_and_a_slider_step_per_frame(panels):
    """Play/Pause buttons and a slider with one step per frame, labelled with tau."""
    fig = trajectory_animation(panels, n_frames=5)
    layout = fig.layout
    assert [b.label for b in layout.updatemenus[0].buttons] == ["Play", "Pause"]
    steps = layout.sliders[0].steps
    assert [s.label for s in steps] == ["t=1.00", "t=0.75", "t=0.50", "t=0.25", "t=0.00"]
    assert [list(s.args[0]) for s in steps] == [[f.name] for f in fig.frames]


def test_reference_is_static_under_each_panel(panels):
    """The reference sample is drawn once per panel and never resent by frames."""
    ref = np.zeros((10, 2))
    fig = trajectory_animation(panels, reference=ref)
    refs = [i for i, t in enumerate(fig.data) if t.name == "target"]
    assert len(refs) == 2 and not set(refs) & set(fig.frames[0].traces)


def test_velocity_field_draws_one_arrow_per_grid_point():
    """Shafts and heads are one trace each: m shafts of 2 points, 2 head strokes each, None-separated."""
    grid = np.mgrid[-1:1:4j, -1:1:4j].reshape(2, -1).T  # (16, 2)
    fig = velocity_field_figure(grid, -grid, reference=np.zeros((5, 2)))
    assert len(fig.data) == 3
    shafts, heads = fig.data[1], fig.data[2]
    assert len(shafts.x) == 3 * 16 and sum(v is None for v in shafts.x) == 16
    assert len(heads.x) == 4 * 16 and sum(v is None for v in heads.x) == 16


def test_velocity_field_auto_scale_fits_the_grid_and_caps_outliers():
    """With scale=None typical arrows are 0.9 of the grid spacing; a wild one is capped at 1.5, not 100."""
    grid = np.mgrid[0:3:4j, 0:3:4j].reshape(2, -1).T  # spacing 1
    vectors = np.tile([[4.0, 0.0]], (16, 1))
    vectors[0] = [400.0, 0.0]  # a network extrapolating far from its data
    x = velocity_field_figure(grid, vectors).data[0].x
    lengths = [abs(x[i + 1] - x[i]) for i in range(0, len(x), 3)]
    assert lengths[1:] == pytest.approx([0.9] * 15, abs=1e-3)
    assert lengths[0] == pytest.approx(1.5, abs=1e-3)


def test_velocity_animation_shares_one_scale():
    """Frames share a scale: a field twice as strong draws arrows twice as long."""
    grid = np.mgrid[-1:1:3j, -1:1:3j].reshape(2, -1).T
    v = np.ones_like(grid)
    fig = velocity_field_animation(grid, [("t=0.90", v), ("t=0.10", 2 * v)])
    assert len(fig.frames) == 2 and len(fig.layout.sliders[0].steps) == 2
    assert fig.layout.sliders[0].steps[1].label == "t=0.10"
    lengths = [f.data[0].x[1] - f.data[0].x[0] for f in fig.frames]
    assert lengths[1] == pytest.approx(2 * lengths[0], rel=1e-3)


def test_scatter_grid_has_square_fixed_panels():
    """One subplot per panel, titled by key, same ranges and equal aspect everywhere."""
    rng = np.random.default_rng(0)
    fig = scatter_grid(
        {f"{k} steps": rng.normal(size=(20, 2)) for k in (1, 2, 4)}, columns=2, reference=rng.normal(size=(10, 2))
    )
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["1 steps", "2 steps", "4 steps"] and len(fig.data) == 6
    for i in ("", "2", "3"):
        assert fig.layout[f"xaxis{i}"].range == fig.layout.xaxis.range
        assert fig.layout[f"yaxis{i}"].scaleanchor == f"x{i}"
    assert fig.layout.xaxis4.visible is False


def test_scatter_figure_draws_reference_underneath():
    """The reference comes first (drawn below) and the points second."""
    fig = scatter_figure(np.ones((5, 2)), title="samples", reference=np.zeros((3, 2)))
    assert [t.name for t in fig.data] == ["target", "samples"] and fig.layout.title.text == "samples"


def test_loss_curves_raw_and_smoothed_per_run_and_empty_history():
    """Two traces per run with steps (same colour), none for a run without; the solid one is the trailing mean."""
    h = history_from_rows([(i, float(i % 2), 0.0, 0.0, 0.0) for i in range(1, 101)])  # loss 1, 0, 1, 0, ...
    fig = loss_curves({"a": h, "empty": empty_history()}, smooth=10)
    assert len(fig.data) == 2 and fig.data[0].line.color == fig.data[1].line.color
    raw, smooth = fig.data
    np.testing.assert_array_equal(raw.y, h["loss"])
    assert smooth.y[0] == 1.0 and smooth.y[1] == 0.5 and smooth.y[-1] == pytest.approx(0.5)
    assert fig.layout.yaxis.type == "log" and fig.layout.title.text == "loss"
    assert loss_curves({"a": h}, column="mse", log_y=False).layout.yaxis.title.text == "mse"
    empty = loss_curves({"empty": empty_history()})
    assert len(empty.data) == 0 and empty.layout.annotations[0].text == "no steps yet"
    diverged = loss_curves({"d": history_from_rows([(1, float("nan"), 0.0, 0.0, 0.0)])})
    assert len(diverged.data) == 0 and "diverged" in diverged.layout.annotations[0].text


def test_quality_chart_one_line_per_run_and_a_floor():
    """One trace per run and a dashed horizontal floor at the mean of the floor column."""
    table = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "nfe": [1, 4, 1, 4],
            "hist_tv": [0.3, 0.1, 0.4, 0.2],
            "hist_tv_floor": [0.04, 0.06, 0.04, 0.06],
        }
    )
    fig = quality_chart(table, "hist_tv", "hist_tv_floor")
    assert [t.name for t in fig.data] == ["a", "b"]
    (floor,) = fig.layout.shapes
    assert floor.y0 == floor.y1 == pytest.approx(0.05) and floor.line.dash == "dash"
    assert list(fig.layout.xaxis.tickvals) == [1, 4] and fig.layout.yaxis.title.text == "hist_tv"
    assert len(quality_chart(table, "hist_tv", None).layout.shapes) == 0
    named = quality_chart(table, "hist_tv", None, label="Histogram TV")
    assert named.layout.yaxis.title.text == "Histogram TV" and named.layout.title.text == "Histogram TV by step count"


def test_the_step_count_chart_spreads_the_one_step_lines_on_a_log_axis():
    """On Compare, flow matching's one step (TV near 1) beside seven one-step methods near 0.1-0.2 left
    their lines piled in the bottom tenth of a linear axis: the axis is logarithmic where the lines span
    more than LOG_SPAN, with the floor in range and its label placed by its log; a narrow span stays linear."""
    rows = [("FM", 1, 0.98), ("FM", 32, 0.10), ("MeanFlow", 1, 0.139), ("MeanFlow", 32, 0.12), ("iCT", 1, 0.123)]
    table = pd.DataFrame(rows, columns=["run", "nfe", "hist_tv"]).assign(hist_tv_floor=0.049)
    chart = quality_chart(table, "hist_tv", "hist_tv_floor", label="Histogram TV")
    assert chart.layout.yaxis.type == "log" and chart.layout.yaxis.title.text == "Histogram TV"
    assert list(chart.layout.yaxis.ticktext) == ["0.05", "0.1", "0.2", "0.5", "1"]  # whole, not a lone "5"
    low, high = chart.layout.yaxis.range
    assert 10**low < 0.049 and 10**high > 0.98
    (label,) = [a for a in chart.layout.annotations if a.text == "noise floor"]
    assert label.y == pytest.approx(math.log10(0.049))
    assert quality_chart(table[table["run"] != "FM"], "hist_tv", "hist_tv_floor").layout.yaxis.type in (
        None,
        "-",
        "linear",
    )


def test_a_narrow_spread_of_lines_is_not_drawn_as_a_cliff():
    """Class accuracies of 0.998 and 1.0 filled the whole axis, drawn like a collapse: a linear axis spans at
    least MIN_SPAN of its largest value, topped just above it; lines that differ keep Plotly's range."""
    rows = [("MeanFlow", 1, 0.998), ("MeanFlow", 2, 1.0), ("FM", 1, 0.999), ("FM", 2, 1.0)]
    table = pd.DataFrame(rows, columns=["run", "nfe", "class_accuracy"])
    low, high = quality_chart(table, "class_accuracy", None).layout.yaxis.range
    assert high - low >= MIN_SPAN and 1.0 < high < 1.01 and low < 0.998
    assert (
        quality_chart(table.assign(class_accuracy=[0.5, 1.0, 0.7, 0.9]), "class_accuracy", None).layout.yaxis.range
        is None
    )
    floor_in = quality_chart(table.assign(floor=0.5), "class_accuracy", "floor").layout.yaxis.range
    assert floor_in is None  # the floor is a line of the chart: its span counts
    two = pd.DataFrame(  # each target's floor is a line too, not only the lowest
        {"run": ["a", "b"], "nfe": [1, 1], "tv": [0.100, 0.101], "floor": [0.1005, 0.2], "target": ["m", "r"]}
    )
    assert quality_chart(two, "tv", "floor").layout.yaxis.range is None
    flat = {"a": [[0.5, 30.0, 0.100, 0.03, 3, 0.098], [1.0, 60.0, 0.105, 0.03, 3, 0.098]]}
    axis = anytime_chart(flat).layout.yaxis  # flat means, a wide band over seeds: the band stays in view
    assert axis.range is None or (axis.range[0] <= 0.07 and axis.range[1] >= 0.135)


def test_every_builder_round_trips_through_json(panels):
    """What the browser receives (fig.to_json()) rebuilds the same traces and frames."""
    import plotly.io as pio

    grid = np.mgrid[-1:1:3j, -1:1:3j].reshape(2, -1).T
    table = pd.DataFrame({"run": ["a"], "nfe": [1], "sliced_w1": [0.1], "sliced_w1_floor": [0.02]})
    figs = [
        scatter_figure(np.ones((4, 2))),
        scatter_grid({"a": np.ones((4, 2))}, columns=3),
        trajectory_animation(panels, n_frames=3),
        velocity_field_figure(grid, grid),
        velocity_field_animation(grid, [("t=1.00", grid)]),
        loss_curves({"a": history_from_rows([(1, 1.0, 1.0, 0.1, 0.1)])}),
        quality_chart(table, "sliced_w1", "sliced_w1_floor"),
    ]
    for fig in figs:
        back = pio.from_json(fig.to_json())
        assert [t.type for t in back.data] == [t.type for t in fig.data] and len(back.frames) == len(fig.frames)


def test_animation_can_open_on_its_result_and_replay_from_the_noise():
    """start_at_end: the first picture is the samples, the slider sits at the end, Play starts at frame 0."""
    times, path = np.array([1.0, 0.0]), np.random.default_rng(3).normal(size=(2, 30, 2))
    fig = trajectory_animation({"one": (times, path)}, n_frames=5, start_at_end=True)
    moving = fig.data[fig.frames[0].traces[0]]
    np.testing.assert_allclose(moving.x, path[-1, :, 0], atol=1e-6)
    assert fig.layout.sliders[0].active == 4
    play = fig.layout.updatemenus[0].buttons[0].args
    assert list(play[0]) == ["0", "1", "2", "3", "4"] and play[1]["fromcurrent"] is False


def test_the_colour_key_draws_the_wheel_that_colours_the_particles():
    """The key's pixel at a noise point has the colour start_colours gives a particle that starts there."""
    import io

    from PIL import Image

    fig = colour_key(radius=3.0, pixels=121)
    image = fig.data[0]
    rgba = np.asarray(Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1]))))
    assert rgba.shape == (121, 121, 4)
    for x, y in [(2.0, 0.0), (0.0, 2.0), (-1.0, -1.5), (0.5, 0.0)]:
        col = round((x - image.x0) / image.dx)
        row = round((y - image.y0) / image.dy)
        assert np.array_equal(rgba[row, col, :3], start_colours(np.array([[x, y]]))[0]), (x, y)
        assert rgba[row, col, 3] == 255
    assert rgba[0, 0, 3] == 0  # outside the disc: transparent


def test_noise_grid_lines_are_rows_then_columns_broken_by_gaps():
    pts = noise_grid(lines=3, per_line=5, extent=2.0)
    assert pts.shape == (2 * 3 * 5, 2)
    rows, cols = pts[:15].reshape(3, 5, 2), pts[15:].reshape(3, 5, 2)
    assert np.all(rows[:, :, 1] == rows[:, :1, 1]) and np.all(cols[:, :, 0] == cols[:, :1, 0])  # straight lines
    assert pts.min() == -2.0 and pts.max() == 2.0
    x, y = grid_lines(pts, 3, 5)
    assert x.shape == (2 * 3 * 6,) and np.isnan(x[5::6]).all() and np.isfinite(x[:5]).all()


def test_warped_grid_animation_moves_the_grid_between_its_step_times():
    grid = noise_grid(lines=4, per_line=6)
    shifted = grid * 0.5 + 1.0
    fig = warped_grid_animation(
        {"one step": (np.array([1.0, 0.0]), np.stack([grid, shifted]))}, 4, 6, n_frames=5, reference=grid[:10]
    )
    assert [t.name for t in fig.data] == ["target", "one step: grid", "one step: grid"]
    assert len(fig.frames) == 5 and fig.frames[0].data[0].x.shape == (4 * 7,)
    np.testing.assert_allclose(fig.frames[-1].data[0].x[:6], shifted[:6, 0], rtol=1e-6)  # t = 0: the map's image
    np.testing.assert_allclose(fig.frames[2].data[0].x[:6], (grid[:6, 0] + shifted[:6, 0]) / 2, rtol=1e-6)
    np.testing.assert_allclose(fig.data[1].x[:6], shifted[:6, 0], rtol=1e-6)  # it opens on the map's image
    assert fig.layout.sliders[0].active == 4
    with pytest.raises(ValueError, match="not a grid"):
        warped_grid_animation({"p": (np.array([1.0, 0.0]), np.stack([grid, grid]))}, 5, 6)


def test_loss_spikes_are_rows_far_above_their_recent_median():
    y = np.ones(60)
    y[30], y[45] = 5.0, 2.0  # one spike, one bump below 3x
    np.testing.assert_array_equal(loss_spikes(y), [30])
    assert len(loss_spikes(y[:20])) == 0  # too few rows before any of them


def test_split_loss_and_quality_charts_draw_what_the_history_holds():
    rows = [(10 * (i + 1), 1.0, 0.8, 1e-3, i, 0.5, 1.1, np.nan, np.nan) for i in range(40)]
    rows[30] = (310, 9.0, 0.8, 1e-3, 30, 0.5, 1.1, 0.3, 0.2)
    history = history_from_rows(rows)
    fig = split_loss_curves(history)
    names = [t.name for t in fig.data]
    assert "r = t (instantaneous v)" in names and "r ≠ t (average u)" in names and "spikes (1)" in names
    quality = preview_quality_chart(history, 0.05, 0.01, n=1000)
    assert [t.name for t in quality.data] == [
        "histogram TV (local)",
        "histogram TV floor",
        "sliced W1 (global)",
        "sliced W1 floor",
    ]
    assert list(quality.data[0].x) == [310] and quality.data[1].y == (0.05, 0.05)
    empty = preview_quality_chart(history_from_rows([(10, 1.0, 1.0, 1e-3, 0.1)]), None, None, n=10)
    assert "no scored preview yet" in empty.layout.annotations[0].text


def test_every_line_of_the_methods_chart_is_told_apart_and_a_method_keeps_its_colour():
    """Eleven rows of eight methods: no two share colour and dash; a method's rows share its colour, its
    variants differ by dash; the same method has the same colour on a chart of other rows (same order)."""
    rows = ["MeanFlow", "Shortcut", "Consistency", "AlphaFlow", "iMF", "Split", "Reflow, equal", "Reflow, free"]
    rows += ["FM, independent", "FM, OT", "FM, teacher"]
    family = {name: name.split(",")[0] for name in rows}
    order = ("FM", "MeanFlow", "Shortcut", "Consistency", "AlphaFlow", "iMF", "Split", "Reflow")
    styles = line_styles(rows, family, order)
    assert len({(s["color"], s["dash"]) for s in styles.values()}) == len(rows)
    assert styles["FM, OT"]["color"] == styles["FM, independent"]["color"] != styles["MeanFlow"]["color"]
    assert styles["FM, OT"]["dash"] != styles["FM, independent"]["dash"]
    other = line_styles(["Reflow", "MeanFlow"], {"Reflow": "Reflow"}, order)
    assert other["MeanFlow"]["color"] == styles["MeanFlow"]["color"]
    assert other["Reflow"]["color"] == styles["Reflow, equal"]["color"]
    chart = anytime_chart({name: [[1.0, 60.0, 0.1, 0.01, 3, 0.05]] for name in rows}, family=family, order=order)
    lines = [t for t in chart.data if t.mode == "lines+markers"]
    assert {(t.line.color, t.line.dash) for t in lines} == {(s["color"], s["dash"]) for s in styles.values()}


def test_the_anytime_chart_reads_a_run_that_barely_trained_on_a_log_axis_and_time_on_a_linear_one():
    near = {"a": [[0.5, 30.0, 6.0, 0.1, 3, 5.7], [1.0, 60.0, 5.9, 0.1, 3, 5.7]]}
    assert anytime_chart(near).layout.yaxis.type in (None, "linear", "-")
    far = near | {"b": [[1.0, 30.0, 125.0, 1.0, 3, 5.7]]}
    chart = anytime_chart(far)
    assert chart.layout.yaxis.type == "log" and chart.layout.xaxis.type in (None, "linear", "-")
    (label,) = [a for a in chart.layout.annotations if a.text == "noise floor"]
    assert label.y == pytest.approx(math.log10(5.7))  # on a log axis Plotly places an annotation by its log
    assert anytime_chart({}).data == () and anytime_chart({"a": [[1.0, 60.0, math.nan, math.nan, 3, 0.1]]})
    assert 10 ** chart.layout.yaxis.range[1] < 200  # the lines' span, not a band's


def test_long_panel_titles_break_at_commas_and_stay_inert():
    fig = scatter_grid({f"Flow matching, reflow's teacher, <b>{k}</b>": np.zeros((3, 2)) for k in range(5)}, columns=5)
    titles = [a.text for a in fig.layout.annotations]
    assert all("<br>" in t and "<b>" not in t for t in titles)
    assert all(len(html.unescape(line)) <= 12 for t in titles for line in t.split("<br>"))  # 60 // 5 columns
    names = ["MeanFlow", "Shortcut", "iMF", "Flow matching, reflow's teacher, 30 s"]  # 4 columns: 15 characters
    mixed = scatter_grid({name: np.zeros((3, 2)) for name in names}, columns=4)
    short, *_, long = [a.text.split("<br>") for a in mixed.layout.annotations]
    assert len(short) == len(long) == 4 and short[0] == "MeanFlow"  # one line at the top, blanks below it
    # a title without commas wraps at its spaces (at 800 px 'SplitMeanFlow' and 'Reflow (2-rectified flow)' ran
    # together), and a word longer than the column stays whole
    names = ["SplitMeanFlow", "Reflow (2-rectified flow)", "Consistency (iCT)", "Shortcut", "Improved MeanFlow"]
    wrapped = [
        a.text.split("<br>")[:2] for a in scatter_grid({n: np.zeros((3, 2)) for n in names}, 5).layout.annotations
    ]
    assert wrapped[1] == ["Reflow", "(2-rectified"] and wrapped[0][0] == "SplitMeanFlow"


def test_a_bar_charts_floor_label_sits_beside_the_bars_not_on_the_first():
    """On Compare and the Ablations the label covered the first bar (MeanFlow's) and its error bar: it sits
    right of the plot area, in a margin wide enough for it; no floor, no extra margin."""
    rows = [{"cell": "MeanFlow", "hist_tv": 0.139, "hist_tv_std": 0.011}, {"cell": "FM", "hist_tv": 0.1}]
    chart = study_bars(rows, "hist_tv", floor=0.05)
    (label,) = [a for a in chart.layout.annotations if a.text == "noise floor"]
    assert label.xref == "x domain" and label.x >= 1 and label.xanchor == "left" and label.y == 0.05
    assert chart.layout.margin.r >= 70  # about the label's width at Plotly's 12 px
    assert (
        study_bars(rows, "hist_tv").layout.margin.r < 70 and study_bars(rows, "hist_tv", math.nan).layout.margin.r < 70
    )


def test_training_charts_keep_their_legends_off_their_titles_and_label_log_ticks_in_full():
    """The Train page's charts: four legend entries above the plot ran into the title ("loss, split at r = t
    and r ≠ t" over "r = t (instantaneous v)"), the log axis read "5, 2, 10, 5, 2, 1" and the W1 axis
    "0.058, 0.1159": legends sit under the plot, minor log ticks read 50, 20, 5, and W1 picks its own ticks."""
    history = np.zeros(40, dtype=HISTORY_DTYPE)
    history["step"] = np.arange(40) * 10
    history["loss"] = history["loss_instant"] = history["loss_average"] = np.geomspace(50, 0.5, 40)
    history["preview_tv"], history["preview_w1"] = np.linspace(0.9, 0.14, 40), np.linspace(0.2, 0.058, 40)
    split, loss = split_loss_curves(history), loss_curves({"a": history, "b": history})
    quality = preview_quality_chart(history, 0.05, 0.02, 1000)
    for chart in (split, loss, quality):
        assert chart.layout.legend.yanchor == "top" and chart.layout.legend.y < 0, chart.layout.title.text
    assert split.layout.yaxis.minorloglabels == loss.layout.yaxis.minorloglabels == "complete"
    assert quality.layout.yaxis2.tickmode == "auto"


def test_runs_on_several_targets_each_get_their_own_floor():
    """Compare's step counts with a checkerboard and a moons run drew one floor at the mean of the two
    (0.160 between 0.129 and 0.191): it belonged to neither. Each target's floor is now its own line."""
    table = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "target": ["checkerboard", "checkerboard", "moons", "moons"],
            "nfe": [1, 2, 1, 2],
            "hist_tv": [0.15, 0.14, 0.22, 0.21],
            "hist_tv_floor": [0.129, 0.129, 0.191, 0.191],
        }
    )
    chart = quality_chart(table, "hist_tv", "hist_tv_floor")
    assert sorted(s.y0 for s in chart.layout.shapes) == [0.129, 0.191]  # across the plot; none at their mean
    named = [t.name for t in chart.data if t.name.startswith("noise floor")]  # each named in the legend
    assert named == ["noise floor, checkerboard", "noise floor, moons"]
    single = quality_chart(table[table["nfe"] == 1], "hist_tv", "hist_tv_floor")  # one step count: still drawn
    assert sorted(s.y0 for s in single.layout.shapes) == [0.129, 0.191]
    one = quality_chart(table[table["target"] == "moons"], "hist_tv", "hist_tv_floor")
    assert [s.y0 for s in one.layout.shapes] == [pytest.approx(0.191)]
    shares = table.assign(hist_tv=[0.0, 0.1, 0.9, 0.8])  # a 0 would vanish from a log axis: linear
    assert quality_chart(shares, "hist_tv", None).layout.yaxis.type in (None, "-", "linear")


def test_a_diverged_panel_leaves_the_others_their_view_and_says_what_it_cannot_show():
    """Ablations' tangent study: one run at W1 992 shrank all four panels to a dot, the best one included.
    Its panel is left out of the shared view and its title says how much lies beyond it."""
    rng = np.random.default_rng(0)
    good = {f"cell {k}": rng.normal(size=(500, 2)) for k in range(3)}
    panels = {**good, "diverged": rng.normal(size=(500, 2)) * 1000}
    grid = scatter_grid(panels, columns=4)
    assert grid.layout.xaxis.range[1] < 10  # the good panels' extent, not the diverged one's
    titles = [a.text for a in grid.layout.annotations]
    assert "beyond the view" in titles[-1] and not any("beyond" in t for t in titles[:-1])
    times = np.linspace(1.0, 0.0, 3)
    paths = {name: (times, np.stack([rng.normal(size=(500, 2)), points, points])) for name, points in panels.items()}
    animation = trajectory_animation(paths, n_frames=3)
    assert animation.layout.xaxis.range[1] < 10
    assert "beyond the view" in [a.text for a in animation.layout.annotations][-1]
    two = scatter_grid({"one step": rng.normal(size=(500, 2)) * 0.01, "many": rng.normal(size=(500, 2))}, columns=2)
    assert not any("beyond" in a.text for a in two.layout.annotations)  # a collapsed panel is not the measure


def test_a_diverged_bar_is_cut_at_the_top_and_no_spread_reaches_below_zero():
    """sliced W1 369 ± 543 beside 0.02-0.03 flattened the other bars, and its error bar ran to -170."""
    rows = [
        {"cell": "(v, 0, 1)", "w1": 0.02, "w1_std": 0.03},
        {"cell": "(v, 1, 0)", "w1": 369.0, "w1_std": 543.0},
        {"cell": "(v, 0, 0)", "w1": 0.03, "w1_std": 0.01},
    ]
    chart = study_bars(rows, "w1", floor=0.01)
    assert chart.layout.yaxis.range[1] < 1
    assert any("369" in a.text and "off the scale" in a.text for a in chart.layout.annotations)
    bar = chart.data[0]
    assert all(m - low >= 0 for m, low in zip(bar.y, bar.error_y.arrayminus))
    assert bar.error_y.array[1] == bar.error_y.arrayminus[1] == 0  # no line through the plot for the cut bar
    shares = [{"cell": "good", "in": 0.9}, {"cell": "diverged", "in": 0.004}]  # higher is better: never cut
    assert study_bars(shares, "in").layout.yaxis.range is None
    plain = study_bars(rows[::2], "w1")
    assert plain.layout.yaxis.range is None and not plain.layout.annotations


def test_many_cells_lie_across_with_their_names_beside_them():
    """Eleven methods' names under upright bars stood on end and, on an 800 px page, left the plot about
    100 px: past UPRIGHT_BARS cells the bars lie across, the first row on top, the floor a vertical line
    named with the axis, and a diverged cell cut at the right with its value."""
    rows = [{"cell": f"Method number {k}, a variant", "w1": 0.02 + 0.001 * k, "w1_std": 0.002} for k in range(10)]
    rows.append({"cell": "Diverged", "w1": 369.0, "w1_std": 543.0})
    chart = study_bars(rows, "w1", floor=0.01, metric_label="sliced W1")
    bar = chart.data[0]
    assert bar.orientation == "h" and list(bar.y) == [r["cell"] for r in rows] and bar.error_x.visible
    assert chart.layout.yaxis.autorange == "reversed" and chart.layout.height >= 26 * 11
    (floor,) = chart.layout.shapes
    assert floor.x0 == floor.x1 == 0.01 and "noise floor" in chart.layout.xaxis.title.text
    assert chart.layout.xaxis.range[1] < 1 and any("369 → off the scale" in a.text for a in chart.layout.annotations)
    assert study_bars(rows[:6], "w1").data[0].orientation in (None, "v")  # a few cells stay upright
