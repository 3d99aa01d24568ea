"""Learn: the method in the app's notation, each idea linked to the page that shows it."""

from dataclasses import dataclass

import streamlit as st

from meanflow.core.registry import METHODS
from meanflow.core.text import literal
from ui import lesson_bar
from ui.lessons import MAX_LESSON_BYTES, LessonError, lesson_name, parse_lesson


def section(title: str, body: str, page: str | None = None, link: str = "") -> None:
    st.subheader(title)
    st.markdown(body)
    if page:
        st.page_link(page, label=link, icon=":material/arrow_forward:")


@dataclass(frozen=True)
class Section:
    """One idea: a title, the text (Markdown with LaTeX), and the page that shows it."""

    title: str
    body: str
    page: str | None = None
    link: str = ""


SECTIONS = (
    Section(
        "1. Flow matching",
        r"""
Draw data $x$, noise $e \sim \mathcal N(0, I)$ and a time $t \in [0, 1]$, and mix them on a straight line:


$$
z_t = (1 - t)\,x + t\,e, \qquad v = \frac{dz_t}{dt} = e - x.
$$


A network $v_\theta(z, t)$ learns the *instantaneous* velocity by regression,
$\min_\theta \mathbb E\,\lVert v_\theta(z_t, t) - (e - x)\rVert^2$. Its optimum is the average of $e - x$ over all
pairs passing through $z_t$, a field that curves. Sampling integrates it backwards from noise with Euler steps
$z_{t - h} = z_t - h\, v_\theta(z_t, t)$: many small steps follow the curve, one big step cuts the corner and
lands near the mean of the data.""",
        "app_pages/fields.py",
        "See the instantaneous field v(z, t)",
    ),
    Section(
        "2. The average velocity",
        r"""
MeanFlow models the *average* velocity over an interval $[r, t]$:


$$
u(z_t, r, t) = \frac{1}{t - r}\int_r^t v(z_s, s)\,ds, \qquad z_r = z_t - (t - r)\,u(z_t, r, t).
$$


With $r = 0$, $t = 1$ one evaluation jumps from noise to data: $x = e - u(e, 0, 1)$.""",
        "app_pages/fields.py",
        "Compare v with u(z, r, t)",
    ),
    Section(
        "3. The MeanFlow identity",
        r"""
The integral is unknown, but differentiating $(t - r)\,u = \int_r^t v\,ds$ in $t$ (with $r$ fixed) gives


$$
u(z_t, r, t) = v(z_t, t) - (t - r)\,\frac{d}{dt}u(z_t, r, t),
$$


a target that needs only $v$ and the derivative of the network itself.""",
    ),
    Section(
        "4. The derivative is a Jacobian-vector product",
        r"""
Along the path, $z_t$ moves with velocity $v$, $r$ stays put and $t$ advances:


$$
\frac{d}{dt}u = \partial_z u \cdot v + \partial_r u \cdot 0 + \partial_t u \cdot 1,
$$


the JVP of $u_\theta$ with the tangent $(v, 0, 1)$ in $(z, r, t)$ — one forward-mode pass. Getting the tangent
wrong (for example $(v, 1, 0)$) trains silently towards the wrong field. This app pushes the tangent through
each layer by hand, exactly, for about one extra forward pass.""",
    ),
    Section(
        "5. Stop-gradient",
        r"""
The target is treated as a constant:


$$
\mathcal L = \mathbb E\, w\,\big\lVert u_\theta(z_t, r, t) - \mathrm{sg}\big(v - (t - r)\,\tfrac{d}{dt}u_\theta\big)\big\rVert^2, \qquad w = \mathrm{sg}\!\left(\frac{1}{(\lVert\Delta\rVert^2 + c)^p}\right).
$$


Without $\mathrm{sg}$ the gradient would flow through the JVP: costlier, and unstable. The adaptive weight
($p = 0.5$ here) keeps a few hard samples from dominating. Because the target moves as the network learns, the
loss is **not** a progress measure: it can rise while samples improve — watch the samples instead.""",
        "app_pages/train.py",
        "Train and watch the samples, not the loss",
    ),
    Section(
        "6. One step versus many",
        r"""
A trained MeanFlow samples in one step, $x = e - u_\theta(e, 0, 1)$, or in $K$ steps on a grid
$1 = t_0 > t_1 > \dots > t_K = 0$ with $z_{t_{i+1}} = z_{t_i} - (t_i - t_{i+1})\,u_\theta(z_{t_i}, t_{i+1}, t_i)$.
Flow matching's one step collapses towards the mean; it needs many Euler steps for sharp samples.

How noise is paired with data matters too. Drawn independently, paths from noise to data cross,
and both fields curve. Pairing each batch by *minibatch optimal transport* (nearby noise to nearby
data) makes paths cross less and the flow straighter, which is what a single jump needs: this app
trains MeanFlow that way by default (flow matching keeps the textbook pairing; both are options).""",
        "app_pages/animate.py",
        "Watch one step against K steps",
    ),
    Section(
        "7. Measuring quality",
        r"""
A global metric (sliced Wasserstein-1) ranks a blurred sampler above a sharp but shrunk one; a local one
(total variation between $0.25$-wide histograms, and the fraction of samples inside the checkerboard's cells)
catches blur. Each comes with its noise floor: the same metric for an exact sample of the same size.""",
        "app_pages/compare.py",
        "Compare step counts with both metrics",
    ),
)


