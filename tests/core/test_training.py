"""The training loop: learning, stopping, divergence, reproducibility, reports, exact resume."""

import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from meanflow.core import training
from meanflow.core.checkpoints import checkpoint_bytes, checkpoint_from_bytes
from meanflow.core.methods import reflow
from meanflow.core.methods.base import split_by_interval
from meanflow.core.metrics import evaluate
from meanflow.core.registry import make_config, with_method
from meanflow.core.runs import read_teachers, save_result
from meanflow.core.sampling import Flow
from meanflow.core.targets import Target, get_target
from meanflow.core.training import DRAW_ROWS, RateMeter, lr_at, run_training
from tests.conftest import resumed_from_step


def test_a_short_run_lowers_the_loss(tiny_config):
    """Flow matching: mean loss over the last 30 of 300 steps must be well below the first 30's.

    History rows average log_every = 10 steps each, so 30 steps are 3 rows.
    """
    cfg = with_method(tiny_config, "flow-matching", steps=300, hidden=32)
    result = run_training(cfg, get_target("checkerboard"))
    assert result.state == "done" and result.step == 300 and result.history.shape == (30,)
    np.testing.assert_array_equal(result.history["step"], np.arange(10, 301, 10))
    losses = result.history["loss"]
    assert losses[-3:].mean() < 0.9 * losses[:3].mean()


def test_a_short_meanflow_run_improves_its_one_step_samples(tiny_config):
    """MeanFlow's loss is no progress measure: its one-step preview must get closer to the target."""
    target = get_target("moons")
    cfg = replace(tiny_config, steps=600, batch=256, hidden=64, preview_every=20, preview_n=2000)
    seen = []
    run_training(cfg, target, on_progress=seen.append)
    previews = {p.preview_step: p.preview for p in seen if p.preview is not None}
    first, last = (evaluate(previews[k], target, torch.Generator().manual_seed(0)) for k in (20, 600))
    assert last.sliced_w1 < 0.7 * first.sliced_w1 and last.hist_tv < first.hist_tv


def test_a_one_step_run_says_one_step():
    """A walk set Steps = 1 and read 'finished 1 steps'."""
    result = run_training(make_config("flow-matching", steps=1, batch=8, hidden=8, depth=1), get_target("moons"))
    assert result.state == "done" and result.message == "finished 1 step"


def test_should_stop_ends_the_run_at_the_next_step_as_stopped(tiny_config):
    """Asked to stop after step 7, the run ends at step 7 exactly, stopped, with a usable network."""
    counter = {"n": 0}

    def should_stop():
        counter["n"] += 1
        return counter["n"] > 7  # checked once before each step

    result = run_training(replace(tiny_config, steps=10**6), get_target("moons"), should_stop=should_stop)
    assert result.state == "stopped" and result.step == 7 and result.message == "stopped at step 7"
    assert result.flow is not None and result.preview.shape == (tiny_config.preview_n, 2)


def test_max_seconds_ends_the_run_as_stopped(tiny_config):
    result = run_training(replace(tiny_config, steps=10**7, max_seconds=0.3), get_target("rings"))
    assert result.state == "stopped" and "time budget of 0.3 s reached at step" in result.message
    assert result.elapsed >= 0.3 and 0 < result.step < 10**7


def _poisoned(after_rows: int) -> Target:
    """Checkerboard data whose rows turn to NaN after the first `after_rows` ever drawn."""
    base = get_target("checkerboard")
    drawn = {"rows": 0}

    def sample_model(n, g):
        x = base.sample_model(n, g)
        first = drawn["rows"]
        drawn["rows"] += n
        x[max(0, after_rows - first) :] = float("nan")
        return x

    return Target("poisoned", sample_model)


def test_a_nan_run_fails_with_its_last_good_weights(tiny_config):
    """Loss NaN at step 5: failed, 'diverged at step 5', with the weights that gave step 4's finite loss.

    Those are the weights after 3 updates, so they must equal a clean 3-step run's.
    """
    cfg = replace(tiny_config, steps=50, lr_final_ratio=1.0)
    bad = run_training(cfg, _poisoned(after_rows=4 * cfg.batch))
    assert bad.state == "failed" and bad.message == "diverged at step 5" and bad.step == 4
    good = run_training(replace(cfg, steps=3), get_target("checkerboard"))
    for p, q in zip(bad.flow.net.parameters(), good.flow.net.parameters()):
        assert torch.isfinite(p).all()
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_a_diverging_learning_rate_ends_as_failed_not_as_a_crash(tiny_config):
    result = run_training(replace(tiny_config, lr=1e30, steps=200, lr_final_ratio=1.0), get_target("checkerboard"))
    assert result.state == "failed" and result.message.startswith("diverged at step")
    assert all(torch.isfinite(p).all() for p in result.flow.net.parameters())


