"""Pickers the pages share: the target (preset, upload, text, drawing) and runs; the cached metric references."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from meanflow.core.metrics import ClassEvaluator, Evaluator, Quality
from meanflow.core.runs import RunError, SavedRun
from meanflow.core.sampling import Flow
from meanflow.core.targets import (
    DRAW_LEVELS,
    MAX_FILE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_POINTS,
    MAX_SHAPES,
    MIN_POINTS,
    Target,
    TargetError,
    decode_shapes,
    drawn_target,
    encode_shapes,
    get_target,
    target_from_bytes,
    target_names,
    text_target,
    thin_polygon,
)
from meanflow.core.text import literal
from meanflow.lab.scoring import headline
from meanflow.views import figures

from . import present, server, settings
from .session import RunEntry
from .studies import cell_label

TARGET = settings.Setting("target", "checkerboard", choices=tuple(target_names()))
TARGET_SOURCE = settings.Setting("target_source", "Preset", choices=("Preset", "Upload", "Text", "Draw"))
TARGET_TEXT = settings.Setting("target_text", "Flow")
DRAWING = settings.Setting("drawing", "")  # targets.encode_shapes; checked by decode_shapes
DRAW_LEVEL = settings.Setting("draw_level", 3, lo=1, hi=DRAW_LEVELS, integer=True)


# cache_resource, not cache_data: a Target holds its sampler (a closure) and is never modified.
@st.cache_resource(show_spinner=False, max_entries=32)
def _uploaded_target(name: str, data: bytes) -> Target:
    return target_from_bytes(name, data)


@st.cache_resource(show_spinner=False, max_entries=32)
def _typed_target(text: str) -> Target:
    return text_target(text)


@st.cache_resource(show_spinner=False, max_entries=32)
def _drawn_target(code: str) -> Target:
    return drawn_target(decode_shapes(code))


def target_picker() -> Target | None:
    """Preset, uploaded file or typed text -> a Target; shows what is wrong instead of failing."""
    source = settings.radio(
        "Target",
        TARGET_SOURCE,
        horizontal=True,
        help="A built-in distribution, your own CSV/image, a word turned into points, or shapes you draw.",
    )
    try:
        if source == "Preset":
            name = settings.select(
                "Distribution",
                TARGET,
                help="The checkerboard, moons and spiral follow the seed tutorial's definitions.",
            )
            return get_target(name)
        if source == "Upload":
            return upload_picker()
        if source == "Draw":
            return draw_picker()
        text = settings.text("Text (1–12 characters)", TARGET_TEXT, max_chars=12)
        return _typed_target(text)
    except TargetError as exc:
        st.error(literal(str(exc)))
        kept = st.session_state.get(KEPT_UPLOAD) if source == "Upload" else None
        if kept is not None and kept[0] != st.session_state.get(LAST_UPLOAD):
            st.caption(f"**{literal(kept[0])}**, uploaded earlier, is still kept: remove this file (x) to use it.")
        return None


KEPT_UPLOAD = "_kept_upload"  # (file name, bytes) of this session's last upload: Streamlit forgets the
# uploader's file when its page is left, and the Upload source is kept (ui.settings), so a visit to another
# page and back would show an empty uploader under "Upload" and no target


LAST_UPLOAD = "_last_upload"  # the name of the file the uploader last held, kept or refused


def _forget_a_cleared_upload() -> None:
    """The user removed the uploader's file (x): forget it if it is the kept one; a refused file removed
    leaves the good one before it kept, as a visit to another page does."""
    if st.session_state.get("target_file") is None:
        kept = st.session_state.get(KEPT_UPLOAD)
        if kept is not None and kept[0] == st.session_state.get(LAST_UPLOAD):
            st.session_state.pop(KEPT_UPLOAD, None)


def upload_picker() -> Target | None:
    """A CSV or image file -> a Target; this session's last upload while no other is given."""
    upload = st.file_uploader(
        "CSV of 2D points, or a PNG/JPEG whose dark pixels give the density",
        type=["csv", "png", "jpg", "jpeg"],
        key="target_file",
        on_change=_forget_a_cleared_upload,
        help=f"CSV: first two numeric columns, header optional, {MIN_POINTS} to {MAX_POINTS:,} rows. "
        f"Images: up to {MAX_IMAGE_PIXELS // 10**6} megapixels. Files up to {MAX_FILE_BYTES // 2**20} MB.",
    )
    st.caption(
        f"Limits: {MAX_FILE_BYTES // 2**20} MB; CSV {MIN_POINTS}–{MAX_POINTS:,} points; "
        f"images up to {MAX_IMAGE_PIXELS // 10**6} MP."
    )
    if upload is not None:
        st.session_state[LAST_UPLOAD] = upload.name
        target = _uploaded_target(upload.name, upload.getvalue())  # a file it refuses is not kept
        st.session_state[KEPT_UPLOAD] = (upload.name, upload.getvalue())
    elif KEPT_UPLOAD in st.session_state:
        st.caption(
            f"Using **{literal(st.session_state[KEPT_UPLOAD][0])}**, uploaded earlier in this session; "
            "upload another file to replace it, or pick another source."
        )
        target = _uploaded_target(*st.session_state[KEPT_UPLOAD])
    else:
        st.info("Upload a file to use it as the target.")
        return None
    if target.note:  # what became of a third column: classes, or why it was not read as classes
        st.info(literal(f"{target.name}: {target.note}."))
    return target


