"""The training loop: set up a run, take steps, roll back a divergence, report, checkpoint, end.

`run_training(config, target, ...) -> RunResult` runs in whatever process calls it (a worker of the
job engine, a test, a benchmark) and knows nothing of processes, pages or disks: it reports through
callbacks (minGPT's trainer habit) and returns a RunResult. It changes no process-wide setting
(threads, switch interval): its host does.

A NaN or infinite loss at step N ends the run as failed ("diverged at step N") with the last good
weights, the last ones seen to give a finite loss (after N - 2 updates). A Checkpoint
(core.checkpoints) holds everything a step depends on, so a run resumed from one continues exactly as
if it had never stopped. Every random draw comes from one of the run's named streams (`Stream`).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .adversarial import Critic, adversarial_term, build_critic, critic_tensors, load_critic_tensors
from .checkpoints import PENDING_WIDTH, Checkpoint, make_checkpoint, restore_checkpoint
from .config import TrainConfig, empty_history, history_from_rows
from .couplings import POOL_ROWS, POOLED, Pairing, get_coupling, pair_within_classes, pool_pairing
from .methods.base import Batch, Context, Method
from .metrics import Evaluator
from .models import MLP, Conditioned, pick_device
from .moments import moment_term
from .networks import RunBundle, build_network, flow_from_bundle
from .registry import check_config, config_from_dict
from .sampling import Flow
from .targets import Target
from .text import steps_label

PAUSED = "paused at step"  # how a run stopped by pause_at says so (the app offers Continue and Step)
PUBLISH_SECONDS = 0.25  # how often a running job reports between previews
RATE_WINDOW = 8  # reports in the steps/s window: about the last two seconds
DRAW_ROWS = 8192  # rows per call to a target's sampler (Batches): its per-call cost, spread over many batches


class Stream(IntEnum):
    """The run's random streams, each a generator seeded `seed + stream`. The offsets are fixed: a
    resumed run rebuilds its preview noise and its method's state from them, and must draw the same."""

    TRAINING = 0  # the network's initialisation, then the loss's own draws (times, class dropout)
    PREVIEW_NOISE = 1  # the fixed noise every preview starts from, so previews compare
    METHOD = 2  # per-run state a method builds once (reflow's teacher pairs)
    PREVIEW_SAMPLING = 3  # fresh noise inside a preview's step (stochastic samplers)
    DATA = 4  # the batches: drawn ahead in a thread, so apart from the loss's draws
    PREVIEW_SCORING = 5  # the reference sample the previews are scored against
    CRITIC = 6  # the adversarial critic's initialisation (config.adversarial > 0)
    POOL = 7  # a pooled-OT run's pool of pairs (couplings.POOLED), rebuilt the same on resume


def stream(seed: int, which: Stream) -> torch.Generator:
    """A fresh generator for one of the run's streams."""
    return torch.Generator().manual_seed(seed + int(which))


@dataclass(frozen=True)
class Progress:
    """One report of a running job: plain data, no torch objects (it crosses process boundaries)."""

    step: int
    total_steps: int
    elapsed: float  # seconds of training, resumed runs included
    steps_per_sec: float
    eta_seconds: float | None
    new_history: np.ndarray  # rows added since the previous report
    preview: np.ndarray | None = None  # (preview_n, 2) samples in data units (config.preview_nfe steps: one by default)
    preview_step: int = 0


@dataclass(frozen=True)
class RunResult:
    """How a run ended: state done | stopped | failed, and what it learned."""

    state: str
    message: str
    step: int
    elapsed: float
    steps_per_sec: float
    history: np.ndarray
    preview: np.ndarray | None
    checkpoint: Checkpoint | None  # the final state (None if no network was ever built)
    flow: Flow | None = field(default=None, repr=False)


# ---------------------------------------------------------------- the pieces


def lr_at(config: TrainConfig, fraction: float) -> float:
    """Cosine decay from lr to lr * lr_final_ratio as the budget fraction goes 0 -> 1."""
    floor = config.lr * config.lr_final_ratio
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, fraction)))


def copy_parameters(dst: list[torch.Tensor], src: list[torch.Tensor]) -> None:
    """dst[i] <- src[i] in place, for parallel lists of tensors (weights and their saved copy), in one call."""
    with torch.no_grad():
        torch._foreach_copy_(dst, src)


