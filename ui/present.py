"""The presenter view (`present=1` in the URL): no sidebar, no toolbars or downloads, larger text,
thicker points and lines, for a projector. Every page honours it through app.py and `chart`.

The flag is kept for the session once seen (a link inside a page does not carry it) until a URL says
`present=0`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

if TYPE_CHECKING:  # not imported here: app.py imports this module before Home paints, without Plotly
    import plotly.graph_objects as go

PARAM = "present"
SCALE = 1.7  # markers and lines on a projector
TITLE_SCALE = 1.3  # the small sizes a figure set for its panel titles
FONT = 20  # Plotly's text, px

# Streamlit's own test ids (1.67): the sidebar and its toggle, the top bar, download buttons, and
# Plotly's toolbar; text grows with the root font size (Streamlit's sizes are rem).
STYLE = """<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
header[data-testid="stHeader"], [data-testid="stDownloadButton"], .modebar-container { display: none !important; }
html { font-size: 22px; }
[data-testid="stMain"] h1 { font-size: 1.6rem !important; padding: 0.2rem 0 0.4rem !important; }
.block-container, [data-testid="stMainBlockContainer"] { max-width: 100% !important; padding-top: 1.2rem !important; }
</style>"""


def presenting() -> bool:
    """Whether this session shows the presenter view (the URL's present=1, kept until present=0)."""
    raw = st.query_params.get(PARAM)
    if raw is not None:
        st.session_state.presenting = raw == "1"
    on = bool(st.session_state.get("presenting", False))
    if on:
        st.query_params[PARAM] = "1"  # a page reached by a link keeps the flag in its address
    return on


def apply_style() -> None:
    """The presenter view's CSS, on every page while presenting (called by app.py before the page)."""
    if presenting():
        st.html(STYLE)


def for_projector(fig: go.Figure) -> go.Figure:
    """A copy of `fig` with markers and lines SCALE times larger (frames included) and larger text (FONT,
    and TITLE_SCALE times the sizes a figure set for its annotations and title)."""
    fig = copy.deepcopy(fig)

    def grow(trace) -> None:
        marker, line = getattr(trace, "marker", None), getattr(trace, "line", None)  # a bar's marker has no size
        size, width = getattr(marker, "size", None), getattr(line, "width", None)
        if size is not None:
            marker.size = size * SCALE if np.isscalar(size) else np.asarray(size, dtype=float) * SCALE
        if width is not None:
            line.width = width * SCALE

    for trace in fig.data:
        grow(trace)
    for frame in fig.frames or ():
        for trace in frame.data:
            grow(trace)
    fig.update_layout(font_size=FONT)
    for ann in fig.layout.annotations or ():  # panel titles ("NFE 8") and labels set their own small sizes
        if ann.font.size is not None:  # less than the points: two long panel titles must not run together
            ann.font.size = ann.font.size * TITLE_SCALE
    if fig.layout.title.font.size is not None:
        fig.layout.title.font.size = fig.layout.title.font.size * TITLE_SCALE
    return fig


def controls():
    """Where a page puts its settings: in the presenter view a closed 'Settings' expander (the class sees
    the pictures; the teacher can still open it), else the page itself."""
    return st.expander("Settings", expanded=False) if presenting() else st.container()


def chart(fig: go.Figure, where=st, **kwargs):
    """st.plotly_chart, with the figure enlarged in the presenter view; returns what plotly_chart returns."""
    return where.plotly_chart(for_projector(fig) if presenting() else fig, **kwargs)
