"""The lesson bar above every page: step n of N, Back, Next, the step's text, and a link to the step.

The URL carries the lesson and its step (`lesson=NAME&step=K`, K from 1) on every page. Opening a
step, by Next, Back or a link, opens its page with its settings (the page reads them from the URL as
it reads a shared link); moving to another page by hand keeps the bar and leaves the step where it is.
A teacher's own lesson file is uploaded on the Learn page and lives in this browser session.
"""

from __future__ import annotations

import streamlit as st

from meanflow.core.text import literal, safe_markdown

from . import present
from .lessons import Lesson, bundled_lessons

LESSON, STEP = "lesson", "step"


@st.cache_resource(show_spinner=False)
def shipped() -> dict[str, Lesson]:
    """The lessons in assets/lessons, read once per server."""
    return bundled_lessons()


def find(name: str) -> Lesson | None:
    """This session's uploaded lesson of that name, else the shipped one, else None."""
    return st.session_state.get("uploaded_lessons", {}).get(name) or shipped().get(name)


def start(lesson: Lesson) -> None:
    """Open the lesson at its first step (a rerun)."""
    st.session_state.lesson = lesson.name
    st.query_params[LESSON] = lesson.name
    st.query_params[STEP] = "1"
    st.session_state.pop("lesson_at", None)
    st.rerun()


def _step_number(lesson: Lesson) -> int:
    try:
        k = int(str(st.query_params.get(STEP, "1"))[:6])
    except ValueError:
        k = 1
    return min(max(k, 1), len(lesson.steps))


def _step_params(lesson: Lesson, k: int) -> dict[str, str]:
    params = {LESSON: lesson.name, STEP: str(k)}
    if present.presenting():
        params[present.PARAM] = "1"
    return {**params, **dict(lesson.steps[k - 1].settings)}


def _open_step(lesson: Lesson, k: int, pages: dict, current) -> None:
    """The step's settings into the URL (widgets of this session re-read them) and its page opened."""
    step = lesson.steps[k - 1]
    params = _step_params(lesson, k)
    for key, _ in step.settings:
        st.session_state.pop(key, None)  # the widget reads the URL again (ui.settings.initialise)
    target = pages[step.page]
    if target.title != current.title:
        st.switch_page(target, query_params=params)
    for key, value in params.items():
        st.query_params[key] = value


def lesson_bar(pages: dict, current) -> None:
    """The bar, when the URL or this session has a lesson; `pages`: lessons.PAGES name -> st.Page."""
    name = str(st.query_params.get(LESSON, "") or st.session_state.get("lesson", ""))[:80]
    if not name:
        return
    lesson = find(name)
    if lesson is None:
        st.warning(f"There is no lesson named {literal(name)}. Lessons: {literal(', '.join(shipped()))}.")
        st.session_state.pop("lesson", None)
        st.query_params.pop(LESSON, None)
        return
    k = _step_number(lesson)
    st.session_state.lesson = lesson.name
    st.query_params[LESSON] = lesson.name
    st.query_params[STEP] = str(k)
    if st.session_state.get("lesson_at") != (lesson.name, k):
        st.session_state.lesson_at = (lesson.name, k)
        _open_step(lesson, k, pages, current)
    step = lesson.steps[k - 1]
    with st.container(border=True, key="lesson_bar"):
        # one row that wraps: at 800 px four columns cut the buttons to "B." and "N."; here they keep their
        # words and go under the title when the row is too narrow
        row = st.container(horizontal=True, vertical_alignment="center", wrap=True)
        row.markdown(
            f"**{literal(lesson.title)}** · step {k} of {len(lesson.steps)}: **{literal(step.title)}**", width="stretch"
        )
        if row.button("Back", key="lesson_back", disabled=k <= 1):
            _go(k - 1)
        if row.button("Next", key="lesson_next", disabled=k >= len(lesson.steps), type="primary"):
            _go(k + 1)
        if row.button("End", key="lesson_end", help="Close the lesson bar"):
            st.session_state.pop("lesson", None)
            st.session_state.pop("lesson_at", None)
            st.query_params.pop(LESSON, None)
            st.query_params.pop(STEP, None)
            st.rerun()
        st.markdown(safe_markdown(step.text))
        if not present.presenting():
            st.page_link(
                pages[step.page],
                label="Link to this step",
                icon=":material/link:",
                query_params=_step_params(lesson, k),
                help="Open this link (or copy it) to start the lesson here.",
            )


def _go(k: int) -> None:
    st.query_params[STEP] = str(k)
    st.rerun()
