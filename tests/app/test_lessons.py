"""Lessons: the file format and its messages (fast), and the lesson bar and presenter view in the app."""

import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from meanflow.core.paths import pretrained_dir
from meanflow.core.text import safe_markdown
from tests.views.test_canvas import canvas_data
from ui.lessons import LessonError, bundled_lessons, lesson_name, parse_lesson
from ui.present import SCALE, TITLE_SCALE, for_projector

STEP = '{"title": "One", "page": "animate", "settings": {"anim_left_steps": 1}, "text": "Look."}'


def lesson_bytes(*steps: str) -> bytes:
    return ('{\n  "title": "T",\n  "steps": [\n    ' + ",\n    ".join(steps) + "\n  ]\n}\n").encode()


def test_shipped_lessons_read_and_name_only_bundled_runs():
    lessons = bundled_lessons()
    ten = lessons["meanflow-in-ten-minutes"]
    assert len(ten.steps) >= 7 and {"animate", "fields", "compare", "ablations"} <= {s.page for s in ten.steps}
    assert "guidance-in-one-step" in lessons
    shipped = {p.name for p in pretrained_dir().iterdir()}
    for lesson in lessons.values():
        for step in lesson.steps:
            for _, value in step.settings:
                for part in value.split(","):
                    if part.startswith("bundled:"):
                        assert part.removeprefix("bundled:") in shipped, (lesson.name, step.title, part)


def test_a_lesson_parses_to_steps_with_url_values():
    lesson = parse_lesson(
        "mine", lesson_bytes(STEP, STEP.replace('"One"', '"Two"').replace("1}", '[1, 2], "on": true}'))
    )
    assert lesson.title == "T" and [s.title for s in lesson.steps] == ["One", "Two"]
    assert lesson.steps[0].settings == (("anim_left_steps", "1"),)
    assert dict(lesson.steps[1].settings) == {"anim_left_steps": "1,2", "on": "True"}


@pytest.mark.parametrize(
    "data, line, words",
    [
        (lesson_bytes(STEP, '{"title": "Two", "page": "animate" "text": "x"}'), 5, "not valid JSON"),
        (lesson_bytes(STEP, '{"title": "Two", "page": "nowhere", "text": "x"}'), 5, "'page' must be one of"),
        (lesson_bytes(STEP, '{"title": "Two", "page": "home", "text": "x", "colour": 1}'), 5, "unknown field 'colour'"),
        (lesson_bytes(STEP, '{"title": "Two", "page": "home", "text": ""}'), 5, "'text' must be a non-empty"),
        (lesson_bytes(STEP, '{"title": "Two", "page": "home", "text": "x", "settings": {"step": 3}}'), 5, "lesson bar"),
        (
            lesson_bytes(STEP, '{"title": "Two", "page": "home", "text": "x", "settings": {"a": {"b": 1}}}'),
            5,
            "must be",
        ),
        (lesson_bytes(STEP, '{"title": "Two", "title": "Three", "page": "home", "text": "x"}'), 5, "given twice"),
        (lesson_bytes(STEP) + b"{}", 7, "after the end"),
        (b'{"title": "T", "steps": []}', 1, "at least one step"),
        (b"[1, 2]", 1, "a JSON object"),
        (b'{"title": "T",\n"steps": [{}],\n"extra": 1}', 1, "unknown field 'extra'"),
        (b'{"title": "T",\n\xff}', 2, "not UTF-8"),
    ],
)
def test_a_malformed_lesson_names_its_line(data, line, words):
    with pytest.raises(LessonError, match=rf"^line {line}: .*{words}"):
        parse_lesson("mine", data)


def test_limits_and_names():
    with pytest.raises(LessonError, match="a lesson is at most"):
        parse_lesson("mine", b" " * 70_000)
    with pytest.raises(LessonError, match="lesson name"):
        parse_lesson("../etc", lesson_bytes(STEP))
    with pytest.raises(LessonError, match="at most 40"):
        parse_lesson("mine", lesson_bytes(*[STEP] * 41))
    assert lesson_name("My Lesson (v2).JSON") == "my-lesson-v2"
    assert lesson_name("**evil** $x$ <i>name</i>.json") == "evil-x-i-name-i"  # a '/' is no folder


def test_lesson_text_is_rendered_safely():
    text = "**Bold** $x^2$ ![tracker](http://example.com/p.png) <img src=x onerror=alert(1)> [paper](https://arxiv.org)"
    safe = safe_markdown(text)
    assert "**Bold**" in safe and "$x^2$" in safe and "[paper](https://arxiv.org)" in safe
    assert "example.com" not in safe and "tracker" in safe
    assert "<img" not in safe and "&lt;img" in safe


