"""Moment matching on one-step samples: a kernel two-sample term for the one-step methods (a lever;
benchmarks/RESULTS.md, "Moment matching on one step").

The critic's term (core.adversarial) needs a second network that learns beside the map, and it moved
mass among the target's pieces. A kernel distance needs none: the squared maximum mean discrepancy
between the method's one-step samples x_hat = step(e, t = 1 -> r = 0) and the batch's data x,

    MMD^2 = E k(x_hat, x_hat') + E k(x, x') - 2 E k(x_hat, x),  k = sum_h exp(-|a - b|^2 / (2 h^2)),

estimated without its diagonal terms (unbiased) on the critic's rows of the batch, over bandwidths h of
0.1 to 1 in model units (the targets' [-2, 2] box: from a seam's width to the spacing of the pieces). It
is zero exactly when the two distributions agree (the kernel is characteristic), and its gradient pulls
each sample toward the data near it and away from other samples, so it acts on the support and on the
shares of mass alike. Generative moment matching networks (Li, Swersky, Zemel 2015, arXiv 1502.02761)
train a one-step map on it alone; Inductive Moment Matching (Zhou, Ermon, Song 2025, arXiv 2503.07565)
trains few-step models on an MMD between jumps. Here it is added to the method's own loss from
`adversarial_start` of the budget on, on every MOMENT_EVERY-th step (each costs a one-step forward and
backward on those rows), at weight `moment_matching` x MOMENT_EVERY, so that its mean weight per step is
`moment_matching`.
"""

from __future__ import annotations

import torch

from .adversarial import CRITIC_ROWS, first_rows, one_step
from .config import TrainConfig
from .methods.base import Method

MOMENT_BANDWIDTHS = (0.1, 0.25, 0.5, 1.0)  # kernel widths in model units: seams to the pieces' spacing
MOMENT_EVERY = 4  # the term on every 4th step: on every step it cost 40% of MeanFlow's steps (RESULTS.md)


def mmd(fake: torch.Tensor, real: torch.Tensor, bandwidths: tuple[float, ...] = MOMENT_BANDWIDTHS) -> torch.Tensor:
    """The unbiased squared MMD between fake (n, D) and real (m, D) points (n, m >= 2), a sum of Gaussian
    kernels; its gradient reaches fake only."""
    if len(fake) < 2 or len(real) < 2:
        raise ValueError("MMD needs at least two points on each side")
    both = torch.cat([fake, real.detach()])
    squared = torch.cdist(both, both).pow(2)
    kernel = sum(torch.exp(-squared / (2 * h * h)) for h in bandwidths)
    n, m = len(fake), len(real)
    within_fake, within_real, across = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    fake_term = (within_fake.sum() - within_fake.diagonal().sum()) / (n * (n - 1))
    real_term = (within_real.sum() - within_real.diagonal().sum()) / (m * (m - 1))
    return fake_term + real_term - 2 * across.mean()


def moment_term(
    config: TrainConfig,
    method: Method,
    net: torch.nn.Module,
    x: torch.Tensor,
    e: torch.Tensor,
    generator: torch.Generator,
    progress: float,
    step: int,
) -> torch.Tensor | None:
    """MOMENT_EVERY x config.moment_matching x MMD^2(one-step samples from e's first rows, x's) on every
    MOMENT_EVERY-th step from config.adversarial_start of the budget on; None on the others or without a
    weight. x, e: the batch (B, D) as the method's loss saw it; step: the run's step count (so a resumed run
    applies the term on the same steps)."""
    if not config.moment_matching or progress < config.adversarial_start or step % MOMENT_EVERY:
        return None
    rows = min(CRITIC_ROWS, len(e))
    fake = one_step(method, first_rows(net, rows), e[:rows], config.options, generator)
    return MOMENT_EVERY * config.moment_matching * mmd(fake, x[:rows])
