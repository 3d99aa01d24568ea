"""AlphaFlow (Zhang et al. 2025, arXiv 2510.20771): from trajectory flow matching to MeanFlow by a curriculum.

For a pair r <= t and a ratio alpha in (0, 1] (the paper's Definition 1, Eq. 8, and Algorithm 1):
    s = alpha r + (1 - alpha) t,   z_s = z_t - alpha (t - r) v     (the linear path at s: (1 - s) x + s e)
    target = alpha v + (1 - alpha) sg u(z_s, r, s)
    loss = alpha / sg(mse + c) * mse,  mse = mean over coordinates of (u(z_t, r, t) - target)^2
alpha = 1 is trajectory flow matching (the target is v; the network is not even called for it);
as alpha -> 0 the gradient of loss / alpha tends to MeanFlow's (Theorem 1): at alpha = 0 this
module uses MeanFlow's target v - (t - r) du/dt with its JVP and weight 1 / (mse + c). Rows with
r = t are flow matching on u(z, t, t) with weight 1 / (mse + c). The curriculum (Algorithm 2):
    alpha(p) = 1 - sigmoid(gamma (p - (p_start + p_end) / 2) / (p_end - p_start)),  gamma = 25,
clamped to exactly 1 above 1 - eta and exactly 0 below eta (eta = 5e-3), where p is the fraction of
the run's budget spent: about the first 29% is pure trajectory flow matching, the last 29% MeanFlow.
The paper and the official code use this package's convention (t = 0 data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import Options, Search, option
from ..models import MLP
from .base import (
    SEARCH_EPS,
    SEARCH_SHARE,
    SEARCH_TIME_SAMPLER,
    TIME_SAMPLERS,
    About,
    LossTerms,
    Method,
    draw_r_t,
    interpolate,
    split_by_interval,
)
from .meanflow import MeanFlow, MeanFlowOptions


@dataclass(frozen=True)
class AlphaFlowOptions(Options):
    time_sampler: str = option(
        "uniform",
        "How (r, t) are drawn (the min and max of two draws). The paper's "
        "logit-normal rarely visits (0, 1), the interval one step uses.",
        choices=TIME_SAMPLERS,
        search=SEARCH_TIME_SAMPLER,
    )
    time_mean: float = option(-0.4, "Logit-normal mean (the paper's -0.4).", lo=-5.0, hi=5.0)
    time_std: float = option(1.0, "Logit-normal standard deviation (the paper's 1.0).", lo=0.05, hi=5.0)
    r_neq_t: float = option(
        0.5,
        "Fraction of the batch with r != t (the paper: 50-75%; the rest is flow matching on u(z, t, t)).",
        lo=0.0,
        hi=1.0,
        search=SEARCH_SHARE,
    )
    gamma: float = option(
        25.0,
        "Steepness of the sigmoid curriculum of alpha (the paper's 25).",
        lo=0.1,
        hi=1000.0,
        search=Search(5.0, 50.0, log=True),
    )
    eta: float = option(
        5e-3, "alpha is clamped to 1 above 1 - eta and to 0 below eta (the paper's 5e-3).", lo=0.0, hi=0.5
    )
    schedule_start: float = option(0.0, "Fraction of the budget where the curriculum's window starts.", lo=0.0, hi=1.0)
    schedule_end: float = option(
        1.0,
        "Fraction of the budget where it ends (alpha = 0, MeanFlow, after).",
        lo=0.0,
        hi=1.0,
        search=Search(0.3, 1.0),
    )
    weight_eps: float = option(
        1e-3,
        "The constant c of the adaptive weight alpha / (mse + c) (the paper's 1e-3).",
        lo=1e-8,
        hi=10.0,
        search=SEARCH_EPS,
    )


def alpha_at(options: AlphaFlowOptions, progress: float) -> float:
    """The curriculum: 1 (trajectory flow matching) to 0 (MeanFlow) over the schedule window, clamped."""
    start, end = options.schedule_start, max(options.schedule_end, options.schedule_start + 1e-9)
    u = options.gamma * (progress - (start + end) / 2) / (end - start)
    alpha = 1 - 1 / (1 + math.exp(-max(-60.0, min(60.0, u))))
    if alpha > 1 - options.eta:
        return 1.0
    if alpha < options.eta:
        return 0.0
    return alpha


def alphaflow_target(
    u_fn, x: torch.Tensor, e: torch.Tensor, r: torch.Tensor, t: torch.Tensor, alpha: float
) -> torch.Tensor:
    """alpha v + (1 - alpha) sg u(z_s, r, s) for alpha in (0, 1]; u_fn(z, r, t) -> (B, 2). x, e: (B, 2)."""
    v = e - x
    if alpha >= 1.0:
        return v  # trajectory flow matching: the network is not called
    s = alpha * r + (1 - alpha) * t
    z_s = interpolate(x, e, s)[0]  # = z_t - alpha (t - r) v on the linear path
    with torch.no_grad():
        return alpha * v + (1 - alpha) * u_fn(z_s, r, s)


class AlphaFlow(Method):
    name = "alphaflow"
    about = About(
        label="AlphaFlow",
        summary=(
            "Interpolates between trajectory flow matching and MeanFlow with a ratio alpha, and anneals "
            "alpha from 1 to 0 over training: no JVP until the last phase."
        ),
        paper="Zhang et al. 2025: AlphaFlow: Understanding and Improving MeanFlow Models",
        arxiv="2510.20771",
        cost=(
            "while 0 < alpha < 1 one extra forward pass without gradient, no JVP; at alpha = 0 MeanFlow's JVP; "
            "at alpha = 1 the cost of flow matching"
        ),
        loss_latex=(
            r"\tfrac{\alpha}{\mathrm{sg}(\mathrm{mse}+c)}\big\lVert u_\theta(z_t, r, t) - \mathrm{sg}\big(\alpha v "
            r"+ (1 - \alpha)\, u_\theta(z_s, r, s)\big)\big\rVert^2,\ s = \alpha r + (1 - \alpha) t"
        ),
    )
    options = AlphaFlowOptions
    default_coupling = "minibatch-ot"  # MeanFlow's pairing, so the comparison isolates the objective
    time_feature_names = ("t", "t-r")

    def loss(
        self,
        net: MLP,
        x: torch.Tensor,
        e: torch.Tensor,
        generator: torch.Generator,
        options: AlphaFlowOptions,
        progress: float,
        context=None,
    ) -> LossTerms:
        r, t = draw_r_t(options, x, generator)
        alpha = alpha_at(options, progress)
        z, v = interpolate(x, e, t)
        u = self.velocity(net, z, r, t, options)
        same = (r == t).reshape(-1)
        target = v.clone()
        coef = torch.ones(len(x), device=x.device)
        long = ~same
        if long.any():
            xl, el, rl, tl = x[long], e[long], r[long], t[long]
            if alpha > 0:
                target[long] = alphaflow_target(lambda *a: self.velocity(net, *a, options), xl, el, rl, tl, alpha)
                coef[long] = alpha
            else:  # MeanFlow's target, with its JVP along (v, 0, 1)
                zl, vl = interpolate(xl, el, tl)
                mf = MeanFlow()
                _, dudt = mf.u_jvp(net, zl, rl, tl, vl, MeanFlowOptions(conditioning="t,t-r"))
                target[long] = (vl - (tl - rl) * dudt).detach()
        mse_rows = (u - target).pow(2).mean(dim=1)  # per row, mean over coordinates (the official code)
        loss = (coef * mse_rows / (mse_rows.detach() + options.weight_eps)).mean()
        sq = (u - target).pow(2).sum(dim=1)
        return LossTerms(loss=loss, mse=sq.mean().detach(), **split_by_interval(sq, r, t))