def test_an_overflowing_last_update_is_caught_too(tiny_config):
    """Divergence in the very last update (no later loss to see it) still ends as failed, weights finite."""
    result = run_training(replace(tiny_config, steps=1, lr=1e30, lr_final_ratio=1.0), get_target("checkerboard"))
    assert result.state == "failed" and result.message == "diverged at step 1"
    assert all(torch.isfinite(p).all() for p in result.flow.net.parameters())


def test_seeded_runs_are_reproducible(tiny_config):
    """Same config and seed must give identical losses, previews and weights."""
    a, b = run_training(tiny_config, get_target("checkerboard")), run_training(tiny_config, get_target("checkerboard"))
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    np.testing.assert_array_equal(a.preview, b.preview)
    for p, q in zip(a.flow.net.parameters(), b.flow.net.parameters()):
        assert torch.equal(p, q)
    c = run_training(replace(tiny_config, seed=4), get_target("checkerboard"))
    assert not np.array_equal(a.history["loss"], c.history["loss"])


@pytest.mark.parametrize(
    ("method", "draw_rows", "coupling"),
    [
        ("meanflow", DRAW_ROWS, None),
        ("flow-matching", DRAW_ROWS, None),
        ("meanflow", 64 * 5, None),
        ("flow-matching", 64 * 23, None),
        ("meanflow", 64 * 5, "pooled-ot"),
    ],
)
def test_a_resumed_run_ends_with_the_weights_of_a_straight_run(tiny_config, method, draw_rows, coupling, monkeypatch):
    """Checkpoint at step 23 (through bytes, as a worker sends it), resume to 60: identical to 60 straight,
    whether step 23 falls inside a chunk of drawn batches (128, 5 a chunk) or at its end (23 a chunk), and
    for a pooled-OT run, whose resumed half must draw from the same pool."""
    monkeypatch.setattr(training, "DRAW_ROWS", draw_rows)
    monkeypatch.setattr(training, "POOL_ROWS", 700)
    cfg = with_method(tiny_config, method, checkpoint_seconds=1e-9, **({"coupling": coupling} if coupling else {}))
    target = get_target("moons")
    straight = run_training(cfg, target)
    saved = []
    counter = {"n": 0}

    def stop_after_23():
        counter["n"] += 1
        return counter["n"] > 23

    first = run_training(cfg, target, should_stop=stop_after_23, on_checkpoint=saved.append)
    assert first.step == 23 and saved[-1].step == 23
    checkpoint = checkpoint_from_bytes(checkpoint_bytes(saved[-1]))
    resumed = run_training(cfg, target, resume=checkpoint)
    assert resumed.state == "done" and resumed.step == 60
    for p, q in zip(straight.flow.net.parameters(), resumed.flow.net.parameters()):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(straight.history["loss"], resumed.history["loss"])


