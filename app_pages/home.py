"""Home: MeanFlow in three sentences and a live-looking demo from the bundled pretrained runs."""

import streamlit as st
import torch

from meanflow import figures, get_method, sample
from ui import pickers, server, settings

PANELS = (("meanflow", 1), ("flow-matching", 1), ("flow-matching", 16))
N = 1000  # particles: enough to see the shape, light enough to animate smoothly
HOME_TARGET = settings.Setting("home_target", server.SEED_TARGETS[0], choices=server.SEED_TARGETS)


def demo(target_name: str) -> None:
    """MeanFlow's one step beside flow matching's one and sixteen steps, from the same noise."""
    runs = {r.method: r for r in server.session().bundled() if r.target_name == target_name}
    if not {m for m, _ in PANELS} <= set(runs):
        st.info("The bundled pretrained runs are missing (run `make assets`). Train live instead:")
        st.page_link("app_pages/train.py", label="Train a model now (about a minute)", icon=":material/fitness_center:")
        return
    panels, scores = {}, {}
    for method, steps in PANELS:
        saved = pickers.load(runs[method])
        traj = sample(saved.flow, N, steps, torch.Generator().manual_seed(0))
        title = f"{get_method(method).label}, {settings.steps_label(steps)}"
        panels[title] = (traj.times, traj.path)
        scores[title] = pickers.evaluator_for(runs[method], saved.target, N).score(traj.samples)
    reference = pickers.target_preview(pickers.load(runs["meanflow"]).target, 800)
    st.plotly_chart(
        figures.trajectory_animation(panels, n_frames=48, reference=reference, height=420, start_at_end=True),
        key="home_demo",
        width="stretch",
    )
    for col, (title, q) in zip(st.columns(len(scores)), scores.items()):
        col.metric(
            f"{title}: histogram TV",
            f"{q.hist_tv:.2f}",
            help=f"Local error (0 is perfect); catches blur. Noise floor for {q.n} samples: {q.hist_tv_floor:.2f}.",
        )
    st.caption(
        "Press Play to watch the noise flow into these samples. Same noise in every panel. MeanFlow lands on "
        "the target in one network evaluation; flow matching's single Euler step collapses towards the middle "
        "and needs many steps."
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
    target_name = settings.segmented("Target", HOME_TARGET) or server.SEED_TARGETS[0]
    server.session()
    demo(target_name)
    c1, c2, c3, c4 = st.columns(4)
    c1.page_link("app_pages/train.py", label="Train your own", icon=":material/fitness_center:")
    c2.page_link("app_pages/animate.py", label="Animate one step vs K steps", icon=":material/animation:")
    c3.page_link("app_pages/compare.py", label="Compare methods and step counts", icon=":material/bar_chart:")
    c4.page_link("app_pages/learn.py", label="How MeanFlow works", icon=":material/menu_book:")


main()
