"""What a run is, as plain data: its config, its states, its history columns, and the limits.

Imports no torch, so the figures, the run-folder listing and the pages' widgets stay light.
A method's own options are a frozen dataclass that lives with the method (meanflow/methods/);
`TrainConfig.options` holds one, and `option()` below is how every options field declares its
help text and accepted values, so the Train page and the command line build their widgets and
flags from the same declaration.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

import numpy as np

# ---------------------------------------------------------------- run states

RunState = Literal["queued", "running", "done", "stopped", "failed", "interrupted"]
RUN_STATES: tuple[str, ...] = get_args(RunState)
FINISHED: tuple[str, ...] = ("done", "stopped", "failed")  # the job has ended and its weights are saved
ACTIVE: tuple[str, ...] = ("queued", "running")  # a job of this server's engine owns the run
# "interrupted": the run folder says queued or running, but no live job owns it (the server or
# its worker went away); its last checkpoint can be resumed.

# ---------------------------------------------------------------- the training history

# One row per log_every optimiser steps: the mean loss and mse of those steps, the learning rate
# and the wall time at the row's last step. A numpy structured array: columns read by name.
HISTORY_COLUMNS: tuple[str, ...] = ("step", "loss", "mse", "lr", "seconds")
HISTORY_DTYPE = np.dtype([(name, np.float64) for name in HISTORY_COLUMNS])


def empty_history() -> np.ndarray:
    """A history with no rows yet: shape (0,), dtype HISTORY_DTYPE."""
    return np.zeros(0, dtype=HISTORY_DTYPE)


def history_from_rows(rows) -> np.ndarray:
    """A structured history from an iterable of (step, loss, mse, lr, seconds) tuples."""
    return np.array([tuple(r) for r in rows], dtype=HISTORY_DTYPE)


# ---------------------------------------------------------------- limits (one place each)

# Sizes a 2D toy never needs; hostile configs stay small. Every size accepted here can be saved,
# loaded and sampled (tests/test_runs.py trains and reloads the largest).
MAX_HIDDEN, MAX_DEPTH, MAX_BATCH, MAX_STEPS = 2048, 16, 65536, 10_000_000
MAX_SECONDS = 3600.0  # the command line's longest budget; the app allows less (see app_pages)
MAX_NFE = 1024  # sampling steps; far beyond where 2D samples stop changing
MAX_SAMPLES = 1_000_000  # points drawn by one `sample` call
# A run's compute budget: parameters x batch x seconds. The default sizes it for this 2-core
# machine: the default network (about 50k parameters) at batch 256 may train 600 s (8e9), a
# 512-wide, 8-deep net at batch 2048 only about 23 s. MEANFLOW_COMPUTE_BUDGET raises it.
DEFAULT_COMPUTE_BUDGET = 1e11


def compute_budget() -> float:
    """The per-run limit on parameters x batch x seconds ($MEANFLOW_COMPUTE_BUDGET, default 1e11)."""
    return _positive_env("MEANFLOW_COMPUTE_BUDGET", DEFAULT_COMPUTE_BUDGET)


def _positive_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        value = default
    return value if math.isfinite(value) and value > 0 else default


def mlp_widths(in_dim: int, hidden: int, depth: int, out_dim: int = 2) -> list[int]:
    """Layer widths of the MLP: in_dim, `depth` hidden layers of `hidden` units, out_dim."""
    return [in_dim] + [hidden] * depth + [out_dim]


def parameter_count(widths: list[int]) -> int:
    """Weights and biases of an MLP with these layer widths."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


# ---------------------------------------------------------------- options fields


