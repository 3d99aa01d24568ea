"""What a run is, as plain data: its config, its states, its budget, its history columns, and the limits.

Imports nothing of the project and no torch: the bottom of the house. A method's own options are a
frozen dataclass that lives with the method (core/methods/); `TrainConfig.options` holds one, and
`option()` below is how every options field declares its help text and accepted values. `option_specs`
reads those declarations back, once, for everything that offers them: the command line's flags, the
Train page's widgets and the `methods` listing.

A TrainConfig is built through the method registry (`core.registry.make_config`, or
`config_from_dict` for a saved one), which fills in the method's default options and pairing and
checks what only the registries know; the dataclass itself checks the rest.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

import numpy as np

# ---------------------------------------------------------------- run states

JobState = Literal["queued", "running", "done", "stopped", "failed"]  # a job's, on the engine
RunState = Literal[JobState, "interrupted"]  # a run folder's: a job's, or interrupted
RUN_STATES: tuple[str, ...] = get_args(RunState)
FINISHED: tuple[str, ...] = ("done", "stopped", "failed")  # the job has ended and its weights are saved
ACTIVE: tuple[str, ...] = ("queued", "running")  # a job of this server's engine owns the run
# "interrupted": the run folder says queued or running, but no live job owns it (the server or
# its worker went away); its last checkpoint can be resumed.


def spent_time_budget(state: str, elapsed: float, max_seconds: float | None) -> bool:
    """Whether a run ended because its wall-clock budget ran out: the loop writes 'stopped' for that as
    for a Stop, and only the budget leaves `elapsed` at or past `max_seconds`."""
    return state == "stopped" and max_seconds is not None and elapsed >= max_seconds


def budget_fraction(step: int, steps: int, elapsed: float, max_seconds: float | None) -> float:
    """How much of a run's budget is spent, in [0, 1]: steps or seconds, whichever runs out first."""
    fraction = step / max(1, steps)
    if max_seconds:
        fraction = max(fraction, elapsed / max_seconds)
    return min(1.0, fraction)


# ---------------------------------------------------------------- the training history

# One row per log_every optimiser steps: the mean loss and mse of those steps, the learning rate
# and the wall time at the row's last step; for MeanFlow and its kin the mse split into the rows of
# the batch with r = t (the instantaneous velocity) and r != t (the average velocity); and where a
# one-step preview was drawn since the last row, its histogram TV, sliced W1 and, for a target with a
# classifier (the digits), its Fréchet distance (NaN: none, or not for this target). A numpy structured
# array: columns read by name. Files from before the later columns read with NaN there.
HISTORY_COLUMNS: tuple[str, ...] = (
    "step",
    "loss",
    "mse",
    "lr",
    "seconds",
    "loss_instant",
    "loss_average",
    "preview_tv",
    "preview_w1",
    "preview_fd",
)
# The widths metrics.csv had before each addition: 5 before the split loss and preview quality, 9 before
# the Fréchet distance; such files read with NaN in the columns they lack.
LEGACY_HISTORY_COLUMNS = (HISTORY_COLUMNS[:5], HISTORY_COLUMNS[:9])
HISTORY_DTYPE = np.dtype([(name, np.float64) for name in HISTORY_COLUMNS])


def empty_history() -> np.ndarray:
    """A history with no rows yet: shape (0,), dtype HISTORY_DTYPE."""
    return np.zeros(0, dtype=HISTORY_DTYPE)


def history_from_rows(rows) -> np.ndarray:
    """A structured history from an iterable of tuples in HISTORY_COLUMNS order; a shorter row (a file
    from before the last columns) gets NaN in the columns it lacks."""
    width = len(HISTORY_COLUMNS)
    return np.array([tuple(r) + (math.nan,) * (width - len(r)) for r in rows], dtype=HISTORY_DTYPE)


# ---------------------------------------------------------------- limits (one place each)

# Sizes a 2D toy never needs; hostile configs stay small. Every size accepted here can be saved,
# loaded and sampled (tests/core/test_runs.py trains and reloads the largest).
MAX_HIDDEN, MAX_DEPTH, MAX_BATCH, MAX_STEPS = 2048, 16, 65536, 10_000_000
MAX_SECONDS = 3600.0  # the command line's longest budget; the app allows less (see app_pages)
MAX_THREADS = 64  # torch threads of one worker; more would only start threads the machine cannot run
MAX_NFE = 1024  # sampling steps; far beyond where 2D samples stop changing
MAX_SAMPLES = 1_000_000  # points drawn by one `sample` call
MAX_CLASSES = 64  # classes a network may be conditioned on
MAX_ADVERSARIAL = 10.0  # a term's weight on one-step samples, at most (beyond it the term alone would train the map)
MAX_FREQUENCIES = 8  # Fourier features per time input, at most (pi 2^7 is already finer than any 2D target)
MAX_DIM = 64  # dimensions of a target's points: 2 for the 2D toys, 64 for the 8x8 digits and D-column CSVs


