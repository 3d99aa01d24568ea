"""The job engine's costs, measured in one process as ratios (benchmarks/RESULTS.md).

    python benchmarks/engine_bench.py [--runs 8] [--steps 3000] [--ray-address HOST:PORT]

- sweep: N fixed-step runs on 2 workers against 1 worker (local processes, or the Ray cluster);
- pair: the steps/s of two runs training at once, each as a ratio to one run alone;
- first step: seconds from submit to the first training step, with warm workers;
- engine CPU: this process's CPU time (the server side: receiving reports, writing checkpoints)
  against the workers' CPU time, over one 20 s run.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from meanflow import get_target
from meanflow.core.registry import make_config
from meanflow.engine.jobs import Engine
from meanflow.engine.local import LocalPool
from meanflow.engine.ray_pool import RayPool

BASE = make_config(hidden=64, depth=3)  # a small default-style net: the engine's overhead is what is measured


def _pool(workers: int, address: str | None):
    return RayPool(address, workers) if address else LocalPool(workers)


def _engine(workers: int, address: str | None) -> Engine:
    engine = Engine(_pool(workers, address), max_running_per_owner=64, max_queued_per_owner=64)
    warm = engine.submit(replace(BASE, steps=1), get_target("moons"), Path(tempfile.mkdtemp()) / "warm")
    engine.wait(warm, 300)
    return engine


def sweep(runs: int, steps: int, address: str | None) -> dict:
    times = {}
    for workers in (1, 2):
        engine = _engine(workers, address)
        root = Path(tempfile.mkdtemp())
        try:
            t0 = time.perf_counter()
            jobs = [
                engine.submit(replace(BASE, steps=steps, seed=i), get_target("moons"), root / f"r{i}")
                for i in range(runs)
            ]
            assert all(engine.wait(j).state == "done" for j in jobs)
            times[workers] = time.perf_counter() - t0
        finally:
            engine.close()
    return {"one_worker_s": times[1], "two_workers_s": times[2], "ratio": times[2] / times[1]}


def _rate(engine: Engine, job: str, window: float) -> float:
    """Steps per second over `window` seconds of a running job (from its snapshots)."""
    while engine.snapshot(job).step < 200:
        time.sleep(0.05)
    s0, t0 = engine.snapshot(job).step, time.perf_counter()
    time.sleep(window)
    return (engine.snapshot(job).step - s0) / (time.perf_counter() - t0)


def pair(window: float, address: str | None) -> dict:
    engine = _engine(2, address)
    root = Path(tempfile.mkdtemp())
    long = replace(BASE, steps=10**7)
    try:
        alone = []
        for i in range(2):
            job = engine.submit(long, get_target("moons"), root / f"alone{i}")
            alone.append(_rate(engine, job, window))
            engine.stop(job)
            engine.wait(job)
        jobs = [engine.submit(long, get_target("moons"), root / f"pair{i}") for i in range(2)]
        while min(engine.snapshot(j).step for j in jobs) < 200:
            time.sleep(0.05)
        s0 = [engine.snapshot(j).step for j in jobs]
        t0 = time.perf_counter()
        time.sleep(window)
        together = [(engine.snapshot(j).step - s) / (time.perf_counter() - t0) for j, s in zip(jobs, s0)]
        for j in jobs:
            engine.stop(j)
            engine.wait(j)
    finally:
        engine.close()
    base = statistics.mean(alone)
    return {"alone_steps_per_s": alone, "together_steps_per_s": together, "ratios": [t / base for t in together]}


def first_step(repeats: int, address: str | None) -> dict:
    engine = _engine(1, address)
    root = Path(tempfile.mkdtemp())
    delays = []
    try:
        for i in range(repeats):
            t0 = time.perf_counter()
            job = engine.submit(replace(BASE, steps=10**7), get_target("checkerboard"), root / f"f{i}")
            while engine.snapshot(job).step < 1:
                time.sleep(0.005)
            delays.append(time.perf_counter() - t0)
            engine.stop(job)
            engine.wait(job)
    finally:
        engine.close()
    return {"seconds": delays, "median": statistics.median(delays)}


def engine_cpu(seconds: float) -> dict:
    """This process's CPU (the engine's thread) against its worker's, over one run of `seconds`."""
    engine = _engine(1, None)
    pid = engine.pool.pid(0)
    try:
        before_me = resource.getrusage(resource.RUSAGE_SELF)
        before_worker = _proc_cpu(pid)
        job = engine.submit(
            replace(BASE, steps=10**7, max_seconds=seconds, checkpoint_seconds=10),
            get_target("moons"),
            Path(tempfile.mkdtemp()) / "cpu",
        )
        engine.wait(job)
        after_me = resource.getrusage(resource.RUSAGE_SELF)
        worker = _proc_cpu(pid) - before_worker
    finally:
        engine.close()
    me = (after_me.ru_utime + after_me.ru_stime) - (before_me.ru_utime + before_me.ru_stime)
    return {"engine_cpu_s": me, "worker_cpu_s": worker, "ratio": me / worker}


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--window", type=float, default=8.0, help="seconds over which steps/s are counted")
    parser.add_argument("--ray-address", default=None, help="measure on this Ray cluster instead of local workers")
    args = parser.parse_args()
    print(f"sweep of {args.runs} x {args.steps} steps:", sweep(args.runs, args.steps, args.ray_address), flush=True)
    print("two at once:", pair(args.window, args.ray_address), flush=True)
    print("submit to first step:", first_step(5, args.ray_address), flush=True)
    if not args.ray_address:
        print("engine CPU / worker CPU:", engine_cpu(20.0), flush=True)


if __name__ == "__main__":
    main()
