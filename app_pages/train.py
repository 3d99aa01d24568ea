"""Train: pick a target and methods, launch runs on the job engine, watch them live."""

import time

import numpy as np
import streamlit as st

from meanflow.core.config import ACTIVE, OptionSpec, TrainConfig, empty_history, option_specs
from meanflow.core.couplings import COUPLINGS
from meanflow.core.couplings import LABELS as COUPLING_NAMES
from meanflow.core.methods.base import Method
from meanflow.core.metrics import floor_name, headline_metric
from meanflow.core.networks import network_parameters
from meanflow.core.presets import Preset, PresetError, read_presets, tuning_sentence
from meanflow.core.registry import METHODS, make_config
from meanflow.core.runs import RunError, read_history, read_target
from meanflow.core.targets import Target
from meanflow.core.text import counted, literal
from meanflow.core.training import PAUSED
from meanflow.engine import env
from meanflow.engine.limits import run_cost, seconds_within_budget
from meanflow.views import figures
from ui import downloads, pickers, points, present, server, settings
from ui.session import RunEntry, Session
from ui.settings import Setting

DEFAULTS = make_config()
POLL_SECONDS = 1.0  # each poll updates every live run's progress line: snapshots reach the page each second
FIRST_STEP_POLL_SECONDS = 0.25  # while a run of this session is starting: its first step shows at once
CHART_SECONDS = 5.0  # a training run's loss and quality curves are redrawn this often
PREVIEW_SECONDS = 2.0  # and its one-step preview at most this often
PREVIEW_IMAGES = 64  # generated images in an image target's live preview: eight rows of eight
SHOWN_ENDED_RUNS = 6  # ended runs with a full panel; older ones get a line each
LIBRARY_PAGE = 20

BATCHES, WIDTHS = (64, 128, 256, 512, 1024, 2048), (16, 32, 64, 128, 256, 512, 1024)
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
START_FROM = Setting("start", "own", choices=("own", "tuned"))
START_LABELS = {"own": "These settings", "tuned": "Each method's tuned preset"}
STEP_SIZE = Setting("step_size", 200, lo=1, hi=100_000, integer=True)  # the Step button's steps


# ---------------------------------------------------------------- method options


def option_settings(method: Method) -> list[tuple[OptionSpec, Setting]]:
    """(declaration, Setting) for each option of `method` that ordinary training offers; URL key 'method.field'."""
    aliases = method.name == "meanflow"  # links made before the method zoo named MeanFlow's options bare
    return [
        (spec, settings.setting_for(spec, f"{method.name}.{spec.name}", (spec.name,) if aliases else ()))
        for spec in option_specs(method.options, offered=True)
    ]


def option_widgets(method: Method, target: Target | None) -> dict:
    """One widget per option of `method`, with its help text; returns {field: value}.

    An option naming another run (reflow's teacher) is a picker over this session's trained runs on
    the same target; the URL keeps the run's key, the config its folder.
    """
    values = {}
    pairs = option_settings(method)
    if not pairs:
        st.caption(f"{method.about.label} has no options of its own.")
        return values
    columns = st.columns(2)
    for i, (spec, setting) in enumerate(pairs):
        where = columns[i % 2]
        label = spec.name.replace("_", " ")
        if spec.names_run:
            values[spec.name] = run_option(label, spec, setting, target)
        elif setting.choices is not None:
            values[spec.name] = settings.select(label, setting, where=where, help=spec.help)
        else:
            values[spec.name] = settings.number(
                label, setting, where=where, help=spec.help, format="%d" if setting.integer else "%.4g"
            )
    return values


def run_option(label: str, spec: OptionSpec, setting: Setting, target: Target | None) -> str:
    """A picker over the session's trained runs on `target` (flow matching first); returns the chosen folder."""
    runs = [e for e in server.open_session().ready() if target is not None and e.target_name == target.name]
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
        help=spec.help,
    )
    return str(by_key[chosen].info.path)


# ---------------------------------------------------------------- the launch form


NETWORK_SETTINGS = {"hidden": HIDDEN, "depth": DEPTH}  # what a target's own defaults may set (the digits' network)


