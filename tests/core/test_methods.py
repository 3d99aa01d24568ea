"""MeanFlow's target and loss: the JVP tangent, the r = t reduction, a closed-form fixed point."""

import math

import pytest
import torch

from meanflow.core.config import option_specs
from meanflow.core.couplings import minibatch_ot
from meanflow.core.methods import reflow as reflow_module
from meanflow.core.methods.alphaflow import AlphaFlow, AlphaFlowOptions, alpha_at, alphaflow_target
from meanflow.core.methods.base import adaptive_weighted, draw_r_t, sample_r_t
from meanflow.core.methods.consistency import (
    Consistency,
    ConsistencyOptions,
    grid_size,
    interval_probabilities,
    karras_sigmas,
)
from meanflow.core.methods.flow_matching import flow_matching_loss
from meanflow.core.methods.imf import ImprovedMeanFlow, ImprovedMeanFlowOptions
from meanflow.core.methods.meanflow import (
    MeanFlow,
    MeanFlowOptions,
    meanflow_loss,
    meanflow_target,
    short_first_weights,
)
from meanflow.core.methods.reflow import Reflow, ReflowOptions
from meanflow.core.methods.shortcut import Shortcut, ShortcutOptions
from meanflow.core.methods.splitmeanflow import splitting_target
from meanflow.core.metrics import Evaluator
from meanflow.core.networks import build_network, flow_from_bundle
from meanflow.core.paths import pretrained_dir
from meanflow.core.registry import METHODS, get_method, make_config
from meanflow.core.runs import load_run, read_teachers, run_bundle, save_result
from meanflow.core.sampling import Flow, integrate, sample
from meanflow.core.targets import get_target
from meanflow.core.training import lr_at, run_training
from tests.core import gaussian as G

MF = MeanFlow()
OPTIONS = MeanFlowOptions()


def _net(hidden, depth, seed, **options):
    """A MeanFlow network on the raw time inputs (the maths under test; the measurements below were made so)."""
    config = make_config(hidden=hidden, depth=depth, options=options or None, time_frequencies=0)
    return build_network(config, generator=torch.Generator().manual_seed(seed))


def _u_fn(net, options=OPTIONS):
    """u(z, r, t) for a MeanFlow network, as a plain function of its three arguments."""
    return lambda z, r, t: MF.velocity(net, z, r, t, options)


def _u_jvp(net, options=OPTIONS):
    return lambda z, r, t, v: MF.u_jvp(net, z, r, t, v, options)


