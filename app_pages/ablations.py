"""Ablations: MeanFlow's design choices (its Table 1) and the method zoo, rerun in 2D with seeds."""

import streamlit as st

from meanflow.core.targets import get_target
from meanflow.core.text import literal
from meanflow.lab.studies import STUDIES
from ui import server, settings, studies

SHOWN = tuple(name for name in STUDIES if name != "guidance")  # guidance has a page of its own
STUDY = settings.Setting("study", "r-neq-t", choices=SHOWN)
TARGET = settings.Setting("abl_target", server.SEED_TARGETS[0], choices=server.SEED_TARGETS)


def main() -> None:
    st.title("Ablations")
    c1, c2 = st.columns([2, 1])
    name = settings.select("Study", STUDY, where=c1, format_func=lambda n: STUDIES[n].title)
    target = settings.segmented("Target", TARGET, where=c2) or server.SEED_TARGETS[0]
    study = STUDIES[name]
    st.markdown(f"**{literal(study.question)}**")
    if study.paper_source:
        st.caption(
            f"Beside each row: {literal(study.paper_source)} ({literal(study.paper_metric)}). "
            "Ours: one-step histogram TV on the 2D target (lower is better) and the other metrics, "
            "mean ± standard deviation over seeds, at the same network, batch and budget for every row."
        )
    studies.study_view(study, target, key="abl")
    st.subheader("Run it yourself")
    studies.run_live_controls(study, [get_target(t) for t in server.SEED_TARGETS if t == target], key="abl")
    studies.progress(study, key="abl")


main()
