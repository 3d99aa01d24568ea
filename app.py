"""The playground's entry point: page config and navigation. Pages live in app_pages/.

Not `pages/`: a folder of that name makes Streamlit start in its older multipage mode, so the
first visits to a fresh server (a shared deep link such as /train?...) would run a page file
directly, without this navigation, and list every file of the folder as a page.
"""

import streamlit as st

from meanflow.core.paths import assets_dir
from ui import present, settings
from ui.lesson_bar import lesson_bar

# The icon is a file of ours: a Material icon here would make every browser fetch it from Google's servers.
st.set_page_config(page_title="MeanFlow playground", page_icon=str(assets_dir() / "icon.png"), layout="wide")

PAGES = {  # by the name lessons use (ui.lessons.PAGES)
    "home": st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    "train": st.Page("app_pages/train.py", title="Train", icon=":material/fitness_center:"),
    "animate": st.Page("app_pages/animate.py", title="Animate", icon=":material/animation:"),
    "compare": st.Page("app_pages/compare.py", title="Compare", icon=":material/bar_chart:"),
    "fields": st.Page("app_pages/fields.py", title="Velocity fields", icon=":material/explore:"),
    "ablations": st.Page("app_pages/ablations.py", title="Ablations", icon=":material/science:"),
    "guidance": st.Page("app_pages/guidance.py", title="Guidance", icon=":material/tune:"),
    "learn": st.Page("app_pages/learn.py", title="Learn", icon=":material/menu_book:"),
}

page = st.navigation(list(PAGES.values()), position="hidden" if present.presenting() else "sidebar")
present.apply_style()
lesson_bar(PAGES, page)  # above the page, on every page: a lesson's step, Back and Next
settings.forget_refused()
try:
    page.run()
finally:  # a page that stopped early (st.stop) refused its values all the same
    settings.show_refused()  # a link's or a lesson's value the page refused, said once
