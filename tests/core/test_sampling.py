"""Samplers: trajectory shapes, exactness on a constant field, seeding, grids."""

import numpy as np
import pytest
import torch

from meanflow.core.networks import build_network
from meanflow.core.registry import METHODS, get_method, make_config
from meanflow.core.sampling import Flow, integrate, integrated_average_velocity, sample, time_grid, velocity_field
from meanflow.core.targets import Normaliser


def _constant_flow(method: str, c=(0.7, -1.3), normaliser=Normaliser()) -> Flow:
    net = build_network(make_config(method=method, hidden=8, depth=2))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.layers[-1].bias.copy_(torch.tensor(c))
    return Flow(get_method(method), net, normaliser)


ODE_METHODS = [m for m in METHODS if m != "consistency"]  # consistency re-noises between its steps


@pytest.mark.parametrize("method", ODE_METHODS)
@pytest.mark.parametrize("steps", [1, 2, 7, 32])
def test_k_step_sampling_of_a_constant_field_is_exact(method, steps):
    """With velocity c everywhere, every step count must land exactly on e - c."""
    noise = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    path = integrate(_constant_flow(method), noise, steps)
    assert path.shape == (steps + 1, 50, 2)
    torch.testing.assert_close(path[0], noise)
    torch.testing.assert_close(path[-1], noise - torch.tensor([0.7, -1.3]), atol=1e-5, rtol=0)


def test_explicit_time_grid_is_followed():
    """A grid 1 -> 0.5 covers half the way: z = e - 0.5 c; the trajectory records each grid time."""
    flow = _constant_flow("meanflow")
    traj = sample(flow, 20, torch.tensor([1.0, 0.75, 0.5]), torch.Generator().manual_seed(1))
    assert traj.path.shape == (3, 20, 2)
    np.testing.assert_allclose(traj.times, [1.0, 0.75, 0.5])
    np.testing.assert_allclose(traj.samples, traj.path[0] - 0.5 * np.array([0.7, -1.3]), atol=1e-5)


def test_samples_come_back_in_data_units():
    """The normaliser maps model units back: a zero field returns the noise scaled and shifted."""
    norm = Normaliser(centre=(100.0, -50.0), scale=10.0)
    flow = _constant_flow("flow-matching", c=(0.0, 0.0), normaliser=norm)
    traj = sample(flow, 2000, 4, torch.Generator().manual_seed(2))
    np.testing.assert_allclose(traj.samples.mean(0), [100.0, -50.0], atol=1.0)
    np.testing.assert_allclose(traj.samples.std(0), [10.0, 10.0], rtol=0.1)


def test_same_seed_same_samples():
    """Same generator seed must produce identical samples; another seed must not."""
    flow = Flow(
        get_method("meanflow"),
        build_network(make_config(hidden=16, depth=2), generator=torch.Generator().manual_seed(0)),
    )
    a = sample(flow, 100, 3, torch.Generator().manual_seed(9)).samples
    b = sample(flow, 100, 3, torch.Generator().manual_seed(9)).samples
    c = sample(flow, 100, 3, torch.Generator().manual_seed(10)).samples
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_bad_steps_and_grids_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        time_grid(0)
    with pytest.raises(ValueError, match="decreasing"):
        integrate(_constant_flow("meanflow"), torch.zeros(3, 2), torch.tensor([0.0, 1.0]))


def test_velocity_fields_in_data_units():
    """A constant model field c reads back as c * scale, and integrating it averages to the same."""
    norm = Normaliser(centre=(5.0, 5.0), scale=3.0)
    flow = _constant_flow("meanflow", normaliser=norm)
    pts = np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 1.0]])
    np.testing.assert_allclose(velocity_field(flow, pts, 0.2, 0.8), np.tile([2.1, -3.9], (3, 1)), atol=1e-5)
    np.testing.assert_allclose(
        integrated_average_velocity(flow, pts, 0.0, 1.0, steps=4), np.tile([2.1, -3.9], (3, 1)), atol=1e-5
    )
    with pytest.raises(ValueError, match="0 <= r <= t <= 1"):
        velocity_field(flow, pts, 0.9, 0.1)


def test_consistency_sampling_maps_to_the_data_end_and_renoises_with_the_callers_noise():
    """One step is f(e, 1) = e - c; K steps re-noise with fresh noise: the same generator gives the same
    path, another generator another path, and every path starts at the noise."""
    flow = _constant_flow("consistency")
    noise = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    one = integrate(flow, noise, 1)
    torch.testing.assert_close(one[-1], noise - torch.tensor([0.7, -1.3]), atol=1e-5, rtol=0)
    a = integrate(flow, noise, 4, torch.Generator().manual_seed(1))
    b = integrate(flow, noise, 4, torch.Generator().manual_seed(1))
    c = integrate(flow, noise, 4, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a[-1], c[-1])


def test_given_noise_is_carried_instead_of_drawn():
    """sample(noise=...) moves exactly those points (the warped grid): a constant field shifts them by -c."""
    grid = torch.tensor([[0.0, 0.0], [1.0, -2.0], [3.0, 3.0]])
    traj = sample(_constant_flow("meanflow"), 3, 1, torch.Generator().manual_seed(0), noise=grid)
    np.testing.assert_allclose(traj.path[0], grid.numpy())
    np.testing.assert_allclose(traj.samples, (grid - torch.tensor([0.7, -1.3])).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="noise must have shape"):
        sample(_constant_flow("meanflow"), 4, 1, torch.Generator().manual_seed(0), noise=grid)