def test_a_resumed_reflow_run_remakes_the_pairs_its_budget_allowed_and_ends_as_a_straight_run(
    tiny_config, tmp_path, monkeypatch
):
    """Reflow's pairs stop at about half of a time budget; a run resumed on a slower machine, where the same
    deadline would allow fewer, remakes exactly its checkpoint's pairs without charging their time to its
    budget again, and ends with the weights of a straight run. The pairs' deadline reads a fake clock on
    which a chunk costs `chunk_seconds`; on resume each chunk also sleeps 1 s of real time."""
    target = get_target("moons")
    teacher_cfg = with_method(tiny_config, "flow-matching", steps=30)
    save_result(tmp_path / "teacher", teacher_cfg, target, run_training(teacher_cfg, target))
    monkeypatch.setattr(reflow, "PAIR_CHUNK", 100)
    now, chunk_seconds, sleep = [0.0], [100.0], [0.0]
    monkeypatch.setattr(reflow, "clock", lambda: now[0])
    endpoint = Flow.endpoint

    def timed(flow, *args):
        now[0] += chunk_seconds[0]
        time.sleep(sleep[0])
        return endpoint(flow, *args)

    monkeypatch.setattr(Flow, "endpoint", timed)
    options = {"teacher": str(tmp_path / "teacher"), "pairs": 1000, "teacher_steps": 5}
    cfg = replace(with_method(tiny_config, "reflow", options, checkpoint_seconds=1e-9), max_seconds=600.0)
    teachers = read_teachers(cfg, target)
    straight = run_training(cfg, target, teachers=teachers)  # until 300 s: 3 chunks
    saved, counter = [], {"n": 0}

    def stop_after_23():
        counter["n"] += 1
        return counter["n"] > 23

    run_training(cfg, target, teachers=teachers, should_stop=stop_after_23, on_checkpoint=saved.append)
    assert int(saved[-1].context_tensors["pairs_made"]) == 300
    chunk_seconds[0], sleep[0] = 250.0, 1.0  # a slower machine: one chunk before the deadline
    resumed = run_training(cfg, target, teachers=teachers, resume=checkpoint_from_bytes(checkpoint_bytes(saved[-1])))
    assert resumed.state == "done" and resumed.step == 60
    for p, q in zip(straight.flow.net.parameters(), resumed.flow.net.parameters()):
        assert torch.equal(p, q)
    assert resumed.elapsed - saved[-1].elapsed < 2.0  # the 3 s its pairs took on resume are not charged


def test_a_moving_average_samples_and_resumes_exactly(tiny_config):
    """config.ema > 0: the flow samples with the average (a blend of past weights, not the last ones),
    the checkpoint keeps it, and a run resumed at step 23 ends with the average of a straight run."""
    cfg = replace(tiny_config, ema=0.9, checkpoint_seconds=1e-9)
    target = get_target("moons")
    straight = run_training(cfg, target)
    trained = {k: v for k, v in straight.checkpoint.weights.items()}
    averaged = straight.checkpoint.sampling_weights
    assert averaged.keys() == trained.keys() and not all(torch.equal(averaged[k], trained[k]) for k in trained)
    for name, value in straight.flow.net.state_dict().items():
        assert torch.equal(value, averaged[name])
    plain = run_training(replace(cfg, ema=0.0), target)
    assert plain.checkpoint.average_weights == {} and plain.checkpoint.sampling_weights is not None
    for name, value in plain.checkpoint.weights.items():
        assert torch.equal(value, trained[name])  # the average changes what samples, never what trains
    resumed = resumed_from_step(cfg, target, 23)
    for name, value in resumed.checkpoint.sampling_weights.items():
        assert torch.equal(value, averaged[name])


def test_progress_reports_steps_rates_previews_and_history_once_each(tiny_config):
    seen = []
    result = run_training(
        replace(tiny_config, steps=100, preview_every=25), get_target("moons"), on_progress=seen.append
    )
    assert sorted({p.preview_step for p in seen if p.preview is not None}) == [25, 50, 75, 100]
    steps = [p.step for p in seen]
    assert steps == sorted(steps) and all(p.total_steps == 100 for p in seen)
    reported = np.concatenate([p.new_history for p in seen])
    np.testing.assert_array_equal(reported["step"], result.history["step"][: len(reported)])  # no row twice


def test_checkpoints_come_at_least_every_checkpoint_seconds(tiny_config):
    """With a 0-second interval every step checkpoints; each holds the step it was taken at."""
    saved = []
    run_training(
        replace(tiny_config, steps=12, checkpoint_seconds=1e-9), get_target("moons"), on_checkpoint=saved.append
    )
    assert [c.step for c in saved] == list(range(1, 13))


def test_schedule_rate_and_eta_helpers():
    cfg = make_config(steps=100, lr=1.0, lr_final_ratio=0.1, max_seconds=10.0)
    assert lr_at(cfg, 0.0) == pytest.approx(1.0) and lr_at(cfg, 1.0) == pytest.approx(0.1)
    assert cfg.budget_fraction(50, 1.0) == 0.5 and cfg.budget_fraction(10, 8.0) == 0.8
    meter = RateMeter(0.0, 0)
    assert meter.update(2.0, 100) == 50.0
    assert RateMeter.eta(50.0, 100, None) == 2.0 and RateMeter.eta(50.0, 100, 1.5) == 1.5
    assert RateMeter.eta(0.0, 100, None) is None


