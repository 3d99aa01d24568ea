"""The network: an MLP on (z, time features), with an exact forward-mode tangent pass.

MeanFlow needs du/dt, a Jacobian-vector product of the network. `MLP.forward_with_tangent`
pushes a tangent through each layer beside the primal values (the chain rule by hand:
linear layers map tangents by their weight, activations multiply them by their derivative).
It is exact, needs no graph for the tangent and no compile, and costs about one extra
forward, where `torch.func.jvp` costs two to three. A test checks it against `torch.func.jvp`
and a finite difference.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import mlp_widths

# name -> (activation, tangent map (h, h_dot) -> activation'(h) * h_dot). The tangent maps use
# the fused kernels autograd itself uses for these activations' backward pass: one pass over
# memory instead of five elementwise ones (benchmarks/RESULTS.md, "Fused activation derivative").
ACTIVATIONS = {
    "silu": (F.silu, lambda h, h_dot: torch.ops.aten.silu_backward(h_dot, h)),
    "gelu": (F.gelu, lambda h, h_dot: torch.ops.aten.gelu_backward(h_dot, h, approximate="none")),
    # piecewise linear; tried as a lever and not adopted (benchmarks/RESULTS.md, "Three more levers")
    "relu": (F.relu, lambda h, h_dot: torch.ops.aten.threshold_backward(h_dot, h, 0)),
}


def fourier_width(time_inputs: int, frequencies: int) -> int:
    """Columns that Fourier features add to the input: a sine and a cosine per time input and frequency."""
    return 2 * time_inputs * frequencies


class MLP(nn.Module):
    """in_dim -> [Linear(hidden) + activation] x depth -> Linear(out_dim).

    depth counts hidden layers: depth 4, hidden 64 is the seed tutorial's network. With `frequencies`
    k > 0, the input columns `time_columns` = (first, count) (the time features) are joined by their
    Fourier features sin(pi 2^j c) and cos(pi 2^j c), j < k, before the first layer (a fixed map: nothing
    learnt, nothing stored); the first layer is then fourier_width(count, k) columns wider. Likewise
    `space_frequencies` k' > 0 joins the state columns `space_columns` = (first, count) by sin(2^j c) and
    cos(2^j c), j < k' (a lever tried for one-step maps: benchmarks/RESULTS.md, "Fourier features of the
    state").
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: int,
        depth: int,
        activation: str = "silu",
        generator: torch.Generator | None = None,
        time_columns: tuple[int, int] = (0, 0),
        frequencies: int = 0,
        space_columns: tuple[int, int] = (0, 0),
        space_frequencies: int = 0,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; accepted: {', '.join(ACTIVATIONS)}")
        if hidden < 1 or depth < 1:
            raise ValueError(f"hidden and depth must be positive, got hidden={hidden}, depth={depth}")
        self.activation = activation
        self.time_columns = time_columns if frequencies else (0, 0)
        self.space_columns = space_columns if space_frequencies else (0, 0)
        omegas = math.pi * 2.0 ** torch.arange(frequencies, dtype=torch.float32)
        self.register_buffer("omegas", omegas, persistent=False)  # (k,): not weights, so not in the state_dict
        space_omegas = 2.0 ** torch.arange(space_frequencies, dtype=torch.float32)
        self.register_buffer("space_omegas", space_omegas, persistent=False)  # (k',)
        extra = fourier_width(self.time_columns[1], frequencies)
        extra += fourier_width(self.space_columns[1], space_frequencies)
        widths = mlp_widths(in_dim + extra, hidden, depth, out_dim)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """PyTorch's default Linear init, drawn from `generator` so a seeded run is reproducible."""
        for layer in self.layers:
            bound = 1 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)

    def _fourier(self, x: torch.Tensor, x_dot: torch.Tensor | None = None):
        """x (B, in_dim) with the time columns' and the state columns' Fourier features appended (in that
        order), and x_dot's tangent of them."""
        features, tangents = [x], [x_dot]
        for (first, count), omegas in ((self.time_columns, self.omegas), (self.space_columns, self.space_omegas)):
            if not count:
                continue
            angle = x[:, first : first + count, None] * omegas.to(x.dtype)  # (B, count, k)
            features.append(torch.cat([angle.sin().flatten(1), angle.cos().flatten(1)], dim=1))
            if x_dot is not None:
                with torch.no_grad():
                    rate = x_dot[:, first : first + count, None] * omegas.to(x.dtype)  # d angle
                    tangents.append(torch.cat([(angle.cos() * rate).flatten(1), (-angle.sin() * rate).flatten(1)], 1))
        if len(features) == 1:
            return x, x_dot
        return torch.cat(features, dim=1), None if x_dot is None else torch.cat(tangents, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_dim) -> (B, out_dim)."""
        act, _ = ACTIVATIONS[self.activation]
        x, _ = self._fourier(x)
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)

    def forward_with_tangent(self, x: torch.Tensor, x_dot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output and its directional derivative along x_dot, both (B, out_dim).

        x: (B, in_dim) primal input; x_dot: (B, in_dim) tangent. The primal output keeps its
        autograd graph; the tangent is computed without one (MeanFlow stops its gradient anyway),
        so the backward pass costs what a plain forward's would.
        """
        act, act_tangent = ACTIVATIONS[self.activation]
        x, x_dot = self._fourier(x, x_dot)
        pre = []  # (B, hidden) pre-activations, reused by the tangent pass
        for layer in self.layers[:-1]:
            pre.append(layer(x))
            x = act(pre[-1])
        with torch.no_grad():  # one graph-free pass for the whole tangent
            for layer, h in zip(self.layers[:-1], pre):
                x_dot = act_tangent(h, F.linear(x_dot, layer.weight))
            y_dot = F.linear(x_dot, self.layers[-1].weight)
        return self.layers[-1](x), y_dot


