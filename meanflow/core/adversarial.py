"""A critic on one-step samples: an adversarial term for the one-step methods (a lever; benchmarks/RESULTS.md,
"A critic on one step").

A one-step map must tear the Gaussian into the target's pieces, and a regression loss leaves mass in the
gaps between them. A critic D (an MLP on data points, with Fourier features of the point so that it can
draw sharp seams) learns to tell the batch's data x from the method's one-step samples x_hat = step(e,
t = 1 -> r = 0), by the logistic loss softplus(-D(x)) + softplus(D(x_hat)); from `start` of the budget
on, the method's loss gains weight * softplus(-D(x_hat)), the non-saturating generator loss (Goodfellow
et al. 2014). The method's own loss keeps the samples' coverage, as in adversarial consistency training
(Kong et al. 2023, arXiv 2311.14097) and consistency trajectory models (Kim et al. 2023, arXiv
2310.02279), which add a GAN loss to a consistency loss for the same reason.

Everything here works in the network's (normalised) units, on the first CRITIC_ROWS rows of each batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .checkpoints import optimiser_slots, optimiser_tensors, under
from .config import TrainConfig
from .methods.base import Method
from .models import MLP, Conditioned

CRITIC_HIDDEN = 128  # the critic's width and depth: probed at 64 x 2 without Fourier features first, which
CRITIC_DEPTH = 2  # could not see the checkerboard's seams (RESULTS.md, "A critic on one step")
CRITIC_FREQUENCIES = 3  # sin and cos of 2^j x, j < 3, beside x: the seams' sharpness
CRITIC_ROWS = 128  # rows of each batch the critic and the adversarial term see: their cost
CRITIC_BETAS = (0.5, 0.999)  # Adam's, the usual GAN choice (a short first-moment memory)


@dataclass
class Critic:
    """The critic, its optimiser (Adam at the run's peak learning rate, constant), and the term's weight and
    start (a fraction of the budget)."""

    net: MLP
    optimiser: torch.optim.Optimizer
    weight: float
    start: float


def build_critic(config: TrainConfig, generator: torch.Generator, device: torch.device) -> Critic | None:
    """The run's critic (None when config.adversarial is 0), initialised from `generator`."""
    if not config.adversarial:
        return None
    net = MLP(
        config.dim,
        1,
        CRITIC_HIDDEN,
        CRITIC_DEPTH,
        generator=generator,
        space_columns=(0, config.dim),
        space_frequencies=CRITIC_FREQUENCIES,
    ).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr, betas=CRITIC_BETAS)
    return Critic(net, optimiser, config.adversarial, config.adversarial_start)


def first_rows(net: torch.nn.Module, rows: int) -> torch.nn.Module:
    """The network as the first `rows` rows of the batch see it (a class-conditional one keeps their classes)."""
    return net.with_labels(net.labels[:rows]) if isinstance(net, Conditioned) else net


def one_step(
    method: Method, net: torch.nn.Module, e: torch.Tensor, options, generator: torch.Generator
) -> torch.Tensor:
    """(B, D) one-step samples from noise e (B, D): the method's own jump from t = 1 to r = 0, with gradient."""
    ones = torch.ones(len(e), 1, device=e.device)
    return method.step(net, e, torch.zeros_like(ones), ones, options, generator)


def critic_step(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> float:
    """One optimiser step of the critic on real (B, D) against fake (B, D) points (fake detached here);
    returns its logistic loss."""
    loss = F.softplus(-critic.net(real)).mean() + F.softplus(critic.net(fake.detach())).mean()
    critic.optimiser.zero_grad(set_to_none=True)
    loss.backward()
    critic.optimiser.step()
    return float(loss.detach())


def generator_loss(critic: Critic, fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss mean softplus(-D(fake)); its gradient reaches fake, not the critic."""
    critic.net.requires_grad_(False)
    try:
        return F.softplus(-critic.net(fake)).mean()
    finally:
        critic.net.requires_grad_(True)


def adversarial_term(
    critic: Critic | None,
    method: Method,
    net: torch.nn.Module,
    x: torch.Tensor,
    e: torch.Tensor,
    options,
    generator: torch.Generator,
    progress: float,
) -> torch.Tensor | None:
    """weight * the generator loss on one-step samples from e's first rows, after one critic step against x's;
    None before `start` of the budget or without a critic. x, e: the batch (B, D) as the method's loss saw it."""
    if critic is None or progress < critic.start:
        return None
    rows = min(CRITIC_ROWS, len(e))
    fake = one_step(method, first_rows(net, rows), e[:rows], options, generator)
    critic_step(critic, x[:rows], fake)
    return critic.weight * generator_loss(critic, fake)


def critic_tensors(critic: Critic | None) -> dict[str, torch.Tensor]:
    """What a checkpoint keeps of the critic: its weights ('net.*') and its optimiser's slots ('adam.*')."""
    if critic is None:
        return {}
    tensors = {f"net.{k}": v.detach().cpu().clone() for k, v in critic.net.state_dict().items()}
    return tensors | {f"adam.{k}": v for k, v in optimiser_tensors(critic.optimiser.state_dict()).items()}


def load_critic_tensors(critic: Critic | None, tensors: dict[str, torch.Tensor]) -> None:
    """Put back what critic_tensors gave (on resume); nothing to do without a critic or without tensors."""
    if critic is None or not tensors:
        return
    device = next(critic.net.parameters()).device
    critic.net.load_state_dict({k: v.to(device) for k, v in under(tensors, "net").items()}, strict=True)
    slots = optimiser_slots(under(tensors, "adam"), device)
    groups = critic.optimiser.state_dict()["param_groups"]  # its settings are the config's: nothing to restore
    critic.optimiser.load_state_dict({"state": slots, "param_groups": groups})
