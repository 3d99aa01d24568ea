"""Home: MeanFlow in three sentences and a live-looking demo of the bundled pretrained runs.

The demo is precomputed by `make assets` (meanflow.views.demo, assets/home.npz), so the first page paints
without torch or a network; the server warms the rest while the visitor reads.
"""

import streamlit as st

from meanflow.core.paths import BUNDLED_TARGETS, assets_dir
from meanflow.views.canvas import particle_animation_html
from meanflow.views.demo import DEMO_FILE, read_demo
from meanflow.views.palette import start_colours
from ui import server, settings

HOME_TARGET = settings.Setting("home_target", BUNDLED_TARGETS[0], choices=BUNDLED_TARGETS)
COLOUR = settings.Setting("home_colour", False, choices=(False, True))


HEIGHT = 370  # the demo's iframe: panels, titles and the Play/time controls


@st.cache_data(show_spinner=False, max_entries=len(BUNDLED_TARGETS))
def demo_data(target_name: str) -> dict | None:
    return read_demo(assets_dir() / DEMO_FILE, target_name)


@st.cache_data(show_spinner=False, max_entries=2 * len(BUNDLED_TARGETS))
def demo_html(target_name: str, by_start: bool) -> str:
    data = demo_data(target_name)
    colours = start_colours(data["noise"]) if by_start else None
    return particle_animation_html(data["panels"], data["reference"], colours, height=HEIGHT)


def demo(target_name: str, by_start: bool) -> None:
    """MeanFlow's one step beside flow matching's one and sixteen steps, from the same noise."""
    data = demo_data(target_name)
    if data is None:
        st.info("The bundled pretrained runs are missing (run `make assets`). Train live instead:")
        st.page_link("app_pages/train.py", label="Train a model now (about a minute)", icon=":material/fitness_center:")
        return
    # drawn on a canvas, not with Plotly: the first page a newcomer sees paints before Plotly's bundle
    # would have started (meanflow/canvas.py)
    st.iframe(
        demo_html(target_name, by_start),
        height=HEIGHT,
    )
    for col, (title, (tv, floor, n)) in zip(st.columns(len(data["scores"])), data["scores"].items()):
        col.metric(
            f"{title}: histogram TV",
            f"{tv:.3f}",
            help=f"Local error (0 is perfect); catches blur. Noise floor for n = {n:,} samples: {floor:.3f}.",
        )
        col.caption(f"floor {floor:.3f} at n = {n:,}")
    st.caption(
        "Press Play to watch the noise flow into these samples. Same noise in every panel. MeanFlow lands on "
        "the target in one network evaluation; flow matching's single Euler step collapses towards the middle "
        "and needs many steps. The numbers are each run's headline, its samples scored as in Compare's "
        "methods table (n beside each floor) for this one run (seed 0), against seed 0's reference sample, "
        "floor included; the table gives a row's mean over its seeds, and of their floors. Keyboard: Tab to "
        "Play, then Enter; arrow keys move the time slider."
        + (
            " Colours: where each particle's noise started, by the key beside the panels (direction: hue; "
            "distance from the centre: strength). At t = 1 the particles are the wheel itself."
            if by_start
            else ""
        )
    )


def main() -> None:
    st.title("MeanFlow playground")
    st.markdown(
        "**Flow matching** learns the instantaneous velocity that carries noise to data, and samples by "
        "integrating it in many small steps. **MeanFlow** learns the *average* velocity over a whole time "
        "interval instead, so a single network evaluation can jump from noise straight to data. "
        "Here you train both, and their one-step rivals, on 2D targets and see, with the numbers beside "
        "the pictures, what one step buys."
    )
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    target_name = settings.segmented("Target", HOME_TARGET, where=c1) or BUNDLED_TARGETS[0]
    by_start = settings.toggle(  # a toggle: it fits beside the targets in an 800 px window
        "Colour by starting point",
        COLOUR,
        where=c2,
        help="Colour each particle by where its noise started, to see which noise each map sends where.",
    )
    demo(target_name, bool(by_start))
    # a row that wraps: four columns cut the labels at 800 px ("Train your c"); here each keeps its words
    row = st.container(horizontal=True, wrap=True, gap="medium")
    row.page_link("app_pages/train.py", label="Train your own", icon=":material/fitness_center:", width="content")
    row.page_link("app_pages/animate.py", label="One step vs many", icon=":material/animation:", width="content")
    row.page_link("app_pages/compare.py", label="Compare methods", icon=":material/bar_chart:", width="content")
    row.page_link("app_pages/learn.py", label="How it works", icon=":material/menu_book:", width="content")
    server.warm()  # after the first paint: torch and the samplers import in a thread,
    server.open_session()  # the engine and its workers start, the URL's runs are found


main()
