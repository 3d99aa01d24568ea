"""Shortcut models (Frans, Hafner, Levine, Abbeel 2024, arXiv 2410.12557): steps that double themselves.

The network s(z, t, d) is the velocity of a jump of size d from t; in this package's terms it is an
average velocity over [t - d, t] (r = t - d), fed as the features (t, d). The paper's loss (Eq. 5):
    || s(z_t, t, 0) - (e - x) ||^2                           flow matching at the smallest step
  + || s(z_t, t, 2d) - sg(s_target) ||^2                     self-consistency (Eq. 4)
    s_target = ( s(z_t, t, d) + s(z', t - d, d) ) / 2,  z' = z_t - d s(z_t, t, d)
The paper writes t = 0 for noise; here t = 1 is noise, so a step goes to t - d and z' = z - d s
(the paper's x_{t+d} = x_t + d s, and its second term at t + d: the printed Eq. 4 says t, a typo
the official code and its issue #5 correct). Step sizes are powers of two down to 1/128; the
official code feeds the smallest step where the paper writes d = 0, and so does this module, so
"flow matching" and "one 1/128 step" are the same input. A self-consistency row trains step D = 2d
at a time t on D's own grid {D, 2D, ..., 1}, so t = 1 (pure noise) is always reachable.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ..config import Options, Search, option
from ..models import MLP
from .base import About, LossTerms, Method, interpolate, squared_error

SMALLEST_LEVEL = 7  # steps of 1/2^7 = 1/128, the paper's M = 128
BOOTSTRAP_LEVELS = SMALLEST_LEVEL  # trained steps D in {1, 1/2, ..., 1/64}: 7 levels


@dataclass(frozen=True)
class ShortcutOptions(Options):
    # The paper gives a quarter of each batch to self-consistency; its official code uses 1/8.
    self_consistency: float = option(
        0.25,
        "Fraction of each batch trained on the self-consistency target "
        "(the paper's 1/4); the rest is flow matching at the smallest step.",
        lo=0.0,
        hi=1.0,
        search=Search(0.1, 0.5),
    )
    # The official code takes its targets from an EMA of the weights (decay 0.999). In runs of a few
    # thousand steps that EMA lags far behind; 0 uses the current weights (still stop-gradient).
    target_ema: float = option(
        0.0,
        "Decay of the moving average whose predictions build the self-consistency "
        "target (the official code: 0.999); 0 uses the current weights.",
        lo=0.0,
        hi=0.9999,
        search=Search(values=(0.0, 0.99, 0.999)),
    )


class ShortcutEMA:
    """The moving average of the weights that the self-consistency targets come from."""

    def __init__(self, net: MLP, decay: float):
        self.decay = decay
        self.net = copy.deepcopy(net).requires_grad_(False) if decay > 0 else None

    def update(self, net: MLP) -> None:
        if self.net is not None:
            with torch.no_grad():
                torch._foreach_lerp_(list(self.net.parameters()), list(net.parameters()), 1 - self.decay)

    def model(self, net: MLP) -> MLP:
        return self.net if self.net is not None else net


class Shortcut(Method):
    name = "shortcut"
    about = About(
        label="Shortcut",
        summary=(
            "Conditions on the step size and teaches a step of 2d to equal two steps of d, "
            "from flow matching at the smallest step up to one step of size 1."
        ),
        paper="Frans, Hafner, Levine, Abbeel 2024: One Step Diffusion via Shortcut Models",
        arxiv="2410.12557",
        cost="two extra forward passes without gradient on the self-consistency rows (a quarter of the batch); no JVP",
        loss_latex=(
            r"\lVert s_\theta(z_t, t, d_{\min}) - (e - x)\rVert^2 + \lVert s_\theta(z_t, t, 2d) - "
            r"\mathrm{sg}\big(\tfrac12 s(z_t, t, d) + \tfrac12 s(z_t - d\,s(z_t,t,d),\, t - d,\, d)\big)\rVert^2"
        ),
    )
    options = ShortcutOptions
    default_coupling = "minibatch-ot"  # MeanFlow's pairing, so the comparison isolates the objective
    time_feature_names = ("t", "t-r")  # (t, d) with d = t - r: the step from t to r

    def step_velocity(self, net: MLP, z: torch.Tensor, t: torch.Tensor, d: torch.Tensor, options) -> torch.Tensor:
        """s(z, t, d) for z (B, 2), t and d (B, 1): the velocity of one jump of size d from t."""
        d = d.clamp(min=2.0**-SMALLEST_LEVEL)  # the smallest step stands for "d = 0" (flow matching)
        return net(self.network_input(z, t - d, t, options))

    def velocity(self, net: MLP, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, options) -> torch.Tensor:
        return self.step_velocity(net, z, t, t - r, options)

    def prepare(self, config, target, teachers: dict, generator: torch.Generator, net: MLP, saved=None) -> ShortcutEMA:
        return ShortcutEMA(net, config.options.target_ema)

    def after_step(self, context: ShortcutEMA, net: MLP) -> None:
        context.update(net)

    def context_tensors(self, context: ShortcutEMA) -> dict[str, torch.Tensor]:
        return {} if context.net is None else {f"ema.{k}": v for k, v in context.net.state_dict().items()}

    def load_context_tensors(self, context: ShortcutEMA, tensors: dict[str, torch.Tensor]) -> None:
        if context.net is not None and tensors:
            context.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})

    def self_consistency_target(
        self, model: MLP, z: torch.Tensor, t: torch.Tensor, d: torch.Tensor, options
    ) -> torch.Tensor:
        """(s(z, t, d) + s(z - d s(z, t, d), t - d, d)) / 2, without gradient: the target for step 2d."""
        with torch.no_grad():
            s1 = self.step_velocity(model, z, t, d, options)
            s2 = self.step_velocity(model, z - d * s1, t - d, d, options)
        return (s1 + s2) / 2

    def loss(
        self,
        net: MLP,
        x: torch.Tensor,
        e: torch.Tensor,
        generator: torch.Generator,
        options: ShortcutOptions,
        progress: float,
        context: ShortcutEMA | None = None,
    ) -> LossTerms:
        n = len(x)
        n_sc = int(round(options.self_consistency * n))
        device = x.device
        # flow-matching rows: uniform t, the smallest step, target e - x
        t_fm = torch.rand(n - n_sc, 1, generator=generator).to(device).clamp(min=1e-4)
        z_fm, v_fm = interpolate(x[n_sc:], e[n_sc:], t_fm)
        pred_fm = self.step_velocity(net, z_fm, t_fm, torch.zeros_like(t_fm), options)
        sq = [squared_error(pred_fm, v_fm)]
        if n_sc:
            # self-consistency rows: a trained step D = 2^-level (levels 0..6 at random: every level
            # appears even in small batches), t on D's grid, the half step d = D / 2
            level = torch.randint(0, BOOTSTRAP_LEVELS, (n_sc, 1), generator=generator).float()
            big = 2.0**-level
            j = torch.floor(torch.rand(n_sc, 1, generator=generator) * 2.0**level) + 1  # 1 .. 1/D
            t = (j * big).to(device)
            big, d = big.to(device), (big / 2).to(device)
            z, _ = interpolate(x[:n_sc], e[:n_sc], t)
            model = context.model(net) if context is not None else net
            target = self.self_consistency_target(model, z, t, d, options)
            sq.insert(0, squared_error(self.step_velocity(net, z, t, big, options), target))
        sq = torch.cat(sq)
        mse = sq.mean()
        return LossTerms(loss=mse, mse=mse.detach())
