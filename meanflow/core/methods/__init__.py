"""The method registry: one entry per method, the only list of them.

Each method is a module here with its options dataclass and a `Method` subclass (name, label,
summary, paper, default coupling, cost, loss, sampling velocity). The Train page, the command
line (`--method` and its flags, `python -m meanflow methods`), Learn and Compare all read METHODS.
Adding a method: a new module, one line below, and its property test (tests/test_methods.py).
"""

from __future__ import annotations

import torch

from ..models import MLP
from .alphaflow import AlphaFlow
from .base import TIME_SAMPLERS, LossTerms, Method, interpolate
from .consistency import Consistency
from .flow_matching import FlowMatching
from .imf import ImprovedMeanFlow
from .meanflow import MeanFlow
from .reflow import Reflow
from .shortcut import Shortcut
from .splitmeanflow import SplitMeanFlow

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        MeanFlow(),
        FlowMatching(),
        Shortcut(),
        Consistency(),
        AlphaFlow(),
        ImprovedMeanFlow(),
        SplitMeanFlow(),
        Reflow(),
    )
}


def get_method(name: str) -> Method:
    """The method registered as `name`."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; accepted: {', '.join(METHODS)}")
    return METHODS[name]


def build_network(config, generator: torch.Generator | None = None) -> MLP:
    """The MLP that `config` (a TrainConfig) describes: inputs z and the method's time features, output 2D."""
    return MLP(config.in_dim, 2, config.hidden, config.depth, config.activation, generator)


__all__ = ["METHODS", "Method", "LossTerms", "TIME_SAMPLERS", "build_network", "get_method", "interpolate"]