def _selection_shapes(selection) -> list[np.ndarray]:
    """The polygons (k, 2) of a Plotly selection: each lasso's path, each box's four corners."""
    shapes = []
    for lasso in selection.get("lasso", []) if selection else []:
        xs, ys = lasso.get("x") or [], lasso.get("y") or []
        if len(xs) >= 3 and len(xs) == len(ys):
            shapes.append(np.stack([np.asarray(xs, float), np.asarray(ys, float)], axis=1))
    for box in selection.get("box", []) if selection else []:
        xs, ys = box.get("x") or [], box.get("y") or []
        if len(xs) == 2 and len(ys) == 2:
            (x0, x1), (y0, y1) = sorted(map(float, xs)), sorted(map(float, ys))
            shapes.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    return [thin_polygon(s) for s in shapes if np.isfinite(s).all()]


def draw_picker() -> Target | None:
    """A canvas: each lasso or box becomes a shape at the chosen density; the URL carries the drawing."""
    code = settings.initialise(DRAWING)
    try:
        shapes = decode_shapes(code) if code else []
    except TargetError as exc:
        st.error(literal(str(exc)))
        shapes = []
    c1, c2, c3 = st.columns([3, 1, 1])
    level = settings.slider(
        "Density of the next shape",
        DRAW_LEVEL,
        where=c1,
        help="Shapes drawn at 5 get five times the points per area of shapes drawn at 1.",
    )
    changed = False
    if c2.button("Undo", disabled=not shapes, width="stretch"):
        shapes, changed = shapes[:-1], True
    if c3.button("Clear", disabled=not shapes, width="stretch"):
        shapes, changed = [], True
    event = present.chart(
        figures.drawing_canvas(shapes, DRAW_LEVELS),
        key="canvas",
        on_select="rerun",
        selection_mode=("lasso", "box"),
        width="stretch",
    )
    new = _selection_shapes(event.selection if event else None)
    seen = repr([s.round(4).tolist() for s in new])
    if new and st.session_state.get("canvas_seen") != seen:  # a selection stays in the chart's state
        st.session_state.canvas_seen = seen
        shapes, changed = (shapes + [(int(level), s) for s in new])[-MAX_SHAPES:], True
    st.session_state[DRAWING.key] = encode_shapes(shapes)  # a damaged link's drawing is dropped here
    settings.publish(DRAWING)
    if changed:
        st.rerun()  # redraw the canvas with the new shapes
    st.caption(
        f"Each lasso or box adds a shape (up to {MAX_SHAPES}); overlaps keep the denser level. "
        "The link carries the drawing, and a run trained on it keeps it."
    )
    if not shapes:
        st.info("Draw a shape on the canvas to make a target.")
        return None
    return _drawn_target(st.session_state[DRAWING.key])


@st.cache_resource(show_spinner=False, max_entries=16)
def _evaluator(_target: Target, key: str, n: int, seed: int) -> Evaluator:
    return Evaluator(_target, n, torch.Generator().manual_seed(seed))


@st.cache_resource(show_spinner=False, max_entries=8)
def _class_evaluator(_target: Target, key: str, n_per_class: int) -> ClassEvaluator:
    return ClassEvaluator(_target, n_per_class, torch.Generator().manual_seed(4321))


def class_evaluator_for(key: str, target: Target, n_per_class: int = 500) -> ClassEvaluator:
    """Class accuracy and class TV for a labelled target, built once (key: the target's name for a
    preset, the run's key for a data target)."""
    return _class_evaluator(target, target.name if target.is_preset else key, n_per_class)


def evaluator_for(entry: RunEntry, target: Target, n: int, seed: int = 1) -> Evaluator:
    """The metrics reference for a run's target and n samples, built once: presets share one across
    runs, a data target gets its own (two uploads may share a file name)."""
    return _evaluator(target, target_key(entry, target), n, seed)


def target_key(entry: RunEntry, target: Target) -> str:
    """What caches a run's target's references under: a preset's name (shared by its runs), else the run's
    key (two uploads may share a file name)."""
    return target.name if target.is_preset else entry.key


@st.cache_resource(show_spinner=False, max_entries=64)
def _headline(_saved: SavedRun, key: str, stamp: tuple, nfe: int) -> Quality:
    return headline(_saved.flow, _saved.target, nfe, _saved.config.seed)


