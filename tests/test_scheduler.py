"""The server-wide job cap: at most N train at once, the rest wait in order and can be cancelled."""

import gc
import time
from dataclasses import replace

import pytest

from meanflow.scheduler import JobScheduler
from meanflow.targets import get_target
from meanflow.trainer import TrainingJob
from meanflow.workspace import Workspace


def _wait(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_jobs_beyond_the_cap_wait_in_order_and_start_when_a_slot_frees(tiny_config):
    scheduler = JobScheduler(max_running=1)
    long = TrainingJob(replace(tiny_config, steps=10**7), get_target("moons"))
    a = TrainingJob(tiny_config, get_target("moons"))
    b = TrainingJob(tiny_config, get_target("moons"))
    for job in (long, a, b):
        scheduler.submit(job)
    assert scheduler.running == 1 and scheduler.waiting == 2
    assert scheduler.position(a) == 1 and scheduler.position(b) == 2 and scheduler.position(long) is None
    assert a.snapshot().state == "pending"
    long.stop()
    _wait(lambda: b.snapshot().finished)
    assert a.snapshot().state == b.snapshot().state == "done" and scheduler.running == 0


def test_a_cancelled_queued_job_never_trains(tiny_config):
    scheduler = JobScheduler(max_running=1)
    long = TrainingJob(replace(tiny_config, steps=10**7), get_target("rings"))
    queued = TrainingJob(tiny_config, get_target("rings"))
    scheduler.submit(long)
    scheduler.submit(queued)
    assert scheduler.cancel(queued) and not scheduler.cancel(queued)
    snap = queued.snapshot()
    assert snap.state == "stopped" and snap.step == 0 and queued.flow is None
    long.stop()
    long.join()
    assert scheduler.running == 0 and scheduler.waiting == 0


def test_dropping_a_workspace_stops_and_saves_its_runs(tmp_path, tiny_config):
    """A session that goes away must not leave training threads behind; its runs are saved."""
    ws = Workspace(tmp_path, scheduler=JobScheduler(1))
    running = ws.launch(replace(tiny_config, steps=10**7), get_target("moons")).job
    queued = ws.launch(tiny_config, get_target("moons")).job
    _wait(lambda: running.snapshot().step > 0)
    del ws
    gc.collect()
    _wait(lambda: running.snapshot().finished and queued.snapshot().finished)
    assert running.snapshot().state == "stopped" and queued.snapshot().message == "cancelled before it started"
    running.join()
    assert len(list(tmp_path.iterdir())) == 1  # the run that trained is saved; the cancelled one had nothing


def test_a_dropped_workspace_collected_under_the_scheduler_lock_does_not_deadlock(tmp_path, tiny_config):
    """The garbage collector may finalise a workspace in a thread holding the scheduler's lock."""
    scheduler = JobScheduler(1)
    ws = Workspace(tmp_path, scheduler=scheduler)
    job = ws.launch(replace(tiny_config, steps=10**7), get_target("moons")).job
    with scheduler._lock:  # a non-reentrant lock, held as _release or submit would hold it
        del ws  # finalised here, inside the lock
        gc.collect()
    _wait(lambda: job.snapshot().finished)
    job.join()
    assert job.snapshot().state == "stopped"


def test_scheduler_refuses_a_zero_cap():
    with pytest.raises(ValueError):
        JobScheduler(0)