def mlp_widths(in_dim: int, hidden: int, depth: int, out_dim: int) -> list[int]:
    """Layer widths of the MLP: in_dim, `depth` hidden layers of `hidden` units, out_dim."""
    return [in_dim] + [hidden] * depth + [out_dim]


def parameter_count(widths: list[int]) -> int:
    """Weights and biases of an MLP with these layer widths."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


# ---------------------------------------------------------------- options fields


@dataclass(frozen=True)
class Search:
    """Where tuning (lab.tuning) looks for a setting: a range [lo, hi] (on a log scale when `log`), or
    a few `values` to pick from. Declared beside the setting: an option without one is never tuned."""

    lo: float | None = None
    hi: float | None = None
    log: bool = False
    values: tuple = ()

    def __post_init__(self):
        if not self.values and (self.lo is None or self.hi is None or not self.lo < self.hi):
            raise ValueError(f"a search needs values or a range lo < hi, got {self!r}")
        if self.log and not (self.lo or 0) > 0:
            raise ValueError(f"a log-scale search needs lo > 0, got {self!r}")


def option(
    default,
    help: str,
    choices: tuple | None = None,
    lo: float | None = None,
    hi: float | None = None,
    ablation_only: bool = False,
    integer: bool = False,
    run: bool = False,
    search: Search | None = None,
):
    """A field of a method's options dataclass, with what the UI and the CLI need to offer it.

    choices: the accepted values (a select box, argparse choices); lo/hi: a closed numeric range;
    ablation_only: studies may set it, ordinary training never offers it (e.g. a wrong tangent);
    run: the value names another run's folder (the Train page offers a run picker);
    search: where tuning looks for its best value (None: tuning leaves it at its default).
    """
    meta = {
        "help": help,
        "choices": choices,
        "lo": lo,
        "hi": hi,
        "ablation_only": ablation_only,
        "integer": integer,
        "run": run,
        "search": search,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class OptionSpec:
    """One `option()` declaration read back: what a flag, a widget and the `methods` listing offer."""

    name: str  # the options field, e.g. 'r_neq_t'
    default: Any
    help: str
    choices: tuple | None = None  # the accepted values, or None
    lo: float | None = None  # a closed numeric range (None: open on that side)
    hi: float | None = None
    integer: bool = False
    ablation_only: bool = False  # studies may set it; training never offers it
    names_run: bool = False  # the value is another run's folder (reflow's teacher)
    search: Search | None = None  # where tuning looks (None: never tuned)

    @property
    def flag(self) -> str:
        """Its command-line flag: '--r-neq-t'."""
        return "--" + self.name.replace("_", "-")

    def check(self, value) -> None:
        """Raise ValueError naming the option and what is accepted, for a value outside the declaration."""
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(map(str, self.choices))}; got {value!r}")
        if self.lo is not None or self.hi is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{self.name} must be a finite number, got {value!r}")
            if self.integer and int(value) != value:
                raise ValueError(f"{self.name} must be a whole number, got {value!r}")
            if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
                raise ValueError(f"{self.name} must be in [{self.lo}, {self.hi}], got {value!r}")

    def describe(self) -> str:
        """One line: '--r-neq-t (default 0.75) [choices]: help'."""
        choices = f" [{', '.join(map(str, self.choices))}]" if self.choices else ""
        return f"{self.flag} (default {self.default}){choices}: {self.help}"


def option_specs(options_type: type, offered: bool = False) -> tuple[OptionSpec, ...]:
    """The declarations of an options dataclass's fields, in order; offered: only those training offers
    (no ablation-only ones)."""
    specs = tuple(
        OptionSpec(
            name=f.name,
            default=f.default,
            help=f.metadata.get("help", ""),
            choices=f.metadata.get("choices"),
            lo=f.metadata.get("lo"),
            hi=f.metadata.get("hi"),
            integer=bool(f.metadata.get("integer")),
            ablation_only=bool(f.metadata.get("ablation_only")),
            names_run=bool(f.metadata.get("run")),
            search=f.metadata.get("search"),
        )
        for f in fields(options_type)
    )
    return tuple(s for s in specs if not s.ablation_only) if offered else specs


class Options:
    """Base of every method's options dataclass: values are checked against their `option()` declarations."""

    def __post_init__(self):
        for spec in option_specs(type(self)):
            spec.check(getattr(self, spec.name))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def known_fields(raw: dict, cls: type, what: str, keys: str) -> dict:
    """`raw` (a plain dict read from JSON, a URL, a study cell) as keyword arguments of the dataclass
    `cls`; TypeError for anything but a dict ('{what} must be an object') or for keys that are not its
    fields ('unknown {keys} [...]; accepted: ...')."""
    if not isinstance(raw, dict):
        raise TypeError(f"{what} must be an object")
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise TypeError(f"unknown {keys} {sorted(unknown)}; accepted: {', '.join(sorted(known))}")
    return raw


