"""Improved MeanFlow (iMF; Geng, Lu, Wu, Shechtman, Kolter, He 2025, arXiv 2512.02012): a loss on v.

The MeanFlow identity rearranged, v = u + (t - r) du/dt, is regressed on the instantaneous velocity:
    V_theta = u_theta(z_t, r, t) + (t - r) sg[ JVP(u_theta; tangent (v_hat, 0, 1)) ]
    loss = ||V_theta - (e - x)||^2 / sg(||V_theta - (e - x)||^2 + c)        (p = 1, c = 0.01)
where the tangent v_hat is the network's own marginal-velocity estimate u_theta(z_t, t, t) (its
boundary condition at r = t, without gradient) instead of MeanFlow's conditional e - x. The
regression target e - x depends on no network, so V_theta is a "legal" predictor of v and the
JVP's variance drops. Algebraically V - (e - x) = u - sg((e - x) - (t - r) du/dt): MeanFlow's loss
with the tangent v_hat. Half the batch has r = t. The paper's body could not be read here; this
follows its official code (Lyy-iiis/imeanflow: imf.py), whose auxiliary v-head a single-head 2D
network replaces by u(z, t, t), the boundary condition the paper's Algorithm 1 uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import Options, option
from ..models import MLP
from .base import (
    SEARCH_EPS,
    SEARCH_POWER,
    SEARCH_SHARE,
    SEARCH_TIME_SAMPLER,
    TIME_SAMPLERS,
    About,
    LossTerms,
    Method,
    adaptive_weighted,
    draw_r_t,
    interpolate,
    split_by_interval,
)
from .meanflow import MeanFlow, MeanFlowOptions


@dataclass(frozen=True)
class ImprovedMeanFlowOptions(Options):
    time_sampler: str = option(
        "uniform",
        "How (r, t) are drawn (the min and max of two draws); the official code uses logit-normal(-0.4, 1).",
        choices=TIME_SAMPLERS,
        search=SEARCH_TIME_SAMPLER,
    )
    time_mean: float = option(-0.4, "Logit-normal mean (the official -0.4).", lo=-5.0, hi=5.0)
    time_std: float = option(1.0, "Logit-normal standard deviation (the official 1.0).", lo=0.05, hi=5.0)
    r_neq_t: float = option(
        0.5, "Fraction of the batch with r != t (the official code: 50%).", lo=0.0, hi=1.0, search=SEARCH_SHARE
    )
    weight_power: float = option(
        1.0, "Adaptive weight 1 / (error^2 + c)^p (the official p = 1).", lo=0.0, hi=4.0, search=SEARCH_POWER
    )
    weight_eps: float = option(
        0.01, "The constant c of the adaptive weight (the official 0.01).", lo=1e-8, hi=10.0, search=SEARCH_EPS
    )


class ImprovedMeanFlow(Method):
    name = "imf"
    about = About(
        label="Improved MeanFlow",
        summary=(
            "Regresses the instantaneous velocity through v = u + (t - r) du/dt, with the JVP taken along "
            "the network's own velocity estimate rather than the noisy e - x."
        ),
        paper="Geng, Lu, Wu, Shechtman, Kolter, He 2025: Improved Mean Flows (official code; the paper's body unread)",
        arxiv="2512.02012",
        cost="MeanFlow's JVP plus one forward pass without gradient (the tangent u(z, t, t))",
        loss_latex=(
            r"\big\lVert u_\theta(z_t, r, t) + (t - r)\,\mathrm{sg}\big(\tfrac{d}{dt}u_\theta\big|_{\hat v}\big)"
            r" - (e - x)\big\rVert^2,\ \hat v = \mathrm{sg}\,u_\theta(z_t, t, t)"
        ),
    )
    options = ImprovedMeanFlowOptions
    default_coupling = "minibatch-ot"  # MeanFlow's pairing, so the comparison isolates the objective
    time_feature_names = ("t", "t-r")

    def compound(self, net: MLP, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, options) -> tuple:
        """(u, V = u + (t - r) sg du/dt along (v_hat, 0, 1), v_hat): each (B, 2)."""
        with torch.no_grad():
            v_hat = self.velocity(net, z, t, t, options)
        u, dudt = MeanFlow().u_jvp(net, z, r, t, v_hat, MeanFlowOptions(conditioning="t,t-r"))
        return u, u + (t - r) * dudt.detach(), v_hat

    def loss(
        self,
        net: MLP,
        x: torch.Tensor,
        e: torch.Tensor,
        generator: torch.Generator,
        options: ImprovedMeanFlowOptions,
        progress: float,
        context=None,
    ) -> LossTerms:
        r, t = draw_r_t(options, x, generator)
        z, v = interpolate(x, e, t)
        _, compound, _ = self.compound(net, z, r, t, options)
        sq = (compound - v).pow(2).sum(dim=1)  # (B,), summed over coordinates as the official code does
        return LossTerms(
            loss=adaptive_weighted(sq, options.weight_power, options.weight_eps),
            mse=sq.mean().detach(),
            **split_by_interval(sq, r, t),
        )
