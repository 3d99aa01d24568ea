"""One AppTest per page: widgets work, no exception, and figures hold the frames and traces expected."""

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    yield at
    ws = at.session_state["workspace"] if "workspace" in at.session_state else None
    if ws is not None:  # never leave a training thread behind
        ws.stop_all()
        for entry in ws.live():
            entry.job.join(5)


def values(encoded) -> np.ndarray:
    """A plotly JSON array: a plain list, or a typed array {'dtype', 'bdata'} (base64)."""
    if isinstance(encoded, dict):
        return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
    return np.asarray(encoded)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def bundled_available() -> bool:
    return any((ROOT / "assets" / "pretrained").glob("*/config.json"))


needs_bundled = pytest.mark.skipif(not bundled_available(), reason="assets/pretrained not built (make assets)")


@needs_bundled
def test_home_animates_the_bundled_runs_at_once(app):
    """Home shows three panels (MeanFlow 1 step, flow matching 1 and 16 steps) with shared frames."""
    app.run()
    assert not app.exception
    (spec,) = charts(app)
    assert len(spec["frames"]) == 48
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles[:3] == ["MeanFlow, 1 step", "Flow matching, 1 step", "Flow matching, 16 steps"]
    assert len(app.metric) == 3  # a number beside each picture
    app.segmented_control(key="home_target").set_value("spiral").run()
    assert not app.exception and app.query_params["home_target"] == "spiral"


def test_train_launches_both_methods_and_shows_them_finished(app):
    """Launch two short runs; after they end the page shows done, a preview and a loss curve per run."""
    app.switch_page("app_pages/train.py").run()
    assert not app.exception
    app.slider(key="seconds").set_value(5)
    app.number_input(key="steps").set_value(150)
    app.select_slider(key="batch").set_value(128)
    app.select_slider(key="hidden").set_value(32)
    app.button(key="launch").click().run()
    assert not app.exception
    ws = app.session_state["workspace"]
    live = ws.live()
    assert sorted(e.config.method for e in live) == ["flow-matching", "meanflow"]
    assert all(e.config.steps == 150 and e.config.hidden == 32 for e in live)
    for entry in live:
        entry.job.join(30)
    app.run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert text.count("— done") == 2
    assert len(charts(app)) == 1 + 2 * 2  # target preview, then a preview and a loss chart per run
    assert len(list((Path(ws.runs_dir)).iterdir())) == 2  # both saved
    assert len(app.get("download_button")) == 4  # config and run folder for each


def test_train_reports_a_bad_upload_without_a_traceback(app):
    app.switch_page("app_pages/train.py").run()
    app.radio(key="target_source").set_value("Text").run()
    app.text_input(key="target_text").set_value("   ").run()
    assert not app.exception
    assert any("1 to 12 characters" in e.value for e in app.error)
    assert app.button(key="launch").disabled


@needs_bundled
def test_animate_builds_synchronised_panels(app):
    """Two panels, 64 shared frames, each frame moving one particle trace per panel."""
    app.switch_page("app_pages/animate.py").run()
    assert not app.exception
    app.slider(key="particles").set_value(300).run()
    (spec,) = charts(app)
    assert len(spec["frames"]) == 64
    frame = spec["frames"][10]
    assert len(frame["data"]) == 2 and all(len(values(d["x"])) == 300 for d in frame["data"])
    assert len(app.metric) >= 4  # W1 and TV per panel, beside their floors


@needs_bundled
def test_compare_tabulates_every_run_and_step_count(app):
    app.switch_page("app_pages/compare.py").run()
    app.select_slider(key="cmp_n").set_value(500).run()
    assert not app.exception
    table = app.dataframe[0].value
    runs = len(app.multiselect(key="cmp_runs").value)
    assert len(table) == runs * 6 and {"hist_tv", "hist_tv_floor", "sliced_w1", "sliced_w1_floor"} <= set(table)
    *grids, chart = charts(app)
    assert len(grids) == runs and all(len(g["layout"]["annotations"]) == 6 for g in grids)
    lines = [d for d in chart["data"] if d.get("mode") == "lines+markers"]
    assert len(lines) == runs and "noise floor" in json.dumps(chart)  # one line per run, and the floor


