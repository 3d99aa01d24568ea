"""The moment-matching lever: a kernel MMD between one-step samples and the data, added to a method's loss."""

from dataclasses import replace

import pytest
import torch

from meanflow.core.moments import MOMENT_EVERY, mmd, moment_term
from meanflow.core.registry import get_method, make_config
from meanflow.core.targets import get_target
from meanflow.core.training import run_training
from tests.conftest import resumed_from_step


def _cloud(g: torch.Generator, centre: tuple[float, float], n: int = 256) -> torch.Tensor:
    return torch.randn(n, 2, generator=g) * 0.3 + torch.tensor(centre)


def test_mmd_is_near_zero_for_one_distribution_and_its_gradient_moves_samples_to_the_data():
    """Two samples of one distribution: about 0 (unbiased: either sign); apart: clearly positive. A step
    along its gradient moves the samples toward the data and lowers it; the data get no gradient."""
    g = torch.Generator().manual_seed(0)
    real = _cloud(g, (1.0, 0.0))
    same = abs(float(mmd(_cloud(g, (1.0, 0.0)), real)))
    apart = float(mmd(_cloud(g, (-1.0, 0.0)), real))
    assert apart > 20 * same and apart > 0.1
    fake = _cloud(g, (-1.0, 0.0)).requires_grad_(True)
    real.requires_grad_(True)
    mmd(fake, real).backward()
    assert fake.grad[:, 0].mean() < 0 and real.grad is None
    moved = (fake - 50.0 * fake.grad).detach()
    assert float(mmd(moved, real)) < apart and float(moved[:, 0].mean()) > float(fake.detach()[:, 0].mean())
    with pytest.raises(ValueError, match="two points"):
        mmd(fake[:1], real)


def test_the_term_applies_from_its_start_on_every_kth_step_and_trains_the_one_step_map():
    config = make_config("meanflow", moment_matching=0.5, adversarial_start=0.5)
    method = get_method("meanflow")
    net = torch.nn.Linear(4, 2)  # u(z, r, t) from (z, t, t - r): any network of the right shape will do
    x, e = torch.randn(16, 2), torch.randn(16, 2)

    def term(cfg, progress, step):
        return moment_term(cfg, method, net, x, e, torch.Generator(), progress, step)

    assert term(make_config("meanflow"), 0.9, 0) is None  # no weight: no term
    assert term(config, 0.49, 0) is None  # before its start
    assert term(config, 0.9, MOMENT_EVERY + 1) is None  # between its steps
    value = term(config, 0.5, 2 * MOMENT_EVERY)
    assert value is not None and value.requires_grad
    value.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


def test_flow_matching_refuses_the_term_and_the_weight_is_bounded():
    with pytest.raises(ValueError, match="moment_matching to 0"):
        make_config("flow-matching", moment_matching=1.0)
    with pytest.raises(ValueError, match="moment_matching must be in"):
        make_config("meanflow", moment_matching=11.0)


def test_a_run_with_the_term_differs_from_one_without_and_resumes_exactly(tiny_config):
    """The term is stateless and keyed to the run's step count, so a run resumed at step 21 ends with the
    weights of a straight run (21 is not a multiple of MOMENT_EVERY: a count restarted on resume would
    apply the term on other steps; checked once)."""
    cfg = replace(tiny_config, moment_matching=1.0, adversarial_start=0.25, checkpoint_seconds=1e-9)
    target = get_target("moons")
    straight = run_training(cfg, target)
    plain = run_training(replace(cfg, moment_matching=0.0), target)
    assert not all(torch.equal(p, q) for p, q in zip(straight.flow.net.parameters(), plain.flow.net.parameters()))
    assert 21 % MOMENT_EVERY
    resumed = resumed_from_step(cfg, target, 21)  # its checkpoint holds 21 steps
    for p, q in zip(straight.flow.net.parameters(), resumed.flow.net.parameters()):
        assert torch.equal(p, q)