def headline_for(entry: RunEntry, saved: SavedRun, nfe: int) -> Quality:
    """The run's headline quality at `nfe` steps (lab.scoring: n = EVAL_N, the number the methods table
    and Home show for it), computed once per run, file version and step count."""
    return _headline(saved, entry.key, (entry.info.state, entry.info.step), nfe)


def class_controls(target: Target, page: str, where=st) -> tuple[int | None, float]:
    """A class (None: all classes) and a sampling-time guidance scale for class-conditional runs on a
    labelled target, URL-backed as PAGE_class and PAGE_guidance (a widget key is one page's: Streamlit
    does not carry a widget's state to another page's widget of the same key); (None, 1.0) for an
    unlabelled target."""
    if not target.classes:
        return None, 1.0
    c1, c2 = where.columns(2)
    choice = settings.Setting(f"{page}_class", -1, choices=tuple(range(-1, target.classes)))
    settings.initialise_for(choice, target.name)  # not another target's class
    label = settings.select(
        "Class",
        choice,
        where=c1,
        format_func=lambda k: "all classes" if k < 0 else target.class_names[k],
        help="The class a class-conditional run samples (runs without classes ignore it).",
    )
    guidance = settings.slider(
        "Guidance scale (sampling time)",
        settings.Setting(f"{page}_guidance", 1.0, lo=0.0, hi=5.0),
        where=c2,
        step=0.25,
        help="Classifier-free guidance at sampling time: u(no class) + w (u(class) - u(no class)), two "
        "network evaluations per step. 1 is none. MeanFlow runs trained with omega > 1 carry their "
        "guidance already, in one evaluation (see the Guidance page).",
    )
    return (None if label < 0 else int(label)), float(guidance)


def sampling_note(flow: Flow, label: int | None, guidance: float, target: Target) -> str:
    """', mode 3, w = 2' for a conditional flow sampled with a class and guidance; '' otherwise."""
    if not flow.classes:
        return ""
    return (f", {target.class_names[label]}" if label is not None else "") + (
        f", w = {guidance:g}" if guidance != 1.0 else ""
    )


# ---------------------------------------------------------------- runs


def ready_runs() -> list[RunEntry]:
    """The session's runs with a network; with none, the page says how to get one and ends here."""
    runs = server.open_session().ready()
    if not runs:
        st.info(
            "No trained run yet. Train one on the **Train** page (a minute is enough), "
            "or run `make assets` to build the bundled pretrained runs."
        )
        st.page_link("app_pages/train.py", label="Go to Train", icon=":material/fitness_center:")
        st.stop()
    return runs


def default_runs(runs: list[RunEntry]) -> tuple[int, int]:
    """Left: the first MeanFlow run; right: a flow-matching run on the same target, if any.

    The user's own runs come first whatever they are; among the bundled runs, the Guidance page's
    class-conditional ones (first by target name) are skipped for the unconditional pair."""

    def candidate(r, method: str) -> bool:
        return r.method == method and (r.source != "bundled" or not r.config.classes)

    left = next((i for i, r in enumerate(runs) if candidate(r, "meanflow")), 0)
    target = runs[left].target_name
    right = next(
        (i for i, r in enumerate(runs) if candidate(r, "flow-matching") and r.target_name == target),
        min(1, len(runs) - 1),
    )
    return left, right


def run_picker(label: str, runs: list[RunEntry], key: str, default_index: int = 0, where=st) -> RunEntry:
    """A selectbox over runs whose value (the run key) survives reruns and the URL.

    A run key in the URL that this session does not have yet is opened by its id (a shared link, or
    'study:<id>', a bundled ablation cell's run from the Ablations page).
    """
    keys = [r.key for r in runs]
    fallback = keys[min(default_index, len(keys) - 1)]
    if key not in st.session_state:
        wanted = str(st.query_params.get(key, ""))[:200]
        if wanted and wanted not in keys and wanted.startswith(("run:", "study:")):
            kind, _, run_id = wanted.partition(":")
            if kind == "run":
                opened = server.open_session().open(run_id)
            else:  # a bundled ablation cell, from the Ablations page
                opened = server.open_session().open_study(run_id, cell_label(run_id))
            if opened is not None and opened.usable:
                runs.append(opened)
                keys.append(opened.key)
        st.session_state[key] = wanted if wanted in keys else fallback
    elif st.session_state[key] not in keys:
        st.session_state[key] = fallback
    by_key = {r.key: r for r in runs}
    chosen = where.selectbox(label, keys, format_func=lambda k: by_key[k].label, key=key)
    st.query_params[key] = chosen
    return by_key[chosen]


def load(entry: RunEntry) -> SavedRun:
    """The run's network and target, or an error on the page (and the page stops) if it cannot load."""
    try:
        return server.open_session().load(entry)
    except RunError as exc:
        st.error(f"Run {literal(entry.label)} cannot be loaded: {literal(str(exc))}")
        st.stop()
