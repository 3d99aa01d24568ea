"""Server-wide resources (one per server process, shared by every session) and this session's runs.

The job engine (local worker processes, or the Ray cluster at $MEANFLOW_RAY_ADDRESS), the run
index and cache, and the bundled runs are made once per server. Each browser session gets a
`meanflow.Session`; its own run ids travel in the URL (`runs=`), so a reload or a bookmark finds
them again (they are unguessable: holding the link is the permission).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from meanflow.core.paths import pretrained_dir, study_runs_dir

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_DIR = pretrained_dir()
SEED_TARGETS = ("checkerboard", "moons", "spiral")
URL_RUNS = 8  # own run ids kept in the URL


def _int_env(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value >= 1 else default


def import_heavy() -> None:
    """Import what the pages after Home need: torch, the samplers, metrics, targets and methods, and
    scipy's assignment (loaded with the first pairing otherwise). No st.*: it runs in a thread."""
    import scipy.optimize  # noqa: F401

    import ui.pickers  # noqa: F401


@st.cache_resource(show_spinner=False)
def warm() -> None:
    """Once per server, after the first page painted: import_heavy in a background thread, so the
    visitor's next page does not wait for it (`make run`'s launcher has started it already)."""
    import threading

    threading.Thread(target=import_heavy, name="warm-imports", daemon=True).start()


def page_points() -> int:
    """Points one page may sample and draw in one request ($MEANFLOW_PAGE_POINTS, default 150,000: the
    server's memory for one Compare page stays in the low hundreds of MB)."""
    return _int_env("MEANFLOW_PAGE_POINTS", 150_000)


@st.cache_resource(show_spinner=False)
def engine():
    """The job engine: at most $MEANFLOW_MAX_JOBS runs train at once (default: one per core), each
    session at most $MEANFLOW_SESSION_RUNNING (2) training and $MEANFLOW_SESSION_QUEUED (2) waiting."""
    from meanflow.engine.jobs import engine_from_env

    return engine_from_env(
        max_running_per_owner=_int_env("MEANFLOW_SESSION_RUNNING", 2),
        max_queued_per_owner=_int_env("MEANFLOW_SESSION_QUEUED", 2),
    )


def runs_dir() -> Path:
    """Where runs are saved: $MEANFLOW_RUNS_DIR, else runs/ in the repository."""
    return Path(os.environ.get("MEANFLOW_RUNS_DIR", ROOT / "runs"))


@st.cache_resource(show_spinner=False)
def run_index(root: str):
    from meanflow.core.library import RunIndex

    return RunIndex(root)


@st.cache_resource(show_spinner=False)
def run_cache():
    """Networks and target data of recently used runs, shared by all sessions ($MEANFLOW_RUN_CACHE, default 12)."""
    from meanflow.core.library import RunCache

    return RunCache(_int_env("MEANFLOW_RUN_CACHE", 12))


def session():
    """This browser session's runs (created on first use, adopting the run ids in its URL)."""
    from meanflow.core.library import Session

    if "session" not in st.session_state:
        sess = Session(
            engine(),
            run_index(str(runs_dir())),
            run_index(str(BUNDLED_DIR)),
            run_cache(),
            study_index=run_index(str(study_runs_dir())),
        )
        for run_id in _url_run_ids():
            sess.open(run_id)
        st.session_state.session = sess
    sess = st.session_state.session
    own = sess.own_ids()[:URL_RUNS]
    if own:
        st.query_params["runs"] = ",".join(own)
    return sess


def _url_run_ids() -> list[str]:
    raw = st.query_params.get("runs", "")
    ids = []
    for part in raw.split(",")[: 4 * URL_RUNS]:
        part = part.strip()
        if part and part not in ids and len(part) <= 128:
            ids.append(part)
    return ids[:URL_RUNS]
