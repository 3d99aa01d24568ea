"""Flow matching (Lipman et al. 2023, arXiv 2210.02747; Liu et al. 2022): learn the instantaneous velocity.

    loss = || v_theta(z_t, t) - (e - x) ||^2,  t ~ U[0, 1]
Sampling follows v by Euler steps z_{t - h} = z_t - h v(z_t, t); its optimum is the conditional mean
of e - x at z_t, a field that curves, so one big step lands near the data's mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..config import Options
from ..models import MLP
from .base import About, LossTerms, Method, interpolate


@dataclass(frozen=True)
class FlowMatchingOptions(Options):
    """Flow matching has no options of its own: times are uniform, the loss plain MSE."""


def flow_matching_loss(v_fn: Callable, x: torch.Tensor, e: torch.Tensor, t: torch.Tensor) -> LossTerms:
    """Mean over the batch of ||v_fn(z_t, t) - (e - x)||^2.

    v_fn(z (B, 2), t (B, 1)) -> (B, 2); x, e: (B, 2); t: (B, 1).
    """
    z, v = interpolate(x, e, t)
    sq = (v_fn(z, t) - v).pow(2).sum(dim=1)  # (B,)
    mse = sq.mean()
    return LossTerms(loss=mse, mse=mse.detach())


class FlowMatching(Method):
    name = "flow-matching"
    about = About(
        label="Flow matching",
        summary="Learns the instantaneous velocity v(z, t) and samples by many small Euler steps.",
        paper="Lipman, Chen, Ben-Hamu, Nickel, Le 2023: Flow Matching for Generative Modeling",
        arxiv="2210.02747",
        cost="the reference: one forward and one backward; no JVP",
        loss_latex=r"\big\lVert v_\theta(z_t, t) - (e - x)\big\rVert^2",
    )
    options = FlowMatchingOptions
    # The textbook baseline, whose one-step collapse the app shows; minibatch-ot is an option.
    default_coupling = "independent"
    conditional = True
    learns_average = False  # the instantaneous velocity: an average over [r, t] needs many small steps

    def loss(
        self,
        net: MLP,
        x: torch.Tensor,
        e: torch.Tensor,
        generator: torch.Generator,
        options: FlowMatchingOptions,
        progress: float,
        context=None,
    ) -> LossTerms:
        t = torch.rand(len(x), 1, generator=generator).to(x.device)
        return flow_matching_loss(lambda z, tt: net(self.network_input(z, tt, tt, options)), x, e, t)
