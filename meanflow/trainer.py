"""The training job: a background thread that trains one network and reports snapshots.

The job knows nothing of its caller (a page, the command line, a test): callers poll
`snapshot()`, an immutable object replaced whole under a lock, or pass `on_snapshot`.
`stop()` sets an Event checked every step, so a run stops within one step. A NaN or infinite
loss at step N ends the run as failed ("diverged at step N") and keeps the last good weights:
the last ones seen to give a finite loss (at step N - 1, that is, after N - 2 updates).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from .couplings import get_coupling
from .methods import MeanFlowConfig, build_network, get_method
from .models import ACTIVATIONS, pick_device
from .sampling import Flow, integrate
from .targets import Target

STATES = ("pending", "running", "done", "stopped", "failed")
MAX_HIDDEN, MAX_DEPTH, MAX_BATCH = 4096, 32, 65536  # sizes a 2D toy never needs; keep hostile configs small
FINISHED = ("done", "stopped", "failed")
PUBLISH_SECONDS = 0.25  # how often a running job replaces its snapshot between previews
# Each torch op releases the GIL and must take it back; with UI threads busy in Python, the default
# 5 ms switch interval made every re-acquisition wait (measured: 52 vs 99 steps/s beside three
# busy threads, 366 alone). 0.5 ms shortens that wait; below it nothing more was gained.
GIL_SWITCH_SECONDS = 0.0005


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults give a crisp 2D result in about a minute on 2 CPU cores."""

    method: str = "meanflow"  # a key of methods.METHODS
    target: str = "checkerboard"  # a preset name, or the data file's name for data targets
    steps: int = 3000  # optimiser steps; the run ends at steps or max_seconds, whichever comes first
    max_seconds: float | None = None  # wall-clock budget; None: no limit
    # Small batches trade gradient noise for steps per second; at a fixed 30 s budget batch 256 with
    # lr 5e-3 beat batch 512 with 3e-3 (checkerboard one-step TV 0.346 vs 0.353, spiral 0.29 vs 0.37).
    batch: int = 256
    hidden: int = 128  # width of each hidden layer
    depth: int = 4  # hidden layers (4 x 64 is the seed tutorial's net)
    activation: str = "silu"  # smooth, and trained better than GELU on 2D toys
    lr: float = 5e-3  # Adam's peak learning rate (see batch)
    lr_final_ratio: float = 0.1  # cosine decay to lr * ratio at the end of the budget; 1.0: constant
    seed: int = 0  # seeds initialisation, data, noise and times: same seed and step count, same run
    # (a max_seconds budget ends at a machine-dependent step and shapes the learning-rate decay)
    meanflow: MeanFlowConfig = field(default_factory=MeanFlowConfig)  # used by the meanflow method
    # How noise is paired with data (couplings.COUPLINGS); None: the method's default
    # (MeanFlow: minibatch-ot, flow matching: independent).
    coupling: str | None = None
    log_every: int = 10  # steps averaged into one history row: smooth curves, small metrics.csv
    preview_every: int = 200  # steps between one-step preview samples
    preview_n: int = 1000  # points in each preview
    threads: int = 1  # torch CPU threads; 1 is fastest for small nets, and leaves a core for the UI
    device: str = "auto"  # auto picks CUDA when available

    def __post_init__(self):
        get_method(self.method)  # raises on an unknown method, listing the accepted ones
        if self.coupling is not None:
            get_coupling(self.coupling)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; accepted: {', '.join(ACTIVATIONS)}")
        for name in ("steps", "batch", "hidden", "depth", "log_every", "preview_every", "preview_n", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.hidden > MAX_HIDDEN or self.depth > MAX_DEPTH or self.batch > MAX_BATCH:
            raise ValueError(f"hidden <= {MAX_HIDDEN}, depth <= {MAX_DEPTH} and batch <= {MAX_BATCH} are accepted; "
                             "larger nets do not fit this playground")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be in [0, 2**63), got {self.seed!r}")
        if not 0 < self.lr_final_ratio <= 1:
            raise ValueError(f"lr_final_ratio must be in (0, 1], got {self.lr_final_ratio!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds!r}")


@dataclass(frozen=True)
class Snapshot:
    """What a caller may read of a job at one moment. Arrays are copies, never written again."""

    state: str  # one of STATES
    step: int  # optimiser steps done
    total_steps: int
    elapsed: float  # seconds since the job started
    budget_seconds: float | None  # the run's max_seconds
    steps_per_sec: float
    eta_seconds: float | None
    history: np.ndarray  # (rows, 5): step, loss, mse, lr, seconds; a row averages log_every steps
    preview: np.ndarray | None = None  # (preview_n, 2) one-step samples in data units
    preview_step: int = 0
    message: str = ""  # why a run failed, or how it ended

    @property
    def progress(self) -> float:
        """Fraction of the budget (steps or seconds, whichever runs out first) spent, in [0, 1]."""
        if self.finished:
            return 1.0
        spent = self.step / max(1, self.total_steps)
        if self.budget_seconds:
            spent = max(spent, self.elapsed / self.budget_seconds)
        return min(1.0, spent)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


HISTORY_COLUMNS = ("step", "loss", "mse", "lr", "seconds")


def _lr_at(config: TrainConfig, fraction: float) -> float:
    """Cosine decay from lr to lr * lr_final_ratio as the budget fraction goes 0 -> 1."""
    floor = config.lr * config.lr_final_ratio
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, fraction)))


