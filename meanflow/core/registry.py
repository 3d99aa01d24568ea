"""The method registry, and the door every TrainConfig comes in by.

METHODS is the only list of methods: the Train page, the command line (`--method`, its flags,
`python -m meanflow methods`), Learn and Compare all read it. Adding a method: a module in
core/methods/, one line below, and its property test (tests/core/test_methods.py).

A config names its method by key, so the registry is looked up where configs enter: `make_config`
(code, pages, the command line) and `config_from_dict` (a saved config.json, a job's payload) fill in
the method's default options and pairing and check what only the registries know; the TrainConfig
dataclass checks the rest.
"""

from __future__ import annotations

from dataclasses import fields

from .config import Options, TrainConfig, known_fields, options_from_dict
from .couplings import COUPLINGS
from .methods.alphaflow import AlphaFlow
from .methods.base import Method
from .methods.consistency import Consistency
from .methods.flow_matching import FlowMatching
from .methods.imf import ImprovedMeanFlow
from .methods.meanflow import MeanFlow
from .methods.reflow import Reflow
from .methods.shortcut import Shortcut
from .methods.splitmeanflow import SplitMeanFlow
from .models import ACTIVATIONS

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
    """The method registered as `name`; raises ValueError listing the accepted names."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; accepted: {', '.join(METHODS)}")
    return METHODS[name]


def method_of(config: TrainConfig) -> Method:
    """The method `config` trains, after checking that its options are that method's."""
    method = get_method(config.method)
    if not isinstance(config.options, method.options):
        raise TypeError(
            f"options for {config.method} must be {method.options.__name__}, got {type(config.options).__name__}"
        )
    return method


def make_config(method: str = "meanflow", options: Options | dict | None = None, **settings) -> TrainConfig:
    """A checked TrainConfig: `method`'s options (None: its defaults; a dict: those values over its
    defaults), its default pairing unless `coupling` is given, and any other TrainConfig field.

    Raises ValueError (or TypeError) naming what is wrong and what is accepted.
    """
    spec = get_method(method)
    if options is None:
        options = spec.options()
    elif isinstance(options, dict):
        options = options_from_dict(spec.options, options)
    elif not isinstance(options, spec.options):
        raise TypeError(f"options for {method} must be {spec.options.__name__}, got {type(options).__name__}")
    coupling = settings.pop("coupling", None) or spec.default_coupling
    if coupling not in COUPLINGS:
        raise ValueError(f"unknown coupling {coupling!r}; accepted: {', '.join(COUPLINGS)}")
    activation = settings.get("activation", "silu")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; accepted: {', '.join(ACTIVATIONS)}")
    if settings.get("classes") and not spec.conditional:
        raise ValueError(
            f"{method} trains no class-conditional model here; train it unconditionally "
            "(--unconditional, or switch off 'Condition on classes')"
        )
    return TrainConfig(method=method, options=options, coupling=coupling, **settings)


def with_method(config: TrainConfig, method: str, options: Options | dict | None = None, **changes) -> TrainConfig:
    """`config` with another method (its options, and its pairing unless `coupling` is in changes): the
    fields the registry resolves go through make_config again; the rest are kept."""
    kept = {f.name: getattr(config, f.name) for f in fields(TrainConfig) if f.name not in ("method", "options")}
    kept["coupling"] = None
    return make_config(method, options, **{**kept, **changes})


def config_from_dict(raw: dict) -> TrainConfig:
    """A config from `TrainConfig.to_dict()` output (a saved config.json, a job's payload); unknown
    fields raise TypeError, values outside their limits ValueError."""
    return make_config(**known_fields(raw, TrainConfig, "config"))


__all__ = ["METHODS", "Method", "config_from_dict", "get_method", "make_config", "method_of"]
