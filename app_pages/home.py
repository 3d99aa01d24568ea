"""Home: MeanFlow in three sentences and a live-looking demo from the bundled pretrained runs."""

import streamlit as st
import torch

from meanflow import figures, sample
from meanflow.workspace import METHOD_LABELS
from app_pages import common

PANELS = (("meanflow", 1), ("flow-matching", 1), ("flow-matching", 16))
N = 1000  # particles: enough to see the shape, light enough to animate smoothly


def demo(target_name: str) -> None:
    """MeanFlow's one step beside flow matching's one and sixteen steps, from the same noise."""
    runs = {r.config.method: r for r in common.workspace().bundled() if r.config.target == target_name}
    if len(runs) < 2:
        st.info("The bundled pretrained runs are missing (run `make assets`). Train live instead:")
        st.page_link("app_pages/train.py", label="Train a model now (about a minute)", icon=":material/fitness_center:")
        return
    panels, scores = {}, {}
    for method, steps in PANELS:
        traj = sample(runs[method].flow, N, steps, torch.Generator().manual_seed(0))
        title = f"{METHOD_LABELS[method]}, {common.steps_label(steps)}"
        panels[title] = (traj.times, traj.path)
        scores[title] = common.evaluator_for(runs[method], N).score(traj.samples)
    reference = common.target_preview(runs["meanflow"].target, 800)
    st.plotly_chart(figures.trajectory_animation(panels, n_frames=48, reference=reference, height=420, start_at_end=True),
                    key="home_demo", width="stretch")
    for col, (title, q) in zip(st.columns(len(scores)), scores.items()):
        col.metric(f"{title}: histogram TV", f"{q.hist_tv:.2f}", help="Local error (0 is perfect); catches blur. "
                   f"Noise floor for {q.n} samples: {q.hist_tv_floor:.2f}.")
    st.caption("Press Play to watch the noise flow into these samples. Same noise in every panel. MeanFlow lands on the target in one network evaluation; "
               "flow matching's single Euler step collapses towards the middle and needs many steps.")


def main() -> None:
    st.title("MeanFlow playground")
    st.markdown(
        "**Flow matching** learns the instantaneous velocity that carries noise to data, and samples by "
        "integrating it in many small steps. **MeanFlow** learns the *average* velocity over a whole time "
        "interval instead, so a single network evaluation can jump from noise straight to data. "
        "Here you train both on 2D targets and see, with the numbers beside the pictures, what one step buys.")
    common.from_url("home_target", common.SEED_TARGETS[0], valid=common.one_of(common.SEED_TARGETS))
    target_name = st.segmented_control("Target", common.SEED_TARGETS, key="home_target") or common.SEED_TARGETS[0]
    common.to_url("home_target")
    demo(target_name)
    c1, c2, c3, c4 = st.columns(4)
    c1.page_link("app_pages/train.py", label="Train your own", icon=":material/fitness_center:")
    c2.page_link("app_pages/animate.py", label="Animate one step vs K steps", icon=":material/animation:")
    c3.page_link("app_pages/compare.py", label="Compare step counts", icon=":material/bar_chart:")
    c4.page_link("app_pages/learn.py", label="How MeanFlow works", icon=":material/menu_book:")


main()
