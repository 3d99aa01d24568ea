"""The job engine on local worker processes: the line, limits, stop, checkpoints, lost workers, resume."""

import os
import signal
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from meanflow.core import runs
from meanflow.core.registry import make_config
from meanflow.core.targets import get_target, text_target
from meanflow.core.training import run_training
from meanflow.engine.jobs import Engine
from meanflow.engine.limits import LimitError, memory_estimate
from meanflow.engine.local import LocalPool
from tests.conftest import wait_until

pytestmark = pytest.mark.slow  # worker processes, subprocesses or whole app runs: `make test-fast` skips them

LONG = 10**6  # steps a test run never reaches: it ends when stopped


def test_a_job_trains_in_a_worker_process_and_writes_its_folder(engine, tmp_path, tiny_config):
    """The run folder holds config, weights, checkpoint and metrics; the weights equal an in-process run's."""
    threads, switch = torch.get_num_threads(), sys.getswitchinterval()
    job = engine.submit(replace(tiny_config, threads=2), get_target("moons"), tmp_path / "run")
    snap = engine.wait(job, 60)
    assert snap.state == "done" and snap.step == 60 and len(snap.history) == 6 and snap.preview.shape == (50, 2)
    info = runs.read_info(tmp_path / "run")
    assert info.state == "done" and info.step == 60 and info.has_checkpoint and info.target_name == "moons"
    here = run_training(replace(tiny_config, threads=2), get_target("moons"))
    for p, q in zip(runs.load_run(tmp_path / "run").flow.net.parameters(), here.flow.net.parameters()):
        assert torch.equal(p, q)
    assert (torch.get_num_threads(), sys.getswitchinterval()) == (threads, switch)  # the caller's settings


def test_a_data_target_travels_to_the_worker(engine, tmp_path, tiny_config):
    target = text_target("Hi")
    snap = engine.wait(engine.submit(tiny_config, target, tmp_path / "text"), 60)
    assert snap.state == "done"
    saved = runs.load_run(tmp_path / "text")
    np.testing.assert_array_equal(saved.target.points, target.points)
    assert saved.flow.normaliser == target.normaliser


def test_stop_ends_a_training_job_and_keeps_its_weights(engine, tmp_path, tiny_config):
    job = engine.submit(replace(tiny_config, steps=LONG), get_target("rings"), tmp_path / "long")
    wait_until(lambda: engine.snapshot(job).step >= 20, what="20 steps")
    engine.stop(job)
    snap = engine.wait(job, 30)
    assert snap.state == "stopped" and snap.message == f"stopped at step {snap.step}" and 20 <= snap.step < LONG
    assert runs.load_run(tmp_path / "long").info.state == "stopped"


def test_jobs_beyond_the_workers_wait_in_order_and_can_be_cancelled(tmp_path, tiny_config):
    eng = Engine(LocalPool(1))
    try:
        first = eng.submit(replace(tiny_config, steps=LONG), get_target("moons"), tmp_path / "a")
        second = eng.submit(tiny_config, get_target("moons"), tmp_path / "b")
        third = eng.submit(tiny_config, get_target("moons"), tmp_path / "c")
        wait_until(lambda: eng.snapshot(first).state == "running", what="the first job to start")
        assert (eng.snapshot(second).position, eng.snapshot(third).position) == (1, 2)
        eng.stop(second)  # leaves the line: nothing trained, nothing left on disk
        assert eng.snapshot(second).state == "stopped" and not (tmp_path / "b").exists()
        assert eng.snapshot(third).position == 1
        eng.stop(first)
        assert eng.wait(third, 60).state == "done"
    finally:
        eng.close()


def test_each_owner_has_a_share_of_the_line(tmp_path, tiny_config):
    """At most running + queued jobs per owner; another owner still gets in; release stops an owner's jobs."""
    eng = Engine(LocalPool(1), max_running_per_owner=1, max_queued_per_owner=1)
    try:
        long = replace(tiny_config, steps=LONG)
        a1 = eng.submit(long, get_target("moons"), tmp_path / "a1", owner="a")
        a2 = eng.submit(long, get_target("moons"), tmp_path / "a2", owner="a")
        with pytest.raises(LimitError, match="per session"):
            eng.submit(long, get_target("moons"), tmp_path / "a3", owner="a")
        assert not (tmp_path / "a3").exists()
        b1 = eng.submit(tiny_config, get_target("moons"), tmp_path / "b1", owner="b")
        wait_until(lambda: eng.snapshot(a1).state == "running", what="a1 to start")
        eng.release("a")  # a session gone: its running job stops, its queued one leaves the line
        assert eng.wait(a1, 30).state == "stopped" and eng.snapshot(a2).state == "stopped"
        assert eng.wait(b1, 60).state == "done"
        assert eng.submit(tiny_config, get_target("moons"), tmp_path / "a4", owner="a")  # room again
    finally:
        eng.close()


def test_the_line_is_fair_between_owners(tmp_path, tiny_config):
    """With one worker busy, an owner's second job waits behind another owner's first."""
    eng = Engine(LocalPool(1), max_running_per_owner=1, max_queued_per_owner=2)
    try:
        long = replace(tiny_config, steps=LONG)
        a1 = eng.submit(long, get_target("moons"), tmp_path / "a1", owner="a")
        wait_until(lambda: eng.snapshot(a1).state == "running", what="a1 to start")
        a2 = eng.submit(tiny_config, get_target("moons"), tmp_path / "a2", owner="a")
        b1 = eng.submit(long, get_target("moons"), tmp_path / "b1", owner="b")
        eng.stop(a1)
        wait_until(
            lambda: eng.snapshot(a2).state == "running" or eng.snapshot(b1).state == "running",
            what="the next job to start",
        )
        # a2 was first in line, and a's running share is free again: a2 goes first, b1 waits behind it
        assert eng.snapshot(a2).state in ("running", "done") and eng.snapshot(b1).position == 1
        eng.release("b")
    finally:
        eng.close()


