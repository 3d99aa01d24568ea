"""Guidance: samples of one class as the guidance scale grows, MeanFlow at 1 NFE against flow matching."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from meanflow.core.metrics import ClassEvaluator
from meanflow.core.sampling import Flow, sample
from meanflow.core.targets import get_target
from meanflow.core.text import literal, steps_label
from meanflow.lab.guidance import PER_CLASS, SCALES, per_class_key
from meanflow.views import figures
from ui import pickers, points, present, server, settings, studies

LABELLED = ("8gaussians", "moons", "checkerboard", "digits")
TARGET = settings.Setting("guide_target", "8gaussians", choices=LABELLED)
FM_NFE = settings.Setting("guide_nfe", 8, choices=(2, 8, 32))
OMEGAS = (1.0, 1.5, 2.0, 3.0)
IMAGES = 36  # images per panel for an image target


def guidance_runs(target_name: str) -> dict:
    """('meanflow', omega) or ('flow-matching', None) -> a usable conditional run on the target: this
    session's own first, then the bundled ones."""
    found = {}
    for entry in server.open_session().ready():
        if entry.target_name != target_name or not entry.config.classes:
            continue
        if entry.method == "meanflow":
            found.setdefault(("meanflow", entry.config.options.guidance_scale), entry)
        elif entry.method == "flow-matching":
            found.setdefault(("flow-matching", None), entry)
    return found


INTRODUCTION = (
    "MeanFlow folds classifier-free guidance into its training target (the paper's Eq. 19): the network "
    "learns the guided average velocity, so **one** evaluation samples the guided distribution. Flow "
    "matching guides at sampling time, with **two** evaluations per step. Below: samples of one class "
    "as the guidance scale grows, with the share that lands in the class's region and the class's "
    "histogram TV (on the digits: the share the classifier reads as the digit asked for, and the digit's FD "
    "against its held-out images)."
)


def no_runs_yet(target_name: str) -> None:
    st.info(
        "No class-conditional runs on this target yet. Train MeanFlow (with guidance scale omega in its "
        "options) and flow matching on it on the Train page: on a labelled target they condition on its "
        "classes by default. `make guidance` builds the bundled ones."
    )
    st.page_link(
        "app_pages/train.py",
        label="Train on a labelled target",
        icon=":material/fitness_center:",
        query_params={"target": target_name, "methods": "meanflow,flow-matching"},
    )


def guided_samples(runs: dict, label: int, nfe: int, ev: ClassEvaluator) -> tuple[dict, list[dict]]:
    """Samples of class `label` and their scores: MeanFlow at each trained-in omega (1 NFE), flow matching
    at each sampling-time scale w (`nfe` evaluations)."""
    panels, rows = {}, []
    for omega in OMEGAS:
        entry = runs.get(("meanflow", omega))
        if entry is None:
            continue
        x = sample_class(pickers.load(entry).flow, label, 1, 1.0)
        panels[f"MeanFlow, omega = {omega:g}, 1 NFE"] = x
        rows.append(row(f"MeanFlow, omega = {omega:g}", 1, ev.score({label: x}), ev.per_class_metric))
    fm = runs.get(("flow-matching", None))
    if fm is not None:
        flow = pickers.load(fm).flow
        for w in SCALES:
            steps = nfe if w == 1.0 else nfe // 2  # a guided step evaluates the net twice (with and without class)
            x = sample_class(flow, label, steps, w)
            panels[f"FM, w = {w:g}: {nfe} NFE, {steps_label(steps)}"] = x  # short: four panels share a row
            rows.append(row(f"flow matching, w = {w:g}", nfe, ev.score({label: x}), ev.per_class_metric))
    return panels, rows


def bundled_over_seeds(target_name: str) -> None:
    """The bundled table's rows for this target, mean ± std over seeds (`make guidance`)."""
    stored = studies.bundled("guidance")
    rows = [r for r in (stored or {}).get("guidance", []) if r.get("target") == target_name]
    if rows:
        st.subheader("Over seeds and every class (bundled)")
        st.caption(
            f"{literal(stored.get('command') or 'make guidance')}: {stored.get('seeds')} seeds, "
            f"{studies.budget_text(stored.get('budget', {}))} per run; {PER_CLASS} samples of each class, each "
            "class scored against its own data, then the mean over all classes (not only the class picked "
            "above) and its spread over seeds; the floor is the mean of the classes' floors."
        )
        st.dataframe(guidance_table(rows), hide_index=True, width="stretch")