def test_adams_beta2_is_the_configs(tiny_config):
    """config.adam_beta2 reaches the optimiser (0.999, torch's default, unless set)."""
    target = get_target("moons")
    for config, betas in ((tiny_config, (0.9, 0.999)), (replace(tiny_config, adam_beta2=0.95), (0.9, 0.95))):
        run = training.set_up(config, target, None, {})
        run.batches.close()
        assert run.optimiser.param_groups[0]["betas"] == betas
    with pytest.raises(ValueError, match="adam_beta2 must be in"):
        replace(tiny_config, adam_beta2=1.0)


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        make_config(steps=0)
    with pytest.raises(ValueError, match="accepted: meanflow, flow-matching"):
        make_config(method="gan")
    with pytest.raises(ValueError, match="lr"):
        make_config(lr=-1.0)
    with pytest.raises(ValueError, match="r_neq_t must be in"):
        make_config(options={"r_neq_t": 1.5})
    with pytest.raises(TypeError, match="unknown options"):
        make_config(options={"banana": 1})
    with pytest.raises(ValueError, match="hidden <= "):
        make_config(hidden=10**6)


def test_a_paused_run_stops_at_its_step_and_continues_exactly(tiny_config):
    """pause_at (the app's Step): the run ends 'stopped', 'paused at step 25', with a checkpoint; resumed
    from it, the run ends with the weights of a straight run (the schedule is the config's, unchanged)."""
    cfg = with_method(tiny_config, "meanflow", checkpoint_seconds=1e-9)
    target = get_target("moons")
    straight = run_training(cfg, target)
    paused = run_training(cfg, target, pause_at=25)
    assert (paused.state, paused.step, paused.message) == ("stopped", 25, f"{training.PAUSED} 25")
    stepped = run_training(cfg, target, resume=checkpoint_from_bytes(checkpoint_bytes(paused.checkpoint)), pause_at=40)
    assert stepped.step == 40 and stepped.message == f"{training.PAUSED} 40"
    resumed = run_training(cfg, target, resume=checkpoint_from_bytes(checkpoint_bytes(stepped.checkpoint)))
    assert resumed.state == "done" and resumed.step == 60
    for p, q in zip(straight.flow.net.parameters(), resumed.flow.net.parameters()):
        assert torch.equal(p, q)


def test_the_history_splits_meanflow_loss_at_r_equals_t(tiny_config):
    """MeanFlow's rows carry the mse of its r = t and r != t rows (finite, and the mse lies between them
    up to averaging); flow matching draws no r: NaN there."""
    target = get_target("moons")
    mf = run_training(with_method(tiny_config, "meanflow"), target).history
    assert np.isfinite(mf["loss_instant"]).all() and np.isfinite(mf["loss_average"]).all()
    low, high = np.minimum(mf["loss_instant"], mf["loss_average"]), np.maximum(mf["loss_instant"], mf["loss_average"])
    assert np.mean((mf["mse"] >= low - 1e-9) & (mf["mse"] <= high + 1e-9)) > 0.8
    fm = run_training(with_method(tiny_config, "flow-matching"), target).history
    assert np.isnan(fm["loss_instant"]).all() and np.isnan(fm["loss_average"]).all()


def test_split_by_interval_takes_the_rows_of_each_kind():
    sq = torch.tensor([1.0, 2.0, 3.0, 10.0])
    r, t = torch.tensor([[0.5], [0.2], [0.1], [0.3]]), torch.tensor([[0.5], [0.2], [0.9], [0.6]])
    assert split_by_interval(sq, r, t) == {"instant": 1.5, "average": 6.5}
    assert np.isnan(split_by_interval(sq, r, r)["average"])


def test_the_previews_quality_is_recorded_as_it_trains(tiny_config):
    """Rows at preview steps hold the preview's histogram TV and sliced W1 (the quality-over-time chart);
    the one-step samples improve, so the last row's W1 is below the first's."""
    target = get_target("moons")
    cfg = replace(tiny_config, steps=400, batch=256, hidden=64, preview_every=40, preview_n=1000)
    history = run_training(cfg, target, on_progress=lambda progress: None).history
    scored = history[np.isfinite(history["preview_w1"])]
    assert set(np.arange(40, 401, 40)) <= set(scored["step"].astype(int))
    assert np.isfinite(scored["preview_tv"]).all() and scored["preview_w1"][-1] < 0.7 * scored["preview_w1"][0]
