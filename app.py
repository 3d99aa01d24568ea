"""The playground's entry point: page config and navigation. Pages live in app_pages/.

Not `pages/`: a folder of that name makes Streamlit start in its older multipage mode, so the
first visits to a fresh server (a shared deep link such as /train?...) would run a page file
directly, without this navigation, and list every file of the folder as a page.
"""

import streamlit as st

from meanflow.core.paths import assets_dir

# The icon is a file of ours: a Material icon here would make every browser fetch it from Google's servers.
st.set_page_config(page_title="MeanFlow playground", page_icon=str(assets_dir() / "icon.png"), layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/fitness_center:"),
    st.Page("app_pages/animate.py", title="Animate", icon=":material/animation:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/bar_chart:"),
    st.Page("app_pages/fields.py", title="Velocity fields", icon=":material/explore:"),
    st.Page("app_pages/ablations.py", title="Ablations", icon=":material/science:"),
    st.Page("app_pages/guidance.py", title="Guidance", icon=":material/tune:"),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/menu_book:"),
]

st.navigation(PAGES).run()
