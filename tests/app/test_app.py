"""One AppTest per page: widgets work, no exception, and figures hold the frames and traces expected."""

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import ui.server
from meanflow.core.paths import pretrained_dir
from meanflow.core.runs import load_run, save_result, set_shared
from meanflow.core.targets import encode_shapes, get_target
from meanflow.core.training import run_training
from meanflow.lab.scoring import EVAL_N, headline
from tests.conftest import wait_until
from tests.views.test_canvas import canvas_data, floats
from ui.downloads import samples_file_name
from ui.pickers import default_runs
from ui.points import target_preview

pytestmark = pytest.mark.slow  # worker processes, subprocesses or whole app runs: `make test-fast` skips them

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    yield at
    sess = at.session_state["session"] if "session" in at.session_state else None
    if sess is not None:  # never leave a run training behind
        sess.stop_all()
        for run_id in sess.own_ids():
            sess.engine.wait(run_id, 30)


def values(encoded) -> np.ndarray:
    """A plotly JSON array: a plain list, or a typed array {'dtype', 'bdata'} (base64)."""
    if isinstance(encoded, dict):
        return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
    return np.asarray(encoded)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def open_step_counts(app, runs: str, nfe: str, n: int, **more) -> None:
    """Compare in Step counts mode on bundled runs ('meanflow-checkerboard,...') at these NFE and n."""
    bundled = ",".join(f"bundled:{r}" for r in runs.split(","))
    app.query_params.update(cmp_mode="Step counts", cmp_runs=bundled, cmp_nfe=nfe, cmp_n=str(n), **more)
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception


def wait_for_runs(at, n: int, timeout: float = 60):
    """The session's first n runs, once each has ended (bounded by a deadline)."""
    sess = at.session_state["session"]
    wait_until(lambda: len(sess.own_ids()) >= n, timeout, "the runs to be launched")
    for run_id in sess.own_ids()[:n]:
        assert sess.engine.wait(run_id, timeout) is not None
    return sess.own()[:n]


def animation_data(app) -> dict:
    """The data of the Animate page's canvas animation (the one iframe that holds one)."""
    (frame,) = [f for f in app.get("iframe") if '<script id="data"' in f.proto.srcdoc]
    return canvas_data(frame.proto.srcdoc)


def home_canvas(app):
    """Home's one canvas frame (the other frame a first visit gets is the owner cookie's script)."""
    (frame,) = [f for f in app.get("iframe") if "meanflow_owner" not in f.proto.srcdoc]
    return frame


def test_home_animates_the_bundled_runs_at_once(app):
    """Home shows three panels (MeanFlow 1 step, flow matching 1 and 16 steps) from the same noise,
    drawn on a canvas (no Plotly chart: its bundle would delay the first paint)."""
    app.run()
    assert not app.exception
    assert charts(app) == []
    frame = home_canvas(app)
    data = canvas_data(frame.proto.srcdoc)
    assert data["titles"] == ["MeanFlow, 1 step", "Flow matching, 1 step", "Flow matching, 16 steps"]
    assert [len(t) for t in data["times"]] == [2, 2, 17]
    starts = [floats(p)[: data["n"] * 2] for p in data["paths"]]
    assert all(np.array_equal(starts[0], s) for s in starts)  # the same noise in every panel
    assert data["colours"] == ""
    assert len(app.metric) == 3  # a number beside each picture
    app.segmented_control(key="home_target").set_value("spiral").run()
    assert not app.exception and app.query_params["home_target"] == "spiral"
    app.toggle(key="home_colour").set_value(True).run()
    frame = home_canvas(app)
    rgb = np.frombuffer(base64.b64decode(canvas_data(frame.proto.srcdoc)["colours"]), np.uint8).reshape(-1, 3)
    assert len(rgb) == data["n"] and len(np.unique(rgb, axis=0)) > 100  # each particle by where it started


def test_train_launches_both_methods_and_shows_them_finished(app):
    """Launch two short runs; after they end the page shows done, a preview and a loss curve per run."""
    app.switch_page("app_pages/train.py").run()
    assert not app.exception
    app.slider(key="seconds").set_value(600)  # the steps end these runs, on any machine's speed
    app.number_input(key="steps").set_value(150)
    app.select_slider(key="batch").set_value(128)
    app.select_slider(key="hidden").set_value(32)
    app.button(key="launch").click().run()
    assert not app.exception
    assert "2 runs started" in " ".join(t.value for t in app.toast)  # the cards are below, out of sight
    entries = wait_for_runs(app, 2)
    assert sorted(e.method for e in entries) == ["flow-matching", "meanflow"]
    assert all(e.config.steps == 150 and e.config.hidden == 32 for e in entries)
    app.run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert text.count("— done") == 2
    assert len(charts(app)) == 1 + 2 * 3  # target preview, then a preview, a loss and a quality chart per run
    previews = [c for c in charts(app) if "one-step samples" in json.dumps(c.get("layout", {}).get("title", ""))]
    assert len(previews) == 2 and all(len(c["data"]) == 2 for c in previews)  # the target drawn under the samples
    runs_dir = Path(entries[0].info.path).parent
    assert {p.name for p in runs_dir.iterdir()} == {e.id for e in entries}  # both saved, nothing else
    assert len(app.get("download_button")) == 4  # config and run folder for each
    assert set(app.query_params["runs"].split(",")) == {e.id for e in entries}  # a reload finds them


