"""Ablations: the tuned, fair method comparison, the levers, and MeanFlow's design choices (its Table 1),
rerun in 2D with seeds."""

import streamlit as st

from meanflow.core.paths import BUNDLED_TARGETS
from meanflow.core.targets import get_target
from meanflow.core.text import literal
from meanflow.lab.studies import STUDIES
from ui import settings, studies

SHOWN = ("methods", *(name for name in STUDIES if name not in ("methods", "guidance")))  # guidance: its own page
STUDY = settings.Setting("study", "methods", choices=SHOWN)


def study_targets(name: str) -> tuple[str, ...]:
    """The targets a study's bundled table has (the seed targets when none is bundled)."""
    record = studies.bundled(name)
    return tuple(record["targets"]) if record and record.get("targets") else BUNDLED_TARGETS


def main() -> None:
    st.title("Ablations")
    name = settings.select("Study", STUDY, format_func=lambda n: STUDIES[n].title)
    targets = study_targets(name)
    target_setting = settings.Setting("abl_target", targets[0], choices=targets)
    settings.initialise(target_setting)
    if st.session_state.get("abl_target") not in targets:  # another study's target: this study's first
        st.session_state.abl_target = targets[0]
    target = settings.segmented("Target", target_setting) or targets[0]  # a row of its own: every target shows
    study = STUDIES[name]
    st.markdown(f"**{literal(study.question)}**")
    if name == "methods":  # what each row held equal and how its settings were chosen, as on Compare
        st.caption(studies.methods_caption(get_target(target)))
    if study.paper_source:
        st.caption(
            f"Beside each row: {literal(study.paper_source)} ({literal(study.paper_metric)}). "
            "Ours: one-step histogram TV on the 2D target"
            + (" (on the digits: FD in the classifier's features)" if "digits" in targets else "")
            + " (lower is better) and the other metrics, mean ± standard deviation over seeds, at the same "
            "network, batch and budget for every row."
        )
    studies.study_view(study, target, key="abl")
    st.subheader("Run it yourself")
    studies.run_live_controls(study, [get_target(target)], key="abl")
    studies.progress(study, key="abl")


main()
