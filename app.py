"""The playground's entry point: page config and navigation. Pages live in pages/."""

import streamlit as st

st.set_page_config(page_title="MeanFlow playground", page_icon=":material/cyclone:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/fitness_center:"),
    st.Page("pages/animate.py", title="Animate", icon=":material/animation:"),
    st.Page("pages/compare.py", title="Compare step counts", icon=":material/bar_chart:"),
    st.Page("pages/fields.py", title="Velocity fields", icon=":material/explore:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/menu_book:"),
]

st.navigation(PAGES).run()
