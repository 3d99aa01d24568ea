"""Shared fixtures: small seeded configs so every test runs in well under a second or two."""

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from meanflow.trainer import TrainConfig  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # the suite shares 2 cores with the browser tests' server
    yield


@pytest.fixture
def tiny_config() -> TrainConfig:
    return TrainConfig(method="meanflow", target="checkerboard", steps=60, batch=64, hidden=16, depth=2,
                       preview_every=20, preview_n=50, seed=3)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)
