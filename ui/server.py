"""Server-wide resources (one per server process, shared by every session) and this session's runs.

The job engine (local worker processes, or the Ray cluster at $MEANFLOW_RAY_ADDRESS), the run
index and cache, and the bundled runs are made once per server. Each browser session gets a
`ui.session.Session`; its own run ids travel in the URL (`runs=`), so a reload or a bookmark finds
them again. Holding a link lets a person watch a run; controlling it (stop, resume, share) needs the
owner key of the browser that launched it, kept in a cookie (`meanflow_owner`, set by a script on the
first visit), never in the URL: a reload or a restarted tab keeps it, a shared link does not carry it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from meanflow.core.paths import pretrained_dir, study_runs_dir
from meanflow.core.text import literal
from meanflow.engine import env

if TYPE_CHECKING:  # the real imports load torch: they wait until a page needs them (see below)
    from meanflow.core.library import RunCache, RunIndex
    from meanflow.engine.jobs import Engine

    from .session import Session

BUNDLED_DIR = pretrained_dir()
URL_RUNS = 8  # own run ids kept in the URL


def import_heavy() -> None:
    """Import what the pages after Home need: torch, the samplers, metrics, targets and methods, the
    engine, Plotly's figures, and scipy's assignment (loaded with the first pairing otherwise).
    No st.*: it runs in a thread."""
    import scipy.optimize  # noqa: F401

    # deferred: torch and Plotly, after Home's first paint (the point of this function)
    import meanflow.core.metrics
    import meanflow.core.sampling
    import meanflow.lab.sweeps
    import meanflow.views.figures  # noqa: F401
    import ui.session  # noqa: F401


@st.cache_resource(show_spinner=False)
def warm() -> None:
    """Once per server, after the first page painted: import_heavy in a background thread, so the
    visitor's next page does not wait for it (`make run`'s launcher has started it already)."""
    threading.Thread(target=import_heavy, name="warm-imports", daemon=True).start()


def page_points() -> int:
    """Points one page may sample and draw in one request ($MEANFLOW_PAGE_POINTS)."""
    return env.page_points()


@st.cache_resource(show_spinner=False)
def engine() -> Engine:
    """The job engine: at most $MEANFLOW_MAX_JOBS runs train at once (default: one per core), each
    session at most $MEANFLOW_SESSION_RUNNING training and $MEANFLOW_SESSION_QUEUED waiting."""
    from meanflow.engine.jobs import engine_from_env  # deferred: torch, after Home's first paint

    return engine_from_env(
        max_running_per_owner=env.session_running(),
        max_queued_per_owner=env.session_queued(),
    )


def runs_dir() -> Path:
    """Where runs are saved ($MEANFLOW_RUNS_DIR, or runs/ in the working folder)."""
    return env.runs_dir()


@st.cache_resource(show_spinner=False)
def run_index(root: str) -> RunIndex:
    from meanflow.core.library import RunIndex  # deferred: torch, after Home's first paint

    return RunIndex(root)


@st.cache_resource(show_spinner=False)
def run_cache() -> RunCache:
    """Networks and target data of recently used runs, shared by all sessions ($MEANFLOW_RUN_CACHE)."""
    from meanflow.core.library import RunCache  # deferred: torch, after Home's first paint

    return RunCache(env.run_cache_size())


def open_session() -> Session:
    """This browser session's runs: made on first use (opening the run ids in the URL), and its own
    run ids written back to the URL (`runs=`), so that a reload or a bookmark finds them again."""
    if "session" not in st.session_state:
        from .session import Session  # deferred: torch, after Home's first paint

        try:
            sess = Session(
                engine(),
                run_index(str(runs_dir())),
                run_index(str(BUNDLED_DIR)),
                run_cache(),
                study_index=run_index(str(study_runs_dir())),
                owner=owner_id(),
            )
        except (env.EnvError, ConnectionError) as exc:  # a malformed MEANFLOW_* setting, an unreachable cluster
            st.error(f"The server cannot train or list runs: {literal(str(exc))}")
            st.stop()
        sess.reclaim()  # this browser's own runs, found by its owner key (not only those in the URL)
        for run_id in _url_run_ids():
            sess.open(run_id)
        st.session_state.session = sess
    sess = st.session_state.session
    keep_owner_cookie()
    named = list(dict.fromkeys([*sess.own_ids(), *(e.id for e in sess.opened())]))[:URL_RUNS]
    if named:  # its own runs, then those it opened: a copied address shows the same runs
        st.query_params["runs"] = ",".join(named)
    return sess


OWNER_COOKIE = "meanflow_owner"
_OWNER_KEY = re.compile(r"^[0-9a-f]{32}$")


def _sent_owner_key() -> str:
    """The owner key the browser sent in its cookie, or "" (none, malformed, or no browser: tests)."""
    cookie = st.context.cookies.get(OWNER_COOKIE)
    return cookie if isinstance(cookie, str) and _OWNER_KEY.match(cookie) else ""


def owner_id() -> str:
    """This browser's owner id: the hash of its owner key (the cookie's, or a new one the page stores in
    the cookie), so config.json and the engine never hold the key itself."""
    key = st.session_state.get("owner_key")
    if key is None:
        key = _sent_owner_key() or secrets.token_hex(16)
        st.session_state.owner_key = key
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def keep_owner_cookie() -> None:
    """Store this session's owner key in the browser (a cookie for this site, a year) when the browser
    did not send it: a zero-height script, once per session."""
    key = st.session_state.get("owner_key")
    if key is None or _sent_owner_key() == key or st.session_state.get("owner_cookie_sent"):
        return
    st.iframe(  # same-origin, so its script reaches the page's cookies; 1 pixel (st.iframe takes no 0)
        f"<script>window.parent.document.cookie = '{OWNER_COOKIE}={key}; path=/; max-age=31536000; "
        "SameSite=Strict';</script>",
        height=1,
    )
    st.session_state.owner_cookie_sent = True


def _url_run_ids() -> list[str]:
    raw = st.query_params.get("runs", "")
    ids = []
    for part in raw.split(",")[: 4 * URL_RUNS]:
        part = part.strip()
        if part and part not in ids and len(part) <= 128:
            ids.append(part)
    return ids[:URL_RUNS]
