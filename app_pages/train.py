"""Train: pick a target and methods, launch runs on the job engine, watch them live."""

import time
from dataclasses import fields

import streamlit as st

from meanflow import LimitError, TrainConfig
from meanflow.core.config import compute_budget, empty_history
from meanflow.core.couplings import COUPLINGS
from meanflow.core.couplings import LABELS as COUPLING_NAMES
from meanflow.core.methods import METHODS
from meanflow.core.runs import RunError, read_history
from meanflow.core.text import literal
from meanflow.views import figures
from ui import downloads, pickers, server, settings
from ui.settings import Setting

DEFAULTS = TrainConfig()
POLL_SECONDS = 1.0  # each poll updates every live run's progress line: snapshots reach the page each second
CHART_SECONDS = 5.0  # a training run's loss curve is redrawn this often
SHOWN_ENDED_RUNS = 6  # ended runs with a full panel; older ones get a line each
LIBRARY_PAGE = 20

BATCHES, WIDTHS = (64, 128, 256, 512, 1024, 2048), (16, 32, 64, 128, 256, 512)
COUPLING_LABELS = {"default": "each method's default", **COUPLING_NAMES}
METHOD_CHOICES = Setting("methods", ["meanflow", "flow-matching"], choices=tuple(METHODS), multi=True)
SECONDS = Setting("seconds", 60, lo=5, hi=600, integer=True)
STEPS = Setting("steps", 100_000, lo=1, hi=1_000_000, integer=True)
BATCH = Setting("batch", DEFAULTS.batch, choices=BATCHES)
HIDDEN = Setting("hidden", DEFAULTS.hidden, choices=WIDTHS)
DEPTH = Setting("depth", DEFAULTS.depth, lo=1, hi=8, integer=True)
LR = Setting("lr", DEFAULTS.lr, lo=1e-5, hi=1e4)
SEED = Setting("seed", DEFAULTS.seed, lo=0, hi=2**31 - 1, integer=True)
COUPLING = Setting("coupling", "default", choices=("default", *COUPLINGS))
CONDITIONAL = Setting("conditional", True, choices=(True, False))
CLASS_DROPOUT = Setting("class_dropout", DEFAULTS.class_dropout, lo=0.0, hi=0.5)


def option_settings(method) -> list:
    """(field, Setting) for each option of `method` that ordinary training offers; URL key 'method.field'."""
    out = []
    for f in fields(method.options):
        meta = f.metadata
        if meta.get("ablation_only"):
            continue
        aliases = (f.name,) if method.name == "meanflow" else ()  # links made before the method zoo
        out.append(
            (
                f,
                Setting(
                    f"{method.name}.{f.name}",
                    f.default,
                    lo=meta.get("lo"),
                    hi=meta.get("hi"),
                    choices=meta.get("choices"),
                    integer=bool(meta.get("integer")),
                    aliases=aliases,
                ),
            )
        )
    return out


def option_widgets(method, target) -> dict:
    """One widget per option of `method`, with its help text; returns {field: value}.

    An option naming another run (reflow's teacher) is a picker over this session's trained runs on
    the same target; the URL keeps the run's key, the config its folder.
    """
    values = {}
    pairs = option_settings(method)
    if not pairs:
        st.caption(f"{method.label} has no options of its own.")
        return values
    columns = st.columns(2)
    for i, (f, setting) in enumerate(pairs):
        where = columns[i % 2]
        label = f.name.replace("_", " ")
        if f.metadata.get("run"):
            values[f.name] = run_option(label, f, setting, target)
        elif setting.choices is not None:
            values[f.name] = settings.select(label, setting, where=where, help=f.metadata["help"])
        else:
            values[f.name] = settings.number(
                label, setting, where=where, help=f.metadata["help"], format="%d" if setting.integer else "%.4g"
            )
    return values


