"""Run folders written by the main branch before the layered package (tests/data/legacy_runs, made at
commit e398030 with `python -m meanflow train ... --steps 40/30 --hidden 16 --depth 2`) still open,
sample the same points and resume to the same weights on today's code."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from meanflow.core.runs import load_run, read_info

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_runs"
EXPECTED = json.loads((LEGACY / "expected.json").read_text())
RUNS = sorted(EXPECTED)


def _meanflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meanflow", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", RUNS)
def test_an_old_run_folder_opens_with_its_config_and_target(name):
    info = read_info(LEGACY / name)
    saved = load_run(LEGACY / name)
    assert info.state == "done" and info.has_checkpoint
    assert saved.flow.classes == info.config.classes
    assert len(saved.history) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNS)
def test_an_old_run_folder_samples_the_points_it_sampled_then(name, tmp_path):
    out = tmp_path / "samples.npy"
    result = _meanflow("sample", str(LEGACY / name), "--nfe", "2", "--n", "6", "--seed", "0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(out), EXPECTED[name]["samples_nfe2_n6_seed0"], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNS)
def test_an_old_run_folder_resumes_to_the_weights_it_resumed_to_then(name, tmp_path):
    run = tmp_path / name
    shutil.copytree(LEGACY / name, run)
    result = _meanflow("resume", str(run), "--steps", "60", "--quiet")
    assert result.returncode == 0, result.stderr
    assert read_info(run).step == 60
    sums = {k: float(v.astype(np.float64).sum()) for k, v in load_file(run / "weights.safetensors").items()}
    expected = EXPECTED[name]["resumed_to_60_weight_sums"]
    assert sums.keys() == expected.keys()
    for key, value in expected.items():
        assert sums[key] == pytest.approx(value, abs=1e-4), key