def follow_target_defaults(target: Target | None) -> None:
    """When another target is picked, the Width and Depth widgets take its own defaults (the digits train a
    wider network: Target.train_defaults), or the usual ones back; a link's values are kept on its first load."""
    name = target.name if target is not None else None
    previous = st.session_state.get("_network_of_target", "")
    st.session_state["_network_of_target"] = name
    if previous == name or (previous == "" and any(s.key in st.query_params for s in NETWORK_SETTINGS.values())):
        return
    own = dict(target.train_defaults) if target is not None else {}
    for field, setting in NETWORK_SETTINGS.items():
        st.session_state[setting.key] = own.get(field, setting.default)


def hyperparameters() -> dict:
    """The network, optimiser, seed and pairing widgets (in an expander); TrainConfig fields."""
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
            "A pool's OT pairs a large pool once (a few seconds at the start) and draws every batch from it: "
            "pairs nearer the transport, and no cost per step. "
            "Defaults: " + ", ".join(f"{m.about.label}: {m.default_coupling}" for m in METHODS.values()) + ".",
        )
    return dict(
        steps=int(steps),
        batch=int(batch),
        hidden=int(hidden),
        depth=int(depth),
        lr=float(lr),
        seed=int(seed),
        coupling=None if coupling == "default" else coupling,
    )


def class_settings(target: Target | None) -> tuple[bool, float]:
    """Whether to condition on a labelled target's classes, and the class dropout."""
    if target is None or not target.classes:
        return False, DEFAULTS.class_dropout
    c1, c2 = st.columns(2)
    conditional = settings.toggle(
        "Condition on classes",
        CONDITIONAL,
        where=c1,
        help=f"This target has {target.classes} classes. A class-conditional model samples any one of them "
        "(Animate, Compare, Guidance); methods that do not define it train without classes.",
    )
    if not conditional:
        return False, DEFAULTS.class_dropout
    dropout = settings.slider(
        "Class dropout",
        CLASS_DROPOUT,
        where=c2,
        step=0.05,
        help="The share of rows trained with 'no class': the unconditional branch that classifier-free "
        "guidance needs (the MeanFlow paper: 10%).",
    )
    return True, float(dropout)


def budget_notes(configs: list[TrainConfig]) -> bool:
    """The compute each run costs against the per-run budget; True when one is over it (with a warning)."""
    budget = env.compute_budget()
    over = [c for c in configs if run_cost(c) > budget]
    if configs:
        worst = max(configs, key=run_cost)
        st.caption(
            f"Compute per run: {network_parameters(worst):,} parameters × batch {worst.batch} × "
            f"{worst.max_seconds:g} s = {run_cost(worst):.2g} of the {budget:.2g} allowed per run "
            "(parameters × batch × seconds)."
        )
    if over:
        st.warning(
            f"Over the per-run compute budget: at this network and batch at most "
            f"{seconds_within_budget(over[0], budget):.0f} s. Lower the time, the width, the depth or the batch."
        )
    return bool(over)


def tuned_presets(methods: list[str]) -> dict[str, Preset]:
    """The tuned presets of `methods` when the user starts from them (else {}), with a line saying so."""
    start = settings.radio(
        "Start from",
        START_FROM,
        horizontal=True,
        format_func=START_LABELS.get,
        help="A tuned preset is the method's best settings found by the same tuning for every method "
        "(`make tune`); it replaces the width, depth, batch, learning rate, pairing and options below.",
    )
    if start != "tuned":
        return {}
    try:
        presets = read_presets()
    except PresetError as exc:
        st.warning(literal(str(exc)))
        return {}
    missing = [METHODS[m].about.label for m in methods if m not in presets]
    st.caption(
        f"Tuned presets: {tuning_sentence()}. Max steps and the seed below still apply"
        + (f"; no preset for {', '.join(missing)} (its settings below)." if missing else ".")
    )
    return {m: presets[m] for m in methods if m in presets}


def preset_text(preset: Preset) -> str:
    """'64 x 5, batch 256, lr 0.0143, minibatch-ot; r_neq_t 0.505, ...': a preset in one line."""
    config = preset.config()
    head = f"{config.hidden} x {config.depth}, batch {config.batch}, lr {config.lr:.3g}, {config.coupling}"
    own = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in preset.options.items())
    return head + (f"; {own}" if own else "")


