"""What every page shares: the session's workspace, the target and run pickers, URL settings.

Not a page itself (app.py lists the pages). Pages stay thin: widgets here, work in `meanflow`.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from meanflow import TargetError, get_target, target_from_bytes, target_names, text_target
from meanflow.metrics import Evaluator
from meanflow.runs import list_runs
from meanflow.scheduler import JobScheduler
from meanflow.targets import MAX_FILE_BYTES, MAX_IMAGE_PIXELS, MAX_POINTS, MIN_POINTS, Target
from meanflow.workspace import RunEntry, Workspace

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_DIR = ROOT / "assets" / "pretrained"
SEED_TARGETS = ("checkerboard", "moons", "spiral")


@st.cache_resource(show_spinner=False)
def bundled_runs():
    """The pretrained runs shipped in assets/, read once per server (never modified)."""
    runs, _ = list_runs(BUNDLED_DIR)
    return sorted(runs, key=lambda r: (r.config.target, r.config.method))


@st.cache_resource(show_spinner=False)
def job_scheduler() -> JobScheduler:
    """One per server: at most $MEANFLOW_MAX_JOBS (default 2, one per core) runs train at once."""
    return JobScheduler(max(1, int(os.environ.get("MEANFLOW_MAX_JOBS", "2"))))


def runs_dir() -> Path:
    """Where finished runs are saved: $MEANFLOW_RUNS_DIR, else runs/ in the repository."""
    return Path(os.environ.get("MEANFLOW_RUNS_DIR", ROOT / "runs"))


def workspace() -> Workspace:
    """This browser session's workspace (created on first use)."""
    if "workspace" not in st.session_state:
        st.session_state.workspace = Workspace(runs_dir(), bundled=bundled_runs(), scheduler=job_scheduler())
    return st.session_state.workspace


# ---------------------------------------------------------------- settings in the URL


def from_url(key: str, default, cast=str, valid=None):
    """Seed widget `key` from the query string once per session, else from `default`.

    A value that does not parse, or fails `valid` (a shared link edited by hand), falls back to
    the default: widgets raise on out-of-range values, and a page must never fail on its URL.
    """
    if key not in st.session_state:
        raw = st.query_params.get(key)
        try:
            value = cast(raw) if raw is not None else default
            ok = valid is None or valid(value)
        except (TypeError, ValueError, OverflowError):
            ok = False
        st.session_state[key] = value if ok else default
    return st.session_state[key]


def within(lo: float, hi: float):
    """A `valid` check for from_url: a finite number in [lo, hi]."""
    return lambda v: math.isfinite(v) and lo <= v <= hi


def one_of(options):
    """A `valid` check for from_url: one of `options`."""
    return lambda v: v in options


def steps_label(k: int) -> str:
    """'1 step', '8 steps'."""
    return f"{k} step{'s' * (k != 1)}"