def test_step_trains_some_steps_pauses_and_continues(app):
    """Step: the run pauses at its step count (Continue and Step on its card); its loss is split at r = t
    and r != t and its one-step quality is charted beside the floors; Continue trains it to its end."""
    app.switch_page("app_pages/train.py").run()
    app.multiselect(key="methods").set_value(["meanflow"])
    app.slider(key="seconds").set_value(600)
    app.number_input(key="steps").set_value(400)
    app.select_slider(key="batch").set_value(128)
    app.select_slider(key="hidden").set_value(32)
    app.number_input(key="step_size").set_value(200)
    app.button(key="launch_step").click().run()
    assert not app.exception
    (entry,) = wait_for_runs(app, 1)
    app.run()
    assert not app.exception
    assert "— paused" in " ".join(m.value for m in app.markdown)
    sess = app.session_state["session"]
    assert sess.own()[0].info.step == 200
    titles = [json.dumps(c["layout"].get("title", "")) for c in charts(app)]
    assert any("split at r = t" in t for t in titles) and any("one-step quality" in t for t in titles)
    (split,) = [c for c in charts(app) if "split at r = t" in json.dumps(c["layout"].get("title", ""))]
    assert {"r = t (instantaneous v)", "r \u2260 t (average u)"} <= {d.get("name") for d in split["data"]}
    (quality,) = [c for c in charts(app) if "one-step quality" in json.dumps(c["layout"].get("title", ""))]
    assert any("floor" in str(d.get("name")) for d in quality["data"])
    app.button(key=f"continue_{entry.key}").click().run()
    assert not app.exception
    wait_until(lambda: sess.own()[0].info.state == "done", 120, "the continued run to end")
    assert sess.own()[0].info.step == 400


def test_a_session_cannot_queue_more_than_its_share(app):
    """Ten clicks on Train queue at most 2 running + 2 waiting runs; the rest get a message."""
    app.switch_page("app_pages/train.py").run()
    app.slider(key="seconds").set_value(600)
    for _ in range(5):
        app.button(key="launch").click().run()
    assert not app.exception
    assert len(app.session_state["session"].own_ids()) == 4
    assert any("per session" in e.value for e in app.error)


def test_train_reports_a_bad_text_target_without_a_traceback(app):
    app.switch_page("app_pages/train.py").run()
    app.radio(key="target_source").set_value("Text").run()
    app.text_input(key="target_text").set_value("   ").run()
    assert not app.exception
    assert any("1 to 12 characters" in e.value for e in app.error)
    assert app.button(key="launch").disabled


def test_animate_builds_synchronised_panels(app):
    """Two panels from the same noise on a canvas (no Plotly), clickable, on shared axes (one target)."""
    app.switch_page("app_pages/animate.py").run()
    assert not app.exception
    app.slider(key="particles").set_value(300).run()
    assert not charts(app)  # drawn by the browser's canvas, not by Plotly
    data = animation_data(app)
    assert len(data["titles"]) == 2 and data["n"] == 300 and data["clickable"]
    left, right = (floats(p).reshape(len(t), 300, 2) for p, t in zip(data["paths"], data["times"]))
    np.testing.assert_allclose(left[0], right[0])  # the same noise in both panels
    assert data["bounds"][0] == data["bounds"][1]
    assert len(app.metric) >= 4  # W1 and TV per panel, beside their floors


def test_compare_tabulates_every_run_and_step_count(app):
    app.query_params["cmp_mode"] = "Step counts"
    app.switch_page("app_pages/compare.py").run()
    app.select_slider(key="cmp_n").set_value(500).run()
    assert not app.exception
    table = app.dataframe[0].value
    runs = len(app.multiselect(key="cmp_runs").value)
    assert runs == 2 and len(table) == runs * 6
    assert {"hist_tv", "hist_tv_floor", "sliced_w1", "sliced_w1_floor"} <= set(table)
    *grids, chart = charts(app)
    assert len(grids) == runs and all(len(g["layout"]["annotations"]) == 6 for g in grids)
    lines = [d for d in chart["data"] if d.get("mode") == "lines+markers"]
    assert len(lines) == runs and "noise floor" in json.dumps(chart)  # one line per run, and the floor


def test_compare_reads_a_runs_headline_at_its_n_and_its_seed(app):
    """Home and Animate show a run's headline (n = EVAL_N, its own seed); Compare at that n with that seed as
    the sampling seed reads the same numbers, floors included; the CSV names the sampling seed."""
    saved = load_run(pretrained_dir() / "meanflow-checkerboard")
    expected = headline(saved.flow, saved.target, 1, saved.config.seed)
    app.query_params.update(
        cmp_mode="Step counts",
        cmp_runs="bundled:meanflow-checkerboard",
        cmp_nfe="1",
        cmp_n=str(EVAL_N),
        cmp_seed=str(saved.config.seed),
    )
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception
    (row,) = app.dataframe[0].value.to_dict("records")
    assert row["sampling seed"] == saved.config.seed and row["n"] == EVAL_N
    for key in ("hist_tv", "hist_tv_floor", "sliced_w1", "sliced_w1_floor"):
        assert row[key] == pytest.approx(getattr(expected, key)), key