class TrainingJob:
    """Trains `config` on `target` in a background thread; poll `snapshot()`, call `stop()`."""

    def __init__(self, config: TrainConfig, target: Target,
                 on_snapshot: Callable[[Snapshot], None] | None = None):
        """on_snapshot(snapshot) runs in the job's thread at each new snapshot."""
        if config.coupling is None:  # record what is used, so a saved config never depends on defaults
            config = replace(config, coupling=get_method(config.method).default_coupling)
        self.config = config
        self.target = target
        self._on_snapshot = on_snapshot
        self._done_callbacks: list[Callable[["TrainingJob"], None]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._flow: Flow | None = None
        self._history: list[tuple[float, ...]] = []
        self._pending: list[tuple[float, float]] = []  # (loss, mse) of steps not yet in a history row
        self._snapshot = Snapshot("pending", 0, config.steps, 0.0, config.max_seconds, 0.0, None, np.zeros((0, 5)))

    # -- the caller's side

    def start(self) -> "TrainingJob":
        if self._thread is not None:
            raise RuntimeError("a job starts once")
        self._thread = threading.Thread(target=self._run, name=f"train-{self.config.method}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the run to end after the current step; the weights so far are kept."""
        self._stop.set()

    def cancel(self) -> None:
        """End a job that was never started (e.g. still queued): it ends as stopped, with no network."""
        if self._thread is not None:
            raise RuntimeError("cancel() is for jobs that never started; use stop()")
        self._stop.set()
        self._publish(state="stopped", message="cancelled before it started")
        self._run_done_callbacks()

    def add_done_callback(self, fn: Callable[["TrainingJob"], None]) -> None:
        """fn(job) runs once when the job has ended, after its final snapshot (in the job's thread)."""
        self._done_callbacks.append(fn)

    def _run_done_callbacks(self) -> None:
        for fn in self._done_callbacks:
            try:
                fn(self)
            except Exception as exc:  # a callback's failure must not hide the run's own result
                self._publish(message=f"{self._snapshot.message} (after it ended: {type(exc).__name__}: {exc})")

    def join(self, timeout: float | None = None) -> Snapshot:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    @property
    def flow(self) -> Flow | None:
        """The trained network, once the job has finished (None before, or if it never built one)."""
        return self._flow if self.snapshot().finished else None

    @property
    def history(self) -> np.ndarray:
        """(rows, 5) rows of HISTORY_COLUMNS."""
        return self.snapshot().history

    # -- the thread's side

    def _publish(self, **changes) -> None:
        with self._lock:
            self._snapshot = replace(self._snapshot, history=np.asarray(self._history).reshape(-1, 5), **changes)
            snap = self._snapshot
        if self._on_snapshot is not None:
            self._on_snapshot(snap)

    def _run(self) -> None:
        try:
            self._train()
        except Exception as exc:  # a job never takes the process down; it reports why it ended
            self._publish(state="failed", message=f"{type(exc).__name__}: {exc}")
        self._run_done_callbacks()

    def _train(self) -> None:
        cfg = self.config
        torch.set_num_threads(cfg.threads)  # process-wide: 1 keeps a core free for the UI
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_SECONDS))  # process-wide too
        device = pick_device(cfg.device)
        g = torch.Generator().manual_seed(cfg.seed)
        method = get_method(cfg.method)
        pair = get_coupling(cfg.coupling)
        net = build_network(cfg.method, cfg.hidden, cfg.depth, cfg.activation, generator=g).to(device)
        self._flow = Flow(cfg.method, net, self.target.normaliser)
        optimiser = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        last_good = [p.detach().clone() for p in net.parameters()]
        preview_noise = torch.randn(cfg.preview_n, 2, generator=torch.Generator().manual_seed(cfg.seed + 1))

        start = time.perf_counter()
        last_publish = start
        rate_window: list[tuple[float, int]] = [(start, 0)]
        self._publish(state="running")
        step, lr = 0, cfg.lr
        end_state, message = "done", f"finished {cfg.steps} steps"
        while step < cfg.steps:
            now = time.perf_counter()
            if self._stop.is_set():
                end_state, message = "stopped", f"stopped at step {step}"
                break
            if cfg.max_seconds is not None and now - start >= cfg.max_seconds:
                end_state, message = "stopped", f"time budget of {cfg.max_seconds:g} s reached at step {step}"
                break
            fraction = step / cfg.steps
            if cfg.max_seconds is not None:
                fraction = max(fraction, (now - start) / cfg.max_seconds)
            lr = _lr_at(cfg, fraction)
            for group in optimiser.param_groups:
                group["lr"] = lr

            x = self.target.sample_model(cfg.batch, g).to(device)  # (B, 2)
            e = pair(x, torch.randn(cfg.batch, 2, generator=g).to(device))  # (B, 2)
            terms = method.loss(net, x, e, g, cfg.meanflow)
            loss = float(terms.loss.detach())
            if not math.isfinite(loss):
                with torch.no_grad():
                    for p, saved in zip(net.parameters(), last_good):
                        p.copy_(saved)
                end_state, message = "failed", f"diverged at step {step + 1}"
                break
            with torch.no_grad():
                for p, saved in zip(net.parameters(), last_good):
                    saved.copy_(p)
            optimiser.zero_grad(set_to_none=True)
            terms.loss.backward()
            optimiser.step()
            step += 1
            now = time.perf_counter()
            self._pending.append((loss, float(terms.mse)))
            if step % cfg.log_every == 0:
                self._flush_history(step, lr, now - start)

            preview = step % cfg.preview_every == 0
            if preview or now - last_publish >= PUBLISH_SECONDS:
                rate_window = (rate_window + [(now, step)])[-8:]  # about the last two seconds
                (t0, s0), (t1, s1) = rate_window[0], rate_window[-1]
                rate = (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
                eta = (cfg.steps - step) / rate if rate > 0 else None
                if cfg.max_seconds is not None:
                    left = max(0.0, cfg.max_seconds - (now - start))
                    eta = left if eta is None else min(eta, left)
                changes = dict(step=step, elapsed=now - start, steps_per_sec=rate, eta_seconds=eta)
                if preview:
                    changes.update(preview=self._preview(preview_noise), preview_step=step)
                self._publish(**changes)
                last_publish = now

        preview = self._preview(preview_noise)
        if end_state != "failed" and not np.isfinite(preview).all():
            with torch.no_grad():  # the last update blew up (no later loss saw it): undo it
                for p, saved in zip(net.parameters(), last_good):
                    p.copy_(saved)
            end_state, message = "failed", f"diverged at step {step}"
            preview = self._preview(preview_noise)
        elapsed = time.perf_counter() - start
        self._flush_history(step, lr, elapsed)
        rate = step / elapsed if elapsed > 0 else 0.0
        self._publish(state=end_state, message=message, step=step, elapsed=elapsed, steps_per_sec=rate,
                      eta_seconds=0.0, preview=preview, preview_step=step)

    def _flush_history(self, step: int, lr: float, seconds: float) -> None:
        if self._pending:
            loss, mse = np.mean(self._pending, axis=0)
            self._history.append((step, float(loss), float(mse), lr, seconds))
            self._pending.clear()

    def _preview(self, noise: torch.Tensor) -> np.ndarray:
        """(n, 2) one-step samples in data units from a fixed noise, so previews are comparable."""
        path = integrate(self._flow, noise, 1)
        return self._flow.normaliser.to_data(path[-1].cpu().double()).numpy().astype(np.float32)


def train(config: TrainConfig, target: Target) -> TrainingJob:
    """Run a job to its end in the caller's thread's time (the work still happens in the job's thread)."""
    job = TrainingJob(config, target).start()
    job.join()
    return job