def settings_form(target: Target | None) -> tuple[list[TrainConfig], int | None] | None:
    """The launch settings; returns one config per chosen method when Train is pressed."""
    methods = settings.multiselect(
        "Methods",
        METHOD_CHOICES,
        format_func=lambda m: METHODS[m].about.label,
        help="Train several on the same data, network and budget to compare them.",
    )
    seconds = settings.slider(
        "Time budget (seconds)",
        SECONDS,
        step=5,
        help="Each run stops after this wall time and is saved; the learning rate decays over it.",
    )
    presets = tuned_presets(methods)
    follow_target_defaults(target)
    shared = hyperparameters()
    conditional, dropout = class_settings(target)
    options = {}
    for name in methods:
        with st.expander(f"{METHODS[name].about.label} options"):
            st.caption(literal(METHODS[name].about.summary))
            if name in presets:
                st.caption(f"Tuned: {literal(preset_text(presets[name]))}")
            options[name] = {} if name in presets else option_widgets(METHODS[name], target)
    try:
        configs = []
        for m in methods:
            chosen = dict(
                max_seconds=float(seconds),
                classes=target.classes if conditional and METHODS[m].conditional else 0,
                class_dropout=dropout,
                dim=target.dim if target is not None else 2,
            )
            if m in presets:  # the preset's network, batch, learning rate, pairing and options
                chosen.update(steps=shared["steps"], seed=shared["seed"], options=options[m])
                configs.append(presets[m].config(**chosen))
            else:
                configs.append(make_config(m, options[m], **chosen, **shared))
    except (ValueError, TypeError) as exc:
        st.error(literal(str(exc)))
        configs = []
    over = budget_notes(configs)
    disabled = target is None or not configs or over
    c1, c2, c3 = st.columns([1, 2, 2], vertical_alignment="bottom")
    train = c1.button("Train", type="primary", disabled=disabled, key="launch")
    size = settings.number(
        "Steps per Step",
        STEP_SIZE,
        where=c3,
        help="Step trains this many steps and pauses, so you can stop and explain; then Continue or Step again.",
    )
    step = c2.button(
        f"Step: {int(size):,} steps",
        disabled=disabled,
        key="launch_step",
        help="Train this many steps, then pause: the run waits with Continue and Step on its card.",
    )
    if not (train or step):
        return None
    return configs, (int(size) if step else None)


# ---------------------------------------------------------------- the runs of this session


def run_panel(sess: Session, entry: RunEntry, full: bool) -> None:
    """State, Stop/Resume/Share, and (full) the preview, loss curve and downloads of one run."""
    run_header(sess, entry)
    if not full:
        return
    snap = entry.snapshot
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
    run_charts(entry)
    if not entry.running and entry.usable:
        downloads.run_downloads(entry)
    if not entry.running and entry.usable and entry.controllable:
        shared = entry.info.shared
        st.toggle(
            "Listed in the shared library",
            value=shared,
            key=f"share_{entry.key}",
            on_change=lambda: sess.share(entry.key, not shared),
            help="Off: only people with this run's link can open it. On: every user of this server sees it "
            "under Saved runs.",
        )


def run_header(sess: Session, entry: RunEntry) -> None:
    """The run's label and state (with its place in the line, or how it ended), and Stop or Resume."""
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
    if entry.info.writer and not entry.running:  # another process holds its writer lock: watch, no Resume
        state, message = "being trained elsewhere", "another process on the server is writing this run"
    paused = not entry.running and entry.info.state == "stopped" and entry.info.message.startswith(PAUSED)
    if paused:
        state, message = "paused", f"at step {entry.info.step:,}: Continue, or Step again"
    head, action = st.columns([5, 1])
    head.markdown(f"**{literal(entry.label)}** — {state}" + (f": {literal(message)}" if message else ""))
    if not entry.controllable:  # a link lets a person watch a run, never control it
        action.caption("watching", help="Only the browser that launched this run may stop, resume or share it.")
    elif entry.running:
        action.button("Stop", key=f"stop_{entry.key}", on_click=sess.stop, args=(entry.key,))
    elif paused and entry.info.resumable:
        size = int(st.session_state.get(STEP_SIZE.key, STEP_SIZE.default))
        action.button("Continue", key=f"continue_{entry.key}", on_click=_resume, args=(sess, entry.key), type="primary")
        action.button(f"Step {size:,}", key=f"step_{entry.key}", on_click=_resume, args=(sess, entry.key, size))
    elif entry.info.resumable and entry.info.state in ("interrupted", "stopped"):
        action.button(
            "Train further" if budget_spent else "Resume",
            key=f"resume_{entry.key}",
            on_click=_resume,
            args=(sess, entry.key),
            help="Continue from its last checkpoint (another 60 s, or what its budget has left).",
        )


