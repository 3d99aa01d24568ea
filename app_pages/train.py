"""Train: pick a target and methods, launch background runs, watch them live."""

import streamlit as st

from meanflow import MeanFlowConfig, TrainConfig, figures
from meanflow.couplings import COUPLINGS
from meanflow.methods import TIME_SAMPLERS
from meanflow.workspace import METHOD_LABELS
from app_pages import common

DEFAULTS, MF_DEFAULTS = TrainConfig(), MeanFlowConfig()
POLL_SECONDS = 1.0  # each poll redraws every live run's charts: Python work that competes with training
SHOWN_LIVE_RUNS = 6  # the newest runs get a live panel; older ones stay listed below


BATCHES, WIDTHS = [64, 128, 256, 512, 1024, 2048], [16, 32, 64, 128, 256, 512]
COUPLING_CHOICES = ["default", *COUPLINGS]
COUPLING_LABELS = {"default": "each method's default (MeanFlow: OT, flow matching: independent)",
                   "independent": "independent (textbook)", "minibatch-ot": "minibatch optimal transport"}
# Widget key -> (default, parser, accepted values): these settings define a demo and travel in the URL.
URL_SETTINGS = {
    "seconds": (60, int, common.within(5, 600)), "steps": (100_000, int, common.within(1, 1_000_000)),
    "batch": (DEFAULTS.batch, int, common.one_of(BATCHES)), "hidden": (DEFAULTS.hidden, int, common.one_of(WIDTHS)),
    "depth": (DEFAULTS.depth, int, common.within(1, 8)), "lr": (DEFAULTS.lr, float, common.within(1e-5, 1e4)),
    "seed": (DEFAULTS.seed, int, common.within(0, 2**31 - 1)),
    "time_sampler": (MF_DEFAULTS.time_sampler, str, common.one_of(TIME_SAMPLERS)),
    "r_neq_t": (MF_DEFAULTS.r_neq_t, float, common.within(0, 1)),
    "time_mean": (MF_DEFAULTS.time_mean, float, common.within(-3, 3)),
    "time_std": (MF_DEFAULTS.time_std, float, common.within(0.1, 3)),
    "weight_power": (MF_DEFAULTS.weight_power, float, common.within(0, 2)),
    "weight_eps": (MF_DEFAULTS.weight_eps, float, common.within(1e-6, 1)),
    "coupling": ("default", str, common.one_of(COUPLING_CHOICES)),
}


def settings_form(target_ok: bool) -> list[TrainConfig] | None:
    """The launch settings; returns one config per chosen method when Train is pressed."""
    for key, (default, parse, valid) in URL_SETTINGS.items():
        common.from_url(key, default, parse, valid)
    common.from_url("methods", list(METHOD_LABELS), lambda s: [m for m in s.split(",") if m in METHOD_LABELS])
    methods = st.multiselect("Methods", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="methods",
                             help="Train both to compare one-step MeanFlow with multi-step flow matching.")
    seconds = st.slider("Time budget (seconds)", 5, 600, step=5, key="seconds",
                        help="Each run stops after this wall time and is saved; the learning rate decays over it.")
    with st.expander("Hyperparameters"):
        c1, c2 = st.columns(2)
        steps = c1.number_input("Max steps", 1, 1_000_000, key="steps",
                                help="The run ends at this many steps or at the time budget, whichever comes first.")
        batch = c2.select_slider("Batch", BATCHES, key="batch",
                                 help="Small batches give more steps per second on a CPU.")
        hidden = c1.select_slider("Width", WIDTHS, key="hidden", help="Units per hidden layer.")
        depth = c2.slider("Depth (hidden layers)", 1, 8, key="depth",
                          help="Depth 4 and width 64 is the seed tutorial's network.")
        lr = c1.number_input("Learning rate", 1e-5, 1e4, format="%.4g", key="lr",
                             help="Adam's peak rate; cosine decay to a tenth over the budget. Rates far "
                                  "too high (try 1e4) diverge: the run ends as failed and keeps its last "
                                  "good weights.")
        seed = c2.number_input("Seed", 0, 2**31 - 1, key="seed",
                               help="Same seed and settings give the same run when it ends on its step count; "
                                    "a time budget ends at a step that depends on the machine's speed.")
        coupling = st.selectbox("Noise–data pairing", COUPLING_CHOICES, format_func=COUPLING_LABELS.get,
                                key="coupling",
                                help="Minibatch OT pairs each batch's noise with nearby data: paths cross less, "
                                     "flows straighten, and one step gets much sharper. It adds about 2 ms per "
                                     "step at batch 256 (36 ms at 2048), so fewer steps fit the budget.")
        st.markdown("**MeanFlow options**")
        m1, m2 = st.columns(2)
        sampler = m1.selectbox("Time sampler", TIME_SAMPLERS, key="time_sampler",
                               help="How (r, t) pairs are drawn. The paper's logit-normal rarely visits (0, 1), "
                                    "the interval one-step sampling uses.")
        r_neq_t = m2.slider("Fraction with r ≠ t", 0.0, 1.0, step=0.05, key="r_neq_t",
                            help="The rest has r = t: plain flow matching on u(z, t, t).")
        time_mean = m1.number_input("Logit-normal mean", -3.0, 3.0, key="time_mean", disabled=sampler != "logit-normal")
        time_std = m2.number_input("Logit-normal std", 0.1, 3.0, key="time_std", disabled=sampler != "logit-normal")
        power = m1.slider("Adaptive weight power p", 0.0, 2.0, step=0.25, key="weight_power",
                          help="Loss weight 1 / (error² + c)^p; 0 is plain MSE, 1 the paper's.")
        eps = m2.number_input("Weight constant c", 1e-6, 1.0, format="%.4f", key="weight_eps")
    common.to_url("methods", *URL_SETTINGS)
    if not st.button("Train", type="primary", disabled=not (target_ok and methods), key="launch"):
        return None
    mf = MeanFlowConfig(time_sampler=sampler, time_mean=time_mean, time_std=time_std, r_neq_t=r_neq_t,
                        weight_power=power, weight_eps=eps)
    return [TrainConfig(method=m, steps=int(steps), max_seconds=float(seconds), batch=int(batch), hidden=int(hidden),
                        depth=int(depth), lr=float(lr), seed=int(seed), meanflow=mf,
                        coupling=None if coupling == "default" else coupling) for m in methods]