def test_compare_scores_one_class_by_its_accuracy_and_writes_a_csv_per_target(app):
    """With a class and guidance chosen, the class-conditional run's rows say both and give the class's
    accuracy in place of the whole target's metrics (the other classes' absence is no error); an odd NFE
    says why it has no cell; two targets give two CSVs, each with its own target's columns."""
    open_step_counts(app, "meanflow-checkerboard,meanflow-digits", "1,2", 500, cmp_class="1", cmp_guidance="2.0")
    checkerboard, digits = (frame.value for frame in app.dataframe)  # a table per target, each its own columns
    assert "class" not in checkerboard and "hist_tv" in checkerboard and "hist_tv" not in digits
    conditional = digits
    assert len(conditional) == 1 and conditional["nfe"].tolist() == [2]  # NFE 1 has no guided sampler
    row = conditional.iloc[0]
    assert row["class"] == "1" and row["guidance"] == 2.0 and 0 <= row["class_accuracy"] <= 1
    assert "fd" not in row and any("NFE 1: no cell" in c.value for c in app.caption)
    labels = [b.proto.label for b in app.get("download_button")]
    assert {"Metrics on checkerboard (CSV)", "Metrics on digits (CSV)"} <= set(labels)


def test_compare_with_one_class_says_how_it_scores_and_speaks_of_no_floor(app):
    """With one class chosen every cell reads its class accuracy only, yet the caption spoke of floors that
    no cell or chart had."""
    open_step_counts(app, "meanflow-digits", "2", 200, cmp_class="3", cmp_guidance="2.0")
    captions = [c.value for c in app.caption]
    assert any(c.startswith("One class chosen: each cell is scored by its class accuracy") for c in captions)
    assert not any(c.startswith("Each metric compares the samples") for c in captions)


def test_compare_draws_each_runs_samples_over_its_own_target(app):
    """Step counts with the digits first, then a checkerboard and a moons run: the first run's target was the
    sketch under every 2D row (the digits' 64 coordinates read as points), which shrank both rows' samples
    into a corner. Each row's sketch is its own target's, and its view is the target's."""
    open_step_counts(app, "meanflow-digits,meanflow-checkerboard,meanflow-moons", "1", 200)
    grids = [c for c in charts(app) if c["layout"].get("yaxis", {}).get("scaleanchor") == "x"]  # the 2D rows
    assert len(grids) == 2
    for spec, name in zip(grids, ("checkerboard", "moons")):
        sketch = np.c_[values(spec["data"][0]["x"]), values(spec["data"][0]["y"])]
        expected = target_preview(get_target(name), 600)
        assert np.allclose(sketch, expected, atol=1e-4), name
        assert spec["layout"]["xaxis"]["range"][1] - spec["layout"]["xaxis"]["range"][0] < 12  # not the digits'


def test_fields_page_draws_both_fields_and_the_animation(app):
    app.switch_page("app_pages/fields.py").run()
    assert not app.exception
    specs = charts(app)
    assert len(specs) == 3 and len(specs[2]["frames"]) == 11
    app.slider(key="field_t").set_value(0.5).run()
    assert not app.exception
    app.slider(key="field_r").set_value(0.5).run()  # r = t: one field, and how to see the other
    assert any(i.value.startswith("Set r below t") for i in app.info)
    app.slider(key="field_t").set_value(0.0).run()  # no r slider at t = 0: the hint says what to do instead
    assert not app.exception and "field_r" not in [s.key for s in app.slider]
    assert any(i.value.startswith("At t = 0") for i in app.info) and not any("Set r below" in i.value for i in app.info)


def test_the_velocity_probe_and_the_same_pairing_comparison(app):
    """Hovering gives v and u at each grid point; a probed point gets both arrows and their numbers; the
    note says why MeanFlow's two fields look alike at OT pairing and opens the run at independent pairs."""
    app.query_params["field_run"] = "bundled:meanflow-checkerboard"
    app.switch_page("app_pages/fields.py").run()
    assert not app.exception
    instant, averaged, _ = charts(app)
    (probe_points,) = [d for d in instant["data"] if d.get("name") == "probe points"]
    assert "u(z, t, t) = (" in probe_points["text"][0] and "u(z, r, t) = (" in probe_points["text"][0]
    assert any("minibatch optimal transport" in i.value for i in app.info)
    app.session_state["field_probe"] = 200  # what a click on grid point 200 stores
    app.run()
    names = [d.get("name", "") for d in charts(app)[0]["data"]]
    assert sum(n.startswith(("u(z, t, t) = (", "u(z, r, t) = (")) for n in names) == 2
    assert [m.label for m in app.metric][:3] == ["Probe at z", "u(z, t, t)", "u(z, r, t)"]
    app.button(key="same_pairing_0").click().run()
    assert not app.exception
    assert app.selectbox(key="field_run").value.startswith("study:sweep-coupling-MeanFlow--independent")
    assert any("independent pairs, so its paths curve" in i.value for i in app.info)