def _batch(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    v = torch.randn(n, 2, generator=g, dtype=torch.float64)
    pair = torch.rand(n, 2, generator=g, dtype=torch.float64)
    return z, v, pair.min(1, keepdim=True).values, pair.max(1, keepdim=True).values


def test_dudt_equals_torch_func_jvp_along_v_0_1():
    """du/dt must be the JVP of u(z, r, t) with tangent (v, 0, 1) in (z, r, t)."""
    for conditioning in ("t,t-r", "t,r", "t,r,t-r", "t-r"):  # every time embedding of the paper's Table 1c
        options = MeanFlowOptions(conditioning=conditioning)
        net = _net(32, 3, 0, conditioning=conditioning).double()
        z, v, r, t = _batch()
        _, dudt = MF.u_jvp(net, z, r, t, v, options)
        _, ref = torch.func.jvp(_u_fn(net, options), (z, r, t), (v, torch.zeros_like(r), torch.ones_like(t)))
        torch.testing.assert_close(dudt, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("tangent, dr, dt, dz", [("v,0,0", 0, 0, 1), ("v,1,0", 1, 0, 1), ("v,1,1", 1, 1, 1)])
def test_the_ablation_tangents_are_the_jvps_they_name(tangent, dr, dt, dz):
    """The paper's wrong tangents (Table 1b) must be exactly the JVPs along (v, dr, dt), not du/dt."""
    options = MeanFlowOptions(tangent=tangent)
    net = _net(16, 2, 9).double()
    z, v, r, t = _batch(seed=9)
    _, got = MF.u_jvp(net, z, r, t, v, options)
    _, ref = torch.func.jvp(_u_fn(net), (z, r, t), (dz * v, dr * torch.ones_like(r), dt * torch.ones_like(t)))
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
    _, right = MF.u_jvp(net, z, r, t, v, OPTIONS)
    assert (got - right).abs().max() > 1e-3


def test_dudt_equals_finite_difference_along_the_trajectory():
    """du/dt must match (u(z + h v, r, t + h) - u(z - h v, r, t - h)) / 2h."""
    net = _net(32, 3, 1).double()
    z, v, r, t = _batch(seed=1)
    u = _u_fn(net)
    h = 1e-6
    fd = (u(z + h * v, r, t + h) - u(z - h * v, r, t - h)) / (2 * h)
    _, dudt = MF.u_jvp(net, z, r, t, v, OPTIONS)
    torch.testing.assert_close(dudt, fd, rtol=1e-6, atol=1e-8)
    wrong = (u(z + h * v, r + h, t) - u(z - h * v, r - h, t)) / (2 * h)  # the common bug: (v, 1, 0)
    assert (dudt - wrong).abs().max() > 1e-3


def test_r_equal_t_reduces_meanflow_to_flow_matching():
    """With r = t and no adaptive weight, the MeanFlow loss is the flow-matching loss of u(z, t, t)."""
    net = _net(32, 2, 2).double()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 2, generator=g, dtype=torch.float64)
    e = torch.randn(64, 2, generator=g, dtype=torch.float64)
    t = torch.rand(64, 1, generator=g, dtype=torch.float64)
    mf = meanflow_loss(_u_jvp(net), x, e, t, t, weight_power=0.0)
    fm = flow_matching_loss(lambda z, tt: _u_fn(net)(z, tt, tt), x, e, t)
    torch.testing.assert_close(mf.loss, fm.loss)
    mf_r = meanflow_loss(_u_jvp(net), x, e, 0.5 * t, t, weight_power=0.0)
    assert not torch.allclose(mf_r.loss, fm.loss)  # the reduction needs r = t


# Gaussian data N(mu, sigma^2 I) to N(0, I) noise: every velocity has a closed form.
MU = torch.tensor([1.5, -0.5], dtype=torch.float64)
SIGMA = 0.3


def _m(t):
    return (1 - t) * MU


def _s(t):
    return torch.sqrt((1 - t) ** 2 * SIGMA**2 + t**2)


def _exact_u(z, r, t):
    """Average velocity over [r, t]: the flow maps z_t to z_r = m_r + (s_r / s_t)(z_t - m_t)."""
    z_r = _m(r) + _s(r) / _s(t) * (z - _m(t))
    return (z - z_r) / (t - r)


def _exact_v(z, t):
    """Marginal velocity E[e - x | z_t = z]."""
    ds = ((t - 1) * SIGMA**2 + t) / _s(t)
    return -MU + ds / _s(t) * (z - _m(t))


def test_exact_average_velocity_is_a_fixed_point_of_the_meanflow_target():
    """For the exact u of a Gaussian-to-Gaussian flow, v - (t - r) du/dt must give back u."""
    z, _, r, t = _batch(64, seed=4)
    r, t = 0.9 * r, 0.05 + 0.95 * t  # keep t - r > 0 and away from the ends

    def exact_jvp(z, r, t, v):
        return torch.func.jvp(_exact_u, (z, r, t), (v, torch.zeros_like(r), torch.ones_like(t)))

    u, target = meanflow_target(exact_jvp, z, r, t, _exact_v(z, t))
    torch.testing.assert_close(target, u, rtol=1e-9, atol=1e-9)

    def wrong_jvp(z, r, t, v):  # tangent (v, 1, 0): differentiates r instead of t
        return torch.func.jvp(_exact_u, (z, r, t), (v, torch.ones_like(r), torch.zeros_like(t)))

    u, target = meanflow_target(wrong_jvp, z, r, t, _exact_v(z, t))
    assert (target - u).abs().max() > 1e-2


def test_one_step_closed_form_maps_noise_to_data():
    """x = e - u(e, 0, 1) must be mu + sigma e, the exact one-step map."""
    e = torch.randn(100, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ones = torch.ones(100, 1, dtype=torch.float64)
    x = e - _exact_u(e, 0 * ones, ones)
    torch.testing.assert_close(x, MU + SIGMA * e)


def test_meanflow_learns_the_gaussian_one_step_map():
    """400 steps of MeanFlow on Gaussian data: one-step samples mu + sigma e, std within 15% of sigma.

    Measured (benchmarks/RESULTS.md): a 32x2 net with independent pairing settles at std 0.20 however
    long it trains, lr decay or batch 2048 alike, and its 32-step samples at 0.24: the net is too small
    for the curved field independent pairing makes. A 128x4 net reaches 0.29-0.30; with minibatch-OT
    pairing the field is nearly straight and this 32x2 net reaches 0.30 in 400 steps.
    """
    _assert_learns_the_gaussian_map(_net(32, 2, 6, weight_power=0.0), MeanFlowOptions(weight_power=0.0), lambda f: 1e-2)


def _assert_learns_the_gaussian_map(net, options: MeanFlowOptions, lr_at_fraction) -> None:
    """400 Adam steps of MeanFlow on the Gaussian data (minibatch-OT pairs, the learning rate at each
    fraction of the run from lr_at_fraction), then one-step samples mu + sigma e: mean within 0.05,
    std within 15% of sigma."""
    g = torch.Generator().manual_seed(6)
    opt = torch.optim.Adam(net.parameters(), lr=lr_at_fraction(0.0))
    for step in range(400):
        x = MU.float() + SIGMA * torch.randn(256, 2, generator=g)
        e = minibatch_ot(x, torch.randn(256, 2, generator=g))
        loss = MF.loss(net, x, e, g, options, step / 400).loss
        for group in opt.param_groups:
            group["lr"] = lr_at_fraction(step / 400)
        opt.zero_grad()
        loss.backward()
        opt.step()
    e = torch.randn(4000, 2, generator=g)
    with torch.no_grad():
        x = e - MF.velocity(net, e, torch.zeros(4000, 1), torch.ones(4000, 1), options)
    torch.testing.assert_close(x.mean(0), MU.float(), atol=0.05, rtol=0)
    assert bool(((x.std(0) - SIGMA).abs() < 0.15 * SIGMA).all()), x.std(0)


def test_time_sampler_orders_r_t_and_honours_the_fraction():
    """0 <= r <= t <= 1, and the share of r != t must be close to the configured fraction."""
    for sampler in ("uniform", "logit-normal"):
        r, t = sample_r_t(20000, sampler, -0.4, 1.0, 0.25, torch.Generator().manual_seed(7))
        assert r.shape == t.shape == (20000, 1)
        assert bool(((0 <= r) & (r <= t) & (t <= 1)).all())
        assert abs(float((r != t).double().mean()) - 0.25) < 0.02


def test_adaptive_weight_power_zero_is_plain_mean_and_weights_carry_no_gradient():
    """p = 0 must be the mean; with p = 1 the gradient is sq'/(sq + c), the weight being stop-gradient."""
    sq = torch.tensor([0.5, 2.0], requires_grad=True)
    torch.testing.assert_close(adaptive_weighted(sq, 0.0, 1e-3), sq.mean())
    adaptive_weighted(sq, 1.0, 1e-3).backward()
    torch.testing.assert_close(sq.grad, 0.5 / (sq.detach() + 1e-3))


def test_short_first_weights_favour_short_intervals_early_and_are_flat_at_the_end():
    """The short-first weighting (arXiv 2511.19065): at the start an r != t row of length d weighs
    lambda (1 - d), their mean 1; at the end every row weighs 1; r = t rows weigh 1 throughout; and
    MeanFlow's loss applies the weights after the adaptive weight."""
    r = torch.tensor([[0.5], [0.0], [0.2], [0.0]])
    t = torch.tensor([[0.5], [1.0], [0.4], [0.5]])  # d = 0, 1, 0.2, 0.5
    start = short_first_weights(r, t, 0.0)
    lam = 1 / ((0.0 + 0.8 + 0.5) / 3)
    torch.testing.assert_close(start, torch.tensor([1.0, 0.0, lam * 0.8, lam * 0.5]))
    assert float(start[1:].mean()) == pytest.approx(1.0)
    torch.testing.assert_close(short_first_weights(r, t, 1.0), torch.ones(4))
    torch.testing.assert_close(short_first_weights(r, t, 0.5), (start + 1) / 2)
    sq = torch.tensor([0.5, 2.0, 1.0, 3.0])
    torch.testing.assert_close(adaptive_weighted(sq, 1.0, 1e-3, start), (start * sq / (sq + 1e-3)).mean())

    def loss(interval_weight: str, progress: float) -> float:
        g = torch.Generator().manual_seed(8)
        config = make_config("meanflow", hidden=16, depth=2, options={"interval_weight": interval_weight})
        x, e = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
        net = build_network(config, generator=g)
        return float(get_method("meanflow").loss(net, x, e, g, config.options, progress).loss.detach())

    assert loss("short-first", 1.0) == pytest.approx(loss("flat", 1.0))
    assert loss("short-first", 0.0) != pytest.approx(loss("flat", 0.0))
    assert loss("flat", 0.0) == pytest.approx(loss("flat", 1.0))


def test_bad_options_are_refused_with_what_is_accepted():
    with pytest.raises(ValueError, match="time_sampler must be one of uniform, logit-normal"):
        MeanFlowOptions(time_sampler="beta")
    with pytest.raises(ValueError, match="r_neq_t"):
        make_config(options={"r_neq_t": 1.5})
    with pytest.raises(ValueError, match="accepted: meanflow, flow-matching"):
        get_method("diffusion")


@pytest.mark.parametrize("name", list(METHODS))
def test_losses_have_gradients_for_every_method(name):
    """Each registered method's loss must be a finite scalar that reaches every parameter."""
    g = torch.Generator().manual_seed(8)
    config = make_config(method=name, hidden=16, depth=2)
    net = build_network(config, generator=g)
    method = get_method(name)
    terms = method.loss(net, torch.randn(32, 2, generator=g), torch.randn(32, 2, generator=g), g, config.options, 0.5)
    assert terms.loss.ndim == 0 and math.isfinite(float(terms.loss.detach()))
    terms.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("name", list(METHODS))
def test_every_registry_entry_says_what_the_pages_and_the_cli_show(name):
    """Name, label, summary, paper, cost, loss formula and options with help: the registry is the only list."""
    method = get_method(name)
    about = method.about
    assert method.name == name and about.label and about.summary and about.paper and about.arxiv
    assert about.cost and about.loss_latex
    for spec in option_specs(method.options):
        assert spec.help, f"{name}.{spec.name} has no help text"


# ---------------------------------------------------------------- the method zoo: one defining property each


def _grid_batch(n=64, seed=11):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    pair = torch.rand(n, 2, generator=g, dtype=torch.float64) * 0.9 + 0.05
    return z, pair.min(1, keepdim=True).values, pair.max(1, keepdim=True).values


def test_shortcut_smallest_step_is_the_flow_matching_input_and_two_steps_make_one():
    """The smallest step (1/128) is what flow matching trains ('d = 0' in the paper); with the exact
    flow as the model, the self-consistency target of step 2d is exactly the step 2d (paper Eq. 4, at t - d)."""
    method, options, oracle = Shortcut(), ShortcutOptions(), G.Oracle()
    z, _, t = _grid_batch()
    zero = method.step_velocity(oracle, z, t, torch.zeros_like(t), options)
    torch.testing.assert_close(zero, method.step_velocity(oracle, z, t, torch.full_like(t, 2.0**-7), options))
    for level in range(1, 7):
        d = torch.full_like(t, 2.0**-level)
        t_grid = torch.clamp(torch.ceil(t / (2 * d)) * 2 * d, max=1.0)  # on the grid of the step 2d
        target = method.self_consistency_target(oracle, z, t_grid, d, options)
        torch.testing.assert_close(target, G.exact_u(z, t_grid - 2 * d, t_grid), rtol=1e-10, atol=1e-10)
        assert not target.requires_grad


def test_shortcut_sampler_with_the_exact_flow_lands_on_the_data_at_every_step_count():
    e = torch.randn(200, 2, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    for k in (1, 2, 4, 8, 32):
        x = integrate(Flow(Shortcut(), G.Oracle(), options=ShortcutOptions()), e, k)[-1].double()
        torch.testing.assert_close(x, G.MU + G.SIGMA * e.float().double(), atol=1e-5, rtol=0)


def test_alphaflow_is_trajectory_flow_matching_at_alpha_1_and_tends_to_meanflow():
    """alpha = 1: the target is v and the network is not called; alpha -> 0: (target - u) / alpha tends
    to MeanFlow's target minus u, at rate O(alpha) (the paper's Theorem 1)."""
    g = torch.Generator().manual_seed(13)
    x = G.MU + G.SIGMA * torch.randn(64, 2, generator=g, dtype=torch.float64)
    e = torch.randn(64, 2, generator=g, dtype=torch.float64)
    _, r, t = _grid_batch()

    def refuse(*_):
        raise AssertionError("the network must not be called at alpha = 1")

    torch.testing.assert_close(alphaflow_target(refuse, x, e, r, t, 1.0), e - x)
    z, v = (1 - t) * x + t * e, e - x
    u = G.exact_u(z, r, t)
    _, dudt = torch.func.jvp(G.exact_u, (z, r, t), (v, torch.zeros_like(r), torch.ones_like(t)))
    limit = (v - (t - r) * dudt) - u
    errors = [
        float((((alphaflow_target(G.exact_u, x, e, r, t, a) - u) / a) - limit).abs().max()) for a in (1e-1, 1e-2, 1e-3)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2 * errors[0] * 10


def test_alphaflow_curriculum_holds_alpha_at_exactly_1_then_exactly_0():
    options = AlphaFlowOptions()
    assert alpha_at(options, 0.0) == 1.0 and alpha_at(options, 0.28) == 1.0
    assert alpha_at(options, 0.5) == pytest.approx(0.5) and 0 < alpha_at(options, 0.6) < 1
    assert alpha_at(options, 0.72) == 0.0 and alpha_at(options, 1.0) == 0.0
    alphas = [alpha_at(options, p / 100) for p in range(101)]
    assert alphas == sorted(alphas, reverse=True)


def test_consistency_map_is_the_identity_at_the_data_end_and_its_curriculum_doubles():
    method, options = Consistency(), ConsistencyOptions()
    net = build_network(
        make_config(method="consistency", hidden=16, depth=2), generator=torch.Generator().manual_seed(14)
    )
    z = torch.randn(50, 2, generator=torch.Generator().manual_seed(15))
    torch.testing.assert_close(method.map_to_data(net, z, torch.zeros(50, 1), options), z, rtol=0, atol=0)
    assert [grid_size(p / 8) for p in range(8)] == [11, 21, 41, 81, 161, 321, 641, 1281] and grid_size(1.0) == 1281
    sig = karras_sigmas(11)
    assert float(sig[0]) == pytest.approx(0.002) and float(sig[-1]) == pytest.approx(80.0)
    # one step from pure noise is the map at t = 1, the call the one-step sampler makes
    e = torch.randn(20, 2, generator=torch.Generator().manual_seed(16))
    one = method.step(net, e, torch.zeros(20, 1), torch.ones(20, 1), options, torch.Generator())
    torch.testing.assert_close(one, method.map_to_data(net, e, torch.ones(20, 1), options))


def test_splitmeanflow_target_is_exact_on_the_exact_average_velocity():
    """With the exact u, (1 - lam) u(z_s, r, s) + lam u(z_t, s, t) gives back u(z_t, r, t) (paper Eq. 10)."""
    z, r, t = _grid_batch()
    lam = torch.rand(64, 1, generator=torch.Generator().manual_seed(17), dtype=torch.float64) * 0.9 + 0.05
    torch.testing.assert_close(splitting_target(G.exact_u, z, r, t, lam), G.exact_u(z, r, t), rtol=1e-10, atol=1e-10)
    short = splitting_target(G.exact_u, z, r, 0.5 * (r + t), lam)  # a different interval: a different target
    assert float((short - G.exact_u(z, r, t)).abs().max()) > 1e-3


def test_imf_with_the_conditional_tangent_is_meanflow_and_its_compound_target_is_the_marginal_velocity():
    """V = u + (t - r) du/dt along (v_hat, 0, 1): with v_hat = e - x the loss is MeanFlow's (p = 0); with the
    exact u and v_hat = u(z, t, t) (the marginal v), V equals v(z_t, t) for every sample."""
    net = _net(16, 2, 18).double()
    g = torch.Generator().manual_seed(19)
    x = torch.randn(32, 2, generator=g, dtype=torch.float64)
    e = torch.randn(32, 2, generator=g, dtype=torch.float64)
    _, r, t = _grid_batch(32)
    z, v = (1 - t) * x + t * e, e - x
    u, dudt = MF.u_jvp(net, z, r, t, v, OPTIONS)  # the tangent e - x
    imf_sq = (u + (t - r) * dudt.detach() - v).pow(2).sum(1).mean()
    torch.testing.assert_close(imf_sq, meanflow_loss(_u_jvp(net), x, e, r, t, weight_power=0.0).loss)
    # the exact field: the compound function is the marginal velocity, sample by sample
    zz, rr, tt = _grid_batch(32, seed=20)
    v_hat = G.exact_v(zz, tt)
    _, dudt = torch.func.jvp(G.exact_u, (zz, rr, tt), (v_hat, torch.zeros_like(rr), torch.ones_like(tt)))
    torch.testing.assert_close(G.exact_u(zz, rr, tt) + (tt - rr) * dudt, G.exact_v(zz, tt), rtol=1e-8, atol=1e-8)
    method = ImprovedMeanFlow()
    _, _, tangent = method.compound(net, z.float().double(), r, t, ImprovedMeanFlowOptions())
    torch.testing.assert_close(tangent, method.velocity(net, z, t, t, ImprovedMeanFlowOptions()))


def test_reflow_pairs_are_the_teachers_ode_endpoints_and_stay_paired(tmp_path):
    teacher_cfg = make_config(method="flow-matching", steps=30, hidden=16, depth=2)
    target = get_target("moons")
    path = save_result(tmp_path / "teacher", teacher_cfg, target, run_training(teacher_cfg, target))
    options = ReflowOptions(teacher=str(path), teacher_steps=20, pairs=300)
    config = make_config(method="reflow", options=options, hidden=16, depth=2, steps=5)
    method = Reflow()
    bundles = read_teachers(config, target)
    teacher = flow_from_bundle(bundles["teacher"])
    net = build_network(config)
    pairs = method.prepare(config, target, {"teacher": teacher}, torch.Generator().manual_seed(21), net)
    torch.testing.assert_close(pairs.x_hat, integrate(teacher, pairs.e, 20)[-1])
    for p, q in zip(net.parameters(), teacher.net.parameters()):  # initialised from the teacher
        assert torch.equal(p, q)
    (x, e, _), *_ = method.own_batches(pairs, 64, 3, torch.Generator().manual_seed(22))
    rows = [int(((pairs.e - row).abs().sum(1) == 0).nonzero()[0]) for row in e]
    torch.testing.assert_close(x, pairs.x_hat[rows])  # each drawn noise comes with its own endpoint
    with pytest.raises(ValueError, match="teacher"):
        read_teachers(make_config(method="reflow", hidden=16, depth=2), target)
    with pytest.raises(ValueError, match="not 'rings'"):
        read_teachers(config, get_target("rings"))
    with pytest.raises(ValueError, match="teacher"):  # a teacher is required where training starts too
        method.prepare(config, target, {}, torch.Generator().manual_seed(21), net)


def test_reflow_makes_its_pairs_within_half_a_time_budget_and_a_resumed_run_remakes_as_many(tmp_path, monkeypatch):
    """With a time budget the teacher's pairs stop before half of it (the rest trains: on the digits all
    50,000 took the whole budget and the run made no step), and a checkpoint keeps how many were made, so a
    resumed run remakes exactly those pairs, with no deadline, whether its machine is faster or slower."""
    teacher_cfg = make_config(method="flow-matching", steps=30, hidden=16, depth=2)
    target = get_target("moons")
    path = save_result(tmp_path / "teacher", teacher_cfg, target, run_training(teacher_cfg, target))
    teacher = flow_from_bundle(run_bundle(path))
    options = ReflowOptions(teacher=str(path), teacher_steps=5, pairs=1000)
    method = Reflow()
    monkeypatch.setattr(reflow_module, "PAIR_CHUNK", 100)
    now = [0.0]  # the fake clock: a chunk of pairs costs `seconds_per_chunk`, nothing else takes time
    monkeypatch.setattr(reflow_module, "clock", lambda: now[0])
    endpoint = Flow.endpoint

    def pairs_in(max_seconds, seconds_per_chunk=1.0, saved=None):
        def timed(flow, *args):
            now[0] += seconds_per_chunk
            return endpoint(flow, *args)

        monkeypatch.setattr(Flow, "endpoint", timed)
        now[0] = 0.0
        config = make_config(method="reflow", options=options, hidden=16, depth=2, max_seconds=max_seconds)
        net = build_network(config)
        return method.prepare(config, target, {"teacher": teacher}, torch.Generator().manual_seed(3), net, saved)

    budgeted = pairs_in(6.0)  # until 3 s: the chunks from 0, 1 and 2 s end by 3 s; one from 3 s would not
    assert len(budgeted.x_hat) == len(budgeted.e) == 300 and now[0] == 3.0
    torch.testing.assert_close(budgeted.x_hat, integrate(teacher, budgeted.e, 5)[-1])
    assert len(pairs_in(6.0, seconds_per_chunk=2.0).x_hat) == 100  # a chunk from 2 s would end past 3 s
    saved = method.context_tensors(budgeted)
    assert int(saved["pairs_made"]) == 300
    everything = pairs_in(None)  # no budget: every pair asked for, the first 300 the same
    assert len(everything.x_hat) == 1000
    torch.testing.assert_close(everything.x_hat[:300], budgeted.x_hat)
    for seconds_per_chunk in (0.1, 5.0):  # resumed on a faster or a slower machine: the same 300 pairs
        resumed = pairs_in(6.0, seconds_per_chunk, saved=saved)
        assert torch.equal(resumed.e, budgeted.e) and torch.equal(resumed.x_hat, budgeted.x_hat)
    assert len(pairs_in(6.0, 5.0, saved={}).x_hat) == 1000  # a checkpoint from before counts: every pair
    for hostile in (torch.tensor(-5), torch.tensor(1001), torch.tensor(2.5), torch.tensor(math.nan), torch.ones(2)):
        with pytest.raises(ValueError, match="teacher pairs, not a count from 1 to 1000"):
            pairs_in(6.0, saved={"pairs_made": hostile})


def test_a_stochastic_teachers_pairs_draw_fresh_noise_in_every_chunk(monkeypatch):
    """Consistency's multi-step sampler re-noises: the chunks of its pairs continue one generator, so the
    same noise in two chunks gets two endpoints (each chunk seeded afresh gave the second a copy of the first)."""
    monkeypatch.setattr(reflow_module, "PAIR_CHUNK", 100)
    teacher = flow_from_bundle(run_bundle(pretrained_dir() / "consistency-moons"))
    noise = torch.randn(100, 2, generator=torch.Generator().manual_seed(5)).repeat(2, 1)
    pairs = reflow_module.teacher_pairs(teacher, noise, 2, torch.Generator().manual_seed(6))
    assert (pairs.x_hat[:100] - pairs.x_hat[100:]).abs().max() > 0.01
    again = reflow_module.teacher_pairs(teacher, noise, 2, torch.Generator().manual_seed(6))
    assert torch.equal(pairs.x_hat, again.x_hat)  # the same generator's seed: the same pairs (a resume)


def test_meanflow_learns_the_gaussian_one_step_map_with_its_default_options():
    """The same as above with MeanFlow's defaults (p = 0.5, r != t 75%, (t, t - r)) and the training loop's
    cosine decay of the learning rate: the one-step samples are mu + sigma e within 15% in their spread."""
    options = MeanFlowOptions()
    config = make_config(options=options, lr=1e-2, hidden=32, depth=2)
    _assert_learns_the_gaussian_map(_net(32, 2, 6), options, lambda f: lr_at(config, f))


def _gaussian_batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return G.MU + G.SIGMA * torch.randn(n, 2, generator=g, dtype=torch.float64), torch.randn(
        n, 2, generator=g, dtype=torch.float64
    )


def _grads(loss: torch.Tensor, net: torch.nn.Module) -> list[torch.Tensor]:
    return torch.autograd.grad(loss, list(net.parameters()), retain_graph=True)


def test_shortcut_loss_is_zero_for_the_exact_flow_on_its_self_consistency_rows():
    """Shortcut.loss with every row on the self-consistency target and the exact flow as the network:
    a step of 2d predicts exactly what two steps of d give, so the loss is 0 (a wrong half step, target
    time or sign would not be)."""
    x, e = _gaussian_batch(128, 31)
    terms = Shortcut().loss(
        G.Oracle(), x, e, torch.Generator().manual_seed(32), ShortcutOptions(self_consistency=1.0), 0.5
    )
    assert float(terms.loss) < 1e-18


def test_shortcut_loss_at_no_self_consistency_is_flow_matching_at_the_smallest_step():
    """With self_consistency 0 every row is flow matching: the step-1/128 velocity against e - x at the
    loss's own uniform times."""
    method, options = Shortcut(), ShortcutOptions(self_consistency=0.0)
    net = build_network(make_config("shortcut", hidden=16, depth=2), generator=torch.Generator().manual_seed(33))
    x, e = (v.float() for v in _gaussian_batch(64, 34))
    loss = method.loss(net, x, e, torch.Generator().manual_seed(35), options, 0.5).loss
    t = torch.rand(64, 1, generator=torch.Generator().manual_seed(35)).clamp(min=1e-4)
    smallest = lambda z, tt: method.step_velocity(net, z, tt, torch.zeros_like(tt), options)
    torch.testing.assert_close(loss, flow_matching_loss(smallest, x, e, t).loss)


def _alphaflow_expected(net, x, e, options, progress, seed):
    """AlphaFlow's loss computed from its definition with the loss's own draws: rows with r = t regress v
    with weight 1; rows with r != t the alpha-mixed target with weight alpha (alpha > 0 here)."""
    method = AlphaFlow()
    r, t = draw_r_t(options, x, torch.Generator().manual_seed(seed))
    alpha = alpha_at(options, progress)
    z, v = (1 - t) * x + t * e, e - x
    u = method.velocity(net, z, r, t, options)
    target, coef = v.clone(), torch.ones(len(x))
    long = (r != t).reshape(-1)
    target[long] = alphaflow_target(
        lambda *a: method.velocity(net, *a, options), x[long], e[long], r[long], t[long], alpha
    )
    coef[long] = alpha
    mse = (u - target).pow(2).mean(1)
    return (coef * mse / (mse.detach() + options.weight_eps)).mean()


def test_alphaflow_loss_weights_the_r_equal_t_rows_by_one_and_the_others_by_alpha():
    options = AlphaFlowOptions(r_neq_t=0.5)
    net = build_network(make_config("alphaflow", hidden=16, depth=2), generator=torch.Generator().manual_seed(36))
    x, e = (v.float() for v in _gaussian_batch(64, 37))
    progress = 0.5  # alpha = 0.5: mixed rows and flow-matching rows weigh differently
    assert alpha_at(options, progress) == pytest.approx(0.5)
    loss = AlphaFlow().loss(net, x, e, torch.Generator().manual_seed(38), options, progress).loss
    expected = _alphaflow_expected(net, x, e, options, progress, 38)
    torch.testing.assert_close(loss, expected)
    for a, b in zip(_grads(loss, net), _grads(expected, net)):
        torch.testing.assert_close(a, b)


def test_consistency_loss_trains_the_later_point_towards_the_earlier_one():
    """iCT's loss: lambda_i d(f(z_{t_i+1}, t_i+1), sg f(z_{t_i}, t_i)). Its value is symmetric in the two
    points, so the test compares gradients: they must come from the later point alone (a swapped student
    and teacher gives other gradients)."""
    method, options = Consistency(), ConsistencyOptions()
    net = build_network(make_config("consistency", hidden=16, depth=2), generator=torch.Generator().manual_seed(39))
    x, e = (v.float() for v in _gaussian_batch(64, 40))
    progress = 0.3
    loss = method.loss(net, x, e, torch.Generator().manual_seed(41), options, progress).loss
    sigmas = karras_sigmas(grid_size(progress))
    times = 2 * options.sigma_data * sigmas / (1 + 2 * options.sigma_data * sigmas)
    times[0], times[-1] = 0.0, 1.0
    i = torch.multinomial(
        interval_probabilities(sigmas).float(), 64, replacement=True, generator=torch.Generator().manual_seed(41)
    )
    lo, hi = times[i].float().unsqueeze(1), times[i + 1].float().unsqueeze(1)
    weight = (1 / (sigmas[i + 1] - sigmas[i])).float()

    def pseudo_huber(student_t, teacher_t):
        student = method.map_to_data(net, (1 - student_t) * x + student_t * e, student_t, options)
        with torch.no_grad():
            teacher = method.map_to_data(net, (1 - teacher_t) * x + teacher_t * e, teacher_t, options)
        c = options.huber_c
        return (weight * (torch.sqrt((student - teacher).pow(2).sum(1) + c * c) - c)).mean()

    right, swapped = pseudo_huber(hi, lo), pseudo_huber(lo, hi)
    torch.testing.assert_close(loss, right)
    for a, b in zip(_grads(loss, net), _grads(right, net)):
        torch.testing.assert_close(a, b)
    assert any(not torch.allclose(a, b) for a, b in zip(_grads(right, net), _grads(swapped, net)))


def test_consistency_steps_re_noise_with_the_training_pairing():
    """A step to r > 0 maps to the data end and re-noises: (1 - r) x_hat + r pair(x_hat, fresh), the fresh
    noise paired as training paired it (independent noise would land where the model never trained)."""
    method, options = Consistency(), ConsistencyOptions()
    net = build_network(make_config("consistency", hidden=16, depth=2), generator=torch.Generator().manual_seed(42))
    z = torch.randn(40, 2, generator=torch.Generator().manual_seed(43))
    r, t = torch.full((40, 1), 0.4), torch.ones(40, 1)
    seen = []

    def pair(x, noise):
        seen.append((x, noise))
        return noise.flip(0)

    out = method.step(net, z, r, t, options, torch.Generator().manual_seed(44), pair)
    x_hat = method.map_to_data(net, z, t, options)
    fresh = torch.randn(40, 2, generator=torch.Generator().manual_seed(44))
    torch.testing.assert_close(seen[0][0], x_hat)
    torch.testing.assert_close(out, 0.6 * x_hat + 0.4 * fresh.flip(0))


def test_a_trained_consistency_run_samples_no_worse_in_two_and_four_steps_than_in_one():
    """The bundled consistency runs (trained with minibatch-OT pairs): their 2- and 4-step samples must be
    no worse than their 1-step ones in histogram TV (with independent re-noising they got worse at every
    step: 0.16, 0.36, 0.56 on the spiral)."""
    for name in ("spiral", "checkerboard"):
        saved = load_run(pretrained_dir() / f"consistency-{name}")
        evaluator = Evaluator(saved.target, 4000, torch.Generator().manual_seed(1))
        tv = {
            k: evaluator.score(sample(saved.flow, 4000, k, torch.Generator().manual_seed(0)).samples).hist_tv
            for k in (1, 2, 4)
        }
        assert tv[2] <= tv[1] + 0.01 and tv[4] <= tv[1] + 0.01, (name, tv)


def test_imf_loss_regresses_e_minus_x_through_the_compound_with_a_stopped_derivative():
    """ImprovedMeanFlow.loss: ||u + (t - r) sg(du/dt along (u(z, t, t), 0, 1)) - (e - x)||^2, adaptively
    weighted: its value and its gradients (which reach the network through u alone) match the definition."""
    method, options = ImprovedMeanFlow(), ImprovedMeanFlowOptions(weight_power=0.0)
    net = build_network(make_config("imf", hidden=16, depth=2), generator=torch.Generator().manual_seed(45))
    x, e = (v.float() for v in _gaussian_batch(64, 46))
    loss = method.loss(net, x, e, torch.Generator().manual_seed(47), options, 0.5).loss
    r, t = draw_r_t(options, x, torch.Generator().manual_seed(47))
    z, v = (1 - t) * x + t * e, e - x
    with torch.no_grad():
        v_hat = method.velocity(net, z, t, t, options)
    u, dudt = MF.u_jvp(net, z, r, t, v_hat, MeanFlowOptions(conditioning="t,t-r"))
    expected = (u + (t - r) * dudt.detach() - v).pow(2).sum(1).mean()
    torch.testing.assert_close(loss, expected)
    for a, b in zip(_grads(loss, net), _grads(expected, net)):
        torch.testing.assert_close(a, b)


def test_shortcut_self_consistency_target_carries_no_gradient_from_a_real_network():
    """The two half-steps are a target: with a network whose output depends on its weights (the Gaussian
    oracle's does not), dropping the stop-gradient would attach a graph."""
    net = build_network(make_config("shortcut", hidden=16, depth=2), generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    z, t = torch.randn(32, 2, generator=g), torch.full((32, 1), 0.5)
    target = Shortcut().self_consistency_target(net, z, t, torch.full_like(t, 0.25), ShortcutOptions())
    assert not target.requires_grad


def test_meanflow_loss_weighs_by_its_options_power_and_constant():
    """MeanFlow.loss applies the adaptive weight of its options (p = 0.5, c = 1e-3 by default): it equals
    meanflow_loss on the same (r, t) with those, and differs from p = 0, p = 1 and another c."""
    net = build_network(make_config(hidden=16, depth=2), generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(4)
    x, e = G.MU.float() + G.SIGMA * torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    loss = MF.loss(net, x, e, torch.Generator().manual_seed(5), OPTIONS, 0.5).loss
    r, t = draw_r_t(OPTIONS, x, torch.Generator().manual_seed(5))

    def with_weight(power, eps):
        return meanflow_loss(lambda *a: MF.u_jvp(net, *a, OPTIONS), x, e, r, t, weight_power=power, weight_eps=eps)

    expected = with_weight(OPTIONS.weight_power, OPTIONS.weight_eps).loss
    torch.testing.assert_close(loss, expected)
    for power, eps in ((0.0, OPTIONS.weight_eps), (1.0, OPTIONS.weight_eps), (OPTIONS.weight_power, 1.0)):
        assert not torch.allclose(expected, with_weight(power, eps).loss)


def test_meanflow_target_stops_the_gradient_of_a_tangent_that_carries_one():
    """meanflow_target detaches by itself: with torch.func.jvp's tangent (which keeps a graph, unlike the
    network's own forward_with_tangent) u keeps its gradient and the target has none."""
    net = build_network(make_config(hidden=16, depth=2), generator=torch.Generator().manual_seed(6))

    def jvp(z, r, t, v):
        return torch.func.jvp(
            lambda z, r, t: MF.velocity(net, z, r, t, OPTIONS), (z, r, t), (v, torch.zeros_like(r), torch.ones_like(t))
        )

    g = torch.Generator().manual_seed(7)
    z, v = torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g)
    r, t = torch.full((16, 1), 0.2), torch.full((16, 1), 0.7)
    assert jvp(z, r, t, v)[1].requires_grad
    u, target = meanflow_target(jvp, z, r, t, v)
    assert u.requires_grad and not target.requires_grad


def test_training_refuses_a_class_conditional_teacher_handed_over_as_a_bundle(tmp_path):
    """Where training starts (as the engine's workers call it, past the command line's own check), reflow
    refuses a class-conditional teacher."""
    target = get_target("moons")
    teacher = make_config("flow-matching", steps=5, batch=32, hidden=16, depth=2, classes=target.classes)
    path = save_result(tmp_path / "teacher", teacher, target, run_training(teacher, target))
    student = make_config(
        "reflow", options=ReflowOptions(teacher=str(path), pairs=256), hidden=16, depth=2, steps=5, batch=32
    )
    with pytest.raises(ValueError, match="class-conditional"):
        run_training(student, target, teachers={"teacher": run_bundle(path)})


def test_an_empty_guidance_interval_is_refused():
    """--guidance-t-min 0.8 --guidance-t-max 0.2 trained, and any guidance scale did nothing."""
    with pytest.raises(ValueError, match="would be empty"):
        MeanFlowOptions(guidance_t_min=0.8, guidance_t_max=0.2)
    assert MeanFlowOptions(guidance_t_min=0.3, guidance_t_max=0.3).guidance_t_max == 0.3
