"""The training loop, as plain functions: one step, the rollback, rate accounting, checkpoints.

It runs in whatever process calls it (a worker of the job engine, a test, a benchmark) and knows
nothing of processes, pages or disks: it reports through callbacks (minGPT's trainer habit) and
returns a RunResult. It changes no process-wide setting (threads, switch interval): its host does.

A NaN or infinite loss at step N ends the run as failed ("diverged at step N") with the last good
weights, the last ones seen to give a finite loss (after N - 2 updates). A Checkpoint holds
everything a step depends on (weights, optimiser, random state, step, history), so a run resumed
from one continues exactly as if it had never stopped.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import TrainConfig, empty_history, history_from_rows
from .couplings import get_coupling
from .methods import build_network, get_method
from .models import Conditioned, pick_device
from .sampling import Flow, integrate
from .targets import Target

PUBLISH_SECONDS = 0.25  # how often a running job reports between previews
RATE_WINDOW = 8  # reports in the steps/s window: about the last two seconds
DRAW_ROWS = 8192  # rows per call to a target's sampler (Batches): its per-call cost, spread over many batches


@dataclass(frozen=True)
class Checkpoint:
    """Everything a run needs to continue exactly: tensors (weights 'net.*', optimiser 'adam.*', the
    loss's random state 'rng', the data's 'rng_data' before the current chunk of batches and the
    batches of it used 'rng_data_used'), the optimiser's settings, the step, time spent and the history."""

    step: int
    elapsed: float  # seconds of training before this checkpoint
    tensors: dict[str, torch.Tensor]
    adam_groups: list[dict]  # the optimiser's param_groups without their parameter lists
    history: np.ndarray  # rows so far (config.HISTORY_DTYPE)
    pending: tuple[tuple[float, float], ...] = ()  # (loss, mse) of steps not yet in a history row

    @property
    def weights(self) -> dict[str, torch.Tensor]:
        """The network's state_dict."""
        return {k[4:]: v for k, v in self.tensors.items() if k.startswith("net.")}


@dataclass(frozen=True)
class Progress:
    """One report of a running job: plain data, no torch objects (it crosses process boundaries)."""

    step: int
    total_steps: int
    elapsed: float  # seconds of training, resumed runs included
    steps_per_sec: float
    eta_seconds: float | None
    new_history: np.ndarray  # rows added since the previous report
    preview: np.ndarray | None = None  # (preview_n, 2) one-step samples in data units
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


def budget_fraction(config: TrainConfig, step: int, elapsed: float) -> float:
    """How much of the run's budget (steps or seconds, whichever runs out first) is spent."""
    fraction = step / config.steps
    if config.max_seconds is not None:
        fraction = max(fraction, elapsed / config.max_seconds)
    return min(1.0, fraction)


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


def make_optimiser(net: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam with its fused kernel: one pass over all parameters instead of ten small ops each
    (measured: a flow-matching step at the default size 2.26 -> 1.73 ms on this CPU)."""
    return torch.optim.Adam(net.parameters(), lr=lr, fused=True)


def batches_per_draw(batch: int) -> int:
    """How many batches one call to the sampler draws: about DRAW_ROWS rows, at least one batch."""
    return max(1, DRAW_ROWS // batch)


class Batches:
    """The training data, one (x, e, y) batch at a time, drawn from its own generator and paired.

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

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
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


class History:
    """Per-step (loss, mse) averaged into one row every log_every steps."""

    def __init__(self, rows: np.ndarray | None = None, pending=()):
        self.rows: list[tuple] = [tuple(r) for r in rows] if rows is not None else []
        self.pending: list[tuple[float, float]] = list(pending)
        self._reported = len(self.rows)

    def add(self, loss: float, mse: float) -> None:
        self.pending.append((loss, mse))

    def flush(self, step: int, lr: float, seconds: float) -> None:
        if self.pending:
            loss, mse = np.mean(self.pending, axis=0)
            self.rows.append((step, float(loss), float(mse), lr, seconds))
            self.pending.clear()

    def all(self) -> np.ndarray:
        return history_from_rows(self.rows) if self.rows else empty_history()

    def take_new(self) -> np.ndarray:
        """Rows added since the last call."""
        new = self.rows[self._reported :]
        self._reported = len(self.rows)
        return history_from_rows(new) if new else empty_history()


# ---------------------------------------------------------------- checkpoints


def make_checkpoint(
    net: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
    step: int,
    elapsed: float,
    history: History,
    context_tensors: dict | None = None,
    data_state: tuple[torch.Tensor, int] | None = None,
) -> Checkpoint:
    """A copy of everything the next step depends on, on the CPU (context_tensors: the method's own
    state; data_state: where the batches stand, from Batches.state())."""
    tensors = {f"net.{k}": v.detach().cpu().clone() for k, v in net.state_dict().items()}
    tensors.update({f"ctx.{k}": v.detach().cpu().clone() for k, v in (context_tensors or {}).items()})
    state = optimiser.state_dict()
    for i, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"adam.{i}.{name}"] = torch.as_tensor(value).detach().cpu().clone()
    tensors["rng"] = generator.get_state().clone()
    if data_state is not None:
        tensors["rng_data"], tensors["rng_data_used"] = data_state[0].clone(), torch.tensor(data_state[1])
    # as plain JSON values (tuples become lists), the form they take in a checkpoint file
    groups = json.loads(json.dumps([{k: v for k, v in g.items() if k != "params"} for g in state["param_groups"]]))
    return Checkpoint(step, elapsed, tensors, groups, history.all(), tuple(history.pending))