def test_learn_page_explains_each_idea(app):
    app.switch_page("app_pages/learn.py").run()
    assert not app.exception
    assert any("MeanFlow identity" in s.value for s in app.subheader)


def test_pages_without_runs_point_to_train(app, monkeypatch):
    """With no bundled and no saved run, the run pages say how to get one instead of failing."""
    monkeypatch.setattr(ui.server, "BUNDLED_DIR", ROOT / "no-such-folder")
    app.query_params["cmp_mode"] = "Step counts"
    for page in ("app_pages/animate.py", "app_pages/compare.py", "app_pages/fields.py"):
        app.switch_page(page).run()
        assert not app.exception
        assert any("No trained run yet" in i.value for i in app.info)


def test_a_run_that_spends_its_time_budget_reads_done_and_offers_to_train_further(app):
    """The trainer writes 'stopped' for a spent budget as for a Stop; the page tells them apart."""
    app.switch_page("app_pages/train.py").run()
    app.multiselect(key="methods").set_value(["flow-matching"])
    app.slider(key="seconds").set_value(5)
    app.number_input(key="steps").set_value(10**6)
    app.select_slider(key="hidden").set_value(32)
    app.button(key="launch").click().run()
    (entry,) = wait_for_runs(app, 1)
    assert entry.info.state == "stopped" and entry.info.message.startswith("time budget of 5 s")
    app.run()
    assert not app.exception
    assert any("— done: time budget of 5 s reached" in m.value for m in app.markdown)
    assert [b.label for b in app.button if b.key == f"resume_{entry.key}"] == ["Train further"]


def test_a_diverging_run_says_so_and_a_stopped_run_stays_usable(app):
    """lr 1e4 ends as 'diverged at step N' on the page; a run stopped midway animates and compares."""
    app.switch_page("app_pages/train.py").run()
    app.multiselect(key="methods").set_value(["meanflow"])
    app.number_input(key="lr").set_value(1e4)
    app.button(key="launch").click().run()
    (diverged,) = wait_for_runs(app, 1)
    app.run()
    assert any("diverged at step" in e.value for e in app.error)
    assert any("No curves to draw" in i.value for i in app.info)  # not empty axes (a walk's finding)

    app.number_input(key="lr").set_value(5e-3)
    app.slider(key="seconds").set_value(600)
    app.button(key="launch").click().run()
    sess = app.session_state["session"]
    running = sess.own()[0]
    wait_until(lambda: sess.engine.snapshot(running.id).step >= 50, what="50 steps")
    app.run()
    app.button(key=f"stop_{running.key}").click().run()
    assert sess.engine.wait(running.id, 30).state == "stopped"
    app.run()
    assert [b.label for b in app.button if b.key == f"resume_{running.key}"] == ["Resume"]  # stopped, not spent
    app.switch_page("app_pages/animate.py").run()
    app.selectbox(key="anim_left_run").set_value(running.key).run()
    assert not app.exception and len(animation_data(app)["titles"]) == 2
    app.query_params["cmp_mode"] = "Step counts"
    app.switch_page("app_pages/compare.py").run()
    app.multiselect(key="cmp_runs").set_value([running.key])
    app.select_slider(key="cmp_n").set_value(500).run()
    assert not app.exception, app.exception
    assert len(app.dataframe[0].value) == 6, app.dataframe[0].value[["run", "nfe"]]


def test_a_shared_run_from_another_session_is_opened_from_the_library(app, tmp_path, tiny_config):
    """Shared runs stay out of the pickers until opened; broken folders are reported, not fatal."""
    path = save_result(
        tmp_path / "runs" / "earlier-run",
        tiny_config,
        get_target("moons"),
        run_training(tiny_config, get_target("moons")),
    )
    set_shared(path, True)
    save_result(
        tmp_path / "runs" / "private-run",
        tiny_config,
        get_target("rings"),
        run_training(tiny_config, get_target("rings")),
    )
    (tmp_path / "runs" / "broken-run").mkdir()
    (tmp_path / "runs" / "broken-run" / "config.json").write_text("{half written")
    app.switch_page("app_pages/train.py").run()
    assert any("skipped broken-run" in w.value for w in app.warning)
    assert app.button(key="open_run:earlier-run") and not [b for b in app.button if "private-run" in b.key]
    app.button(key="open_run:earlier-run").click().run()
    app.switch_page("app_pages/animate.py").run()
    picker = app.selectbox(key="anim_left_run")
    # labels: the bundled runs all end in "(pretrained)", so only the opened run can match the first
    assert "MeanFlow · moons" in picker.options and "MeanFlow · rings" not in picker.options
    assert "run:earlier-run" in [e.key for e in app.session_state["session"].ready()]


def test_a_shared_train_link_shows_the_finished_runs_it_names(app, tmp_path, tiny_config):
    """A Train link with runs= shows those runs (finished ones too) as watched cards, and keeps them in
    the address after this browser launches runs of its own."""
    run_id = "20260101-000000-meanflow-dddddddddddddddddddddddd"
    save_result(
        tmp_path / "runs" / run_id, tiny_config, get_target("moons"), run_training(tiny_config, get_target("moons"))
    )
    app.query_params["runs"] = run_id
    app.switch_page("app_pages/train.py").run()
    assert not app.exception
    assert any("MeanFlow · moons" in m.value and "— done" in m.value for m in app.markdown)
    assert any(c.value == "watching" for c in app.caption)
    app.multiselect(key="methods").set_value(["meanflow"])
    app.slider(key="seconds").set_value(600)
    app.number_input(key="steps").set_value(50)
    app.button(key="launch").click().run()
    named = app.query_params["runs"].split(",")
    assert len(named) == 2 and named[1] == run_id  # its own new run at once (while it trains), then the link's