@needs_bundled
def test_fields_page_draws_both_fields_and_the_animation(app):
    app.switch_page("app_pages/fields.py").run()
    assert not app.exception
    specs = charts(app)
    assert len(specs) == 3 and len(specs[2]["frames"]) == 11
    app.slider(key="field_t").set_value(0.5).run()
    assert not app.exception


def test_learn_page_links_each_idea(app):
    app.switch_page("app_pages/learn.py").run()
    assert not app.exception
    assert len(app.subheader) == 7
    assert any("MeanFlow identity" in s.value for s in app.subheader)


def test_pages_without_runs_point_to_train(app, monkeypatch):
    """With no bundled and no saved run, the run pages say how to get one instead of failing."""
    import app_pages.common as common

    monkeypatch.setattr(common, "bundled_runs", lambda: [])
    for page in ("app_pages/animate.py", "app_pages/compare.py", "app_pages/fields.py"):
        app.switch_page(page).run()
        assert not app.exception
        assert any("No trained run yet" in i.value for i in app.info)


def test_a_diverging_run_says_so_and_a_stopped_run_stays_usable(app):
    """lr 1e4 ends as 'diverged at step N' on the page; a run stopped midway animates and compares."""
    app.switch_page("app_pages/train.py").run()
    app.multiselect(key="methods").set_value(["meanflow"])
    app.number_input(key="lr").set_value(1e4)
    app.button(key="launch").click().run()
    ws = app.session_state["workspace"]
    ws.live()[0].job.join(30)
    app.run()
    assert any("diverged at step" in e.value for e in app.error)

    app.number_input(key="lr").set_value(5e-3)
    app.slider(key="seconds").set_value(600)
    app.button(key="launch").click().run()
    running = ws.live()[0]
    while running.job.snapshot().step < 50:
        time.sleep(0.05)
    app.button(key=f"stop_{running.key}").click().run()
    running.job.join(10)
    assert running.state == "stopped" and running.flow is not None
    app.switch_page("app_pages/animate.py").run()
    app.selectbox(key="anim_left_run").set_value(running.key).run()
    assert not app.exception and len(charts(app)) == 1
    app.switch_page("app_pages/compare.py").run()
    app.multiselect(key="cmp_runs").set_value([running.key])
    app.select_slider(key="cmp_n").set_value(500).run()
    assert not app.exception and len(app.dataframe[0].value) == 6


def test_a_saved_run_from_another_session_is_opened_from_the_library(app, tmp_path, tiny_config):
    """Saved runs (another session's, or from before a restart) stay out of the pickers until opened."""
    from meanflow.runs import save_job
    from meanflow.targets import get_target
    from meanflow.trainer import train

    save_job(tmp_path / "runs" / "earlier-run", train(tiny_config, get_target("moons")))
    (tmp_path / "runs" / "broken-run").mkdir()
    (tmp_path / "runs" / "broken-run" / "config.json").write_text("{half written")
    app.switch_page("app_pages/train.py").run()
    assert any("skipped broken-run" in w.value for w in app.warning)
    app.button(key="open_saved:earlier-run").click().run()
    app.switch_page("app_pages/animate.py").run()
    options = app.selectbox(key="anim_left_run").options
    assert any("earlier-run" in o or "checkerboard" in o for o in options)
    assert "saved:earlier-run" in [e.key for e in app.session_state["workspace"].ready()]


@pytest.mark.parametrize("page, params", [
    ("app_pages/fields.py", {"field_t": "2", "field_r": "nan"}),
    ("app_pages/animate.py", {"particles": "50", "anim_left_steps": "3", "anim_seed": "-4"}),
    ("app_pages/train.py", {"seconds": "1", "batch": "7", "lr": "inf", "time_sampler": "beta", "target": "banana"}),
    ("app_pages/compare.py", {"cmp_n": "12", "cmp_nfe": "1,x,64", "cmp_runs": "nope"}),
])
def test_a_hand_edited_url_falls_back_to_defaults(app, page, params):
    """Out-of-range, non-numeric or unknown URL values never break a page."""
    for key, value in params.items():
        app.query_params[key] = value
    app.switch_page(page).run()
    assert not app.exception