def main() -> None:
    st.title("Learn: from flow matching to MeanFlow")
    st.markdown("Convention throughout the app: $t = 0$ is data, $t = 1$ is noise.")
    lessons()
    for s in SECTIONS:
        section(s.title, s.body, s.page, s.link)
    rivals()


def lessons() -> None:
    """The shipped lessons, each a link that opens its first step, and a teacher's own lesson file."""
    st.subheader("Lessons")
    st.markdown(
        "A lesson walks a class through the app, one page and its settings per step, with a short text "
        "above each: press **Next** to move on. Add `&present=1` to any address for the presenter view "
        "(no sidebar, large text and points)."
    )
    first = "meanflow-in-ten-minutes"  # the lesson to start with, then the others by name
    for name, lesson in sorted(lesson_bar.shipped().items(), key=lambda item: (item[0] != first, item[0])):
        st.page_link(
            "app_pages/learn.py",
            label=f"{lesson.title} ({len(lesson.steps)} steps)",
            query_params={"lesson": name, "step": "1"},
            icon=":material/school:",
        )
    upload = st.file_uploader(
        "Your own lesson (JSON)",
        type=["json"],
        key="lesson_file",
        help=f"Up to {MAX_LESSON_BYTES // 1024} KB: a title and steps, each with a page, its settings and a "
        "text; the shipped lessons in assets/lessons show the format. It lives in this browser session.",
    )
    if upload is not None:
        try:
            lesson = parse_lesson(lesson_name(upload.name), upload.getvalue())
        except LessonError as exc:
            st.error(f"{literal(upload.name)} cannot be used: {literal(str(exc))}")
            return
        st.session_state.setdefault("uploaded_lessons", {})[lesson.name] = lesson
        st.success(f"{literal(lesson.title)}: {len(lesson.steps)} steps.")
        if st.button("Start this lesson", key="lesson_start"):
            lesson_bar.start(lesson)


def rivals() -> None:
    """One short section per method of the registry beyond flow matching and MeanFlow."""
    st.subheader("8. The rivals")
    st.markdown(
        "Every method below learns a map that can jump from noise to data in one evaluation. "
        "Compare trains them on the same data, network and wall-clock budget."
    )
    for name, method in METHODS.items():
        if name in ("flow-matching", "meanflow"):
            continue
        about = method.about
        st.markdown(f"**{about.label}** ([arXiv {about.arxiv}](https://arxiv.org/abs/{about.arxiv})): {about.summary}")
        st.markdown(f"$$\n{about.loss_latex}\n$$")
        st.caption(f"Per training step: {about.cost}.")  # each method's cost says whether it needs a JVP
        st.page_link(
            "app_pages/compare.py",
            label=f"Compare {method.about.label} with MeanFlow",
            query_params={"cmp_mode": "Methods", "zoo_methods": f"meanflow,{name}"},
            icon=":material/arrow_forward:",
        )


main()