def test_a_run_link_opens_a_private_run_in_a_new_session(app, tmp_path, tiny_config):
    """Holding a run's id (a bookmark, a shared link) is enough to open it on any page."""
    save_result(
        tmp_path / "runs" / "20260101-000000-meanflow-cccccccccccccccccccccccc",
        tiny_config,
        get_target("rings"),
        run_training(tiny_config, get_target("rings")),
    )
    app.query_params["anim_left_run"] = "run:20260101-000000-meanflow-cccccccccccccccccccccccc"
    app.switch_page("app_pages/animate.py").run()
    assert not app.exception
    assert app.selectbox(key="anim_left_run").value == "run:20260101-000000-meanflow-cccccccccccccccccccccccc"


def test_a_url_list_with_no_valid_item_opens_on_the_default_not_an_empty_page(app):
    """Compare opened with `zoo_methods=bogus&zoo_nfe=0` drew no table, chart or grid ("Pick at least one
    method"): a list whose items are all refused is the default, as a refused single value is; one valid
    item keeps only that item, and an empty list (every chip cleared, then shared) stays empty."""
    from ui.settings import Setting

    app.query_params["zoo_methods"] = "bogus"
    app.query_params["zoo_nfe"] = "0,x"
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception
    assert len(app.multiselect(key="zoo_methods").value) > 1 and app.pills(key="zoo_nfe").value == [1, 2, 4, 32]
    assert app.dataframe, "the methods table is drawn"
    setting = Setting("k", [1, 2], choices=(1, 2, 4), multi=True)
    assert setting.parse("4,x") == [4] and setting.parse("") == []


@pytest.mark.parametrize(
    "page, params",
    [
        ("app_pages/fields.py", {"field_t": "2", "field_r": "nan"}),
        ("app_pages/fields.py", {"field_t": "1e-300", "field_r": "0"}),
        ("app_pages/animate.py", {"particles": "50", "anim_left_steps": "3", "anim_seed": "-4"}),
        (
            "app_pages/train.py",
            {
                "seconds": "1",
                "batch": "7",
                "lr": "inf",
                "meanflow.time_sampler": "beta",
                "target": "banana",
                "methods": "gan,meanflow,meanflow",
            },
        ),
        (
            "app_pages/compare.py",
            {"cmp_mode": "Step counts", "cmp_n": "12", "cmp_nfe": "1,x,64,1,1,1", "cmp_runs": "nope"},
        ),
    ],
)
def test_a_hand_edited_url_falls_back_to_the_widget_limits(app, page, params):
    """Out-of-range, non-numeric or unknown URL values never break a page; the widgets show the defaults."""
    for key, value in params.items():
        app.query_params[key] = value
    app.switch_page(page).run()
    assert not app.exception
    if page.endswith("animate.py"):
        assert app.slider(key="particles").value == 1000 and app.number_input(key="anim_seed").value == 0
    if page.endswith("train.py"):
        assert app.slider(key="seconds").value == 60 and app.select_slider(key="batch").value == 256
        assert app.multiselect(key="methods").value == ["meanflow"]  # deduplicated, unknown dropped
    if page.endswith("compare.py"):
        assert app.pills(key="cmp_nfe").value == [1] and app.select_slider(key="cmp_n").value == 2000
    if page.endswith("fields.py"):
        assert 0.0 <= app.slider(key="field_t").value <= 1.0


def test_compare_opens_on_the_tuned_methods_table(app):
    """Methods mode, the page's first: the study table (every row's pairing, network and tuning, the ratio to
    flow matching at 32 steps), the anytime curves, a grid of samples per method x NFE from the bundled
    runs, and quality against NFE."""
    app.query_params["zoo_nfe"] = "1,2"
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception
    chart_specs = charts(app)
    grid = next(c for c in chart_specs if any(", 1 step" in a["text"] for a in c["layout"].get("annotations", [])))
    methods = {r.method for r in app.session_state["session"].bundled() if r.target_name == "checkerboard"}
    assert len(grid["layout"]["annotations"]) == 2 * len(methods)
    table = app.dataframe[0].value
    assert {"pairing", "network", "tuning", "TV @1 ÷ best FM @32"} <= set(table.columns)
    assert {"independent", "minibatch-ot"} <= set(table["pairing"])  # flow matching both ways
    assert any("each method tuned with 12 trials of 60 s on 8gaussians, rings" in c.value for c in app.caption)
    anytime = next(c for c in chart_specs if "while training" in c["layout"]["title"]["text"])
    assert len([d for d in anytime["data"] if d.get("mode") == "lines+markers"]) == len(table)
    assert any("charged for its teacher" in c.value for c in app.caption)  # reflow at equal compute is a row
    assert "Table (CSV)" in [b.proto.label for b in app.get("download_button")]  # the table itself, to keep
    assert not table.isna().any().any()  # a row without a note reads blank, not None