def test_the_projector_copy_grows_points_lines_and_text():
    fig = go.Figure([go.Scatter(x=[0], y=[0], marker=dict(size=4), line=dict(width=2))])
    fig.frames = [go.Frame(data=[go.Scatter(x=[1], y=[1], marker=dict(size=[2, 3]))])]
    big = for_projector(fig)
    assert big.data[0].marker.size == 4 * SCALE and big.data[0].line.width == 2 * SCALE
    assert list(big.frames[0].data[0].marker.size) == [2 * SCALE, 3 * SCALE]
    assert big.layout.font.size > 14 and fig.data[0].marker.size == 4  # the original is untouched


def test_the_projector_copy_grows_the_sizes_a_figure_set_for_its_panel_titles():
    fig = go.Figure([go.Scatter(x=[0], y=[0])])
    fig.add_annotation(text="NFE 8", font=dict(size=12))
    fig.add_annotation(text="no size of its own")
    fig.update_layout(title=dict(text="a title", font=dict(size=14)))
    big = for_projector(fig)
    assert big.layout.annotations[0].font.size == 12 * TITLE_SCALE and big.layout.annotations[1].font.size is None
    assert big.layout.title.font.size == 14 * TITLE_SCALE and fig.layout.annotations[0].font.size == 12


# ---------------------------------------------------------------- in the app (AppTest)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    yield at
    if "session" in at.session_state:
        at.session_state["session"].stop_all()


def bar_text(at) -> str:
    return " ".join(m.value for m in at.markdown)


@pytest.mark.slow
@pytest.mark.parametrize("presenting", ["0", "1"])
def test_the_ten_minute_lesson_runs_start_to_finish_with_next_only(app, presenting):
    app.query_params.update({"lesson": "meanflow-in-ten-minutes", "step": "1", "present": presenting})
    app.run()
    lesson = bundled_lessons()["meanflow-in-ten-minutes"]
    for k, step in enumerate(lesson.steps, 1):
        assert not app.exception, (k, app.exception)
        assert f"step {k} of {len(lesson.steps)}" in bar_text(app), k
        assert app.query_params["lesson"] == "meanflow-in-ten-minutes" and app.query_params["step"] == str(k)
        for key, value in step.settings:  # the page took the step's settings
            assert app.query_params[key] == value, (k, key)
        assert not app.toast, (k, [t.value for t in app.toast])  # and refused none
        if k == 2:  # a step on the same page as the last: the widgets changed to this step's values
            assert app.session_state["anim_left_steps"] == 1 and app.session_state["anim_right_steps"] == 32
        if k < len(lesson.steps):
            app.button(key="lesson_next").click().run()
    assert app.button(key="lesson_next").disabled
    app.button(key="lesson_back").click().run()
    assert f"step {len(lesson.steps) - 1} of" in bar_text(app)
    app.button(key="lesson_end").click().run()
    assert "lesson" not in app.query_params and "of 9" not in bar_text(app)


@pytest.mark.slow
def test_the_warped_grid_step_draws_both_maps(app):
    app.query_params.update({"lesson": "meanflow-in-ten-minutes", "step": "5"})
    app.run()
    assert not app.exception
    (grid,) = [json.loads(c.proto.spec) for c in app.get("plotly_chart") if "grid" in c.proto.spec]
    names = [d.get("name", "") for d in grid["data"]]
    assert sum(n.endswith(": grid") for n in names) == 4 and len(grid["frames"]) >= 16
    first, last = grid["frames"][0]["data"][0], grid["frames"][-1]["data"][0]
    assert first["x"] != last["x"]  # the grid moves
    # what the lesson says to press is what the page shows, and the numbers say they are not the grid's
    assert "press **Play** under the grids" in bar_text(app) and any(
        c.value.startswith("The Particles view's 1,000 particles") for c in app.caption
    )


@pytest.mark.slow
def test_an_uploaded_lesson_is_checked_and_a_missing_one_named(app):
    app.query_params["lesson"] = "no-such-lesson"
    app.run()
    assert not app.exception
    assert any("no lesson named" in w.value for w in app.warning)
    assert "lesson" not in app.query_params