def options_from_dict(options_type: type, raw: dict) -> Any:
    """An options dataclass from a plain dict (a saved config, a URL, a study cell); unknown keys raise."""
    return options_type(**known_fields(raw, options_type, "options", "options"))


# ---------------------------------------------------------------- the run config


# What a saved config that lacks a field meant: the value every run had before the field existed (a
# default that changed later must not change an old run's network).
LEGACY_VALUES = {"time_frequencies": 0}


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One training run: the method and its options, the network, the optimiser and the budget.

    Build one with `core.registry.make_config` (it fills the method's default options and pairing and
    checks what only the registries know: core.registry.check_config); the fields are keywords.
    The target is not part of it: a run pairs a TrainConfig with a Target, and the run folder
    records the target's own name, so a label can never disagree with what was trained.
    """

    method: str  # a key of core.registry.METHODS
    options: Options  # the method's options dataclass (make_config fills the method's defaults)
    steps: int = 3000  # optimiser steps; the run ends at steps or max_seconds, whichever comes first
    max_seconds: float | None = None  # wall-clock budget of training; None: no limit
    # Small batches trade gradient noise for steps per second (batch and lr: benchmarks/RESULTS.md).
    batch: int = 256
    hidden: int = 128  # width of each hidden layer
    depth: int = 4  # hidden layers (4 x 64 is the seed tutorial's net)
    activation: str = "silu"  # smooth, and trained better than GELU on 2D toys
    lr: float = 5e-3  # Adam's peak learning rate (see batch)
    lr_final_ratio: float = 0.1  # cosine decay to lr * ratio at the end of the budget; 1.0: constant
    adam_beta2: float = 0.999  # Adam's second-moment decay; 0.95 tried, not adopted (RESULTS.md, "Three more levers")
    seed: int = 0  # seeds initialisation, data, noise and times: same seed and step count, same run
    # (a max_seconds budget ends at a machine-dependent step and shapes the learning-rate decay)
    # How noise is paired with data (core.couplings.COUPLINGS); make_config fills in the method's
    # default (MeanFlow: minibatch-ot, flow matching: independent), so a saved config always names it.
    coupling: str
    log_every: int = 10  # steps averaged into one history row: smooth curves, small metrics.csv
    preview_every: int = 200  # steps between one-step preview samples
    preview_n: int = 1000  # points in each preview
    preview_nfe: int = (
        1  # steps of each preview (1: what one step draws; the methods study previews flow matching at 32)
    )
    checkpoint_seconds: float = 10.0  # at most this much training is lost when a server or worker dies
    # Classes the network is conditioned on (the target's, for a labelled target; 0: unconditional).
    # A class enters the network as a one-hot input with one more slot for "no class".
    classes: int = 0
    class_dropout: float = 0.1  # share of rows trained with "no class": the unconditional branch (MeanFlow's 10%)
    threads: int = 1  # torch CPU threads of the worker; 1 is fastest for small nets on a shared CPU
    device: str = "auto"  # auto picks CUDA when available
    # Decay of an exponential moving average of the weights, which then samples (previews, the saved
    # weights); 0: the weights as trained. Adopted only where a sweep says so (benchmarks/RESULTS.md).
    ema: float = 0.0
    # Fourier features of the network's time inputs (sin and cos at pi 2^j, j < this) beside the raw
    # times; 0: the raw times alone. 4 since the levers sweep (benchmarks/RESULTS.md, "Levers").
    time_frequencies: int = 4
    # Fourier features of the state z (sin and cos at 2^j, j < this) beside z itself; 0: z alone. Tried for
    # the one-step maps (benchmarks/RESULTS.md, "Fourier features of the state").
    space_frequencies: int = 0
    # Weight of an adversarial term on the one-step samples (core.adversarial: a critic learns to tell them
    # from the data); 0: none. A lever for the one-step methods (benchmarks/RESULTS.md, "A critic on one step").
    adversarial: float = 0.0
    # The fraction of the budget after which the terms on one-step samples (the critic's, the moments') apply.
    adversarial_start: float = 0.25
    # Weight of a moment-matching term on the one-step samples (core.moments: a kernel MMD between them and
    # the data); 0: none. A lever for the one-step methods (benchmarks/RESULTS.md, "Moment matching on one step").
    moment_matching: float = 0.0
    # Dimensions of the target's points (the network's output width and its noise's): the target's, set
    # where a config meets its target (2 for the 2D toys, 64 for the digits).
    dim: int = 2

    def __post_init__(self):
        for name in (
            "steps",
            "batch",
            "hidden",
            "depth",
            "log_every",
            "preview_every",
            "preview_n",
            "preview_nfe",
            "threads",
        ):
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
        if self.threads > MAX_THREADS:
            raise ValueError(f"threads must be from 1 to {MAX_THREADS}, got {self.threads!r}")
        if self.preview_n > 100_000 or self.preview_nfe > 64:
            raise ValueError(
                f"preview_n <= 100000 and preview_nfe <= 64 are accepted, got {self.preview_n!r}, {self.preview_nfe!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        if not 0 < self.lr_final_ratio <= 1:
            raise ValueError(f"lr_final_ratio must be in (0, 1], got {self.lr_final_ratio!r}")
        if self.max_seconds is not None and not (0 < self.max_seconds <= MAX_SECONDS):
            raise ValueError(f"max_seconds must be in (0, {MAX_SECONDS:g}], got {self.max_seconds!r}")
        if isinstance(self.classes, bool) or not isinstance(self.classes, int) or not 0 <= self.classes <= MAX_CLASSES:
            raise ValueError(f"classes must be a whole number from 0 to {MAX_CLASSES}, got {self.classes!r}")
        if not (isinstance(self.class_dropout, (int, float)) and 0 <= self.class_dropout < 1):
            raise ValueError(f"class_dropout must be in [0, 1), got {self.class_dropout!r}")
        for name in ("time_frequencies", "space_frequencies"):
            frequencies = getattr(self, name)
            if (
                isinstance(frequencies, bool)
                or not isinstance(frequencies, int)
                or not 0 <= frequencies <= MAX_FREQUENCIES
            ):
                raise ValueError(f"{name} must be a whole number from 0 to {MAX_FREQUENCIES}, got {frequencies!r}")
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or not 1 <= self.dim <= MAX_DIM:
            raise ValueError(f"dim must be a whole number from 1 to {MAX_DIM}, got {self.dim!r}")
        if not (isinstance(self.adam_beta2, (int, float)) and 0 < self.adam_beta2 < 1):
            raise ValueError(f"adam_beta2 must be in (0, 1), got {self.adam_beta2!r}")
        if not (isinstance(self.ema, (int, float)) and 0 <= self.ema < 1):
            raise ValueError(f"ema must be in [0, 1), got {self.ema!r}")
        if not (isinstance(self.adversarial, (int, float)) and 0 <= self.adversarial <= MAX_ADVERSARIAL):
            raise ValueError(f"adversarial must be in [0, {MAX_ADVERSARIAL:g}], got {self.adversarial!r}")
        if not (isinstance(self.moment_matching, (int, float)) and 0 <= self.moment_matching <= MAX_ADVERSARIAL):
            raise ValueError(f"moment_matching must be in [0, {MAX_ADVERSARIAL:g}], got {self.moment_matching!r}")
        if not (isinstance(self.adversarial_start, (int, float)) and 0 <= self.adversarial_start < 1):
            raise ValueError(f"adversarial_start must be in [0, 1), got {self.adversarial_start!r}")
        if not (0 < self.checkpoint_seconds <= 3600):
            raise ValueError(f"checkpoint_seconds must be in (0, 3600], got {self.checkpoint_seconds!r}")

    def budget_fraction(self, step: int, elapsed: float) -> float:
        """How much of this run's budget (steps or seconds, whichever runs out first) is spent."""
        return budget_fraction(step, self.steps, elapsed, self.max_seconds)

    def to_dict(self) -> dict:
        """Plain JSON-able data (options as a dict): what config.json and a job's payload hold."""
        return dataclasses.asdict(self)
