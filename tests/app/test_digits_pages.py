"""The digits on every page, from the bundled digits runs: images where 2D pages draw points, the
classifier's metrics where they print TV; no exception anywhere."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow  # whole app runs: `make test-fast` skips them

ROOT = Path(__file__).resolve().parents[2]
MEANFLOW, FLOW_MATCHING = "bundled:meanflow-digits", "bundled:flow-matching-digits"


def page(tmp_path, monkeypatch, path: str, **params) -> AppTest:
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def test_animate_plays_digits_as_image_grids_beside_the_principal_plane(tmp_path, monkeypatch):
    at = page(tmp_path, monkeypatch, "app_pages/animate.py", anim_left_run=MEANFLOW, anim_right_run=FLOW_MATCHING)
    frames = [f for f in at.get("iframe") if "image grids from noise" in str(f.proto)]
    assert frames, "no image-grid player"
    metrics = " ".join(m.label for m in at.metric)
    assert "FD" in metrics and "Recognised" in metrics and "Histogram TV" not in metrics


def test_compare_step_counts_draw_image_grids_and_the_classifier_metrics(tmp_path, monkeypatch):
    at = page(
        tmp_path, monkeypatch, "app_pages/compare.py", cmp_mode="Step counts", cmp_runs=f"{MEANFLOW},{FLOW_MATCHING}"
    )
    assert len(at.get("image")) >= 2
    table = at.dataframe[0].value
    assert {"fd", "fd_floor", "confident", "memorised"} <= set(table.columns) and "hist_tv" not in table.columns


def test_guidance_draws_one_digit_with_class_accuracy_and_per_class_fd(tmp_path, monkeypatch):
    at = page(tmp_path, monkeypatch, "app_pages/guidance.py", guide_target="digits", guide_class="7")
    assert len(at.get("image")) >= 2
    assert "class FD" in at.dataframe[0].value.columns


def test_ablations_show_the_digits_rows_with_fd_beside_the_2d_ones(tmp_path, monkeypatch):
    at = page(tmp_path, monkeypatch, "app_pages/ablations.py", study="r-neq-t", abl_target="digits")
    table = at.dataframe[0].value
    assert "FD @1" in table.columns and "TV @1" not in table.columns and len(table) == 5
    assert len(at.get("image")) == 5  # one grid of one-step digits per cell
    assert any("order holds on the digits" in m.value for m in at.markdown)  # against the paper, by FD
    charts = [str(o) for o in at.radio[0].options]  # the table's metrics only: no 64-D sliced W1 it leaves out
    assert "FD, 1 step" in charts and not any("W1" in o or "in cells" in o for o in charts)


def test_compare_methods_on_the_digits_open_on_the_bundled_fd_table_at_one_network(tmp_path, monkeypatch):
    at = page(tmp_path, monkeypatch, "app_pages/compare.py", cmp_mode="Methods", zoo_target="digits")
    table = at.dataframe[0].value
    assert {"FD @1", "FD @1 ÷ best FM @32", "network", "tuning"} <= set(table.columns) and "TV @1" not in table.columns
    assert set(table["network"]) == {"256 x 3, batch 256"} and all(t.startswith("defaults") for t in table["tuning"])
    assert all(" ± " in v for v in table["FD @1"])  # mean and spread over the bundled seeds
    assert len(at.get("image")) >= len(table)  # one grid of one-step digits per row
    assert any("unconditional, each method at its defaults" in c.value for c in at.caption)
    assert any("Reflow with a free teacher starts from its teacher's weights" in c.value for c in at.caption)


def test_guidance_on_the_digits_shows_the_bundled_table_over_seeds_with_class_fd(tmp_path, monkeypatch):
    at = page(tmp_path, monkeypatch, "app_pages/guidance.py", guide_target="digits")
    bundled = at.dataframe[-1].value
    assert "class FD" in bundled.columns and "class TV" not in bundled.columns
    assert any(m.startswith("MeanFlow, omega") for m in bundled["model"])


def test_guidance_starts_another_target_at_its_first_class(tmp_path, monkeypatch):
    """A class is a target's own (8gaussians' "mode 4" is not the digit 3): switching targets starts at the
    first class, and the box says so (it kept the old index, and the browser kept the old target's name)."""
    at = page(tmp_path, monkeypatch, "app_pages/guidance.py", guide_target="8gaussians", guide_class="3")
    assert at.selectbox(key="guide_class").value == 3
    at.segmented_control(key="guide_target").set_value("digits").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="guide_class").value == 0


def test_the_anytime_caption_says_what_its_study_holds(tmp_path, monkeypatch):
    """The tangent study's curves drew a floor with no n and named flow matching's 32 steps, which that
    study has no row of; the methods study's caption gives its previews' n."""
    tangent = page(tmp_path, monkeypatch, "app_pages/ablations.py", study="tangent", abl_target="digits")
    (caption,) = [c.value for c in tangent.caption if c.value.startswith("Each run's previews")]
    assert "does not give" in caption and "each at one step" in caption and "32 steps" not in caption
    methods = page(tmp_path, monkeypatch, "app_pages/ablations.py", study="methods", abl_target="digits")
    (caption,) = [c.value for c in methods.caption if c.value.startswith("Each run's previews")]
    assert "n = 4,000 points each" in caption and "flow matching's at 32 steps" in caption


def test_the_methods_table_names_a_seed_whose_chain_ran_away(tmp_path, monkeypatch):
    """One seed of the bundled MeanFlow digits row reads FD @32 = 14,933,986 (the others 6.2 and 6.5): the
    table's mean ± std is that seed's, and the page says so under the table; the 2D tables say nothing."""
    at = page(tmp_path, monkeypatch, "app_pages/compare.py", zoo_target="digits")
    said = " ".join(c.value for c in at.caption if "diverged" in c.value)
    assert "MeanFlow, FD @32: seed 2 of 3 reads 1.5e+07 (the others 6.178, 6.502)" in said
    at = page(tmp_path, monkeypatch, "app_pages/compare.py", zoo_target="moons")
    assert not any("diverged" in c.value for c in at.caption)


def test_guidance_titles_a_guided_flow_matching_panel_of_one_step_in_the_singular(tmp_path, monkeypatch):
    """At 2 NFE a guided step evaluates the net twice: one step, which the panels titled '1 steps'."""
    at = page(tmp_path, monkeypatch, "app_pages/guidance.py", guide_target="moons", guide_nfe="2")
    titles = [
        a["text"] for c in at.get("plotly_chart") for a in json.loads(c.proto.spec)["layout"].get("annotations", [])
    ]
    assert any(t.endswith("<br>1 step") for t in titles) and not any("1 steps" in t for t in titles), titles
