"""One-step and k-step samplers, returning the whole trajectory for animation.

Every method moves along a time grid from 1 (noise) to 0 (data) by its own step (Method.step),
by default z_r = z_t - (t - r) * velocity(z_t, r, t), where velocity is MeanFlow's average
velocity u(z_t, r, t), or flow matching's v(z_t, t) (an Euler step). With one step MeanFlow jumps
x = e - u(e, 0, 1). Stochastic steps (consistency models re-noise) draw from the caller's generator.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import torch

from .config import Options
from .couplings import get_coupling
from .methods.base import Method
from .models import Conditioned, Guided
from .targets import Normaliser


@dataclass(frozen=True)
class Flow:
    """A trained network with what it needs to sample in the data's own units."""

    method: Method  # the registry entry whose step and velocity sampling follows
    net: torch.nn.Module  # the MLP (or, steered, the same network with a class input or guidance)
    normaliser: Normaliser = Normaliser()
    options: Options | None = None  # the method's options (how the network sees time); None: its defaults
    classes: int = 0  # classes the network is conditioned on (0: unconditional)
    class_weights: tuple[float, ...] = ()  # how often each class occurs in the target (empty: equally often)
    # How noise was paired with data in training (couplings.COUPLINGS): a sampler that draws fresh noise
    # on the way (consistency's re-noising) pairs it the same way, so its points lie where training put them.
    coupling: str = "independent"
    dim: int = 2  # dimensions of its points (the network's output width)

    def __post_init__(self):
        if self.options is None:
            object.__setattr__(self, "options", self.method.options())

    def steered(
        self, n: int, label: int | None = None, guidance: float = 1.0, generator: torch.Generator | None = None
    ) -> Flow:
        """This flow for n rows of class `label`, with classifier-free guidance at sampling time when
        guidance != 1 (two evaluations per step). label None draws each row's class from the target's
        class frequencies (with `generator`): the whole distribution, through the conditional branches.
        Unconditional flows ignore all three."""
        if not self.classes:
            return self
        if label is not None and not 0 <= label < self.classes:
            raise ValueError(f"class must be 0 to {self.classes - 1}, got {label}")
        device = next(self.net.parameters()).device
        if label is None:
            weights = torch.tensor(self.class_weights or [1.0] * self.classes, dtype=torch.float64)
            generator = generator if generator is not None else torch.Generator().manual_seed(0)
            labels = torch.multinomial(weights, n, replacement=True, generator=generator).to(device)
        else:
            labels = torch.full((n,), label, dtype=torch.long, device=device)
        net = Conditioned(self.net, labels, self.classes)
        if guidance != 1.0:
            net = Guided(net, guidance)
        return replace(self, net=net, classes=0)

    def endpoint(
        self, noise: torch.Tensor, steps_or_grid: int | torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Model-unit samples (n, D) from noise (n, D) along the grid: the last state of `integrate` (below)
        on this flow, without keeping the path. What a method that learns from another run's flow (reflow's
        teacher) calls."""
        return endpoint(self, noise, steps_or_grid, generator)


@dataclass(frozen=True)
class Trajectory:
    """times: (k + 1,) from 1 to 0; path: (k + 1, n, D) with path[0] the noise, path[-1] the samples."""

    times: np.ndarray
    path: np.ndarray

    @property
    def samples(self) -> np.ndarray:
        """(n, D): the final points."""
        return self.path[-1]


def time_grid(steps: int) -> torch.Tensor:
    """(steps + 1,) evenly spaced times from 1 to 0."""
    if steps < 1:
        raise ValueError(f"the number of steps must be at least 1, got {steps}")
    return torch.linspace(1.0, 0.0, steps + 1)


def _as_grid(steps_or_grid: int | torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(steps_or_grid, (int, np.integer)):
        return time_grid(int(steps_or_grid))
    grid = torch.as_tensor(steps_or_grid, dtype=torch.float32)
    if grid.ndim != 1 or len(grid) < 2 or not bool((grid[1:] < grid[:-1]).all()):
        raise ValueError("a time grid must be 1D, at least two times, strictly decreasing (from 1 towards 0)")
    if grid[0] > 1 or grid[-1] < 0:
        raise ValueError("a time grid must lie within [0, 1]")
    return grid


def _walk(flow: Flow, noise: torch.Tensor, steps_or_grid: int | torch.Tensor, generator: torch.Generator | None):
    """The model-unit states (n, D) from noise (n, D) at grid[0], one per time of the grid, noise first.

    generator: for methods whose steps draw fresh noise (None: a fixed seed, so paths repeat).
    """
    grid = _as_grid(steps_or_grid)
    pair = get_coupling(flow.coupling)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    flow = flow.steered(len(noise), generator=generator)  # a conditional flow without a class: classes drawn
    device = next(flow.net.parameters()).device
    z = noise.to(device, torch.float32)
    yield z
    for t_now, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
        t = torch.full((len(z), 1), t_now, device=device)
        r = torch.full((len(z), 1), t_next, device=device)
        z = flow.method.step(flow.net, z, r, t, flow.options, generator, pair)
        yield z


@torch.no_grad()
def integrate(
    flow: Flow, noise: torch.Tensor, steps_or_grid: int | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Model-unit path (k + 1, n, D) from noise (n, D) at grid[0] along the grid.

    generator: for methods whose steps draw fresh noise (None: a fixed seed, so paths repeat).
    """
    return torch.stack(list(_walk(flow, noise, steps_or_grid, generator)))  # (k + 1, n, D)


