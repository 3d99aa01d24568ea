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

from .config import LEGACY_VALUES, Options, TrainConfig, known_fields, options_from_dict
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


def check_config(config: TrainConfig) -> Method:
    """The method `config` trains, after checking what only the registries know: its options are that
    method's, its pairing and activation exist, and it asks for classes only of a method that has them.
    Raises ValueError (TypeError for options of another method) naming what is accepted."""
    method = get_method(config.method)
    if not isinstance(config.options, method.options):
        raise TypeError(
            f"options for {config.method} must be {method.options.__name__}, got {type(config.options).__name__}"
        )
    if config.coupling not in COUPLINGS:
        raise ValueError(f"unknown coupling {config.coupling!r}; accepted: {', '.join(COUPLINGS)}")
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {config.activation!r}; accepted: {', '.join(ACTIVATIONS)}")
    if config.classes and not method.conditional:
        raise ValueError(
            f"{config.method} trains no class-conditional model here; train it unconditionally "
            "(--unconditional, or switch off 'Condition on classes')"
        )
    for term in ("adversarial", "moment_matching"):
        if getattr(config, term) and not method.learns_average:
            raise ValueError(
                f"{config.method} samples in many small steps, so a term on its one-step samples would fight "
                f"its own loss; set {term} to 0 (it is for the one-step methods)"
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
    coupling = settings.pop("coupling", None) or spec.default_coupling
    config = TrainConfig(method=method, options=options, coupling=coupling, **settings)
    check_config(config)
    return config


def accepts(method: str, field: str, value) -> bool:
    """Whether `method` takes the TrainConfig `field` at `value` with its other settings at their defaults
    (flow matching refuses an adversarial term; a value outside the field's limits is refused too)."""
    try:
        make_config(method, **{field: value})
    except ValueError:
        return False
    return True


def with_method(config: TrainConfig, method: str, options: Options | dict | None = None, **changes) -> TrainConfig:
    """`config` with another method (its options, and its pairing unless `coupling` is in changes): the
    fields the registry resolves go through make_config again; the rest are kept."""
    kept = {f.name: getattr(config, f.name) for f in fields(TrainConfig) if f.name not in ("method", "options")}
    kept["coupling"] = None
    return make_config(method, options, **{**kept, **changes})


def config_from_dict(raw: dict) -> TrainConfig:
    """A config from `TrainConfig.to_dict()` output (a saved config.json, a job's payload); unknown
    fields raise TypeError, values outside their limits ValueError. A field the dict lacks takes the value
    a config written before that field existed meant (LEGACY_VALUES), else its default."""
    return make_config(**known_fields({**LEGACY_VALUES, **raw}, TrainConfig, "config", "config fields"))


__all__ = [
    "METHODS",
    "Method",
    "accepts",
    "check_config",
    "config_from_dict",
    "get_method",
    "make_config",
    "with_method",
]