def run_option(label: str, f, setting: Setting, target) -> str:
    """A picker over the session's trained runs on `target` (flow matching first); returns the chosen folder."""
    runs = [e for e in server.session().ready() if target is not None and e.target_name == target.name]
    runs.sort(key=lambda e: e.method != "flow-matching")
    if not runs:
        st.warning(
            f"{label}: no trained run on this target yet. Train flow matching on it first "
            "(or pick a target with a bundled run)."
        )
        return ""
    by_key = {e.key: e for e in runs}
    chosen = settings.select(
        label,
        Setting(setting.key, runs[0].key, choices=tuple(by_key)),
        format_func=lambda k: by_key[k].label,
        help=f.metadata["help"],
    )
    return str(by_key[chosen].info.path)


def settings_form(target) -> list[TrainConfig] | None:
    """The launch settings; returns one config per chosen method when Train is pressed."""
    methods = settings.multiselect(
        "Methods",
        METHOD_CHOICES,
        format_func=lambda m: METHODS[m].label,
        help="Train several on the same data, network and budget to compare them.",
    )
    seconds = settings.slider(
        "Time budget (seconds)",
        SECONDS,
        step=5,
        help="Each run stops after this wall time and is saved; the learning rate decays over it.",
    )
    with st.expander("Hyperparameters"):
        c1, c2 = st.columns(2)
        steps = settings.number(
            "Max steps",
            STEPS,
            where=c1,
            help="The run ends at this many steps or at the time budget, whichever comes first.",
        )
        batch = settings.select_slider(
            "Batch", BATCH, where=c2, help="Small batches give more steps per second on a CPU."
        )
        hidden = settings.select_slider("Width", HIDDEN, where=c1, help="Units per hidden layer.")
        depth = settings.slider(
            "Depth (hidden layers)", DEPTH, where=c2, help="Depth 4 and width 64 is the seed tutorial's network."
        )
        lr = settings.number(
            "Learning rate",
            LR,
            where=c1,
            format="%.4g",
            help="Adam's peak rate; cosine decay to a tenth over the budget. Rates far too high "
            "(try 1e4) diverge: the run ends as failed and keeps its last good weights.",
        )
        seed = settings.number(
            "Seed",
            SEED,
            where=c2,
            help="Same seed and settings give the same run when it ends on its step count; "
            "a time budget ends at a step that depends on the machine's speed.",
        )
        coupling = settings.select(
            "Noise–data pairing",
            COUPLING,
            format_func=COUPLING_LABELS.get,
            help="Minibatch OT pairs each batch's noise with nearby data: paths cross less, "
            "flows straighten, and one step gets much sharper, at a cost per step. "
            "Defaults: " + ", ".join(f"{m.label}: {m.default_coupling}" for m in METHODS.values()) + ".",
        )
    conditional, dropout = False, DEFAULTS.class_dropout
    if target is not None and target.classes:
        c1, c2 = st.columns(2)
        conditional = settings.toggle(
            "Condition on classes",
            CONDITIONAL,
            where=c1,
            help=f"This target has {target.classes} classes. A class-conditional model samples any one of them "
            "(Animate, Compare, Guidance); methods that do not define it train without classes.",
        )
        if conditional:
            dropout = settings.slider(
                "Class dropout",
                CLASS_DROPOUT,
                where=c2,
                step=0.05,
                help="The share of rows trained with 'no class': the unconditional branch that classifier-free "
                "guidance needs (the MeanFlow paper: 10%).",
            )
    options = {}
    for name in methods:
        with st.expander(f"{METHODS[name].label} options"):
            st.caption(literal(METHODS[name].summary))
            options[name] = option_widgets(METHODS[name], target)
    try:
        configs = [
            TrainConfig(
                method=m,
                options=options[m],
                steps=int(steps),
                max_seconds=float(seconds),
                batch=int(batch),
                hidden=int(hidden),
                depth=int(depth),
                lr=float(lr),
                seed=int(seed),
                coupling=None if coupling == "default" else coupling,
                classes=target.classes if conditional and METHODS[m].conditional else 0,
                class_dropout=float(dropout),
            )
            for m in methods
        ]
    except (ValueError, TypeError) as exc:
        st.error(literal(str(exc)))
        configs = []
    budget = compute_budget()
    over = [c for c in configs if c.cost() > budget]
    if configs:
        worst = max(configs, key=lambda c: c.cost())
        st.caption(
            f"Compute per run: {worst.parameters:,} parameters × batch {worst.batch} × {worst.max_seconds:g} s "
            f"= {worst.cost():.2g} of the {budget:.2g} allowed per run (parameters × batch × seconds)."
        )
    if over:
        fits = budget / (over[0].parameters * over[0].batch)
        st.warning(
            f"Over the per-run compute budget: at this network and batch at most {fits:.0f} s. "
            "Lower the time, the width, the depth or the batch."
        )
    if not st.button("Train", type="primary", disabled=target is None or not configs or bool(over), key="launch"):
        return None
    return configs


