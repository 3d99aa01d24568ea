"""Consistency training without a teacher: iCT (Song and Dhariwal 2023, arXiv 2310.14189), on the linear path.

A consistency model maps any point of a trajectory to the trajectory's data end:
    f(z, t) = z - t F(z, t),  so f(z, 0) = z exactly (the boundary condition, for any weights)
(c_skip = 1, c_out = -t: the one-step Euler solution, as sCM's Eq. 5; F is the average velocity
over [0, t], MeanFlow's u(z, 0, t)). iCT's discrete objective (its Section 3), with the same data x
and the same noise e at two neighbouring times t_i < t_{i+1}:
    loss = lambda_i * d( f(z_{t_{i+1}}, t_{i+1}),  sg f(z_{t_i}, t_i) ),  lambda_i = 1 / (sigma_{i+1} - sigma_i)
    d(a, b) = sqrt(||a - b||^2 + c^2) - c    (pseudo-Huber, c = 0.00054 sqrt(dim))
no EMA teacher (the student's own output under stop-gradient, iCT Section 3.2), and a curriculum
that doubles the number of discretisation points from 11 to 1281 in 8 equal phases of the run.
The grid is Karras's in sigma (sigma 0.002 to 80, rho 7), noise levels drawn from its log-normal
(P_mean -1.1, P_std 2.0), mapped to this path by t = k sigma / (1 + k sigma) with k = 2 sigma_data
(equal signal-to-noise), the ends snapped to exactly t = 0 and t = 1. iCT over sCM (its continuous
form): on this path sCM's objective is MeanFlow's restricted to r = 0, so it would add little here.

Sampling (multistep consistency sampling): x_hat = f(z, t); a further step re-noises x_hat to the
next time with fresh noise, paired with x_hat as the training pairs were (see `step`), and maps again,
so K-step paths are stochastic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import Options, Search, option
from ..couplings import Pairing, independent
from ..models import MLP
from .base import About, LossTerms, Method

SIGMA_MIN, SIGMA_MAX, RHO = 0.002, 80.0, 7.0  # Karras et al.'s grid, as iCT uses it
P_MEAN, P_STD = -1.1, 2.0  # iCT's log-normal over noise levels
S0, S1 = 10, 1280  # iCT's curriculum: from 11 to 1281 grid points


@dataclass(frozen=True)
class ConsistencyOptions(Options):
    sigma_data: float = option(
        1.0,
        "Data scale in model units that maps the noise levels onto this path "
        "(t = k sigma / (1 + k sigma), k = 2 sigma_data); the presets fill [-2, 2].",
        lo=0.1,
        hi=10.0,
        search=Search(0.25, 2.0, log=True),
    )
    huber_c: float = option(
        0.00054 * math.sqrt(2),
        "Pseudo-Huber constant c at dim = 2 (iCT: 0.00054 sqrt(dim)); other dimensions scale it by sqrt(dim / 2).",
        lo=1e-6,
        hi=1.0,
        search=Search(1e-4, 1e-2, log=True),
    )


def karras_sigmas(n: int) -> torch.Tensor:
    """(n,) noise levels from SIGMA_MIN to SIGMA_MAX on Karras's rho-spaced grid (float64)."""
    i = torch.arange(n, dtype=torch.float64) / (n - 1)
    return (SIGMA_MIN ** (1 / RHO) + i * (SIGMA_MAX ** (1 / RHO) - SIGMA_MIN ** (1 / RHO))) ** RHO