def conditioned(
    net: torch.nn.Module, labels: torch.Tensor | None, config: TrainConfig, generator: torch.Generator, device
) -> torch.nn.Module:
    """The network a class-conditional loss sees: the batch's classes as inputs, a share of them dropped
    to "no class" (class dropout: the unconditional branch guidance needs). Unconditional: the net itself."""
    if not config.classes:
        return net
    dropped = torch.rand(len(labels), generator=generator) < config.class_dropout
    labels = torch.where(dropped, torch.full_like(labels, config.classes), labels)
    return Conditioned(net, labels.to(device), config.classes)


def make_optimiser(net: torch.nn.Module, lr: float, beta2: float = 0.999) -> torch.optim.Optimizer:
    """Adam with its fused kernel: one pass over all parameters instead of ten small ops each
    (benchmarks/RESULTS.md, "Speed at the default size")."""
    return torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, beta2), fused=True)


def batches_per_draw(batch: int) -> int:
    """How many batches one call to the sampler draws: about DRAW_ROWS rows, at least one batch."""
    return max(1, DRAW_ROWS // batch)


def draw_batches(
    target: Target, pair: Pairing, n: int, count: int, generator: torch.Generator, labelled: bool = False
) -> list[Batch]:
    """`count` batches of n rows from one call to the target's sampler (its fixed cost per call is most of
    a batch's cost at n = 256): data x (n, D) with noise e (n, D) paired to it by `pair`, and, when
    `labelled`, the classes y (n,) of x. Pairing reorders e, so y stays with x; a labelled batch is
    paired within each class (couplings.pair_within_classes)."""
    rows = n * count
    if labelled:
        x, y = target.sample_labelled(rows, generator)
    else:
        x, y = target.sample_model(rows, generator), None
    e = torch.randn(rows, x.shape[1], generator=generator)
    batches = []
    for start in range(0, rows, n):
        xb, eb = x[start : start + n], e[start : start + n]
        if labelled:
            yb = y[start : start + n]
            batches.append(Batch(xb, pair_within_classes(pair, xb, eb, yb), yb))
        else:
            batches.append(Batch(xb, pair(xb, eb), None))
    return batches


@dataclass
class PairPool:
    """A pooled-OT run's pairs (couplings.POOLED): data x (P, D), noise e (P, D) paired with it, the classes
    y (P,) of x (None when unconditional). Every batch is rows drawn from it."""

    x: torch.Tensor
    e: torch.Tensor
    y: torch.Tensor | None

    @classmethod
    def draw(cls, target: Target, rows: int, generator: torch.Generator, labelled: bool) -> PairPool:
        """`rows` data points and noise points from `generator`, paired by couplings.pool_pairing."""
        x, y = target.sample_labelled(rows, generator) if labelled else (target.sample_model(rows, generator), None)
        e = torch.randn(rows, x.shape[1], generator=generator)
        return cls(x, pool_pairing(x, e, y), y)

    def batches(self, n: int, count: int, generator: torch.Generator) -> list[Batch]:
        """`count` batches of n pairs, rows drawn uniformly with replacement from `generator`."""
        picks = torch.randint(len(self.x), (n * count,), generator=generator).split(n)
        return [Batch(self.x[i], self.e[i], None if self.y is None else self.y[i]) for i in picks]


def batch_source(
    config: TrainConfig, target: Target, method: Method, context: Context
) -> Callable[[torch.Generator], list[Batch]]:
    """generator -> the next chunk of batches: the method's own (reflow's stored pairs), a pooled-OT run's
    from its pool (made on the first call, from the run's POOL stream: the same pool on resume), or fresh
    draws paired by the run's coupling."""
    pair, per_draw, labelled = get_coupling(config.coupling), batches_per_draw(config.batch), config.classes > 0
    pool: list[PairPool] = []

    def draw(generator: torch.Generator) -> list[Batch]:
        own = method.own_batches(context, config.batch, per_draw, generator)
        if own is not None:
            return own
        if config.coupling != POOLED:
            return draw_batches(target, pair, config.batch, per_draw, generator, labelled)
        if not pool:
            pool.append(PairPool.draw(target, POOL_ROWS, stream(config.seed, Stream.POOL), labelled))
        return pool[0].batches(config.batch, per_draw, generator)

    return draw


class Batches:
    """The training data, one Batch at a time, drawn from its own generator and paired.

    `draw(generator)` returns a list of batches (a chunk: one sampler call for many batches). With
    `ahead`, a thread draws and pairs the next chunk while the current one trains: an optimal-transport
    assignment (scipy releases the GIL) then costs the steps little when a core is free. The batches
    are the same either way: the thread alone uses the data generator. `state()` is where the batches
    handed out so far end: the generator's state before the current chunk and how many of its batches
    were used, which checkpoints keep; `used` skips that many batches of the first chunk on resume.
    """

    def __init__(self, draw: Callable[[torch.Generator], list], generator: torch.Generator, ahead: bool, used=0):
        self._draw, self._generator = draw, generator
        self._chunk: list = []
        self._chunk_state = generator.get_state()  # before the chunk being handed out
        self._used = used  # batches of that chunk handed out (on resume: to skip)
        self._queue: queue.Queue | None = queue.Queue(maxsize=1) if ahead else None
        self._stop = threading.Event()
        self._thread = None
        if ahead:
            self._thread = threading.Thread(target=self._fill, name="next-batches", daemon=True)
            self._thread.start()

    def _draw_chunk(self) -> tuple[list, torch.Tensor]:
        state = self._generator.get_state()
        return self._draw(self._generator), state

    def _fill(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._draw_chunk()
            except Exception as exc:  # handed to the training loop, which reports it
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, Exception):
                return

    def _next_chunk(self) -> tuple[list, torch.Tensor]:
        if self._queue is None:
            return self._draw_chunk()
        item = self._queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    def next(self) -> Batch:
        while self._used >= len(self._chunk):  # used up (or, on resume, the first chunk not yet drawn)
            used = self._used - len(self._chunk)  # batches of the next chunk already trained on
            self._chunk, self._chunk_state = self._next_chunk()
            self._used = used
        batch = self._chunk[self._used]
        self._used += 1
        return batch

    def state(self) -> tuple[torch.Tensor, int]:
        """(the data generator's state before the current chunk, batches of that chunk handed out)."""
        return self._chunk_state.clone(), self._used

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


class RateMeter:
    """Steps per second over the last few reports, and the time left to the budget."""

    def __init__(self, now: float, step: int):
        self._window = [(now, step)]

    def update(self, now: float, step: int) -> float:
        self._window = (self._window + [(now, step)])[-RATE_WINDOW:]
        (t0, s0), (t1, s1) = self._window[0], self._window[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    @staticmethod
    def eta(rate: float, steps_left: int, seconds_left: float | None) -> float | None:
        """Seconds until the run ends: at `rate` for the steps left, capped by the time budget left."""
        eta = steps_left / rate if rate > 0 else None
        if seconds_left is not None:
            eta = seconds_left if eta is None else min(eta, seconds_left)
        return eta


def _finite_mean(values: np.ndarray) -> float:
    """The mean of the finite values (NaN when there are none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


class History:
    """Per-step (loss, mse, instant, average) averaged into one row every log_every steps, with the
    quality of a preview drawn since the previous row (config.HISTORY_COLUMNS)."""

    def __init__(self, rows: np.ndarray | None = None, pending=()):
        self.rows: list[tuple] = [tuple(r) for r in rows] if rows is not None else []
        # a checkpoint from before the split loss holds (loss, mse) pairs
        self.pending: list[tuple[float, ...]] = [tuple(p) + (math.nan,) * (PENDING_WIDTH - len(p)) for p in pending]
        # the latest preview's (TV, W1, FD), until a row takes it
        self.quality: tuple[float, float, float] = (math.nan, math.nan, math.nan)
        self._reported = len(self.rows)

    def add(self, loss: float, mse: float, instant: float = math.nan, average: float = math.nan) -> None:
        self.pending.append((loss, mse, instant, average))

    def flush(self, step: int, lr: float, seconds: float) -> None:
        if self.pending:
            steps = np.asarray(self.pending, dtype=np.float64)  # (k, PENDING_WIDTH)
            loss, mse = steps[:, :2].mean(axis=0)
            split = (_finite_mean(steps[:, 2]), _finite_mean(steps[:, 3]))
            self.rows.append((step, float(loss), float(mse), lr, seconds, *split, *self.quality))
            self.pending.clear()
            self.quality = (math.nan, math.nan, math.nan)

    def all(self) -> np.ndarray:
        return history_from_rows(self.rows) if self.rows else empty_history()

    def take_new(self) -> np.ndarray:
        """Rows added since the last call."""
        new = self.rows[self._reported :]
        self._reported = len(self.rows)
        return history_from_rows(new) if new else empty_history()


# ---------------------------------------------------------------- one run, set up


@dataclass
class _Run:
    """Everything the loop holds between steps: what set_up builds, and where training stands."""

    config: TrainConfig
    target: Target
    method: Method
    device: torch.device
    net: torch.nn.Module
    optimiser: torch.optim.Optimizer
    flow: Flow  # the network as a sampler (previews)
    context: Context  # what method.prepare built (reflow's pairs, shortcut's EMA), or None
    training: torch.Generator  # Stream.TRAINING: initialisation, then the loss's draws
    batches: Batches
    preview_noise: torch.Tensor  # (preview_n, 2), Stream.PREVIEW_NOISE
    history: History
    step: int  # optimiser steps done
    first_step: int  # the step this session started from (0, or the checkpoint's)
    elapsed_before: float  # seconds of training in earlier sessions (a resumed run)
    params: list[torch.Tensor] = field(default_factory=list)
    last_good: list[torch.Tensor] = field(default_factory=list)  # weights last seen to give a finite loss
    average: AveragedModel | None = None  # the moving average of the weights that samples (config.ema > 0)
    evaluator: Evaluator | None = None  # scores the previews; built at the first one
    critic: Critic | None = None  # the adversarial term's critic (config.adversarial > 0)

    def checkpoint(self, elapsed: float) -> Checkpoint:
        return make_checkpoint(
            self.net,
            self.optimiser,
            self.training,
            self.step,
            elapsed,
            self.history.all(),
            tuple(self.history.pending),
            self.method.context_tensors(self.context),
            self.batches.state(),
            self.average,
            critic_tensors(self.critic),
        )

    def preview(self) -> np.ndarray:
        """(preview_n, D) samples in data units (preview_nfe steps, one by default) from the fixed preview noise,
        so previews compare."""
        nfe, generator = self.config.preview_nfe, stream(self.config.seed, Stream.PREVIEW_SAMPLING)
        samples = self.flow.endpoint(self.preview_noise, nfe, generator)
        return self.target.normaliser.to_data(samples.cpu().double()).numpy().astype(np.float32)

    def score_preview(self, preview: np.ndarray) -> None:
        """The preview's histogram TV (2D), sliced W1 and FD (targets with a classifier) into the next history
        row (quality over time)."""
        if self.evaluator is None:
            self.evaluator = Evaluator(self.target, len(preview), stream(self.config.seed, Stream.PREVIEW_SCORING))
        quality = self.evaluator.score(preview)
        scores = (quality.hist_tv, quality.sliced_w1, quality.fd)
        self.history.quality = tuple(math.nan if v is None else v for v in scores)


def _teacher_flows(method: Method, teachers: dict[str, RunBundle], target: Target) -> dict[str, Flow]:
    """The runs a config names, rebuilt as flows; each must have been trained on `target` and suit `method`."""
    for name, bundle in teachers.items():
        bundle.check_target(name, target.name, target.dim)
        method.check_teacher(name, config_from_dict(bundle.config))
    return {name: flow_from_bundle(bundle) for name, bundle in teachers.items()}


def check_dimension(config: TrainConfig, target: Target) -> None:
    """Raise ValueError unless the config's network draws points of the target's dimension."""
    if config.dim != target.dim:
        raise ValueError(
            f"the config's network draws points of {config.dim} dimensions, but {target.name}'s have {target.dim}; "
            f"set dim={target.dim}"
        )


def _sampling_flow(config: TrainConfig, method: Method, net: torch.nn.Module, target: Target) -> Flow:
    """The Flow that samples with `net` during training (previews, the result)."""
    class_weights = target.class_weights() if config.classes else ()
    options, coupling = config.options, config.coupling
    return Flow(method, net, target.normaliser, options, config.classes, class_weights, coupling, config.dim)


def _prepare(
    method: Method, config: TrainConfig, target: Target, teachers: dict[str, Flow], net: MLP, resume: Checkpoint | None
) -> tuple[Context, float]:
    """What method.prepare builds, and the seconds it took that count towards the budget: a fresh run's
    (reflow's teacher pairs are part of the budget, as training is); none on resume, whose first session
    paid for them (its checkpoint says how many pairs to remake)."""
    preparing = time.perf_counter()
    saved = None if resume is None else resume.context_tensors
    context = method.prepare(config, target, teachers, stream(config.seed, Stream.METHOD), net, saved)
    return context, (time.perf_counter() - preparing if resume is None else 0.0)


def set_up(config: TrainConfig, target: Target, resume: Checkpoint | None, teachers: dict[str, RunBundle]) -> _Run:
    """The network, optimiser, method state and data of a run, at step 0 or where `resume` left it."""
    check_dimension(config, target)
    device = pick_device(config.device)
    method = check_config(config)
    training = stream(config.seed, Stream.TRAINING)
    net = build_network(config, generator=training).to(device)
    average = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(config.ema)) if config.ema else None
    sampler = average.module if average is not None else net  # the weights that sample
    flow = _sampling_flow(config, method, sampler, target)
    optimiser = make_optimiser(net, config.lr, config.adam_beta2)
    critic = build_critic(config, stream(config.seed, Stream.CRITIC), device)
    teacher_flows = _teacher_flows(method, teachers, target)
    context, prepared_in = _prepare(method, config, target, teacher_flows, net, resume)
    data = stream(config.seed, Stream.DATA)
    history, step, elapsed_before, data_used = History(), 0, 0.0, 0
    if resume is not None:
        restore_checkpoint(resume, net, optimiser, training, average)
        data.set_state(resume.tensors["rng_data"])
        data_used = int(resume.tensors.get("rng_data_used", 0))  # 0 in checkpoints from before chunked draws
        method.load_context_tensors(context, resume.context_tensors)
        load_critic_tensors(critic, resume.critic_tensors)
        step, elapsed_before = resume.step, resume.elapsed
        history = History(resume.history, resume.pending)
    elapsed_before += prepared_in
    per_draw = batches_per_draw(config.batch)
    batches = Batches(
        batch_source(config, target, method, context),
        data,
        ahead=config.coupling != "independent",  # an assignment is worth a thread; a plain draw is not
        used=min(max(0, data_used), per_draw),  # a hand-edited checkpoint cannot index outside its chunk
    )
    params = list(net.parameters())
    return _Run(
        config=config,
        target=target,
        method=method,
        device=device,
        net=net,
        optimiser=optimiser,
        flow=flow,
        context=context,
        training=training,
        batches=batches,
        preview_noise=torch.randn(config.preview_n, config.dim, generator=stream(config.seed, Stream.PREVIEW_NOISE)),
        history=history,
        step=step,
        first_step=step,
        elapsed_before=elapsed_before,
        params=params,
        last_good=[p.detach().clone() for p in params],
        average=average,
        critic=critic,
    )


# ---------------------------------------------------------------- one step


def train_step(run: _Run, fraction: float) -> bool:
    """One optimiser step at `fraction` of the budget; False (weights rolled back) when its loss is not finite."""
    x, e, y = run.batches.next()
    net = conditioned(run.net, y, run.config, run.training, run.device)
    x, e = x.to(run.device), e.to(run.device)
    terms = run.method.loss(net, x, e, run.training, run.config.options, fraction, run.context)
    total = terms.loss
    for extra in (
        adversarial_term(run.critic, run.method, net, x, e, run.config.options, run.training, fraction),
        moment_term(run.config, run.method, net, x, e, run.training, fraction, run.step),
    ):
        if extra is not None:
            total = total + extra
    loss = float(total.detach())
    if not math.isfinite(loss):
        copy_parameters(run.params, run.last_good)
        return False
    copy_parameters(run.last_good, run.params)
    run.optimiser.zero_grad(set_to_none=True)
    total.backward()
    run.optimiser.step()
    if run.average is not None:
        run.average.update_parameters(run.net)
    run.method.after_step(run.context, run.net)
    run.step += 1
    run.history.add(loss, float(terms.mse), float(terms.instant), float(terms.average))
    return True


def _set_lr(optimiser: torch.optim.Optimizer, lr: float) -> None:
    for group in optimiser.param_groups:
        group["lr"] = lr


def _scored_preview(run: _Run) -> np.ndarray:
    """A one-step preview, its quality put into the history row of this step (quality over time)."""
    samples = run.preview()
    run.score_preview(samples)
    return samples


def _progress(run: _Run, meter: RateMeter, spent: float, now: float, samples: np.ndarray | None) -> Progress:
    """A report of where the run stands (with a one-step preview on preview steps)."""
    config = run.config
    rate = meter.update(now, run.step)
    left = None if config.max_seconds is None else max(0.0, config.max_seconds - spent)
    return Progress(
        run.step,
        config.steps,
        spent,
        rate,
        RateMeter.eta(rate, config.steps - run.step, left),
        run.history.take_new(),
        samples,
        run.step if samples is not None else 0,
    )


def _end(run: _Run, state: str, message: str, lr: float, start: float) -> RunResult:
    """The final preview (a non-finite one undoes the last update: the run failed), the history's last
    row, and the result with its final checkpoint."""
    final_preview = run.preview()
    if state != "failed" and not np.isfinite(final_preview).all():
        copy_parameters(run.params, run.last_good)  # the last update blew up (no later loss saw it): undo it
        state, message = "failed", f"diverged at step {run.step}"
        final_preview = run.preview()
    session_seconds = time.perf_counter() - start
    elapsed = run.elapsed_before + session_seconds
    if np.isfinite(final_preview).all():
        run.score_preview(final_preview)
    run.history.flush(run.step, lr, elapsed)
    rate = (run.step - run.first_step) / session_seconds if session_seconds > 0 else 0.0
    run.flow.net.eval()
    return RunResult(
        state, message, run.step, elapsed, rate, run.history.all(), final_preview, run.checkpoint(elapsed), run.flow
    )


# ---------------------------------------------------------------- the loop


def run_training(
    config: TrainConfig,
    target: Target,
    *,
    resume: Checkpoint | None = None,
    teachers: dict[str, RunBundle] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    pause_at: int | None = None,
) -> RunResult:
    """Train `config` on `target` until its steps or seconds run out, should_stop() says so, or it diverges.

    resume: continue from this checkpoint (same config; steps and max_seconds may be larger).
    teachers: the runs the config's options name (reflow's teacher), as bundles shipped with the job.
    on_start() runs once the network is built; on_progress(Progress) at least every PUBLISH_SECONDS;
    on_checkpoint(Checkpoint) at least every config.checkpoint_seconds of training.
    pause_at: end as "stopped" ("paused at step N") once this many steps are done (the app's Step: a
        resume continues exactly where it paused; the config, and so the schedule, is unchanged).
    """
    run = set_up(config, target, resume, teachers or {})
    try:
        start = time.perf_counter()
        last_publish = last_checkpoint = start
        meter = RateMeter(start, run.step)
        if on_start is not None:
            on_start()
        lr = lr_at(config, config.budget_fraction(run.step, run.elapsed_before))
        state, message = "done", f"finished {steps_label(config.steps)}"
        while run.step < config.steps:
            elapsed = run.elapsed_before + time.perf_counter() - start
            if should_stop():
                state, message = "stopped", f"stopped at step {run.step}"
                break
            if pause_at is not None and run.step >= pause_at:
                state, message = "stopped", f"{PAUSED} {run.step}"
                break
            if config.max_seconds is not None and elapsed >= config.max_seconds:
                state, message = (
                    "stopped",
                    f"time budget of {round(config.max_seconds, 1):g} s reached at step {run.step}",
                )
                break
            fraction = config.budget_fraction(run.step, elapsed)
            lr = lr_at(config, fraction)
            _set_lr(run.optimiser, lr)
            if not train_step(run, fraction):
                state, message = "failed", f"diverged at step {run.step + 1}"
                break
            is_preview = on_progress is not None and run.step % config.preview_every == 0
            samples = _scored_preview(run) if is_preview else None  # before the row its quality goes into
            now = time.perf_counter()
            spent = run.elapsed_before + now - start
            if run.step % config.log_every == 0:
                run.history.flush(run.step, lr, spent)
            if on_checkpoint is not None and now - last_checkpoint >= config.checkpoint_seconds:
                on_checkpoint(run.checkpoint(spent))
                last_checkpoint = now
            first = run.step == run.first_step + 1
            if on_progress is not None and (is_preview or first or now - last_publish >= PUBLISH_SECONDS):
                on_progress(_progress(run, meter, spent, now, samples))
                last_publish = now
    finally:
        run.batches.close()
    return _end(run, state, message, lr, start)
