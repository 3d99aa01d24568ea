"""The job engine on the test Ray cluster: the same behaviour as on local workers (tests/engine/test_jobs.py)."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from meanflow.core import runs
from meanflow.core.registry import make_config
from meanflow.core.targets import get_target, text_target
from meanflow.core.training import run_training
from meanflow.engine.jobs import Engine
from meanflow.engine.ray_pool import RayPool
from meanflow.lab.studies import get_study
from meanflow.lab.sweeps import Budget, Sweep
from tests.conftest import wait_until
from tests.engine.ray_cluster.conftest import ROOT

TINY = make_config(steps=60, batch=64, hidden=16, depth=2, preview_every=20, preview_n=50, seed=3)
LONG = 10**6


def test_the_cluster_has_two_nodes_and_the_engine_a_worker_on_each(ray_engine):
    import ray

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2 and ray_engine.max_running == 2


def test_a_job_trains_on_the_cluster_and_its_folder_is_written_by_the_server(ray_engine, tmp_path):
    """The worker sends everything back: weights equal an in-process run's; a data target travels too."""
    a = ray_engine.submit(TINY, get_target("moons"), tmp_path / "a")
    b = ray_engine.submit(TINY, text_target("Hi"), tmp_path / "b")
    assert ray_engine.wait(a, 120).state == "done" and ray_engine.wait(b, 120).state == "done"
    here = run_training(TINY, get_target("moons"))
    for p, q in zip(runs.load_run(tmp_path / "a").flow.net.parameters(), here.flow.net.parameters()):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(runs.load_run(tmp_path / "b").target.points, text_target("Hi").points)


def test_progress_queue_and_stop(ray_engine, tmp_path):
    """Two workers busy, a third job waits in line; stop ends one, and the waiting one starts."""
    long = replace(TINY, steps=LONG)
    jobs = [ray_engine.submit(long, get_target("rings"), tmp_path / f"j{i}") for i in range(3)]
    wait_until(lambda: all(ray_engine.snapshot(j).step > 10 for j in jobs[:2]), 120, "two jobs to train")
    assert ray_engine.snapshot(jobs[2]).position == 1
    ray_engine.stop(jobs[0])
    assert ray_engine.wait(jobs[0], 60).state == "stopped"
    wait_until(lambda: ray_engine.snapshot(jobs[2]).step > 0, 120, "the waiting job to start")
    for job in jobs[1:]:
        ray_engine.stop(job)
        assert ray_engine.wait(job, 60).state == "stopped"
    assert runs.read_info(tmp_path / "j0").state == "stopped" and runs.load_run(tmp_path / "j0").flow is not None


def test_a_killed_actor_fails_its_run_keeps_the_checkpoint_and_resume_equals_straight(ray_engine, tmp_path):
    """SIGKILL the actor's process: 'worker lost at step N'; resuming the folder ends on the weights of
    the same run trained straight through."""
    cfg = replace(TINY, steps=400, checkpoint_seconds=1e-9)
    job = ray_engine.submit(cfg, get_target("spiral"), tmp_path / "run")
    wait_until(lambda: ray_engine.snapshot(job).step >= 50, 120, "50 steps")
    os.kill(ray_engine.worker_pid(job), signal.SIGKILL)
    lost = ray_engine.wait(job, 120)
    if lost.state == "done":
        return  # it finished before the kill landed: the resume half has nothing to do
    assert lost.state == "failed" and lost.message.startswith("worker lost at step")
    data = (tmp_path / "run" / runs.CHECKPOINT_FILE).read_bytes()
    ray_engine.submit(cfg, get_target("spiral"), tmp_path / "run", resume=data)
    assert ray_engine.wait(job, 120).state == "done"
    straight = run_training(cfg, get_target("spiral"))
    for p, q in zip(runs.load_run(tmp_path / "run").flow.net.parameters(), straight.flow.net.parameters()):
        assert torch.equal(p, q)