def to_url(*keys: str) -> None:
    """Write the current values of widgets `keys` to the query string, so the page can be shared."""
    for key in keys:
        value = st.session_state.get(key)
        if value is not None:
            st.query_params[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


# ---------------------------------------------------------------- targets


# cache_resource, not cache_data: a Target holds its sampler (a closure) and is never modified.
@st.cache_resource(show_spinner=False, max_entries=32)
def _uploaded_target(name: str, data: bytes) -> Target:
    return target_from_bytes(name, data)


@st.cache_resource(show_spinner=False, max_entries=32)
def _typed_target(text: str) -> Target:
    return text_target(text)


def target_picker(key: str = "target") -> Target | None:
    """Preset, uploaded file or typed text -> a Target; shows what is wrong instead of failing."""
    source = st.radio("Target", ["Preset", "Upload", "Text"], horizontal=True, key=f"{key}_source",
                      help="A built-in distribution, your own CSV/image, or a word turned into points.")
    try:
        if source == "Preset":
            from_url(key, "checkerboard", valid=one_of(target_names()))
            name = st.selectbox("Distribution", target_names(), key=key,
                                help="The checkerboard, moons and spiral follow the seed tutorial's definitions.")
            return get_target(name)
        if source == "Upload":
            upload = st.file_uploader(
                "CSV of 2D points, or a PNG/JPEG whose dark pixels give the density", type=["csv", "png", "jpg", "jpeg"],
                key=f"{key}_file",
                help=f"CSV: first two numeric columns, header optional, {MIN_POINTS} to {MAX_POINTS:,} rows. "
                     f"Images: up to {MAX_IMAGE_PIXELS // 10**6} megapixels. Files up to {MAX_FILE_BYTES // 2**20} MB.")
            st.caption(f"Limits: {MAX_FILE_BYTES // 2**20} MB; CSV {MIN_POINTS}–{MAX_POINTS:,} points; "
                       f"images up to {MAX_IMAGE_PIXELS // 10**6} MP.")
            if upload is None:
                st.info("Upload a file to use it as the target.")
                return None
            return _uploaded_target(upload.name, upload.getvalue())
        text = st.text_input("Text (1–12 characters)", value="Flow", max_chars=12, key=f"{key}_text")
        return _typed_target(text)
    except TargetError as exc:
        st.error(str(exc))
        return None


@st.cache_resource(show_spinner=False, max_entries=16)
def _evaluator(_target: Target, key: str, n: int, seed: int) -> Evaluator:
    return Evaluator(_target, n, torch.Generator().manual_seed(seed))


def evaluator_for(entry: RunEntry, n: int, seed: int = 1) -> Evaluator:
    """The metrics reference for `entry`'s target and n samples, built once: presets share one
    across runs, a data target gets its own (two uploads may share a file name)."""
    key = entry.target.name if entry.target.points is None else entry.key
    return _evaluator(entry.target, key, n, seed)


def target_preview(target: Target, n: int = 2000) -> np.ndarray:
    """(n, 2) exact samples for a picture, the same on every rerun."""
    return target.sample(n, torch.Generator().manual_seed(0)).numpy()


# ---------------------------------------------------------------- runs


def run_picker(label: str, runs: list[RunEntry], key: str, default_index: int = 0) -> RunEntry:
    """A selectbox over runs whose value (the run key) survives reruns and the URL."""
    keys = [r.key for r in runs]
    current = from_url(key, keys[min(default_index, len(keys) - 1)])
    if current not in keys:
        st.session_state[key] = keys[min(default_index, len(keys) - 1)]
    by_key = {r.key: r for r in runs}
    chosen = st.selectbox(label, keys, format_func=lambda k: by_key[k].label, key=key)
    return by_key[chosen]


def ready_runs() -> list[RunEntry]:
    """The runs with a trained network; with none, the page says how to get one and ends here."""
    runs = workspace().ready()
    if not runs:
        st.info("No trained run yet. Train one on the **Train** page (a minute is enough), "
                "or run `make assets` to build the bundled pretrained runs.")
        st.page_link("app_pages/train.py", label="Go to Train", icon=":material/fitness_center:")
        st.stop()
    return runs


def run_zip(folder: Path) -> bytes:
    """A run folder as a zip archive, for download."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            if f.is_file() and not f.name.startswith("."):
                zf.write(f, arcname=f"{folder.name}/{f.name}")
    return buf.getvalue()


def run_downloads(entry: RunEntry, folder: Path | None) -> None:
    """Config (JSON) and, once saved, the whole run folder (zip)."""
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button("Config (JSON)", json.dumps(asdict(entry.config), indent=2), file_name="config.json",
                       mime="application/json", key=f"config_{entry.key}", on_click="ignore")
    if folder is not None and (folder / "config.json").is_file():
        c2.download_button("Run folder (zip)", lambda: run_zip(folder), file_name=f"{folder.name}.zip",
                           mime="application/zip", key=f"zip_{entry.key}", on_click="ignore")


def samples_csv(points: np.ndarray) -> bytes:
    out = io.StringIO()
    np.savetxt(out, points, delimiter=",", header="x,y", comments="", fmt="%.6g")
    return out.getvalue().encode()


def figure_download(fig, name: str, key: str) -> None:
    """A button that downloads `fig` as a self-contained HTML file (works offline).

    The HTML (several MB with plotly.js inside) is built only when clicked, not on every rerun.
    """
    st.download_button("Figure (HTML)", lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                       file_name=f"{name}.html", mime="text/html", key=key, on_click="ignore")