def main() -> None:
    st.title("Guidance in one step")
    st.markdown(INTRODUCTION)
    runs_of = {name: guidance_runs(name) for name in LABELLED}  # a target without any is offered, marked
    target_name = (
        settings.segmented(
            "Target",
            TARGET,  # a row of its own: every chip shows whole on a narrow page, "(no runs yet)" included
            format_func=lambda name: name if runs_of[name] else f"{name} (no runs yet)",
            help="Targets marked 'no runs yet' have no class-conditional runs: train them on the Train page.",
        )
        or LABELLED[0]
    )
    target = get_target(target_name)
    c2, c3 = st.columns(2)
    classes = settings.Setting("guide_class", 0, choices=tuple(range(target.classes)))
    settings.initialise_for(classes, target_name)
    label = settings.select("Class", classes, where=c2, format_func=lambda k: target.class_names[k])
    nfe = settings.select_slider("Flow matching NFE", FM_NFE, where=c3)
    runs = runs_of[target_name]
    if not runs:
        no_runs_yet(target_name)
        return
    ev = pickers.class_evaluator_for(target_name, target, PER_CLASS // 2)
    panels, rows = guided_samples(runs, label, nfe, ev)
    if points.is_image(target):  # "draw a 7 in one step": each panel a grid of the class's images
        for start in range(0, len(panels), 4):
            for column, (title, x) in zip(st.columns(4), list(panels.items())[start : start + 4]):
                points.show_images(x[:IMAGES], target, title, columns=6, where=column)
    else:
        reference = points.target_preview(target, 800)
        present.chart(
            figures.scatter_grid(panels, columns=4, reference=reference, height_per_row=250),
            key="guidance_grid",
            width="stretch",
        )
    three = st.column_config.NumberColumn(format="%.3f")  # 1.000 beside 0.996, not 1
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={c: three for c in ("class accuracy", "class TV", "class FD", "floor")},
    )
    st.caption(
        f"{PER_CLASS // 2} samples of the class picked, per panel, scored against that class's data (its floor: "
        f"{PER_CLASS // 2} exact samples of it). omega is the guidance scale trained into MeanFlow's "
        "target, so a MeanFlow row needs a run per omega; w is flow matching's classifier-free "
        "guidance scale, applied when sampling, so its rows come from one run. Every class and every seed: the "
        "bundled table below, on the targets `make guidance` covers."
    )
    bundled_over_seeds(target_name)


def guidance_table(rows: list[dict]) -> pd.DataFrame:
    """Mean ± std over seeds, one row per model and NFE: class accuracy and the per-class metric (class TV
    in 2D, class FD on the digits) with its floor."""
    out = []
    for r in rows:
        metric = per_class_key(r)
        out.append(
            {
                "model": r["model"],
                "NFE": r["nfe"],
                "class accuracy": f"{r['accuracy']:.3f} ± {r['accuracy_std'] or 0:.3f}",
                PER_CLASS_LABELS[metric]: f"{r[metric]:.3f} ± {r[f'{metric}_std'] or 0:.3f}",
                "floor": round(r[f"{metric}_floor"], 3),
            }
        )
    return pd.DataFrame(out)


def sample_class(flow: Flow, label: int, steps: int, guidance: float) -> np.ndarray:
    return sample(
        flow, PER_CLASS // 2, steps, torch.Generator().manual_seed(11), label=label, guidance=guidance
    ).samples


PER_CLASS_LABELS = {"class_tv": "class TV", "class_fd": "class FD"}


def row(model: str, nfe: int, score: dict, metric: str = "class_tv") -> dict:
    """A table row: class accuracy and the per-class metric (TV in 2D, FD on the digits) with its floor."""
    return {
        "model": model,
        "NFE": nfe,
        "class accuracy": round(score["accuracy"], 3),
        PER_CLASS_LABELS[metric]: round(score[metric], 3),
        "floor": round(score[f"{metric}_floor"], 3),
    }


main()
