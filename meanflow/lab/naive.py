"""The seed tutorial's naive MeanFlow, written here on purpose apart from the package: the baseline the
benchmarks measure the package against. Its network takes (x, t, r) through a GELU MLP, and its loss
takes du/dt with `torch.autograd.functional.jvp(create_graph=True)`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..core.config import mlp_widths
from ..core.targets import Target


class SeedNet(nn.Module):
    """The seed tutorial's MeanFlowNet: cat(x, t, r) -> GELU MLP."""

    def __init__(self, hidden: int, depth: int):
        super().__init__()
        widths = mlp_widths(4, hidden, depth, 2)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x, t, r):
        h = torch.cat([x, t, r], dim=1)
        for layer in self.layers[:-1]:
            h = F.gelu(layer(h))
        return self.layers[-1](h)


def naive_meanflow(
    hidden: int, depth: int, batch: int, target: Target, seed: int, g: torch.Generator
) -> tuple[SeedNet, Callable[[], float]]:
    """The seed tutorial's recipe: (network, one training step). Uniform r < t, Adam 3e-3."""
    torch.manual_seed(seed)
    net = SeedNet(hidden, depth)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def step() -> float:
        x = target.sample_model(batch, g)
        e = torch.randn(batch, 2, generator=g)
        pair = torch.rand(batch, 2, generator=g)
        t, r = pair.max(1, keepdim=True).values, pair.min(1, keepdim=True).values
        z, v = (1 - t) * x + t * e, e - x
        u, dudt = torch.autograd.functional.jvp(
            net, (z, t, r), (v, torch.ones_like(t), torch.zeros_like(r)), create_graph=True
        )
        loss = F.mse_loss(u, (v - (t - r) * dudt).detach())
        loss.backward()
        opt.step()
        opt.zero_grad()
        return float(loss.detach())

    return net, step