def run_panel(sess, entry, full: bool) -> None:
    """State, Stop/Resume/Share, and (full) the preview, loss curve and downloads of one run."""
    snap = entry.snapshot
    state = entry.state
    if snap is not None and snap.state == "queued":
        state = f"queued (position {snap.position} in the server's line)" if snap.position else "queued"
    message = snap.message if snap is not None and not entry.info.finished else entry.info.message
    # A run that used its whole time budget ended as asked: 'done' here (its file keeps 'stopped'), with
    # "Train further" rather than "Resume".
    budget_spent = entry.info.spent_its_time_budget
    if budget_spent:
        state = "done"
    head, action = st.columns([5, 1])
    head.markdown(f"**{literal(entry.label)}** — {state}" + (f": {literal(message)}" if message else ""))
    if entry.running:
        action.button("Stop", key=f"stop_{entry.key}", on_click=sess.stop, args=(entry.key,))
    elif entry.info.resumable and entry.info.state in ("interrupted", "stopped"):
        action.button(
            "Train further" if budget_spent else "Resume",
            key=f"resume_{entry.key}",
            on_click=_resume,
            args=(sess, entry.key),
            help="Continue from its last checkpoint (another 60 s, or what its budget has left).",
        )
    if not full:
        return
    if entry.running and snap is not None and snap.state == "running":
        eta = f"ETA {snap.eta_seconds:.0f} s" if snap.eta_seconds is not None else "ETA —"
        st.progress(
            snap.progress,
            text=f"step {snap.step:,} · {snap.steps_per_sec:.0f} steps/s · {snap.elapsed:.1f} s trained · {eta}",
        )
    if snap is not None and snap.started_after is not None:
        st.caption(f"first training step {snap.started_after:.2f} s after launch")
    if entry.info.state == "failed" and not entry.running:
        st.error(literal(entry.info.message))
    left, right = st.columns(2)
    preview = snap.preview if snap is not None else None
    if preview is not None:
        fig = _kept(
            f"preview_{entry.key}",
            snap.preview_step,
            lambda: figures.scatter_figure(preview, f"one-step samples at step {snap.preview_step:,}", height=300),
        )
        left.plotly_chart(fig, key=f"preview_{entry.key}", width="stretch")
    history = snap.history if snap is not None and len(snap.history) else _saved_history(entry)
    # While a run trains, the curve is redrawn every CHART_SECONDS, not at each poll: redrawing a
    # Plotly chart every second cost the browser a third of a core (benchmarks/RESULTS.md).
    version = int(time.monotonic() // CHART_SECONDS) if entry.running else (entry.state, len(history))
    fig = _kept(f"loss_{entry.key}", version, lambda: figures.loss_curves({entry.label: history}, height=300))
    right.plotly_chart(fig, key=f"loss_{entry.key}", width="stretch")
    if not entry.running and entry.usable:
        downloads.run_downloads(entry)
        shared = entry.info.shared
        st.toggle(
            "Listed in the shared library",
            value=shared,
            key=f"share_{entry.key}",
            on_change=lambda: sess.share(entry.key, not shared),
            help="Off: only people with this run's link can open it. On: every user of this server sees it "
            "under Saved runs.",
        )


def _kept(name: str, version, build):
    """The figure `build()` made for this `version`, kept in the session, so an unchanged chart is
    sent unchanged (the browser then leaves it alone)."""
    kept = st.session_state.setdefault("_figures", {})
    if name not in kept or kept[name][0] != version:
        kept[name] = (version, build())
    return kept[name][1]


def _saved_history(entry):
    try:
        return read_history(entry.info.path)
    except RunError:
        return empty_history()


def _resume(sess, key: str) -> None:
    try:
        sess.resume(key)
    except LimitError as exc:
        st.session_state["train_error"] = str(exc)


def live_runs(sess) -> None:
    running = sess.any_running

    @st.fragment(run_every=POLL_SECONDS if running else None)
    def panel():
        own = sess.own()
        interrupted = [e for e in sess.opened() if e.info.state == "interrupted"]
        ended_shown = 0
        for entry in own + interrupted:
            full = entry.running or ended_shown < SHOWN_ENDED_RUNS
            ended_shown += not entry.running
            with st.container(border=full):
                run_panel(sess, entry, full)
        if sess.any_running != running:  # all ended (refresh the run lists, stop polling), or one resumed here
            st.rerun(scope="app")

    panel()


def library(sess) -> None:
    """Runs other sessions shared (or every run, on a classroom server): search, page, open."""
    with st.expander("Saved runs", expanded=False):
        query = st.text_input(
            "Search saved runs", key="library_query", max_chars=80, placeholder="method, target or run id"
        )
        page = st.session_state.get("library_page", 0)
        entries, total, problems = sess.library(query, page * LIBRARY_PAGE, LIBRARY_PAGE)
        if not total:
            st.caption(
                "Shared runs appear here. Your own runs are private until you switch on "
                "“Listed in the shared library”; anyone with a run's link can open it."
            )
        opened = {e.key for e in sess.opened()}
        for entry in entries:
            c1, c2 = st.columns([5, 1])
            c1.markdown(
                f"{literal(entry.label)} · {entry.info.state} · step {entry.info.step:,} · "
                f"{literal(entry.info.created)}"
            )
            c2.button(
                "Opened" if entry.key in opened else "Open",
                key=f"open_{entry.key}",
                disabled=entry.key in opened or not entry.usable,
                on_click=sess.open,
                args=(entry.id,),
            )
        pages = max(1, -(-total // LIBRARY_PAGE))
        if pages > 1:
            st.number_input(f"Page (of {pages})", 0, pages - 1, key="library_page", format="%d")
        for problem in problems[:5]:
            st.warning(literal(problem))
        if len(problems) > 5:
            st.caption(f"{len(problems) - 5} more folders skipped.")


def main() -> None:
    sess = server.session()
    st.title("Train")
    left, right = st.columns([1, 1])
    with left:
        target = pickers.target_picker()
        configs = settings_form(target)
    with right:
        if target is not None:
            points, labels = pickers.labelled_preview(target)
            by_class = labels is not None and st.toggle(
                "Colour by class", value=True, help="Each class of this labelled target in its own colour."
            )
            st.plotly_chart(
                figures.scatter_figure(
                    points,
                    f"target: {target.name}" + (f" ({target.classes} classes)" if target.classes else ""),
                    height=360,
                    labels=labels if by_class else None,
                    class_names=target.class_names,
                ),
                key="target_preview",
                width="stretch",
            )
    for config in configs or []:
        try:
            sess.launch(config, target)
        except ValueError as exc:  # a per-session limit (LimitError), or a method's missing input
            st.error(literal(str(exc)))
            break
    if "train_error" in st.session_state:
        st.error(literal(st.session_state.pop("train_error")))
    server.session()  # the new runs' ids go into the URL
    if sess.own() or any(e.info.state == "interrupted" for e in sess.opened()):
        st.subheader("This session's runs")
        live_runs(sess)
        engine = server.engine()
        st.caption(
            "Runs are private to this session and its link until you list them. They train "
            f"{engine.max_running} at a time on this server, outside the web server's process; "
            "more wait in line. Each keeps a checkpoint, so a crash loses at most a few seconds."
        )
        for error in engine.errors[-3:]:
            st.error(literal(error))
    library(sess)


main()
