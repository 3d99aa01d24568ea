"""MeanFlow (Geng, Deng, Bai, Kolter, He 2025, arXiv 2505.13447): learn the average velocity.

    u(z_t, r, t) = 1 / (t - r) * integral_r^t v(z_s, s) ds                          (paper Eq. 3)
    u = v - (t - r) du/dt, du/dt = v . d_z u + d_t u (a JVP with tangent (v, 0, 1))  (Eqs. 6, 8)
    loss = || u_theta(z_t, r, t) - sg(v - (t - r) du_theta/dt) ||^2, adaptively weighted  (Eqs. 9, 11)
Sampling jumps z_r = z_t - (t - r) u(z_t, r, t) (Eq. 12); one step: x = e - u(e, 0, 1).
The paper uses this package's convention (t = 0 data), so nothing is translated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..config import Options, Search, option
from ..models import MLP, Conditioned
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
    time_feature_tangents,
)

CONDITIONINGS = ("t,t-r", "t,r", "t,r,t-r", "t-r")  # the paper's Table 1c
# The tangent (dz, dr, dt) of the JVP: (v, 0, 1) is du/dt along the trajectory (Eq. 8); the
# others are the paper's Table 1b ablation, where each one fails (FID 268 to 329 against 61).
TANGENTS = ("v,0,1", "v,0,0", "v,1,0", "v,1,1")
INTERVAL_WEIGHTS = ("flat", "short-first")  # how the r != t rows are weighted over the budget


@dataclass(frozen=True)
class MeanFlowOptions(Options):
    """MeanFlow's options. Defaults are chosen for 2D toys on a CPU, not copied from ImageNet."""

    # uniform: one-step sampling asks for (r, t) = (0, 1), which logit-normal (the paper's ImageNet
    # choice) rarely visits; on 2D targets uniform times gave sharper one-step samples.
    time_sampler: str = option(
        "uniform",
        "How (r, t) are drawn: the min and max of two draws from this "
        "distribution. The paper's logit-normal rarely visits (0, 1), the interval one "
        "step uses.",
        choices=TIME_SAMPLERS,
        search=SEARCH_TIME_SAMPLER,
    )
    time_mean: float = option(
        -0.4, "Logit-normal mean (the paper's -0.4); used only with logit-normal.", lo=-5.0, hi=5.0
    )
    time_std: float = option(1.0, "Logit-normal standard deviation (the paper's 1.0).", lo=0.05, hi=5.0)
    # The paper uses 0.25 on ImageNet; one-step 2D sampling needs long intervals most, so more of
    # the batch goes to them (0.5, 0.75 and 1.0 tied: benchmarks/RESULTS.md, "Defaults chosen ...").
    r_neq_t: float = option(
        0.75,
        "Fraction of the batch with r != t; the rest has r = t, plain flow "
        "matching on u(z, t, t), which anchors the instantaneous field.",
        lo=0.0,
        hi=1.0,
        search=SEARCH_SHARE,
    )
    # p = 0 is plain MSE; the paper's p = 1 over-weighted easy samples on 2D toys, p = 0.5 (a robust,
    # L1-like loss) trained best (benchmarks/RESULTS.md, "Defaults chosen by these measurements").
    weight_power: float = option(
        0.5,
        "Adaptive loss weight 1 / (error^2 + c)^p: p = 0 is plain MSE, 1 the paper's.",
        lo=0.0,
        hi=4.0,
        search=SEARCH_POWER,
    )
    weight_eps: float = option(
        1e-3, "The constant c of the adaptive weight (the paper's 1e-3).", lo=1e-8, hi=10.0, search=SEARCH_EPS
    )
    interval_weight: str = option(
        "flat",
        "How the loss weighs the r != t rows over training. short-first (Kim, Go et al. 2025, arXiv "
        "2511.19065): at the start an interval of length d = t - r weighs lambda (1 - d), lambda = 1 / "
        "mean(1 - d) over the batch's r != t rows, moving linearly to flat at the end of the budget "
        "(tried as a lever, not adopted: benchmarks/RESULTS.md, 'Three more levers').",
        choices=INTERVAL_WEIGHTS,
    )
    conditioning: str = option(
        "t,t-r",
        "The time features the network sees (the paper's Table 1c): (t, t - r) was its best.",
        choices=CONDITIONINGS,
        search=Search(values=CONDITIONINGS),
    )
    # Classifier-free guidance trained into the target (paper Section 4.2): only for class-conditional runs.
    guidance_scale: float = option(
        1.0,
        "omega: guidance trained into the target, v~ = omega v + (1 - omega - kappa) "
        "u(z, t, t | no class) + kappa u(z, t, t | class) (the paper's Eq. 19); 1 is none. "
        "One step then samples the guided distribution.",
        lo=0.0,
        hi=10.0,
    )
    guidance_mix: float = option(
        0.0,
        "kappa: the share of the class's own u in v~ (the paper's Appendix B.1); the "
        "effective scale is omega / (1 - kappa).",
        lo=0.0,
        hi=0.99,
    )
    guidance_t_min: float = option(
        0.0,
        "Guidance applies for t in [t_min, t_max] (the official code's interval); "
        "outside it the target is the plain v.",
        lo=0.0,
        hi=1.0,
    )
    guidance_t_max: float = option(1.0, "The interval's upper end.", lo=0.0, hi=1.0)
    tangent: str = option(
        "v,0,1",
        "The JVP tangent (dz, dr, dt); only (v, 0, 1) is du/dt. The others are the paper's Table 1b ablation.",
        choices=TANGENTS,
        ablation_only=True,
    )

    def __post_init__(self):
        super().__post_init__()
        if self.guidance_t_min > self.guidance_t_max:  # an empty interval: any guidance scale would do nothing
            raise ValueError(
                f"guidance_t_min {self.guidance_t_min:g} is above guidance_t_max {self.guidance_t_max:g}; "
                "guidance applies for t in [t_min, t_max], which would be empty"
            )