def option(
    default,
    help: str,
    choices: tuple | None = None,
    lo: float | None = None,
    hi: float | None = None,
    ablation_only: bool = False,
    integer: bool = False,
    run: bool = False,
):
    """A field of a method's options dataclass, with what the UI and the CLI need to offer it.

    choices: the accepted values (a select box, argparse choices); lo/hi: a closed numeric range;
    ablation_only: studies may set it, ordinary training never offers it (e.g. a wrong tangent);
    run: the value names another run's folder (the Train page offers a run picker).
    """
    meta = {
        "help": help,
        "choices": choices,
        "lo": lo,
        "hi": hi,
        "ablation_only": ablation_only,
        "integer": integer,
        "run": run,
    }
    return field(default=default, metadata=meta)


def check_options(options) -> None:
    """Raise ValueError naming the field and what is accepted, for any value outside its declaration."""
    for f in fields(options):
        value, meta = getattr(options, f.name), f.metadata
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise ValueError(f"{f.name} must be one of {', '.join(map(str, meta['choices']))}; got {value!r}")
        if meta.get("lo") is not None or meta.get("hi") is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            if meta.get("integer") and int(value) != value:
                raise ValueError(f"{f.name} must be a whole number, got {value!r}")
            lo, hi = meta.get("lo"), meta.get("hi")
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise ValueError(f"{f.name} must be in [{lo}, {hi}], got {value!r}")


class Options:
    """Base of every method's options dataclass: values are checked against their `option()` declarations."""

    def __post_init__(self):
        check_options(self)


def options_from_dict(options_type: type, raw: dict) -> Any:
    """An options dataclass from a plain dict (a saved config, a URL, a study cell); unknown keys raise."""
    if not isinstance(raw, dict):
        raise TypeError("options must be an object")
    known = {f.name for f in fields(options_type)}
    unknown = set(raw) - known
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}; accepted: {', '.join(sorted(known))}")
    return options_type(**raw)