@torch.no_grad()
def endpoint(
    flow: Flow, noise: torch.Tensor, steps_or_grid: int | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """integrate's last state (n, D), the same numbers, holding one state at a time instead of the path."""
    return deque(_walk(flow, noise, steps_or_grid, generator), maxlen=1)[0]


def sample(
    flow: Flow,
    n: int,
    steps_or_grid: int | torch.Tensor,
    generator: torch.Generator,
    label: int | None = None,
    guidance: float = 1.0,
    noise: torch.Tensor | None = None,
) -> Trajectory:
    """n samples in data units with their trajectory; noise (and any fresh noise on the way) from `generator`.

    label: the class to sample (conditional flows; None: no class); guidance: classifier-free guidance
    scale at sampling time, two evaluations per step when not 1 (MeanFlow's own guidance is trained in).
    noise: (n, D) model-unit starting points to push through the sampler instead of drawn noise (a grid
    over the noise plane, to see the map itself).
    """
    if n < 1:
        raise ValueError(f"the number of samples must be at least 1, got {n}")
    if noise is None:
        noise = torch.randn(n, flow.dim, generator=generator)
    elif tuple(noise.shape) != (n, flow.dim):
        raise ValueError(f"noise must have shape ({n}, {flow.dim}), got {tuple(noise.shape)}")
    path = integrate(flow.steered(n, label, guidance, generator), noise, steps_or_grid, generator)
    data_path = flow.normaliser.to_data(path.cpu().double()).numpy().astype(np.float32)
    return Trajectory(times=_as_grid(steps_or_grid).numpy(), path=data_path)


def _model_points(flow: Flow, points: np.ndarray) -> torch.Tensor:
    """(m, D) data-unit points as a float32 model-unit tensor on the network's device."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != flow.dim:
        raise ValueError(f"points must have shape (m, {flow.dim}), got {points.shape}")
    z = flow.normaliser.to_model(points)
    return torch.as_tensor(z, dtype=torch.float32).to(next(flow.net.parameters()).device)


@torch.no_grad()
def velocity_field(flow: Flow, points: np.ndarray, r: float, t: float) -> np.ndarray:
    """The network's velocity at `points` (m, D), in data units per unit time, (m, D).

    MeanFlow: the average velocity u(z, r, t) (r = t gives the instantaneous field u(z, t, t)).
    Flow matching: the instantaneous v(z, t); r is ignored.
    """
    if not 0.0 <= r <= t <= 1.0:
        raise ValueError(f"times must satisfy 0 <= r <= t <= 1, got r={r}, t={t}")
    z = _model_points(flow, points)
    device = z.device
    rr = torch.full((len(z), 1), float(r), device=device)
    tt = torch.full((len(z), 1), float(t), device=device)
    u = flow.method.velocity(flow.steered(len(z)).net, z, rr, tt, flow.options)
    return (u.cpu().double() * flow.normaliser.scale).numpy()


def integrated_average_velocity(flow: Flow, points: np.ndarray, r: float, t: float, steps: int = 32) -> np.ndarray:
    """(z_t - z_r) / (t - r) by `steps` small jumps from t down to r: the average velocity a
    multi-step sampler realises, (m, D) in data units. What MeanFlow learns to give in one jump."""
    if not 0.0 <= r < t <= 1.0:
        raise ValueError(f"times must satisfy 0 <= r < t <= 1, got r={r}, t={t}")
    path = integrate(flow, _model_points(flow, points), torch.linspace(t, r, steps + 1))
    return ((path[0] - path[-1]).cpu().double() / (t - r) * flow.normaliser.scale).numpy()


def samples_csv(points: np.ndarray) -> bytes:
    """(n, D) samples as CSV text with a header ('x,y' in 2D; 'x1,...,xD' beyond): what `sample --out x.csv`
    and the app's download write."""
    import io

    points = np.asarray(points)
    header = "x,y" if points.shape[1] == 2 else ",".join(f"x{i + 1}" for i in range(points.shape[1]))
    out = io.StringIO()
    np.savetxt(out, points, delimiter=",", header=header, comments="", fmt="%.7g")
    return out.getvalue().encode()
