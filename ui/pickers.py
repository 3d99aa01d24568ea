"""Pickers the pages share: the target (preset, upload, text) and runs; the cached metric references."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from meanflow import TargetError, get_target, target_from_bytes, target_names, text_target
from meanflow.metrics import Evaluator
from meanflow.runs import RunError
from meanflow.targets import MAX_FILE_BYTES, MAX_IMAGE_PIXELS, MAX_POINTS, MIN_POINTS, Target
from meanflow.text import literal

from . import server, settings

TARGET = settings.Setting("target", "checkerboard", choices=tuple(target_names()))
TARGET_SOURCE = settings.Setting("target_source", "Preset", choices=("Preset", "Upload", "Text"))
TARGET_TEXT = settings.Setting("target_text", "Flow")


# cache_resource, not cache_data: a Target holds its sampler (a closure) and is never modified.
@st.cache_resource(show_spinner=False, max_entries=32)
def _uploaded_target(name: str, data: bytes) -> Target:
    return target_from_bytes(name, data)


@st.cache_resource(show_spinner=False, max_entries=32)
def _typed_target(text: str) -> Target:
    return text_target(text)


def target_picker() -> Target | None:
    """Preset, uploaded file or typed text -> a Target; shows what is wrong instead of failing."""
    source = settings.radio(
        "Target",
        TARGET_SOURCE,
        horizontal=True,
        help="A built-in distribution, your own CSV/image, or a word turned into points.",
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
            upload = st.file_uploader(
                "CSV of 2D points, or a PNG/JPEG whose dark pixels give the density",
                type=["csv", "png", "jpg", "jpeg"],
                key="target_file",
                help=f"CSV: first two numeric columns, header optional, {MIN_POINTS} to {MAX_POINTS:,} rows. "
                f"Images: up to {MAX_IMAGE_PIXELS // 10**6} megapixels. Files up to {MAX_FILE_BYTES // 2**20} MB.",
            )
            st.caption(
                f"Limits: {MAX_FILE_BYTES // 2**20} MB; CSV {MIN_POINTS}–{MAX_POINTS:,} points; "
                f"images up to {MAX_IMAGE_PIXELS // 10**6} MP."
            )
            if upload is None:
                st.info("Upload a file to use it as the target.")
                return None
            return _uploaded_target(upload.name, upload.getvalue())
        text = settings.text("Text (1–12 characters)", TARGET_TEXT, max_chars=12)
        return _typed_target(text)
    except TargetError as exc:
        st.error(literal(str(exc)))
        return None


def target_preview(target: Target, n: int = 2000) -> np.ndarray:
    """(n, 2) exact samples for a picture, the same on every rerun."""
    return target.sample(n, torch.Generator().manual_seed(0)).numpy()


@st.cache_resource(show_spinner=False, max_entries=16)
def _evaluator(_target: Target, key: str, n: int, seed: int) -> Evaluator:
    return Evaluator(_target, n, torch.Generator().manual_seed(seed))


def evaluator_for(entry, target: Target, n: int, seed: int = 1) -> Evaluator:
    """The metrics reference for a run's target and n samples, built once: presets share one across
    runs, a data target gets its own (two uploads may share a file name)."""
    key = target.name if target.is_preset else entry.key
    return _evaluator(target, key, n, seed)


# ---------------------------------------------------------------- runs


def ready_runs() -> list:
    """The session's runs with a network; with none, the page says how to get one and ends here."""
    runs = server.session().ready()
    if not runs:
        st.info(
            "No trained run yet. Train one on the **Train** page (a minute is enough), "
            "or run `make assets` to build the bundled pretrained runs."
        )
        st.page_link("app_pages/train.py", label="Go to Train", icon=":material/fitness_center:")
        st.stop()
    return runs


def run_picker(label: str, runs: list, key: str, default_index: int = 0, where=st):
    """A selectbox over runs whose value (the run key) survives reruns and the URL.

    A run key in the URL that this session does not have yet is opened by its id (a shared link).
    """
    keys = [r.key for r in runs]
    fallback = keys[min(default_index, len(keys) - 1)]
    if key not in st.session_state:
        wanted = str(st.query_params.get(key, ""))[:200]
        if wanted and wanted not in keys and wanted.startswith("run:"):
            opened = server.session().open(wanted[4:])
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


def load(entry):
    """The run's network and target, or an error on the page (and the page stops) if it cannot load."""
    try:
        return server.session().load(entry)
    except RunError as exc:
        st.error(f"Run {literal(entry.label)} cannot be loaded: {literal(str(exc))}")
        st.stop()
