"""Class-conditional training and guidance: the unconditional path unchanged, class dropout, the guided
target at scale 1, a short conditional run sampling into its class's region, and the CLI's contract."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from meanflow import get_target
from meanflow.core.methods.meanflow import meanflow_loss
from meanflow.core.metrics import ClassEvaluator
from meanflow.core.models import MLP, Conditioned
from meanflow.core.networks import input_width
from meanflow.core.registry import get_method, make_config
from meanflow.core.sampling import sample
from meanflow.core.training import conditioned, run_training

ROOT = Path(__file__).resolve().parents[2]
MEANFLOW = get_method("meanflow")


def _net(classes: int) -> MLP:
    """A small network with a class input (when classes > 0), as training builds it."""
    config = make_config(hidden=32, depth=2, classes=classes)
    return MLP(input_width(config), 2, config.hidden, config.depth, generator=torch.Generator().manual_seed(0))


def test_an_unconditional_config_trains_and_samples_the_plain_network():
    config = make_config(hidden=32, depth=2)
    net = _net(0)
    assert conditioned(net, None, config, torch.Generator().manual_seed(0), "cpu") is net
    result = run_training(replace(config, steps=5, batch=32), get_target("8gaussians"))
    flow = result.flow
    assert flow.classes == 0 and flow.steered(10, label=None) is flow  # no class: nothing changes


def test_class_dropout_sends_its_share_of_rows_to_the_unconditional_branch():
    labels = torch.randint(0, 8, (20_000,), generator=torch.Generator().manual_seed(1))
    for share in (0.0, 0.1, 0.5):
        config = make_config(hidden=32, depth=2, classes=8, class_dropout=share)
        net = conditioned(_net(8), labels, config, torch.Generator().manual_seed(2), "cpu")
        assert isinstance(net, Conditioned)
        dropped = (net.labels == net.null).float().mean().item()
        assert abs(dropped - share) < 0.015, (share, dropped)
        kept = net.labels != net.null
        assert torch.equal(net.labels[kept], labels[kept])  # the others keep their class


def _guided_pieces(omega: float, kappa: float = 0.0, t_min: float = 0.0, t_max: float = 1.0):
    options = MEANFLOW.options(guidance_scale=omega, guidance_mix=kappa, guidance_t_min=t_min, guidance_t_max=t_max)
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 8, (64,), generator=g)
    labels[:8] = 8  # eight rows dropped to "no class"
    net = Conditioned(_net(8), labels, 8)
    z, v = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    t = torch.rand(64, 1, generator=g)
    return options, net, z, t, v


def test_the_guided_target_at_scale_one_is_the_unguided_one():
    options, net, z, t, v = _guided_pieces(1.0)
    assert not MEANFLOW.guides(net, options)  # scale 1, no mix: training takes the plain path
    torch.testing.assert_close(MEANFLOW.guided_velocity(net, options)(z, t, v), v, rtol=0, atol=1e-7)
    g = torch.Generator().manual_seed(4)
    x, e = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    r = t * torch.rand(64, 1, generator=g)
    u_jvp = lambda *a: MEANFLOW.u_jvp(net, *a, options)
    plain = meanflow_loss(u_jvp, x, e, r, t)
    guided = meanflow_loss(u_jvp, x, e, r, t, velocity=MEANFLOW.guided_velocity(net, options))
    torch.testing.assert_close(guided.loss, plain.loss)


def test_guidance_moves_only_rows_with_a_class_inside_the_interval():
    options, net, z, t, v = _guided_pieces(2.0, t_min=0.3, t_max=0.8)
    out = MEANFLOW.guided_velocity(net, options)(z, t, v)
    active = (net.labels != 8).unsqueeze(1) & (t >= 0.3) & (t <= 0.8)
    assert active.any() and (~active).any()
    assert torch.equal(torch.where(active, v, out), v)  # the rest keep v exactly
    with torch.no_grad():
        plain = MEANFLOW.velocity(net.with_labels(torch.full_like(net.labels, 8)), z, t, t, options)
    torch.testing.assert_close(out, torch.where(active, 2 * v - plain, v))  # Eq. 19 with kappa = 0


@pytest.mark.slow
def test_a_short_conditional_run_samples_each_class_mostly_in_its_region():
    target = get_target("8gaussians")
    config = make_config(method="meanflow", classes=target.classes, steps=1500, seed=0)
    result = run_training(config, target)
    assert result.state == "done"
    evaluator = ClassEvaluator(target, 200, torch.Generator().manual_seed(5))
    samples = {
        k: sample(result.flow, 200, 1, torch.Generator().manual_seed(6 + k), label=k).samples
        for k in range(target.classes)
    }
    score = evaluator.score(samples)
    assert score["accuracy"] > 0.9, score  # measured 0.998 (seeds 0, 1); chance is 1/8
    with pytest.raises(ValueError, match="class must be 0 to 7"):
        sample(result.flow, 10, 1, torch.Generator(), label=8)


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "meanflow", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_cli_round_trip_with_a_class_and_guidance_and_its_bad_input(tmp_path):
    run = tmp_path / "run"
    tiny = ["--steps", "30", "--batch", "64", "--hidden", "16", "--depth", "2", "--quiet"]
    result = run_cli("train", "--method", "flow-matching", "--target", "moons", *tiny, "--out", run)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "s.npy"
    result = run_cli("sample", run, "--class", 1, "--guidance", 2, "--nfe", 4, "--n", 50, "--out", out)
    assert result.returncode == 0, result.stderr
    assert np.load(out).shape == (50, 2)
    for bad in (["--class", 2], ["--class", -1], ["--guidance", "nan"], ["--guidance", "-1"], ["--class", "x"]):
        result = run_cli("sample", run, *bad, "--nfe", 2, "--n", 10, "--out", tmp_path / "bad.npy")
        assert result.returncode == 2, (bad, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
        assert bad[0] in result.stderr or "class" in result.stderr, result.stderr  # says what is wrong
        assert not (tmp_path / "bad.npy").exists()
    plain = tmp_path / "plain"
    result = run_cli("train", "--method", "meanflow", "--target", "moons", "--unconditional", *tiny, "--out", plain)
    assert result.returncode == 0, result.stderr
    result = run_cli("sample", plain, "--class", 0, "--nfe", 1, "--n", 10, "--out", tmp_path / "p.npy")
    assert result.returncode == 2 and "not class-conditional" in result.stderr


def test_guidance_with_a_mix_kappa_adds_the_class_branch_by_its_share():
    """Eq. 19 with Appendix B.1's kappa: v~ = omega v + kappa u(z, t, t | class) + (1 - omega - kappa)
    u(z, t, t | no class) on rows with a class; rows dropped to 'no class' keep v."""
    omega, kappa = 2.0, 0.4
    options, net, z, t, v = _guided_pieces(omega, kappa)
    out = MEANFLOW.guided_velocity(net, options)(z, t, v)
    with torch.no_grad():
        plain = MEANFLOW.velocity(net.with_labels(torch.full_like(net.labels, 8)), z, t, t, options)
        own = MEANFLOW.velocity(net, z, t, t, options)
    active = (net.labels != 8).unsqueeze(1)
    expected = torch.where(active, omega * v + kappa * own + (1 - omega - kappa) * plain, v)
    torch.testing.assert_close(out, expected)
    assert float((own - plain).abs().max()) > 1e-3  # the two branches differ, so kappa's term is seen