def test_ablations_page_opens_on_the_tuned_comparison_and_can_run_a_study_live(app):
    """It opens on the methods study, each row stating its pairing, network and tuning; a study picked
    from the list trains live on its own targets."""
    app.switch_page("app_pages/ablations.py").run()
    assert not app.exception
    assert any("tuned settings" in m.value for m in app.markdown)
    assert any("each method tuned with 12 trials of 60 s on 8gaussians, rings" in c.value for c in app.caption)
    table = app.dataframe[0].value
    assert {"pairing", "network", "tuning"} <= set(table.columns) and table["tuning"].str.startswith("tuned").all()
    app.selectbox(key="study").set_value("tangent").run()
    assert not app.exception
    app.segmented_control(key="abl_target").set_value("digits").run()  # its bundled curves: the digits'
    anytime = next(c for c in charts(app) if "while training" in c["layout"].get("title", {}).get("text", ""))
    lines = [d["line"] for d in anytime["data"] if d.get("mode") == "lines+markers"]
    assert len(lines) == 4 and len({line["color"] for line in lines}) == 4  # MeanFlow's settings: a colour each
    assert all(line.get("dash", "solid") == "solid" for line in lines)  # no variants of one method to dash
    assert not any("charged for its teacher" in c.value for c in app.caption)  # no row has a teacher here
    app.segmented_control(key="abl_target").set_value("checkerboard").run()
    assert app.radio(key="abl_budget_tangent").value == "steps"  # as its bundled table: 5,000 steps a run
    assert app.slider(key="abl_steps_tangent").value == 5000
    app.slider(key="abl_steps_tangent").set_value(500)
    app.number_input(key="abl_seeds").set_value(1)
    app.button(key="abl_run").click().run()
    assert not app.exception
    sweep = app.session_state["sweep_abl_tangent"]
    assert len(sweep.runs) == 4 and {r.target for r in sweep.runs} == {"checkerboard"}
    assert all(r.config.max_seconds is None and r.config.steps == 500 for r in sweep.runs)
    sweep.stop()
    app.selectbox(key="study").set_value("levers").run()
    assert app.radio(key="abl_budget_levers").value == "seconds"  # its table: 30 s a run
    assert app.slider(key="abl_seconds_levers").value == 30
    app.selectbox(key="study").set_value("methods").run()  # from one seconds study to another: its own
    assert app.slider(key="abl_seconds_methods").value == 60


def test_the_levers_study_shows_flow_matching_at_the_32_steps_its_question_names(app):
    """The levers study asks about flow matching at 32 steps; its one-step chart showed four flow-matching
    bars at 1.000 and one-step blurs (a walk's finding): bars, pictures and Animate links now stand at the
    steps each method is judged at, and say so."""
    from urllib.parse import parse_qs

    from meanflow.lab.records import load_study

    app.query_params["study"] = "levers"
    app.switch_page("app_pages/ablations.py").run()
    assert not app.exception
    rows = [r for r in load_study(ROOT / "assets" / "studies" / "levers.json")["rows"] if r["target"] == "8gaussians"]
    bars = next(c for c in charts(app) if "flow matching at 32" in c["layout"]["title"]["text"])
    names, values = bars["data"][0]["y"], bars["data"][0]["x"]  # more than six cells: bars lie across
    for row in rows:
        judged = f"{row['cell']}, 32 steps" if row["method"] == "flow-matching" else row["cell"]
        assert values[names.index(judged)] == pytest.approx(row["hist_tv@32" if ", 32" in judged else "hist_tv@1"])
    titles = [a.get("text", "") for c in charts(app) for a in c["layout"].get("annotations", [])]
    assert "flow matching<br>32 steps<br>&nbsp;" in titles and "MeanFlow<br>1 step<br>&nbsp;" in titles
    queries = [parse_qs(link.proto.query_string) for link in app.get("page_link")]
    fm = [q for q in queries if "flow-matching" in q.get("anim_left_run", [""])[0]]
    assert fm and all(q["anim_left_steps"] == ["32"] for q in fm)


def test_guidance_page_points_to_training_when_it_has_no_conditional_runs(app, monkeypatch):
    bundled = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    bundled.switch_page("app_pages/guidance.py").run()
    chips = bundled.button_group(key="guide_target").options  # the bundle has no checkerboard guidance runs
    assert chips == ["8gaussians", "moons", "checkerboard (no runs yet)", "digits"]
    monkeypatch.setattr(ui.server, "BUNDLED_DIR", ROOT / "no-such-folder")
    app.switch_page("app_pages/guidance.py").run()
    assert not app.exception
    assert any("No class-conditional runs" in i.value for i in app.info)
    assert all(c.endswith("(no runs yet)") for c in app.button_group(key="guide_target").options)


