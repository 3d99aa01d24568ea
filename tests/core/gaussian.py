"""Exact flows between Gaussian data N(MU, SIGMA^2 I) and N(0, I) noise: an oracle for method tests.

On the linear path z_t = (1 - t) x + t e the marginal flow maps z_t to z_r = m_r + (s_r / s_t)(z_t - m_t)
with m_t = (1 - t) MU and s_t = sqrt((1 - t)^2 SIGMA^2 + t^2), so every velocity has a closed form.
"""

import torch

MU = torch.tensor([1.5, -0.5], dtype=torch.float64)
SIGMA = 0.3


def m(t):
    return (1 - t) * MU


def s(t):
    return torch.sqrt((1 - t) ** 2 * SIGMA**2 + t**2)


def flow_map(z, t, r):
    """Where the marginal flow carries z from time t to time r."""
    return m(r) + s(r) / s(t) * (z - m(t))


def exact_u(z, r, t):
    """The average velocity over [r, t] (r < t): (z_t - z_r) / (t - r)."""
    return (z - flow_map(z, t, r)) / (t - r)


def exact_v(z, t):
    """The marginal velocity E[e - x | z_t = z]."""
    ds = ((t - 1) * SIGMA**2 + t) / s(t)
    return -MU + ds / s(t) * (z - m(t))


def exact_u_or_v(z, r, t):
    """exact_u where r < t and exact_v where r = t, row by row."""
    same = (t - r).abs() < 1e-12
    return torch.where(same, exact_v(z, t), exact_u(z, torch.where(same, t - 1e-3, r), t))


class Oracle(torch.nn.Module):
    """A 'network' whose inputs are (z, t, t - r), as the methods build them, and whose output is the exact
    average velocity u(z, r, t) (r = t: the marginal v). Float64."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))  # samplers read the device from it

    def forward(self, inputs):
        z, t, d = inputs[:, :2], inputs[:, 2:3], inputs[:, 3:4]
        return exact_u_or_v(z, t - d, t)