# ---------------------------------------------------------------- the run config


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the method and its options, the network, the optimiser and the budget.

    The target is not part of it: a run pairs a TrainConfig with a Target, and the run folder
    records the target's own name, so a label can never disagree with what was trained.
    """

    method: str = "meanflow"  # a key of methods.METHODS
    options: Any = None  # the method's options dataclass (methods.METHODS[method].options); None: its defaults
    steps: int = 3000  # optimiser steps; the run ends at steps or max_seconds, whichever comes first
    max_seconds: float | None = None  # wall-clock budget of training; None: no limit
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
    # How noise is paired with data (couplings.COUPLINGS); None resolves to the method's default
    # (MeanFlow: minibatch-ot, flow matching: independent), so a saved config always names it.
    coupling: str | None = None
    log_every: int = 10  # steps averaged into one history row: smooth curves, small metrics.csv
    preview_every: int = 200  # steps between one-step preview samples
    preview_n: int = 1000  # points in each preview
    checkpoint_seconds: float = 10.0  # at most this much training is lost when a server or worker dies
    # Classes the network is conditioned on (the target's, for a labelled target; 0: unconditional).
    # A class enters the network as a one-hot input with one more slot for "no class".
    classes: int = 0
    class_dropout: float = 0.1  # share of rows trained with "no class": the unconditional branch (MeanFlow's 10%)
    threads: int = 1  # torch CPU threads of the worker; 1 is fastest for small nets on a shared CPU
    device: str = "auto"  # auto picks CUDA when available

    def __post_init__(self):
        from .couplings import COUPLINGS
        from .methods import get_method  # the registry imports torch: only when a config is built
        from .models import ACTIVATIONS

        method = get_method(self.method)  # raises on an unknown method, listing the accepted ones
        options = self.options
        if options is None:
            options = method.options()
        elif isinstance(options, dict):
            options = options_from_dict(method.options, options)
        elif not isinstance(options, method.options):
            raise TypeError(
                f"options for {self.method} must be {method.options.__name__}, got {type(options).__name__}"
            )
        object.__setattr__(self, "options", options)
        coupling = method.default_coupling if self.coupling is None else self.coupling
        if coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {coupling!r}; accepted: {', '.join(COUPLINGS)}")
        object.__setattr__(self, "coupling", coupling)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; accepted: {', '.join(ACTIVATIONS)}")
        for name in ("steps", "batch", "hidden", "depth", "log_every", "preview_every", "preview_n", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.hidden > MAX_HIDDEN or self.depth > MAX_DEPTH or self.batch > MAX_BATCH or self.steps > MAX_STEPS:
            raise ValueError(
                f"hidden <= {MAX_HIDDEN}, depth <= {MAX_DEPTH}, batch <= {MAX_BATCH} and "
                f"steps <= {MAX_STEPS:,} are accepted; larger runs do not fit this playground"
            )
        if self.preview_n > 100_000:
            raise ValueError(f"preview_n must be at most 100000, got {self.preview_n!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        if not 0 < self.lr_final_ratio <= 1:
            raise ValueError(f"lr_final_ratio must be in (0, 1], got {self.lr_final_ratio!r}")
        if self.max_seconds is not None and not (0 < self.max_seconds <= MAX_SECONDS):
            raise ValueError(f"max_seconds must be in (0, {MAX_SECONDS:g}], got {self.max_seconds!r}")
        if isinstance(self.classes, bool) or not isinstance(self.classes, int) or not 0 <= self.classes <= 64:
            raise ValueError(f"classes must be a whole number from 0 to 64, got {self.classes!r}")
        if self.classes and not method.conditional:
            raise ValueError(
                f"{self.method} trains no class-conditional model here; train it unconditionally "
                "(--unconditional, or switch off 'Condition on classes')"
            )
        if not (isinstance(self.class_dropout, (int, float)) and 0 <= self.class_dropout < 1):
            raise ValueError(f"class_dropout must be in [0, 1), got {self.class_dropout!r}")
        if not (0 < self.checkpoint_seconds <= 3600):
            raise ValueError(f"checkpoint_seconds must be in (0, 3600], got {self.checkpoint_seconds!r}")

    # -- derived facts, each computed in one place

    @property
    def in_dim(self) -> int:
        """The network's input width: z (2), the method's time features, and a class's one-hot."""
        from .methods import get_method

        one_hot = self.classes + 1 if self.classes else 0  # the classes and "no class"
        return 2 + get_method(self.method).n_time_features(self.options) + one_hot

    @property
    def widths(self) -> list[int]:
        return mlp_widths(self.in_dim, self.hidden, self.depth)

    @property
    def parameters(self) -> int:
        return parameter_count(self.widths)

    def cost(self, seconds: float | None = None) -> float:
        """parameters x batch x seconds: what the compute budget limits (seconds: max_seconds by default)."""
        seconds = self.max_seconds if seconds is None else seconds
        return float(self.parameters) * self.batch * (seconds if seconds is not None else math.inf)

    def to_dict(self) -> dict:
        """Plain JSON-able data (options as a dict)."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(raw: dict) -> TrainConfig:
        """A config from `to_dict()` output; unknown fields raise TypeError."""
        if not isinstance(raw, dict):
            raise TypeError("config must be an object")
        known = {f.name for f in fields(TrainConfig)}
        unknown = set(raw) - known
        if unknown:
            raise TypeError(f"unknown config fields {sorted(unknown)}")
        return TrainConfig(**raw)


def check_compute_budget(config: TrainConfig, budget: float | None = None) -> None:
    """Raise ValueError when config's parameters x batch x max_seconds exceed the budget, saying what fits."""
    budget = compute_budget() if budget is None else budget
    if config.max_seconds is None:
        return  # a step-bounded run from the command line: its owner pays for it
    cost = config.cost()
    if cost > budget:
        fits = budget / (config.parameters * config.batch)
        raise ValueError(
            f"this run costs {cost:.2g} parameter-sample-seconds ({config.parameters:,} parameters x "
            f"batch {config.batch} x {config.max_seconds:g} s); the per-run budget is {budget:.2g}: "
            f"at this size at most {fits:.0f} s, or choose a smaller network or batch"
        )
