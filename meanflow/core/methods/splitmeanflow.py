"""SplitMeanFlow (Guo et al. 2025, arXiv 2507.16884): the average velocity by interval splitting, no JVP.

The interval-splitting consistency (arXiv v1, Eq. 10): for r <= s <= t,
    (t - r) u(z_t, r, t) = (s - r) u(z_s, r, s) + (t - s) u(z_t, s, t)
With s = (1 - lam) t + lam r, lam ~ U(0, 1), it reads u(z_t, r, t) = (1 - lam) u(z_s, r, s) + lam u(z_t, s, t),
the target of the training algorithm (Algorithm 1), built from the model's own two short jumps:
    u2 = u(z_t, s, t),  z_s = z_t - (t - s) u2,  u1 = u(z_s, r, s),  target = sg((1 - lam) u1 + lam u2)
    loss = ||u(z_t, r, t) - target||^2
with the boundary condition u(z, t, t) = v (flow matching, target e - x) on a share of the batch
(the paper: at least half, or training collapses to trivial solutions). The paper's second stage
takes the boundary velocity from a frozen teacher; from scratch, as here, it is e - x. Same
convention as this package (t = 0 data). The paper's body could not be read here; the algorithm
follows its published summary and the notes of readers of the PDF (PaperWiki).
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


@dataclass(frozen=True)
class SplitMeanFlowOptions(Options):
    time_sampler: str = option(
        "uniform",
        "How (r, t) are drawn (the min and max of two draws).",
        choices=TIME_SAMPLERS,
        search=SEARCH_TIME_SAMPLER,
    )
    time_mean: float = option(-0.4, "Logit-normal mean, used only with logit-normal.", lo=-5.0, hi=5.0)
    time_std: float = option(1.0, "Logit-normal standard deviation.", lo=0.05, hi=5.0)
    r_neq_t: float = option(
        0.5,
        "Fraction of the batch on the splitting target; the rest (the paper: at least "
        "half) holds the boundary condition u(z, t, t) = v.",
        lo=0.0,
        hi=1.0,
        search=SEARCH_SHARE,
    )
    weight_power: float = option(
        0.0,
        "Adaptive weight 1 / (error^2 + c)^p; 0 is the paper's plain squared L2.",
        lo=0.0,
        hi=4.0,
        search=SEARCH_POWER,
    )
    weight_eps: float = option(1e-3, "The constant c of the adaptive weight.", lo=1e-8, hi=10.0, search=SEARCH_EPS)


def splitting_target(u_fn, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """(1 - lam) u(z_s, r, s) + lam u(z_t, s, t) with s = (1 - lam) t + lam r, z_s = z_t - (t - s) u(z_t, s, t).

    u_fn(z, r, t) -> (B, 2); z: (B, 2); r, t, lam: (B, 1). No gradient.
    """
    with torch.no_grad():
        s = (1 - lam) * t + lam * r
        u2 = u_fn(z, s, t)
        u1 = u_fn(z - (t - s) * u2, r, s)
        return (1 - lam) * u1 + lam * u2


class SplitMeanFlow(Method):
    name = "splitmeanflow"
    about = About(
        label="SplitMeanFlow",
        summary=(
            "Learns the average velocity from the algebra of intervals: one long jump must equal two shorter "
            "ones, with flow matching as the boundary; no derivative at all."
        ),
        paper="Guo et al. 2025: SplitMeanFlow: Interval Splitting Consistency in Few-Step Generative Modeling",
        arxiv="2507.16884",
        cost="two extra forward passes without gradient on the splitting rows; no JVP",
        loss_latex=(
            r"\big\lVert u_\theta(z_t, r, t) - \mathrm{sg}\big((1-\lambda)\,u_\theta(z_s, r, s) + "
            r"\lambda\,u_\theta(z_t, s, t)\big)\big\rVert^2,\ s = (1-\lambda)t + \lambda r"
        ),
    )
    options = SplitMeanFlowOptions
    default_coupling = "minibatch-ot"  # MeanFlow's pairing, so the comparison isolates the objective
    time_feature_names = ("t", "t-r")

    def loss(
        self,
        net: MLP,
        x: torch.Tensor,
        e: torch.Tensor,
        generator: torch.Generator,
        options: SplitMeanFlowOptions,
        progress: float,
        context=None,
    ) -> LossTerms:
        r, t = draw_r_t(options, x, generator)
        lam = torch.rand(len(x), 1, generator=generator).to(x.device)
        z, v = interpolate(x, e, t)
        u = self.velocity(net, z, r, t, options)
        target = v.clone()
        long = (r != t).reshape(-1)
        if long.any():
            target[long] = splitting_target(
                lambda *a: self.velocity(net, *a, options), z[long], r[long], t[long], lam[long]
            )
        sq = (u - target).pow(2).sum(dim=1)
        return LossTerms(
            loss=adaptive_weighted(sq, options.weight_power, options.weight_eps),
            mse=sq.mean().detach(),
            **split_by_interval(sq, r, t),
        )
