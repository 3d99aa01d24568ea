"""A property-based fuzzer for every page's URL: any combination of values renders a page, never an exception.

Hypothesis draws query strings from each page's own parameters and hostile values (NaN, infinities,
huge and negative numbers, empty and repeated lists, unicode, markup, path-like run ids, 5,000
characters). Derandomised, so CI runs the same cases every time. It asserts no exception element,
a render time under a generous bound, and bounded server memory; it prints the case count and the
worst render time (benchmarks/RESULTS.md).
"""

import resource
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "app_pages/home.py": ["home_target", "home_colour"],
    "app_pages/train.py": [
        "target_source",
        "target",
        "target_text",
        "drawing",
        "draw_level",
        "conditional",
        "class_dropout",
        "methods",
        "seconds",
        "steps",
        "batch",
        "hidden",
        "depth",
        "lr",
        "seed",
        "coupling",
        "meanflow.r_neq_t",
        "meanflow.time_sampler",
        "meanflow.weight_power",
        "r_neq_t",
        "shortcut.self_consistency",
        "reflow.teacher",
    ],
    "app_pages/animate.py": [
        "anim_left_run",
        "anim_right_run",
        "anim_left_steps",
        "anim_right_steps",
        "particles",
        "anim_seed",
        "colour",
        "trace",
        "anim_class",
        "anim_guidance",
        "anim_view",
        "anim_autoplay",
    ],
    "app_pages/compare.py": [
        "cmp_mode",
        "cmp_runs",
        "cmp_nfe",
        "cmp_n",
        "cmp_seed",
        "zoo_target",
        "zoo_methods",
        "zoo_nfe",
        "cmp_class",
        "cmp_guidance",
    ],
    "app_pages/fields.py": ["field_run", "field_t", "field_r"],
    "app_pages/ablations.py": ["study", "abl_target"],
    "app_pages/guidance.py": ["guide_target", "guide_class", "guide_nfe"],
    "app_pages/learn.py": [],
}
EDGES = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "1e-300",
    "-1",
    "0",
    "1",
    "0.5",
    "2",
    "600",
    "601",
    "99999999999999999999999",
    "",
    " ",
    ",",
    "1,1,1,1,1,1,1,1",
    ",".join(["32"] * 60),
    "1,x,64",
    "../../etc/passwd",
    "run:../../etc",
    "run:",
    "bundled:",
    "bundled:meanflow-moons",
    "bundled:meanflow-moons,bundled:meanflow-moons",
    "%00",
    "\x00",
    "<script>alert(1)</script>",
    "![x](http://host/p.png)",
    "😀" * 10,
    "x" * 5000,
    "checkerboard",
    "moons",
    "8gaussians",
    "0.25",
    "meanflow",
    "meanflow,meanflow,gan",
    "Methods",
    "Step counts",
    "Upload",
    "Text",
    "Draw",
    "5GGZGZZGZ.2mm5mv8",
    "starting point",
    "False",
    "logit-normal",
    "minibatch-ot",
    "r-neq-t",
    "methods",
    "True",
    "[]",
    "{}",
]
CASES = {"count": 0, "worst": 0.0}


def values():
    return st.one_of(
        st.sampled_from(EDGES),
        st.text(max_size=30),
        st.integers(-(10**30), 10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.mark.parametrize("page", list(PAGES))
def test_any_url_renders_the_page(page, runs_dir, monkeypatch):
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(runs_dir))
    keys = PAGES[page] + ["runs", "junk"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.dictionaries(st.sampled_from(keys), values(), max_size=6))
    def case(params):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        for key, value in params.items():
            at.query_params[key] = value
        t0 = time.perf_counter()
        at.switch_page(page).run()
        elapsed = time.perf_counter() - t0
        CASES["count"] += 1
        CASES["worst"] = max(CASES["worst"], elapsed)
        assert not at.exception, (params, [e.value for e in at.exception])
        assert elapsed < 60, (params, elapsed)

    case()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(
        f"\n{page}: {CASES['count']} cases so far, worst render {CASES['worst']:.2f} s, peak memory +{grown_mb:.0f} MB"
    )
    assert grown_mb < 1500
