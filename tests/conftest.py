"""Shared fixtures: small seeded configs, and one local job engine per test module; the command line
run as a user runs it."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from meanflow.core.config import TrainConfig
from meanflow.core.registry import make_config
from meanflow.engine.jobs import Engine
from meanflow.engine.local import LocalPool

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m meanflow ARGS` from the checkout, as a user types it (extra environment variables in
    `env`); its exit code and output captured."""
    return subprocess.run(
        [sys.executable, "-m", "meanflow", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # the suite shares 2 cores with the workers and the browser tests' server
    yield


@pytest.fixture
def tiny_config() -> TrainConfig:
    return make_config(
        method="meanflow", steps=60, batch=64, hidden=16, depth=2, preview_every=20, preview_n=50, seed=3
    )


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="module")
def engine():
    """A job engine on two local worker processes, shared by a module's tests and closed after them."""
    eng = Engine(LocalPool(2))
    yield eng
    eng.close()


def resumed_from_step(config: TrainConfig, target, step: int):
    """A run stopped after `step` steps (a checkpoint at every step), then resumed from that checkpoint
    through bytes as a worker sends it: the resumed RunResult."""
    from meanflow.core.checkpoints import checkpoint_bytes, checkpoint_from_bytes
    from meanflow.core.training import run_training

    saved, counter = [], {"n": 0}

    def stop_after():
        counter["n"] += 1
        return counter["n"] > step

    run_training(config, target, should_stop=stop_after, on_checkpoint=saved.append)
    return run_training(config, target, resume=checkpoint_from_bytes(checkpoint_bytes(saved[-1])))


def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll predicate() until it is truthy (returning it) or fail after `timeout` seconds: a bound on
    waiting for a state, never an assertion about speed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def pytest_ignore_collect(collection_path, config):
    """tests/engine/ray_cluster runs only inside its network namespace (tests/engine/test_ray.py starts it there)."""
    import os

    if collection_path.name == "ray_cluster" and os.environ.get("MEANFLOW_IN_NETNS") != "1":
        return True
    return None