def restore_checkpoint(
    checkpoint: Checkpoint, net: torch.nn.Module, optimiser: torch.optim.Optimizer, generator: torch.Generator
) -> None:
    """Put a checkpoint's weights, optimiser state and random state back (inverse of make_checkpoint)."""
    device = next(net.parameters()).device
    net.load_state_dict({k: v.to(device) for k, v in checkpoint.weights.items()}, strict=True)
    slots: dict[int, dict] = {}
    for key, value in checkpoint.tensors.items():
        if key.startswith("adam."):
            _, i, name = key.split(".", 2)
            slots.setdefault(int(i), {})[name] = value if name == "step" else value.to(device)
    n_params = len(list(net.parameters()))
    groups = [{**g, "params": list(range(n_params))} for g in checkpoint.adam_groups]
    optimiser.load_state_dict({"state": slots, "param_groups": groups})
    generator.set_state(checkpoint.tensors["rng"])


# ---------------------------------------------------------------- the loop


def run_training(
    config: TrainConfig,
    target: Target,
    *,
    resume: Checkpoint | None = None,
    extras: dict | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
) -> RunResult:
    """Train `config` on `target` until its steps or seconds run out, should_stop() says so, or it diverges.

    resume: continue from this checkpoint (same config; steps and max_seconds may be larger).
    extras: inputs a method needs beyond the target (reflow's teacher), shipped with the job.
    on_start() runs once the network is built; on_progress(Progress) at least every PUBLISH_SECONDS;
    on_checkpoint(Checkpoint) at least every config.checkpoint_seconds of training.
    """
    device = pick_device(config.device)
    method, options = get_method(config.method), config.options
    pair = get_coupling(config.coupling)
    g = torch.Generator().manual_seed(config.seed)  # initialisation, then the loss's own draws (times)
    data = torch.Generator().manual_seed(config.seed + 4)  # the batches: drawn ahead, so kept apart
    net = build_network(config, generator=g).to(device)
    flow = Flow(
        config.method, net, target.normaliser, options, config.classes, target.class_weights() if config.classes else ()
    )
    optimiser = make_optimiser(net, config.lr)
    context = method.prepare(config, target, extras or {}, torch.Generator().manual_seed(config.seed + 2), net)
    preview_noise = torch.randn(config.preview_n, 2, generator=torch.Generator().manual_seed(config.seed + 1))
    history = History()
    step, elapsed_before, data_used = 0, 0.0, 0
    if resume is not None:
        restore_checkpoint(resume, net, optimiser, g)
        data.set_state(resume.tensors["rng_data"])
        data_used = int(resume.tensors.get("rng_data_used", 0))  # 0 in checkpoints from before chunked draws
        method.load_context_tensors(context, {k[4:]: v for k, v in resume.tensors.items() if k.startswith("ctx.")})
        step, elapsed_before = resume.step, resume.elapsed
        history = History(resume.history, resume.pending)
    params = list(net.parameters())
    last_good = [p.detach().clone() for p in params]

    def preview() -> np.ndarray:
        """(n, 2) one-step samples in data units from a fixed noise, so previews are comparable."""
        path = integrate(flow, preview_noise, 1, torch.Generator().manual_seed(config.seed + 3))
        return target.normaliser.to_data(path[-1].cpu().double()).numpy().astype(np.float32)

    per_draw = batches_per_draw(config.batch)
    batches = Batches(
        lambda gen: method.draw_batches(context, target, pair, config.batch, per_draw, gen, config.classes > 0),
        data,
        ahead=config.coupling != "independent",  # an assignment is worth a thread; a plain draw is not
        used=min(max(0, data_used), per_draw),  # a hand-edited checkpoint cannot index outside its chunk
    )
    try:
        start = time.perf_counter()
        last_publish = last_checkpoint = start
        meter = RateMeter(start, step)
        if on_start is not None:
            on_start()
        lr = lr_at(config, budget_fraction(config, step, elapsed_before))
        end_state, message = "done", f"finished {config.steps} steps"
        while step < config.steps:
            now = time.perf_counter()
            elapsed = elapsed_before + now - start
            if should_stop():
                end_state, message = "stopped", f"stopped at step {step}"
                break
            if config.max_seconds is not None and elapsed >= config.max_seconds:
                end_state, message = "stopped", f"time budget of {config.max_seconds:g} s reached at step {step}"
                break
            fraction = budget_fraction(config, step, elapsed)
            lr = lr_at(config, fraction)
            for group in optimiser.param_groups:
                group["lr"] = lr

            x, e, y = batches.next()
            terms = method.loss(
                conditioned(net, y, config, g, device), x.to(device), e.to(device), g, options, fraction, context
            )
            loss = float(terms.loss.detach())
            if not math.isfinite(loss):
                copy_parameters(params, last_good)
                end_state, message = "failed", f"diverged at step {step + 1}"
                break
            copy_parameters(last_good, params)
            optimiser.zero_grad(set_to_none=True)
            terms.loss.backward()
            optimiser.step()
            method.after_step(context, net)
            step += 1
            now = time.perf_counter()
            history.add(loss, float(terms.mse))
            if step % config.log_every == 0:
                history.flush(step, lr, elapsed_before + now - start)

            if on_checkpoint is not None and now - last_checkpoint >= config.checkpoint_seconds:
                on_checkpoint(
                    make_checkpoint(
                        net,
                        optimiser,
                        g,
                        step,
                        elapsed_before + now - start,
                        history,
                        method.context_tensors(context),
                        batches.state(),
                    )
                )
                last_checkpoint = now
            is_preview = step % config.preview_every == 0
            first = resume is None and step == 1 or resume is not None and step == resume.step + 1
            if on_progress is not None and (is_preview or first or now - last_publish >= PUBLISH_SECONDS):
                rate = meter.update(now, step)
                spent = elapsed_before + now - start
                left = None if config.max_seconds is None else max(0.0, config.max_seconds - spent)
                on_progress(
                    Progress(
                        step,
                        config.steps,
                        spent,
                        rate,
                        RateMeter.eta(rate, config.steps - step, left),
                        history.take_new(),
                        preview() if is_preview else None,
                        step if is_preview else 0,
                    )
                )
                last_publish = now
    finally:
        batches.close()

    final_preview = preview()
    if end_state != "failed" and not np.isfinite(final_preview).all():
        copy_parameters(params, last_good)  # the last update blew up (no later loss saw it): undo it
        end_state, message = "failed", f"diverged at step {step}"
        final_preview = preview()
    elapsed = elapsed_before + time.perf_counter() - start
    history.flush(step, lr, elapsed)
    session_seconds = time.perf_counter() - start
    rate = (step - (resume.step if resume else 0)) / session_seconds if session_seconds > 0 else 0.0
    net.eval()
    return RunResult(
        end_state,
        message,
        step,
        elapsed,
        rate,
        history.all(),
        final_preview,
        make_checkpoint(net, optimiser, g, step, elapsed, history, method.context_tensors(context), batches.state()),
        flow,
    )


def train(config: TrainConfig, target: Target, **kwargs) -> RunResult:
    """run_training in the caller's thread (tests, benchmarks, scripts)."""
    return run_training(config, target, **kwargs)
