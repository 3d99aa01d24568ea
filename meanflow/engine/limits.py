"""What a run may cost before the engine takes it: compute (parameters x batch x seconds) and memory."""

from __future__ import annotations

import math

from ..core.config import TrainConfig
from ..core.networks import network_parameters
from . import env


class LimitError(ValueError):
    """A submission over a limit (per session, compute, memory); the message says which and why."""


def run_cost(config: TrainConfig, seconds: float | None = None) -> float:
    """parameters x batch x seconds: what the compute budget limits (seconds: max_seconds by default)."""
    seconds = config.max_seconds if seconds is None else seconds
    return float(network_parameters(config)) * config.batch * (seconds if seconds is not None else math.inf)


def seconds_within_budget(config: TrainConfig, budget: float | None = None) -> float:
    """The longest time budget this network and batch may train within the compute budget."""
    budget = env.compute_budget() if budget is None else budget
    return budget / (network_parameters(config) * config.batch)


def check_compute_budget(config: TrainConfig, budget: float | None = None) -> None:
    """Raise LimitError when config's parameters x batch x max_seconds exceed the budget, saying what fits.
    A step-bounded run (no max_seconds, from the command line) is its owner's to pay for."""
    budget = env.compute_budget() if budget is None else budget
    if config.max_seconds is None:
        return
    cost = run_cost(config)
    if cost > budget:
        raise LimitError(
            f"this run costs {cost:.2g} parameter-sample-seconds ({network_parameters(config):,} parameters x "
            f"batch {config.batch} x {config.max_seconds:g} s); the per-run budget is {budget:.2g}: "
            f"at this size at most {seconds_within_budget(config, budget):.0f} s, or choose a smaller network or batch"
        )


def memory_estimate(config: TrainConfig) -> float:
    """Bytes a run needs, roughly: weights, gradients, Adam's two moments, the rollback copy and a
    checkpoint (about 8 copies of the parameters), plus the batch's activations and tangents."""
    activations = config.batch * config.hidden * config.depth * 4 * 8
    return network_parameters(config) * 4 * 8 + activations + 300e6  # 300 MB: the worker's own Python and torch


def check_memory(config: TrainConfig, limit_bytes: float) -> None:
    """Raise LimitError when the run's memory estimate exceeds `limit_bytes`."""
    need = memory_estimate(config)
    if need > limit_bytes:
        raise LimitError(
            f"this run needs about {need / 2**30:.1f} GiB of memory; the limit is "
            f"{limit_bytes / 2**30:.1f} GiB: choose a smaller network or batch"
        )