def test_a_links_value_the_page_refuses_is_said_once_with_what_it_shows_instead():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"guide_target": "moons", "guide_class": "12", "guide_nfe": "7"})
    at.switch_page("app_pages/guidance.py").run()
    assert not at.exception
    said = sorted(t.value.replace("\\", "") for t in at.toast)
    assert said == [
        "This link's guide_class = 12 is not a value the page accepts; it shows its default instead.",
        "This link's guide_nfe = 7 is not a value the page accepts; it shows its default instead.",
    ]
    at.run()
    assert not at.toast  # once
    many = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    many.query_params.update({f"anim_{side}_steps": "999" for side in ("left", "right")})
    many.query_params.update({"anim_view": "nothing", "colour": "none", "particles": "x"})
    many.switch_page("app_pages/animate.py").run()
    said = [t.value.replace("\\", "") for t in many.toast]
    assert len(said) == 4 and said[-1] == "... and 2 more of this link's values; the page shows its defaults for them."


def test_a_value_the_page_published_itself_is_no_links_refused_value():
    """A widget hidden and drawn again (Streamlit drops its state, the URL keeps what the page wrote) with
    choices that no longer hold the value: the page falls back without blaming a link."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["_kept_guide_class"] = 5  # published on 8gaussians; its widget's state since dropped
    at.query_params.update({"guide_target": "moons", "guide_class": "5"})  # two classes: 5 is not one
    at.switch_page("app_pages/guidance.py").run()
    assert not at.exception and at.session_state["guide_class"] == 0
    assert not at.toast


def test_train_draws_a_target_from_the_link(app):
    """A drawing in the URL (as the canvas writes it) is the target: previewed, ready to train."""
    square = np.array([[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]])
    app.query_params["target_source"] = "Draw"
    app.query_params["drawing"] = encode_shapes([(4, square)])
    app.switch_page("app_pages/train.py").run()
    assert not app.exception
    titles = [c["layout"].get("title", {}).get("text", "") for c in charts(app)]
    assert "target: drawn" in titles and "Draw with the lasso (or the box) tool" in titles
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update({"target_source": "Draw", "drawing": "5AA!!"})  # damaged: a message, an empty canvas
    at.switch_page("app_pages/train.py").run()
    assert not at.exception and any("damaged" in e.value for e in at.error)


def test_compare_says_so_instead_of_drawing_past_its_point_budget(app, monkeypatch):
    monkeypatch.setenv("MEANFLOW_PAGE_POINTS", "1000")
    app.query_params["cmp_mode"] = "Step counts"
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception
    assert any("at most 1,000" in w.value for w in app.warning) and not charts(app)


def test_animate_colours_by_start_traces_particles_and_samples_a_class(app):
    """Colour by starting point gives each particle its own colour; traced particles get their paths and
    a table; a class-conditional run samples the chosen class with guidance (two evaluations a step)."""
    app.query_params["colour"] = "starting point"
    app.query_params["trace"] = "2"
    app.switch_page("app_pages/animate.py").run()
    assert not app.exception
    data = animation_data(app)
    colours = np.frombuffer(base64.b64decode(data["colours"]), np.uint8).reshape(-1, 3)
    assert len(colours) == data["n"] and len({tuple(c) for c in colours}) > 100
    assert data["traced"] == [0, 1]  # their paths drawn in every panel
    assert len(app.dataframe) >= 1
    assert any("traced particles" in m.value for m in app.markdown)  # the table says what it is
    assert any("'particle' is the particle's index" in c.value for c in app.caption)
    assert data["wheel"].startswith("data:image/png")  # the legend: the wheel beside the panels

    conditional = [r for r in app.session_state["session"].bundled() if r.config.classes]
    if not conditional:
        pytest.skip("no class-conditional bundled runs (make guidance)")
    run = next(r for r in conditional if r.method == "flow-matching")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(
        {"anim_left_run": run.key, "anim_left_steps": "4", "anim_class": "1", "anim_guidance": "2.0"}
    )
    at.switch_page("app_pages/animate.py").run()
    assert not at.exception
    titles = animation_data(at)["titles"]
    wanted = f"{get_target(run.target_name).class_names[1]}, w = 2 (8 evaluations)"
    assert any(wanted in t for t in titles), titles


def test_animate_opens_on_the_users_own_run_even_when_it_is_class_conditional():
    from types import SimpleNamespace

    def run(method, source, classes, target="checkerboard"):
        config = SimpleNamespace(classes=classes)
        return SimpleNamespace(method=method, source=source, config=config, target_name=target)

    bundled = [
        run("meanflow", "bundled", 4, "8gaussians"),
        run("flow-matching", "bundled", 4, "8gaussians"),
        run("flow-matching", "bundled", 0, "moons"),
        run("meanflow", "bundled", 0, "moons"),
    ]
    assert default_runs(bundled) == (3, 2)  # the bundled guidance runs are skipped
    assert default_runs([run("meanflow", "own", 4), *bundled])[0] == 0  # a fresh labelled run opens first
    assert default_runs([run("meanflow", "own", 4), run("flow-matching", "own", 4), *bundled]) == (0, 1)


def test_a_bundled_ablation_cell_opens_in_animate(app):
    """The Ablations page links each bundled cell's seed-0 run; Animate opens it from that link."""
    from urllib.parse import parse_qs

    app.switch_page("app_pages/ablations.py").run()
    app.selectbox(key="study").set_value("tangent").run()
    assert not app.exception
    queries = [parse_qs(link.proto.query_string) for link in app.get("page_link")]
    queries = [q for q in queries if q.get("anim_left_run", [""])[0].startswith("study:")]
    assert len(queries) == 4  # one per cell
    wrong = queries[2]  # (v, 1, 0), beside the study's first row, (v, 0, 1)
    assert wrong["anim_right_run"] == queries[0]["anim_left_run"] and wrong["anim_left_steps"] == ["1"]
    app.query_params.update({key: values[0] for key, values in wrong.items()})
    app.switch_page("app_pages/animate.py").run()
    assert not app.exception
    assert app.selectbox(key="anim_left_run").value == wrong["anim_left_run"][0]
    assert app.selectbox(key="anim_right_run").value == queries[0]["anim_left_run"][0]
    titles = animation_data(app)["titles"]
    assert "The JVP tangent: (v, 1, 0)" in titles[0] and "The JVP tangent: (v, 0, 1)" in titles[1]