class Conditioned(nn.Module):
    """A class-conditional network as the methods see it: each row's class is appended to its input
    as a one-hot vector (index `classes` means "no class"), with a zero tangent. Methods call it as
    they call the plain MLP; `with_labels` gives the same network for other classes (the guidance
    branch). labels: (B,) long."""

    def __init__(self, net: MLP, labels: torch.Tensor, classes: int):
        super().__init__()
        self.net, self.classes, self.labels = net, classes, labels
        self._one_hot = F.one_hot(labels, classes + 1).to(next(net.parameters()).dtype)

    @property
    def null(self) -> int:
        return self.classes

    def with_labels(self, labels: torch.Tensor) -> Conditioned:
        return Conditioned(self.net, labels, self.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, self._one_hot], dim=1))

    def forward_with_tangent(self, x: torch.Tensor, x_dot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.forward_with_tangent(
            torch.cat([x, self._one_hot], dim=1), torch.cat([x_dot, torch.zeros_like(self._one_hot)], dim=1)
        )


class Guided(nn.Module):
    """Classifier-free guidance at sampling time: f(x | none) + scale (f(x | class) - f(x | none)).
    Two network evaluations per call. conditioned: a Conditioned network with the requested class."""

    def __init__(self, conditioned: Conditioned, scale: float):
        super().__init__()
        self.conditioned, self.scale = conditioned, scale
        self.unconditioned = conditioned.with_labels(torch.full_like(conditioned.labels, conditioned.null))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plain = self.unconditioned(x)
        return plain + self.scale * (self.conditioned(x) - plain)


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when the user has it and asked for nothing else; otherwise the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.split(":")[0] not in ("cpu", "cuda"):  # torch's refusal lists its every internal device type
        raise ValueError(f"unknown device {requested!r}; accepted: auto, cpu, cuda (or cuda:N)")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available; accepted: auto, cpu")
    return device