@pytest.mark.slow
def test_presenter_view_hides_the_sidebar_and_grows_the_charts(app):
    app.query_params.update({"present": "1", "lesson": "meanflow-in-ten-minutes", "step": "2"})
    app.run()
    assert not app.exception
    assert any("stSidebar" in h.proto.body for h in app.get("html"))
    (frame,) = [f for f in app.get("iframe") if '<script id="data"' in f.proto.srcdoc]
    assert canvas_data(frame.proto.srcdoc)["pointScale"] > 1  # Animate's canvas: larger points
    assert not [link for link in app.get("page_link") if "Link to this step" in link.proto.label]
    app.button(key="lesson_next").click().run()  # the flag stays on the next page (Velocity fields)
    assert app.query_params["present"] == "1"
    assert any("stSidebar" in h.proto.body for h in app.get("html"))
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["font"]["size"] >= 18 and spec["data"][1]["line"]["width"] > 1.5


def shown_in_order(app, kinds: tuple[str, ...]) -> list[str]:
    """The main area's elements of these kinds, top to bottom."""

    def walk(node):
        children = getattr(node, "children", None)
        if children is None:
            yield node.type
        else:
            for k in sorted(children):
                yield from walk(children[k])

    return [kind for kind in walk(app.main) if kind in kinds]


@pytest.mark.slow
@pytest.mark.parametrize("page", ["compare", "ablations"])
def test_the_presenter_view_shows_a_studys_bars_before_its_table(app, page):
    """On a projector the class reads the bars, so they come first; at a desk the table does (it held the
    bars about 700 px down, under a table wider than the screen)."""
    for presenting, first in (("1", "plotly_chart"), ("0", "dataframe")):
        app.query_params["present"] = presenting
        app.switch_page(f"app_pages/{page}.py").run()
        assert not app.exception
        assert shown_in_order(app, ("plotly_chart", "dataframe"))[0] == first, presenting


@pytest.mark.slow
def test_step_counts_chart_their_metric_before_the_table(app):
    """Under Metrics the chart with its dashed floor comes first (a lesson's step points at it), then the
    numbers."""
    bundled = "bundled:meanflow-checkerboard,bundled:flow-matching-checkerboard"
    app.query_params.update(cmp_mode="Step counts", cmp_runs=bundled, cmp_nfe="1,2", cmp_n="500")
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception
    order = shown_in_order(app, ("plotly_chart", "dataframe"))
    assert order[-2:] == ["plotly_chart", "dataframe"], order  # the sample grids, the chart, then the table


@pytest.mark.slow
def test_a_lessons_step_that_names_a_target_and_a_class_opens_on_that_class(app):
    """Guidance and Animate start another target at its first class (a class is its target's own: Animate
    kept 8gaussians' mode 2 as the digit 1), but a step that asks for a class on a new target gets it (the
    box was reset to 0 over the step's 1)."""

    def step(page: str, **settings) -> str:
        return json.dumps({"title": page, "page": page, "settings": settings, "text": "."})

    def runs(target: str) -> dict:
        return dict.fromkeys(("anim_left_run", "anim_right_run"), f"bundled:guidance-flow-matching-{target}")

    steps = (
        step("guidance", guide_target="8gaussians"),
        step("guidance", guide_target="moons", guide_class=1),
        step("animate", **runs("8gaussians"), anim_class=1),
        step("animate", **runs("digits")),
    )
    app.session_state["uploaded_lessons"] = {"mine": parse_lesson("mine", lesson_bytes(*steps))}
    app.query_params.update({"lesson": "mine", "step": "1"})
    app.run()
    assert not app.exception and app.selectbox(key="guide_class").value == 0
    app.button(key="lesson_next").click().run()
    assert not app.exception and app.selectbox(key="guide_class").value == 1
    app.button(key="lesson_next").click().run()
    assert not app.exception and app.selectbox(key="anim_class").value == 1
    app.button(key="lesson_next").click().run()
    assert not app.exception and app.selectbox(key="anim_class").value == -1  # all classes, not the digit 1


def test_a_lesson_step_leaves_what_it_does_not_name_at_the_default(app):
    """Pages keep a session's settings across visits (ui.settings), but a lesson's step (or a link) names
    what it shows: a review found the warped grid of one lesson's step carried into the next lesson's
    first step, which names the particles' colours and not the view."""
    app.query_params.update({"lesson": "meanflow-in-ten-minutes", "step": "5"})
    app.run()
    assert app.session_state["anim_view"] == "Warped grid"
    app.button(key="lesson_next").click().run()
    app.button(key="lesson_end").click().run()
    app.query_params.clear()
    app.query_params.update({"lesson": "guidance-in-one-step", "step": "1"})
    app.run()
    assert not app.exception and app.session_state["anim_view"] == "Particles"