def test_a_killed_driver_leaves_an_interrupted_run_that_resumes(cluster, tmp_path):
    """SIGKILL the command line (the driver) mid-run: the run is interrupted at its checkpoint, and
    `python -m meanflow resume` on the cluster finishes it."""
    env = dict(os.environ, MEANFLOW_RAY_ADDRESS=cluster, PYTHONPATH=str(ROOT))
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meanflow",
            "train",
            "--method",
            "meanflow",
            "--target",
            "moons",
            "--steps",
            str(LONG),
            "--hidden",
            "16",
            "--depth",
            "2",
            "--checkpoint-seconds",
            "0.5",
            "--quiet",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_until(lambda: (out / runs.CHECKPOINT_FILE).is_file(), 120, "a checkpoint")
    finally:
        proc.kill()
        proc.wait(30)
    info = runs.read_info(out)
    assert info.state == "interrupted" and info.resumable
    # Resume continues from the checkpoint file. The driver writes it before config.json's step, so a
    # kill between the two leaves config.json one checkpoint behind (seen once on a loaded machine).
    start = runs.read_checkpoint(out).step
    assert start >= info.step
    result = subprocess.run(
        [sys.executable, "-m", "meanflow", "resume", str(out), "--steps", str(start + 100), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert runs.read_info(out).state == "done" and runs.read_info(out).step == start + 100


def test_a_run_launched_from_the_app_trains_on_the_cluster(cluster, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MEANFLOW_RAY_ADDRESS", cluster)
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("app_pages/train.py").run()
    at.multiselect(key="methods").set_value(["meanflow"])
    at.number_input(key="steps").set_value(200)
    at.select_slider(key="hidden").set_value(32)
    at.button(key="launch").click().run()
    sess = at.session_state["session"]
    (run_id,) = sess.own_ids()
    assert sess.engine.wait(run_id, 120).state == "done"
    at.run()
    assert not at.exception and "— done" in " ".join(m.value for m in at.markdown)
    assert runs.read_info(tmp_path / "runs" / run_id).state == "done"


def test_eight_short_runs_on_two_nodes_against_one_worker(cluster, tmp_path):
    """Printed, not asserted (a benchmark; benchmarks/RESULTS.md): 8 fixed-step runs on 2 nodes / on 1 worker."""
    cfg = replace(TINY, steps=3000, hidden=64)
    times = {}
    for workers in (1, 2):
        engine = Engine(RayPool(cluster, workers), max_running_per_owner=8, max_queued_per_owner=8)
        try:
            warm = engine.submit(replace(cfg, steps=1), get_target("moons"), tmp_path / f"warm{workers}")
            engine.wait(warm, 120)
            t0 = time.perf_counter()
            jobs = [engine.submit(cfg, get_target("moons"), tmp_path / f"w{workers}-{i}") for i in range(8)]
            assert all(engine.wait(j, 600).state == "done" for j in jobs)
            times[workers] = time.perf_counter() - t0
        finally:
            engine.close()
    print(
        f"\n8 runs of 3000 steps: 1 worker {times[1]:.1f} s, 2 nodes {times[2]:.1f} s, ratio {times[2] / times[1]:.2f}"
    )


def test_a_tiny_sweep_on_the_cluster_tabulates_every_cell_and_a_rerun_trains_nothing(ray_engine, tmp_path):
    """2 cells x 2 seeds on the two nodes: every run's folder comes back to the server and is scored;
    the same sweep again finds them done and trains nothing."""

    def sweep():
        s = Sweep(
            get_study("time-sampler"),
            [get_target("moons")],
            2,
            Budget(seconds=None, steps=40),
            ray_engine,
            tmp_path,
            base=TINY,
        )
        s.run_to_end(poll=0.2)
        return s

    first = sweep()
    assert [r.stage for r in first.runs] == ["scored"] * 4
    rows = first.table()
    assert [r["seeds"] for r in rows] == [2, 2] and all(len(r["hist_tv@1_seeds"]) == 2 for r in rows)
    again = sweep()
    assert [r.stage for r in again.runs] == ["skipped"] * 4
    assert [r["hist_tv@1_seeds"] for r in again.table()] == [r["hist_tv@1_seeds"] for r in rows]
