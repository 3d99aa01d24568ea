"""The adversarial lever: a critic that tells one-step samples from data, and the term it adds to a method's loss."""

from dataclasses import replace

import pytest
import torch

from meanflow.core import adversarial
from meanflow.core.adversarial import adversarial_term, build_critic, critic_step, generator_loss
from meanflow.core.registry import accepts, get_method, make_config
from meanflow.core.targets import get_target
from meanflow.core.training import run_training
from tests.conftest import resumed_from_step


def _critic(seed: int = 0, **settings):
    config = make_config("meanflow", adversarial=0.5, **settings)
    return build_critic(config, torch.Generator().manual_seed(seed), "cpu")


def test_no_critic_without_a_weight_and_no_term_before_its_start():
    assert build_critic(make_config("meanflow"), torch.Generator(), "cpu") is None
    critic, method = _critic(adversarial_start=0.5), get_method("meanflow")
    net = torch.nn.Linear(4, 2)  # u(z, r, t) from (z, t, t - r): any network of the right shape will do
    x, e, options = torch.randn(8, 2), torch.randn(8, 2), method.options()
    args = (method, net, x, e, options, torch.Generator())
    assert adversarial_term(None, *args, progress=0.9) is None
    assert adversarial_term(critic, *args, progress=0.49) is None
    term = adversarial_term(critic, *args, progress=0.5)
    assert term is not None and term.requires_grad
    term.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0  # the term trains the one-step map


def test_the_critic_learns_to_tell_data_from_samples_and_its_gradient_points_to_the_data():
    """Data at (2, 0), samples at (-2, 0): the critic's loss falls, and the generator's loss falls as the
    samples move toward the data (its gradient's x-component is negative), while the critic's weights get no
    gradient from it."""
    critic = _critic()
    g = torch.Generator().manual_seed(1)
    real = torch.randn(128, 2, generator=g) * 0.1 + torch.tensor([2.0, 0.0])
    fake = torch.randn(128, 2, generator=g) * 0.1 + torch.tensor([-2.0, 0.0])
    losses = [critic_step(critic, real, fake) for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0]
    critic.optimiser.zero_grad(set_to_none=True)
    moving = fake.clone().requires_grad_(True)
    generator_loss(critic, moving).backward()
    assert moving.grad[:, 0].mean() < 0
    assert all(p.grad is None for p in critic.net.parameters())
    assert all(p.requires_grad for p in critic.net.parameters())  # the critic still trains afterwards


def test_flow_matching_refuses_the_term_and_the_weight_is_bounded():
    with pytest.raises(ValueError, match="one-step methods"):
        make_config("flow-matching", adversarial=0.3)
    with pytest.raises(ValueError, match="adversarial must be in"):
        make_config("meanflow", adversarial=-0.1)
    with pytest.raises(ValueError, match="adversarial_start must be in"):
        make_config("meanflow", adversarial=0.3, adversarial_start=1.0)
    # what a sweep and a tuning ask before they give a method a setting (lever_bench, tune --also)
    assert accepts("meanflow", "adversarial", 0.3) and accepts("reflow", "adversarial", 0.0)
    assert not accepts("flow-matching", "adversarial", 0.3) and not accepts("reflow", "adversarial", 0.3)
    assert not accepts("meanflow", "adversarial", -0.1)


@pytest.mark.parametrize("method", ["meanflow", "consistency"])
def test_a_run_with_a_critic_differs_from_one_without_and_resumes_exactly(tiny_config, method):
    """From its start on, the term changes what trains; a run resumed at step 23 (the critic's weights and
    optimiser from the checkpoint) ends with the weights of a straight run."""
    cfg = make_config(
        method, **{k: getattr(tiny_config, k) for k in ("steps", "batch", "hidden", "depth", "preview_n", "seed")}
    )
    cfg = replace(cfg, adversarial=0.5, adversarial_start=0.25, checkpoint_seconds=1e-9)
    target = get_target("moons")
    straight = run_training(cfg, target)
    assert set(straight.checkpoint.critic_tensors) >= {"net.layers.0.weight", "adam.0.exp_avg"}
    plain = run_training(replace(cfg, adversarial=0.0), target)
    assert plain.checkpoint.critic_tensors == {}
    assert not all(torch.equal(p, q) for p, q in zip(straight.flow.net.parameters(), plain.flow.net.parameters()))
    resumed = resumed_from_step(cfg, target, 23)
    for p, q in zip(straight.flow.net.parameters(), resumed.flow.net.parameters()):
        assert torch.equal(p, q)


def test_the_critic_sees_the_first_rows_with_their_classes(monkeypatch):
    """A class-conditional network keeps the classes of the rows the term uses."""
    monkeypatch.setattr(adversarial, "CRITIC_ROWS", 4)
    cfg = make_config("meanflow", steps=30, batch=16, hidden=16, depth=2, classes=2, adversarial=0.5)
    cfg = replace(cfg, adversarial_start=0.0, preview_n=50)
    result = run_training(cfg, get_target("moons"))
    assert result.state == "done" and result.step == 30