def tangent_of(names: tuple[str, ...], tangent: str, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The network-input tangent (B, 2 + k) for the (dz, dr, dt) named by `tangent` ('v,0,1', ...)."""
    dz, dr, dt = tangent.split(",")
    dr_ = torch.full_like(t, float(dr))
    dt_ = torch.full_like(t, float(dt))
    return torch.cat([v if dz == "v" else torch.zeros_like(v), time_feature_tangents(names, dr_, dt_)], dim=1)


def meanflow_target(u_jvp: Callable, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, v: torch.Tensor):
    """The network's u and its stop-gradient target v - (t - r) du/dt (paper Eq. 11).

    u_jvp(z, r, t, v) -> (u, du/dt along the tangent), each (B, 2). z, v: (B, 2); r, t: (B, 1).
    """
    u, dudt = u_jvp(z, r, t, v)
    return u, (v - (t - r) * dudt).detach()


def short_first_weights(r: torch.Tensor, t: torch.Tensor, progress: float) -> torch.Tensor:
    """(B,) weights of the short-first interval weighting at `progress` (the budget's fraction spent):
    beta = 1 - s + lambda s (1 - d) on rows with d = t - r > 0, s = 1 - progress, lambda = 1 / mean(1 - d)
    over those rows (so their mean weight is 1 throughout); rows with r = t keep 1. r, t: (B, 1)."""
    d = (t - r).squeeze(1)
    long = d > 0
    if not bool(long.any()):
        return torch.ones_like(d)
    s = 1.0 - min(max(progress, 0.0), 1.0)
    lam = 1.0 / (1.0 - d[long]).mean()
    return torch.where(long, 1.0 - s + lam * s * (1.0 - d), torch.ones_like(d))


def meanflow_loss(
    u_jvp: Callable,
    x: torch.Tensor,
    e: torch.Tensor,
    r: torch.Tensor,
    t: torch.Tensor,
    weight_power: float = 0.0,
    weight_eps: float = 1e-3,
    velocity: Callable | None = None,
    row_weights: torch.Tensor | None = None,
) -> LossTerms:
    """MeanFlow's loss: ||u(z_t, r, t) - sg(v - (t - r) du/dt)||^2, adaptively weighted (Eq. 9).

    x, e: (B, 2); r, t: (B, 1) with r <= t. With r = t and weight_power = 0 it equals the
    flow-matching loss of z, t -> u(z, t, t). velocity(z, t, v) -> (B, 2), if given, replaces the
    conditional velocity v (guidance, Eq. 18). row_weights: (B,) factors after the adaptive weight
    (the short-first interval weighting), None: 1.
    """
    z, v = interpolate(x, e, t)
    if velocity is not None:  # guidance: the guided field replaces v as the regression base and the tangent
        v = velocity(z, t, v)
    u, u_target = meanflow_target(u_jvp, z, r, t, v)
    sq = (u - u_target).pow(2).sum(dim=1)  # (B,)
    return LossTerms(
        loss=adaptive_weighted(sq, weight_power, weight_eps, row_weights),
        mse=sq.mean().detach(),
        **split_by_interval(sq, r, t),
    )


class MeanFlow(Method):
    name = "meanflow"
    about = About(
        label="MeanFlow",
        summary=(
            "Learns the average velocity over an interval through the MeanFlow identity "
            "u = v - (t - r) du/dt, so one network evaluation spans noise to data."
        ),
        paper="Geng, Deng, Bai, Kolter, He 2025: Mean Flows for One-step Generative Modeling",
        arxiv="2505.13447",
        cost="one JVP (an exact tangent pass, about one extra forward) beside the forward and backward",
        loss_latex=(
            r"\big\lVert u_\theta(z_t, r, t) - \mathrm{sg}\big(v - (t - r)\,"
            r"\tfrac{d}{dt}u_\theta(z_t, r, t)\big)\big\rVert^2"
        ),
    )
    options = MeanFlowOptions
    default_coupling = "minibatch-ot"  # straighter flows for the one-step jump (see couplings.py)
    conditional = True

    def feature_names(self, options: MeanFlowOptions) -> tuple[str, ...]:
        return tuple(options.conditioning.split(","))

    def u_jvp(
        self, net: MLP, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, v: torch.Tensor, options: MeanFlowOptions
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, du/dt) with the options' tangent (the correct one: (dz, dr, dt) = (v, 0, 1))."""
        names = self.feature_names(options)
        return net.forward_with_tangent(self.network_input(z, r, t, options), tangent_of(names, options.tangent, v, t))

    def loss(
        self,
        net: MLP,
        x: torch.Tensor,
        e: torch.Tensor,
        generator: torch.Generator,
        options: MeanFlowOptions,
        progress: float,
        context=None,
    ) -> LossTerms:
        r, t = draw_r_t(options, x, generator)
        return meanflow_loss(
            lambda *a: self.u_jvp(net, *a, options),
            x,
            e,
            r,
            t,
            weight_power=options.weight_power,
            weight_eps=options.weight_eps,
            velocity=self.guided_velocity(net, options) if self.guides(net, options) else None,
            row_weights=short_first_weights(r, t, progress) if options.interval_weight == "short-first" else None,
        )

    @staticmethod
    def guides(net, options: MeanFlowOptions) -> bool:
        return isinstance(net, Conditioned) and (options.guidance_scale != 1.0 or options.guidance_mix != 0.0)

    def guided_velocity(self, net: Conditioned, options: MeanFlowOptions) -> Callable:
        """(z, t, v) -> v~: the paper's Eq. 19 with Appendix B.1's kappa,
            v~ = omega v + kappa u(z, t, t | class) + (1 - omega - kappa) u(z, t, t | no class),
        from the current network without gradient, on rows that have a class and t in the interval;
        rows trained as "no class" (class dropout) keep v, as in the official code."""
        omega, kappa = options.guidance_scale, options.guidance_mix

        def velocity(z: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                plain = self.velocity(net.with_labels(torch.full_like(net.labels, net.null)), z, t, t, options)
                guided = omega * v + (1 - omega - kappa) * plain
                if kappa:
                    guided = guided + kappa * self.velocity(net, z, t, t, options)
            active = (
                (net.labels != net.null).unsqueeze(1) & (t >= options.guidance_t_min) & (t <= options.guidance_t_max)
            )
            return torch.where(active, guided, v)

        return velocity
