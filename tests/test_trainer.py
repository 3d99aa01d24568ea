"""The background job: learning, stopping, divergence, reproducibility, snapshots."""

import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from meanflow.metrics import evaluate
from meanflow.targets import Target, get_target
from meanflow.trainer import TrainConfig, TrainingJob, train


def test_a_short_run_lowers_the_loss(tiny_config):
    """Flow matching: mean loss over the last 30 of 300 steps must be well below the first 30's.

    History rows average log_every = 10 steps each, so 30 steps are 3 rows.
    """
    cfg = replace(tiny_config, method="flow-matching", steps=300, hidden=32, target="checkerboard", lr=5e-3)
    snap = train(cfg, get_target("checkerboard")).snapshot()
    assert snap.state == "done" and snap.step == 300 and snap.history.shape == (30, 5)
    np.testing.assert_array_equal(snap.history[:, 0], np.arange(10, 301, 10))
    losses = snap.history[:, 1]
    assert losses[-3:].mean() < 0.9 * losses[:3].mean()


def test_a_short_meanflow_run_improves_its_one_step_samples(tiny_config):
    """MeanFlow's loss is no progress measure: its one-step preview must get closer to the target."""
    target = get_target("moons")
    cfg = replace(tiny_config, steps=600, batch=256, hidden=64, preview_every=20, preview_n=2000, lr=5e-3)
    seen = []
    TrainingJob(cfg, target, on_snapshot=seen.append).start().join()
    previews = {s.preview_step: s.preview for s in seen if s.preview is not None}
    first, last = (evaluate(previews[k], target, torch.Generator().manual_seed(0)) for k in (20, 600))
    assert last.sliced_w1 < 0.7 * first.sliced_w1 and last.hist_tv < first.hist_tv


def test_a_stopped_run_stops_within_a_second_and_stays_usable(tiny_config):
    """stop() must end a long run promptly, as 'stopped', with a usable network."""
    job = TrainingJob(replace(tiny_config, steps=10**7), get_target("moons")).start()
    while job.snapshot().step < 5:
        time.sleep(0.01)
    t0 = time.perf_counter()
    job.stop()
    snap = job.join(timeout=5)
    assert time.perf_counter() - t0 < 1.0
    assert snap.state == "stopped" and 5 <= snap.step < 10**7 and "stopped at step" in snap.message
    assert job.flow is not None and snap.preview.shape == (tiny_config.preview_n, 2)


def test_max_seconds_ends_the_run_as_stopped(tiny_config):
    job = train(replace(tiny_config, steps=10**7, max_seconds=0.5), get_target("rings"))
    snap = job.snapshot()
    assert snap.state == "stopped" and "time budget" in snap.message and snap.elapsed < 2.0


def _poisoned(after_calls: int) -> Target:
    """Checkerboard data that turns to NaN from the given call on."""
    base = get_target("checkerboard")
    calls = {"n": 0}

    def sample_model(n, g):
        calls["n"] += 1
        x = base.sample_model(n, g)
        return x * float("nan") if calls["n"] > after_calls else x

    return Target("poisoned", sample_model)


def test_a_nan_run_fails_with_its_last_good_weights(tiny_config):
    """Loss NaN at step 5: failed, 'diverged at step 5', with the weights that gave step 4's finite loss.

    Those are the weights after 3 updates, so they must equal a clean 3-step run's.
    """
    cfg = replace(tiny_config, steps=50, lr_final_ratio=1.0)
    bad = train(cfg, _poisoned(after_calls=4))
    snap = bad.snapshot()
    assert snap.state == "failed" and snap.message == "diverged at step 5" and snap.step == 4
    good = train(replace(cfg, steps=3), get_target("checkerboard"))
    for p, q in zip(bad.flow.net.parameters(), good.flow.net.parameters()):
        assert torch.isfinite(p).all()
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_a_diverging_learning_rate_ends_as_failed_not_as_a_crash(tiny_config):
    job = train(replace(tiny_config, lr=1e30, steps=200, lr_final_ratio=1.0), get_target("checkerboard"))
    snap = job.snapshot()
    assert snap.state == "failed" and snap.message.startswith("diverged at step")
    assert all(torch.isfinite(p).all() for p in job.flow.net.parameters())


def test_an_overflowing_last_update_is_caught_too(tiny_config):
    """Divergence in the very last update (no later loss to see it) still ends as failed, weights finite."""
    job = train(replace(tiny_config, steps=1, lr=1e30, lr_final_ratio=1.0), get_target("checkerboard"))
    assert job.snapshot().state == "failed" and job.snapshot().message == "diverged at step 1"
    assert all(torch.isfinite(p).all() for p in job.flow.net.parameters())


def test_seeded_runs_are_reproducible(tiny_config):
    """Same config and seed must give identical losses and weights, even with another job alongside."""
    other = TrainingJob(replace(tiny_config, seed=99, steps=10**6), get_target("spiral")).start()
    try:
        a = TrainingJob(tiny_config, get_target("checkerboard")).start()
        b = TrainingJob(tiny_config, get_target("checkerboard")).start()
        sa, sb = a.join(), b.join()
    finally:
        other.stop()
        other.join()
    np.testing.assert_array_equal(sa.history[:, 1], sb.history[:, 1])
    np.testing.assert_array_equal(sa.preview, sb.preview)
    for p, q in zip(a.flow.net.parameters(), b.flow.net.parameters()):
        assert torch.equal(p, q)


def test_snapshots_report_progress_and_previews(tiny_config):
    seen = []
    job = TrainingJob(replace(tiny_config, steps=100, preview_every=25), get_target("moons"),
                      on_snapshot=seen.append).start()
    snap = job.join()
    assert snap.progress == 1.0 and snap.finished and snap.steps_per_sec > 0 and snap.eta_seconds == 0.0
    assert sorted({s.preview_step for s in seen if s.preview is not None}) == [25, 50, 75, 100]
    steps = [s.step for s in seen]
    assert steps == sorted(steps) and seen[0].state == "running"


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="accepted: meanflow, flow-matching"):
        TrainConfig(method="gan")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