def test_compute_and_memory_limits_refuse_a_run_before_it_starts(engine, tmp_path):
    big = make_config(hidden=512, depth=8, batch=2048, max_seconds=600)
    with pytest.raises(LimitError, match="per-run budget"):
        engine.submit(big, get_target("moons"), tmp_path / "big")
    huge = make_config(hidden=1024, depth=16, batch=65536, steps=10)
    assert memory_estimate(huge) > 20 * 2**30
    with pytest.raises(LimitError, match="GiB of memory"):
        engine.submit(huge, get_target("moons"), tmp_path / "huge", check_budget=False)
    assert not (tmp_path / "big").exists() and not (tmp_path / "huge").exists()


def test_a_killed_worker_fails_its_run_keeps_the_checkpoint_and_the_rest_carry_on(tmp_path, tiny_config):
    """SIGKILL the worker of one run: that run ends 'worker lost at step N' with its last checkpoint's
    weights (usable, resumable); the other run finishes, and a new worker takes the next job."""
    eng = Engine(LocalPool(2))
    try:
        victim = eng.submit(
            replace(tiny_config, steps=LONG, checkpoint_seconds=0.2), get_target("moons"), tmp_path / "victim"
        )
        other = eng.submit(replace(tiny_config, steps=3000), get_target("moons"), tmp_path / "other")
        wait_until(lambda: (tmp_path / "victim" / runs.CHECKPOINT_FILE).is_file(), what="a checkpoint")
        os.kill(eng.worker_pid(victim), signal.SIGKILL)
        snap = eng.wait(victim, 30)
        assert snap.state == "failed" and snap.message == f"worker lost at step {snap.step}"
        info = runs.read_info(tmp_path / "victim")
        assert info.state == "failed" and info.resumable and runs.load_run(tmp_path / "victim").flow is not None
        assert eng.wait(other, 120).state == "done"
        after = eng.submit(tiny_config, get_target("moons"), tmp_path / "after")
        assert eng.wait(after, 60).state == "done"
    finally:
        eng.close()


def test_resuming_on_the_engine_ends_with_the_weights_of_a_straight_run(engine, tmp_path, tiny_config):
    """Interrupt a seeded run (kill its worker after a checkpoint), resume from the folder: the final
    weights equal those of the same run trained straight through in this process."""
    cfg = replace(tiny_config, steps=400, checkpoint_seconds=1e-9)
    job = engine.submit(cfg, get_target("spiral"), tmp_path / "run")
    wait_until(lambda: engine.snapshot(job).step >= 50, what="50 steps")
    os.kill(engine.worker_pid(job), signal.SIGKILL)
    lost = engine.wait(job, 30)
    if lost.state == "done":  # it finished before the kill landed: nothing to test on this machine
        pytest.skip("the run ended before its worker was killed")
    checkpoint = runs.read_checkpoint(tmp_path / "run")
    assert 0 < checkpoint.step < 400
    data = (tmp_path / "run" / runs.CHECKPOINT_FILE).read_bytes()
    engine.submit(cfg, get_target("spiral"), tmp_path / "run", resume=data)
    assert engine.wait(job, 60).state == "done"
    straight = run_training(cfg, get_target("spiral"))
    for p, q in zip(runs.load_run(tmp_path / "run").flow.net.parameters(), straight.flow.net.parameters()):
        assert torch.equal(p, q)


def test_a_resumed_runs_snapshot_keeps_the_history_it_had_made(engine, tmp_path, tiny_config):
    """Train's Step then Continue: while the resumed run trained, its curves began where it had paused (a
    walk saw steps 0-500 missing until it ended). Its snapshot starts from the checkpoint's history."""
    cfg = replace(tiny_config, steps=300, log_every=10)
    job = engine.submit(cfg, get_target("moons"), tmp_path / "run", pause_at=100)
    assert engine.wait(job, 60).state == "stopped"
    before = runs.read_checkpoint(tmp_path / "run").history
    assert len(before) and before["step"].max() <= 100
    data = (tmp_path / "run" / runs.CHECKPOINT_FILE).read_bytes()
    engine.submit(cfg, get_target("moons"), tmp_path / "run", resume=data)
    shown = engine.snapshot(job).history[: len(before)]  # before any report of the resumed worker
    assert shown["step"].tolist() == before["step"].tolist() and shown["loss"].tolist() == before["loss"].tolist()
    done = engine.wait(job, 60)
    assert done.state == "done" and done.history["step"].min() == before["step"].min()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_pinned_workers_each_keep_to_one_core(monkeypatch):
    """MEANFLOW_PIN_CORES=1 (the studies' fair wall-clock budget): worker k runs on core k only, every
    thread of it, the numerical libraries' pools (made when numpy and torch load, before it pins) included."""
    monkeypatch.setenv("MEANFLOW_PIN_CORES", "1")
    pool = LocalPool(2)
    try:
        cores = sorted(os.sched_getaffinity(0))
        wait_until(lambda: all(len(os.sched_getaffinity(pool.pid(s))) == 1 for s in range(2)), 30, "pinning")
        assert [os.sched_getaffinity(pool.pid(s)) for s in range(2)] == [{cores[0]}, {cores[1]}]
        for slot in range(2):
            threads = [int(t) for t in os.listdir(f"/proc/{pool.pid(slot)}/task")]
            assert {t: os.sched_getaffinity(t) for t in threads} == dict.fromkeys(threads, {cores[slot]})
    finally:
        pool.close()