def run_panel(ws, entry) -> None:
    """Progress, stop button, preview and loss curve of one run."""
    snap = entry.snapshot()
    head, stop = st.columns([5, 1])
    position = ws.queue_position(entry)
    state = f"queued (position {position} in the server's line)" if position else snap.state
    head.markdown(f"**{entry.label}** — {state}" + (f": {snap.message}" if snap.message else ""))
    if not snap.finished:
        stop.button("Stop", key=f"stop_{entry.key}", on_click=ws.stop, args=(entry,))
        eta = f"ETA {snap.eta_seconds:.0f} s" if snap.eta_seconds is not None else "ETA —"
        st.progress(snap.progress, text=f"step {snap.step:,} · {snap.steps_per_sec:.0f} steps/s · {eta}")
    elif snap.state == "failed":
        st.error(snap.message)
    left, right = st.columns(2)
    if snap.preview is not None:
        left.plotly_chart(figures.scatter_figure(snap.preview, f"one-step samples at step {snap.preview_step:,}",
                                                 height=300), key=f"preview_{entry.key}", width="stretch")
    right.plotly_chart(figures.loss_curves({entry.label: snap.history}, height=300), key=f"loss_{entry.key}",
                       width="stretch")
    if snap.finished and entry.flow is not None:
        common.run_downloads(entry, ws.folder(entry))


def live_runs(ws) -> None:
    running = ws.any_running

    @st.fragment(run_every=POLL_SECONDS if running else None)
    def panel():
        live = ws.live()
        for entry in live[:SHOWN_LIVE_RUNS]:
            with st.container(border=True):
                run_panel(ws, entry)
        if running and not ws.any_running:
            st.rerun(scope="app")  # all ended: refresh the other pages' run lists and stop polling

    panel()


def main() -> None:
    ws = common.workspace()
    st.title("Train")
    left, right = st.columns([1, 1])
    with left:
        target = common.target_picker()
        configs = settings_form(target is not None)
    with right:
        if target is not None:
            st.plotly_chart(figures.scatter_figure(common.target_preview(target), f"target: {target.name}", height=360),
                            key="target_preview", width="stretch")
    common.to_url("target")
    for config in configs or []:
        ws.launch(config, target)
    if ws.live():
        st.subheader("This session's runs")
        live_runs(ws)
        st.caption("Finished runs appear on every page of this session and are saved to the runs folder "
                   "(other sessions find them under Saved runs). Runs train "
                   f"{common.job_scheduler().max_running} at a time on this server; more wait in line.")
        for error in ws.save_errors:
            st.error(error)
    library(ws)


def library(ws) -> None:
    """Saved runs from earlier sessions (and before a restart): open one to use it on every page."""
    saved = ws.saved()
    opened = {e.key for e in ws.opened()}
    with st.expander(f"Saved runs ({len(saved)})", expanded=False):
        if not saved:
            st.caption("Runs are saved here when they end, and stay after the server restarts.")
        for entry in saved[:50]:
            c1, c2 = st.columns([5, 1])
            c1.markdown(f"{entry.label} · {entry.state} · {len(entry.history)} history rows")
            c2.button("Opened" if entry.key in opened else "Open", key=f"open_{entry.key}",
                      disabled=entry.key in opened, on_click=ws.open, args=(entry.key,))
        for problem in ws.problems:
            st.warning(problem)


main()