def run_charts(entry: RunEntry) -> None:
    """The latest one-step preview, the loss (split at r = t and r != t for MeanFlow and its kin, spikes
    marked) and the previews' quality over time beside its floors, side by side."""
    snap = entry.snapshot
    left, right, third = st.columns(3)
    preview = snap.preview if snap is not None else None
    target = _run_target(entry)
    if preview is not None and points.is_image(target):
        caption = f"one-step samples at step {snap.preview_step:,} (the first {PREVIEW_IMAGES} of the preview)"
        points.show_images(preview[:PREVIEW_IMAGES], target, caption, columns=8, where=left)
    elif preview is not None:
        # Redrawn at most every PREVIEW_SECONDS, in SVG: a WebGL chart per run ran out of the browser's WebGL
        # contexts with many runs, and redrawing each new preview every second cost a software-drawing
        # browser a fifth of a core (benchmarks/RESULTS.md, the load test).
        version = (int(time.monotonic() // PREVIEW_SECONDS), entry.running) if entry.running else snap.preview_step
        fig = _kept(
            f"preview_{entry.key}",
            version,
            lambda: figures.scatter_figure(
                preview if target is None else points.flat(preview, target, entry.key),
                f"one-step samples at step {snap.preview_step:,}",
                reference=_target_points(entry),  # the target underneath: how far the samples are, at a glance
                height=360,
                gl=False,
            ),
        )
        present.chart(fig, where=left, key=f"preview_{entry.key}", width="stretch")
    history = snap.history if snap is not None and len(snap.history) else _saved_history(entry)
    if not entry.running and entry.info.state not in ACTIVE and len(history) < 2:  # diverged at step 2: empty axes
        right.info(
            f"No curves to draw: the run logged {counted(len(history), 'point')} of its history "
            f"(one every {entry.config.log_every} steps) before it ended: {literal(entry.info.message)}."
        )
        return
    # While a run trains, the curve is redrawn every CHART_SECONDS, not at each poll: redrawing a
    # Plotly chart every second cost the browser a third of a core (benchmarks/RESULTS.md).
    version = int(time.monotonic() // CHART_SECONDS) if entry.running else (entry.state, len(history))
    split = len(history) and np.isfinite(history["loss_instant"]).any()
    fig = _kept(
        f"loss_{entry.key}",
        version,
        lambda: (
            figures.split_loss_curves(history) if split else figures.loss_curves({entry.label: history}, height=300)
        ),
    )
    present.chart(fig, where=right, key=f"loss_{entry.key}", width="stretch")
    n = entry.config.preview_n
    tv_floor, w1_floor = _floors(entry, n)
    metric = headline_metric(target) if target is not None else "hist_tv"
    fig = _kept(
        f"quality_{entry.key}",
        version,
        lambda: figures.preview_quality_chart(history, tv_floor, w1_floor, n, headline=metric),
    )
    present.chart(fig, where=third, key=f"quality_{entry.key}", width="stretch")


def _floors(entry: RunEntry, n: int) -> tuple[float | None, float | None]:
    """The noise floors of the headline metric (histogram TV in 2D, FD on the digits) and sliced W1 for n
    samples of the run's target (None: unreadable)."""
    kept = st.session_state.setdefault("_run_floors", {})
    if (entry.id, n) not in kept:
        target = _run_target(entry)
        q = pickers.evaluator_for(entry, target, n).floor() if target is not None else None
        floor = getattr(q, floor_name(headline_metric(target))) if q is not None else None
        kept[(entry.id, n)] = (floor, q.sliced_w1_floor) if q is not None else (None, None)
    return kept[(entry.id, n)]


def _run_target(entry: RunEntry) -> Target | None:
    """The run's target, read from its folder once per session (None: unreadable)."""
    kept = st.session_state.setdefault("_run_targets", {})
    if entry.id not in kept:
        try:
            kept[entry.id] = read_target(entry.info)
        except (RunError, ValueError):
            kept[entry.id] = None
    return kept[entry.id]


def _target_points(entry: RunEntry):
    """(n, 2) points of the run's target in data units for drawing under its preview (beyond 2D on its
    principal axes), or None if unreadable."""
    target = _run_target(entry)
    return points.flat(points.target_preview(target, 1000), target, entry.key) if target is not None else None


def _kept(name: str, version, build):
    """The figure `build()` made for this `version`, kept in the session, so an unchanged chart is
    sent unchanged (the browser then leaves it alone)."""
    kept = st.session_state.setdefault("_figures", {})
    if name not in kept or kept[name][0] != version:
        kept[name] = (version, build())
    return kept[name][1]


def _saved_history(entry: RunEntry):
    try:
        return read_history(entry.info.path)
    except RunError:
        return empty_history()


def _resume(sess: Session, key: str, steps: int | None = None) -> None:
    try:
        sess.resume(key, steps=steps)
    except ValueError as exc:  # a limit, a damaged checkpoint, or another process writing the run
        st.session_state["train_error"] = str(exc)


FAST_POLL_WINDOW = 5.0  # seconds after a launch during which the page polls fast for the first step


def _starting(sess: Session) -> bool:
    """Whether this session launched a run in the last few seconds that has not trained a step yet."""
    if time.monotonic() - st.session_state.get("launched_at", -1e9) > FAST_POLL_WINDOW:
        return False
    return any(e.snapshot is not None and not e.snapshot.finished and e.snapshot.step == 0 for e in sess.own())


def live_runs(sess: Session) -> None:
    running, starting = sess.any_running, _starting(sess)

    @st.fragment(run_every=(FIRST_STEP_POLL_SECONDS if starting else POLL_SECONDS) if running else None)
    def panel():
        own = sess.own()
        watched = sess.opened()  # the runs a link named (or the library opened): watched, never controlled
        ended_shown = 0
        for entry in own + watched:
            full = entry.running or ended_shown < SHOWN_ENDED_RUNS
            ended_shown += not entry.running
            with st.container(border=full):
                run_panel(sess, entry, full)
        if sess.any_running != running:  # all ended (refresh the run lists, stop polling), or one resumed here
            st.rerun(scope="app")
        if starting and not _starting(sess):  # the first step is shown: back to polling each second
            st.rerun(scope="app")

    panel()


def library(sess: Session) -> None:
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


# ---------------------------------------------------------------- the page


def launch(sess: Session, configs: list[TrainConfig], target: Target, pause_at: int | None = None) -> None:
    launched = 0
    for config in configs:
        try:
            sess.launch(config, target, pause_at=pause_at)
            launched += 1
        except ValueError as exc:  # a per-session limit (LimitError), or a method's missing input
            st.error(literal(str(exc)))
            break
    if launched:  # the run cards are below the form, often out of sight
        st.session_state.launched_at = time.monotonic()
        st.toast(f"{counted(launched, 'run')} started: progress under “This session's runs” below.")


def main() -> None:
    sess = server.open_session()
    st.title("Train")
    left, right = st.columns([1, 1])
    with left:
        target = pickers.target_picker()
        chosen = settings_form(target)
    with right:
        if target is not None:
            points.show_target(target)
    configs, pause_at = chosen or ([], None)
    launch(sess, configs, target, pause_at)
    if "train_error" in st.session_state:
        st.error(literal(st.session_state.pop("train_error")))
    server.open_session()  # the new runs' ids go into the URL
    if sess.own() or sess.opened():
        st.subheader("This session's runs" if sess.own() else "Runs this link opened (watching)")
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
