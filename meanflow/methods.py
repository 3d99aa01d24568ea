"""Flow matching and MeanFlow: their losses, time samplers, configs and the method registry.

Time convention, for the whole package: t = 0 is data, t = 1 is noise.
    z_t = (1 - t) x + t e,  e ~ N(0, I),  v = dz_t/dt = e - x.
Flow matching learns the instantaneous velocity v(z, t).
MeanFlow learns the average velocity over [r, t],
    u(z_t, r, t) = 1 / (t - r) * integral_r^t v(z_s, s) ds,
through the MeanFlow identity u = v - (t - r) du/dt, where du/dt is the total derivative along
the trajectory: the Jacobian-vector product of u with the tangent (dz, dr, dt) = (v, 0, 1).
Sampling jumps z_r = z_t - (t - r) u(z_t, r, t); for flow matching u is replaced by v (Euler).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .models import MLP

TIME_SAMPLERS = ("uniform", "logit-normal")


@dataclass(frozen=True)
class MeanFlowConfig:
    """MeanFlow's options. Defaults are chosen for 2D toys on a CPU, not copied from ImageNet."""

    # uniform: one-step sampling asks for (r, t) = (0, 1), which logit-normal (the paper's
    # ImageNet choice) rarely visits; on 2D targets uniform times gave sharper one-step samples.
    time_sampler: str = "uniform"
    time_mean: float = -0.4  # logit-normal mean (paper's value), used only with logit-normal
    time_std: float = 1.0  # logit-normal std (paper's value), used only with logit-normal
    # Fraction of the batch with r != t; the rest has r = t (plain flow matching on u(z, t, t)),
    # which anchors the instantaneous field. The paper uses 0.25; one-step 2D sampling needs
    # long intervals most, so more of the batch goes to them.
    r_neq_t: float = 0.75
    # Adaptive loss weight w = sg(1 / (||delta||^2 + c)^p). p = 0 is plain MSE; the paper's
    # p = 1 over-weights easy samples on 2D toys, p = 0.5 (a robust, L1-like loss) trained best.
    weight_power: float = 0.5
    weight_eps: float = 1e-3

    def __post_init__(self):
        if self.time_sampler not in TIME_SAMPLERS:
            raise ValueError(f"unknown time sampler {self.time_sampler!r}; accepted: {', '.join(TIME_SAMPLERS)}")
        if not 0.0 <= self.r_neq_t <= 1.0:
            raise ValueError(f"r_neq_t must be a fraction in [0, 1], got {self.r_neq_t}")
        if self.time_std <= 0:
            raise ValueError(f"time_std must be positive, got {self.time_std}")
        if self.weight_power < 0 or self.weight_eps <= 0:
            raise ValueError("weight_power must be >= 0 and weight_eps > 0")


@dataclass(frozen=True)
class LossTerms:
    """loss: the scalar to minimise (with gradient); mse: mean ||prediction - target||^2 (detached)."""

    loss: torch.Tensor
    mse: torch.Tensor


# ---------------------------------------------------------------- pure losses