def grid_size(progress: float) -> int:
    """iCT's discretisation curriculum: s0 * 2^phase, capped at s1, plus one (phases: eighths of the run)."""
    phases = int(math.log2(S1 // S0)) + 1
    phase = min(phases - 1, int(progress * phases))
    return min(S0 * 2**phase, S1) + 1


def interval_probabilities(sigmas: torch.Tensor) -> torch.Tensor:
    """(n - 1,) probability of each interval [sigma_i, sigma_{i+1}] under the log-normal over noise levels."""
    cdf = torch.special.erf((torch.log(sigmas) - P_MEAN) / (math.sqrt(2) * P_STD))
    p = (cdf[1:] - cdf[:-1]).clamp(min=0)
    return p / p.sum()


class Consistency(Method):
    name = "consistency"
    about = About(
        label="Consistency (iCT)",
        summary=(
            "Maps every point of a trajectory straight to its data end, f(z, t) = z - t F(z, t), taught by "
            "making two neighbouring points of the same noisy path agree (improved consistency training)."
        ),
        paper="Song, Dhariwal 2023: Improved Techniques for Training Consistency Models",
        arxiv="2310.14189",
        cost="one extra forward pass without gradient (the target); no JVP",
        loss_latex=(
            r"\lambda_i\, d\big(f_\theta(z_{t_{i+1}}, t_{i+1}),\ \mathrm{sg}\, f_\theta(z_{t_i}, t_i)\big),"
            r"\quad f_\theta(z, t) = z - t\,F_\theta(z, t)"
        ),
    )
    options = ConsistencyOptions
    default_coupling = "minibatch-ot"  # MeanFlow's pairing; the two points of a pair share (x, e) either way

    def map_to_data(self, net: MLP, z: torch.Tensor, t: torch.Tensor, options) -> torch.Tensor:
        """f(z, t) = z - t F(z, t), (B, 2): the data end of the trajectory through z at time t."""
        return z - t * net(self.network_input(z, t, t, options))

    def velocity(self, net: MLP, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, options) -> torch.Tensor:
        """F(z, t): the average velocity from t to the data end (r is ignored)."""
        return net(self.network_input(z, t, t, options))

    def step(
        self,
        net: MLP,
        z: torch.Tensor,
        r: torch.Tensor,
        t: torch.Tensor,
        options,
        generator: torch.Generator,
        pair: Pairing = independent,
    ) -> torch.Tensor:
        """Map to the data end; then (r > 0) re-noise to time r with fresh noise, paired with the data end by
        the coupling the model trained with: z_r = (1 - r) x_hat + r pair(x_hat, e). Trained on OT-paired
        (x, e), the model knows the points of the OT interpolation; independent noise would put z_r where it
        never trained, and each further step would land worse (benchmarks/RESULTS.md, "Consistency's steps")."""
        x_hat = self.map_to_data(net, z, t, options)
        if float(r.max()) <= 0:
            return x_hat
        fresh = torch.randn(z.shape, generator=generator).to(z.device)
        return (1 - r) * x_hat + r * pair(x_hat, fresh)

    def loss(
        self,
        net: MLP,
        x: torch.Tensor,
        e: torch.Tensor,
        generator: torch.Generator,
        options: ConsistencyOptions,
        progress: float,
        context=None,
    ) -> LossTerms:
        sigmas = karras_sigmas(grid_size(progress))  # (N,)
        k = 2 * options.sigma_data
        times = k * sigmas / (1 + k * sigmas)
        times[0], times[-1] = 0.0, 1.0  # the exact ends: f(z, 0) = x, and t = 1 is what one step asks
        i = torch.multinomial(interval_probabilities(sigmas).float(), len(x), replacement=True, generator=generator)
        t_lo = times[i].float().unsqueeze(1).to(x.device)  # (B, 1)
        t_hi = times[i + 1].float().unsqueeze(1).to(x.device)
        weight = (1 / (sigmas[i + 1] - sigmas[i])).float().to(x.device)  # (B,) lambda_i
        student = self.map_to_data(net, (1 - t_hi) * x + t_hi * e, t_hi, options)
        with torch.no_grad():
            target = self.map_to_data(net, (1 - t_lo) * x + t_lo * e, t_lo, options)
        sq = (student - target).pow(2).sum(dim=1)  # (B,)
        c = options.huber_c * math.sqrt(x.shape[1] / 2)  # iCT's c grows with sqrt(dim); the option is c at dim 2
        huber = torch.sqrt(sq + c * c) - c
        return LossTerms(loss=(weight * huber).mean(), mse=sq.mean().detach())