def test_a_methods_row_not_yet_scored_reads_dashes_not_none():
    """A live sweep's row with no scored seed: its steps read '—' (not None, and the others stay whole
    numbers), its floors '—' where a floor is missing."""
    from meanflow.lab.studies import STUDIES
    from ui.studies import floor_cells, table_frame

    scored = {"cell": "MeanFlow", "method": "meanflow", "target": "moons", "seeds": 3, "steps": 13746.0}
    scored |= {"hist_tv@1": 0.1, "hist_tv_floor": 0.067}
    waiting = {"cell": "Shortcut", "method": "shortcut", "target": "moons", "seeds": 0, "steps": None}
    frame = table_frame([scored, waiting], "moons", STUDIES["methods"])
    assert frame["steps"].tolist() == ["13746", "—"] and not frame.isna().any().any()
    assert floor_cells({"hist_tv_floor": 0.05, "in_support_floor": 1.0}) == {
        "floors (TV, W1, in cells)": "0.050, —, 1.000"
    }


def test_the_methods_table_downloads_as_numbers_with_every_seed():
    """The Table (CSV) holds each metric's mean, std and seeds as numbers (the page's '0.139 ± 0.011' is for
    reading), with n, for the chosen target's rows only; which seed each value is, and each row's seed-0 run
    id (a walk found the ';'-joined values without their seeds and no run to open)."""
    import io

    from meanflow.lab.records import load_study
    from meanflow.lab.studies import STUDIES
    from ui.studies import seed_zero_runs, table_csv, table_frame

    record = load_study(ROOT / "assets" / "studies" / "methods.json")
    frame = pd.read_csv(
        io.StringIO(table_csv(record["rows"], "moons", seed_zero_runs("bundled", record, None, "moons")))
    )
    assert set(frame["target"]) == {"moons"} and (frame["n"] == EVAL_N).all()
    assert frame["hist_tv@1"].dtype.kind == "f" and frame["hist_tv@1_std"].dtype.kind == "f"
    seeds = [float(v) for v in frame["hist_tv@1_seeds"].iloc[0].split(";")]
    assert len(seeds) == frame["seeds"].iloc[0] and np.mean(seeds) == pytest.approx(frame["hist_tv@1"].iloc[0])
    assert frame["seed_order"].iloc[0] == ";".join(map(str, range(len(seeds))))
    meanflow = frame[frame["cell"] == "MeanFlow"]
    assert meanflow["run id (seed 0)"].iloc[0] == record["runs"]["moons"]["MeanFlow"]
    # the ratio column reads as the page's: flow matching at its 32 steps (a walk found 9.867, its one step)
    shown = table_frame(record["rows"], "moons", STUDIES["methods"])["TV @1 ÷ best FM @32"].tolist()
    ratios = frame["hist_tv@1_over_fm32"].fillna(frame["hist_tv@32_over_fm32"])
    assert [float(text.split()[0]) for text in shown] == [round(r, 2) for r in ratios]
    fm = frame[frame["method"] == "flow-matching"]
    assert fm["hist_tv@1_over_fm32"].isna().all() and fm["hist_tv@32_over_fm32"].min() == pytest.approx(1.0)


@pytest.mark.parametrize(("study", "digits"), [("r-neq-t", True), ("time-sampler", False)])
def test_an_ablations_caption_mentions_the_digits_only_where_the_study_has_them(app, study, digits):
    """The time-sampler, weight-power and conditioning studies said "(on the digits: FD ...)" with no digits
    target to pick."""
    app.query_params["study"] = study
    app.switch_page("app_pages/ablations.py").run()
    assert not app.exception
    caption = next(c.value for c in app.caption if c.value.startswith("Beside each row"))
    assert ("on the digits" in caption) == digits
    assert ("digits" in [str(o) for o in app.segmented_control(key="abl_target").options]) == digits


def test_a_panels_samples_file_names_its_run_and_step_count():
    """Animate's two panels each download their samples: the files must differ by run and step count (both
    were samples.csv), and a run's label must not put a path or markup in the name."""
    left, right = samples_file_name("MeanFlow · checkerboard", 1), samples_file_name("MeanFlow · checkerboard", 32)
    assert left == "samples_MeanFlow-checkerboard_1-step.csv" and right.endswith("_32-steps.csv")
    assert samples_file_name("../<b>x</b>", 2) == "samples_b-x-b_2-steps.csv"