def interpolate(x: torch.Tensor, e: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z_t and v for data x (B, 2), noise e (B, 2), times t (B, 1): the linear path."""
    return (1 - t) * x + t * e, e - x


def flow_matching_loss(v_fn: Callable, x: torch.Tensor, e: torch.Tensor, t: torch.Tensor) -> LossTerms:
    """Mean over the batch of ||v_fn(z_t, t) - (e - x)||^2.

    v_fn(z (B, 2), t (B, 1)) -> (B, 2); x, e: (B, 2); t: (B, 1).
    """
    z, v = interpolate(x, e, t)
    sq = (v_fn(z, t) - v).pow(2).sum(dim=1)  # (B,)
    mse = sq.mean()
    return LossTerms(loss=mse, mse=mse.detach())


def meanflow_target(u_jvp: Callable, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, v: torch.Tensor):
    """The network's u and its stop-gradient target v - (t - r) du/dt.

    u_jvp(z, r, t, v) -> (u, du/dt along the tangent (dz, dr, dt) = (v, 0, 1)), each (B, 2).
    z, v: (B, 2); r, t: (B, 1).
    """
    u, dudt = u_jvp(z, r, t, v)
    return u, (v - (t - r) * dudt).detach()


def adaptive_weighted(sq: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    """Mean of sg(w) * sq with w = 1 / (sq + eps)^power; sq: (B,) squared errors. power 0 is the mean."""
    if power == 0:
        return sq.mean()
    w = (sq.detach() + eps).pow(-power)
    return (w * sq).mean()


def meanflow_loss(u_jvp: Callable, x: torch.Tensor, e: torch.Tensor, r: torch.Tensor, t: torch.Tensor,
                  weight_power: float = 0.0, weight_eps: float = 1e-3) -> LossTerms:
    """MeanFlow's loss: ||u(z_t, r, t) - sg(v - (t - r) du/dt)||^2, adaptively weighted.

    x, e: (B, 2); r, t: (B, 1) with r <= t. With r = t and weight_power = 0 it equals the
    flow-matching loss of z, t -> u(z, t, t).
    """
    z, v = interpolate(x, e, t)
    u, u_target = meanflow_target(u_jvp, z, r, t, v)
    sq = (u - u_target).pow(2).sum(dim=1)  # (B,)
    return LossTerms(loss=adaptive_weighted(sq, weight_power, weight_eps), mse=sq.mean().detach())


# ---------------------------------------------------------------- time samplers


def sample_t(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 1) times uniform on [0, 1]."""
    return torch.rand(n, 1, generator=generator)


def sample_r_t(n: int, config: MeanFlowConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, t), each (n, 1), 0 <= r <= t <= 1; a fraction 1 - config.r_neq_t has r = t."""
    if config.time_sampler == "logit-normal":
        pair = torch.sigmoid(torch.randn(n, 2, generator=generator) * config.time_std + config.time_mean)
    else:
        pair = torch.rand(n, 2, generator=generator)
    t = pair.max(dim=1, keepdim=True).values
    r = pair.min(dim=1, keepdim=True).values
    same = torch.rand(n, 1, generator=generator) >= config.r_neq_t
    return torch.where(same, t, r), t


# ---------------------------------------------------------------- the registry


class FlowMatching:
    """Learns v(z, t) on the linear path; samples by Euler steps."""

    name = "flow-matching"
    n_time_inputs = 1  # the network sees (z, t)
    # The textbook baseline, whose one-step collapse the app shows; minibatch-ot is an option.
    default_coupling = "independent"

    def velocity(self, net: MLP, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The velocity a sampler follows from t to r: v(z, t), ignoring r (one Euler step)."""
        return net(torch.cat([z, t], dim=1))

    def loss(self, net: MLP, x: torch.Tensor, e: torch.Tensor, generator: torch.Generator,
             config: MeanFlowConfig) -> LossTerms:
        t = sample_t(len(x), generator).to(x.device)
        return flow_matching_loss(lambda z, tt: net(torch.cat([z, tt], dim=1)), x, e, t)


class MeanFlow:
    """Learns the average velocity u(z, r, t); the network is conditioned on (t, t - r)."""

    name = "meanflow"
    n_time_inputs = 2  # the network sees (z, t, t - r)
    default_coupling = "minibatch-ot"  # straighter flows for the one-step jump (see couplings.py)

    def velocity(self, net: MLP, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """u(z, r, t): the average velocity over [r, t]; z (B, 2), r and t (B, 1)."""
        return net(torch.cat([z, t, t - r], dim=1))

    @staticmethod
    def u_jvp(net: MLP, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, v: torch.Tensor):
        """(u, du/dt) with tangent (dz, dr, dt) = (v, 0, 1): inputs (z, t, t - r) move by (v, 1, 1)."""
        ones = torch.ones_like(t)
        return net.forward_with_tangent(torch.cat([z, t, t - r], dim=1), torch.cat([v, ones, ones], dim=1))

    def loss(self, net: MLP, x: torch.Tensor, e: torch.Tensor, generator: torch.Generator,
             config: MeanFlowConfig) -> LossTerms:
        r, t = (s.to(x.device) for s in sample_r_t(len(x), config, generator))
        return meanflow_loss(lambda *a: self.u_jvp(net, *a), x, e, r, t,
                             weight_power=config.weight_power, weight_eps=config.weight_eps)


METHODS = {m.name: m for m in (MeanFlow(), FlowMatching())}


def get_method(name: str):
    """The method registered as `name`."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; accepted: {', '.join(METHODS)}")
    return METHODS[name]


def build_network(method_name: str, hidden: int, depth: int, activation: str = "silu",
                  generator: torch.Generator | None = None) -> MLP:
    """The MLP that `method_name` expects: inputs (z, time features), output a 2D velocity."""
    return MLP(2 + get_method(method_name).n_time_inputs, 2, hidden, depth, activation, generator)
