"""The network a config describes: its layer widths and size, a fresh one, and one rebuilt from weights.

`rebuild_flow` is the one way back from stored weights to something that samples: it checks the
weights' shapes against the config's network before building anything, and that they are finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import TrainConfig, mlp_widths, parameter_count
from .models import MLP, fourier_width
from .registry import check_config, config_from_dict
from .sampling import Flow
from .targets import Normaliser


def input_width(config: TrainConfig) -> int:
    """The network's input width: z (config.dim), the method's time features, and a class's one-hot."""
    one_hot = config.classes + 1 if config.classes else 0  # the classes and "no class"
    return config.dim + check_config(config).n_time_features(config.options) + one_hot


def network_widths(config: TrainConfig) -> list[int]:
    """Layer widths of the config's MLP, input first (with the Fourier features of the times and the state)."""
    extra = fourier_width(check_config(config).n_time_features(config.options), config.time_frequencies)
    extra += fourier_width(config.dim, config.space_frequencies)
    return mlp_widths(input_width(config) + extra, config.hidden, config.depth, config.dim)


def network_parameters(config: TrainConfig) -> int:
    """Weights and biases of the config's network."""
    return parameter_count(network_widths(config))


def build_network(config: TrainConfig, generator: torch.Generator | None = None) -> MLP:
    """A freshly initialised MLP of the config's shape (its weights drawn from `generator`)."""
    time_columns = (config.dim, check_config(config).n_time_features(config.options))  # after z: network_input's order
    return MLP(
        input_width(config),
        config.dim,
        config.hidden,
        config.depth,
        config.activation,
        generator,
        time_columns=time_columns,
        frequencies=config.time_frequencies,
        space_columns=(0, config.dim),  # z comes first: network_input's order
        space_frequencies=config.space_frequencies,
    )


def rebuild_flow(
    config: TrainConfig,
    weights: dict[str, torch.Tensor],
    normaliser: Normaliser,
    class_weights: tuple[float, ...] = (),
) -> Flow:
    """The Flow of a trained network from its state_dict, in eval mode and without gradients.

    Raises ValueError when the weights do not fit the config's network (checked before anything is
    built: 'does not fit ...') or hold NaN or infinite values ('holds NaN ...'); the caller names the file.
    """
    widths = network_widths(config)
    expected = {}
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        expected[f"layers.{i}.weight"], expected[f"layers.{i}.bias"] = (b, a), (b,)
    if {k: tuple(v.shape) for k, v in weights.items()} != expected:
        raise ValueError(f"does not fit the configured network (hidden {config.hidden}, depth {config.depth})")
    if not all(torch.isfinite(v).all() for v in weights.values()):
        raise ValueError("holds NaN or infinite weights")
    net = build_network(config)
    net.load_state_dict(weights, strict=True)
    net.eval().requires_grad_(False)
    method, options = check_config(config), config.options
    return Flow(method, net, normaliser, options, config.classes, class_weights, config.coupling, config.dim)


@dataclass(frozen=True)
class RunBundle:
    """A trained run as plain data that crosses processes (a reflow teacher): rebuilt without its folder."""

    config: dict  # TrainConfig.to_dict()
    target_name: str
    normaliser: dict  # {'centre': (x, y), 'scale': s}
    weights: bytes  # the state_dict as safetensors bytes

    def check_target(self, role: str, target_name: str, dim: int) -> None:
        """Raise ValueError unless this run was trained on `target_name` with points of `dim` dimensions
        (role: what the config calls it)."""
        if self.target_name != target_name:
            raise ValueError(
                f"the {role} was trained on {self.target_name!r}, not {target_name!r}; "
                f"choose a {role} run on the same target"
            )
        own = self.config.get("dim", 2)
        if own != dim:
            raise ValueError(
                f"the {role} draws points of {own} dimensions and this target's have {dim}; "
                f"choose a {role} run on the same target"
            )


def flow_from_bundle(bundle: RunBundle) -> Flow:
    """The Flow of a bundled run, checked like a loaded run (shapes, finite weights); raises ValueError."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        config = config_from_dict(bundle.config)
        normaliser = Normaliser(centre=tuple(bundle.normaliser["centre"]), scale=float(bundle.normaliser["scale"]))
        return rebuild_flow(config, load(bundle.weights), normaliser)
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ValueError(f"the teacher run cannot be rebuilt ({str(exc)[:200]})") from None
