"""The command line end to end on a tiny run, and its exit codes for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--steps", "40", "--batch", "64", "--hidden", "16", "--depth", "2", "--quiet"]


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "meanflow", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = run_cli("train", "--method", "meanflow", "--target", "crescent", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_train_sample_evaluate_end_to_end(run_dir, tmp_path):
    assert (run_dir / "config.json").is_file() and (run_dir / "weights.safetensors").is_file()
    for suffix in (".npy", ".csv"):
        out = tmp_path / f"s{suffix}"
        result = run_cli("sample", run_dir, "--nfe", 2, "--n", 300, "--seed", 1, "--out", out)
        assert result.returncode == 0, result.stderr
        result = run_cli("evaluate", out, "--target", "moons")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["n"] == 300 and report["hist_tv_floor"] > 0 and "sliced_w1" in report
    a = np.load(tmp_path / "s.npy")
    b = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    assert a.shape == (300, 2)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_train_from_a_csv_file_with_a_time_budget(tmp_path):
    pts = np.random.default_rng(0).normal(size=(500, 2)) * 100 + 1000
    np.savetxt(tmp_path / "pts.csv", pts, delimiter=",")
    result = run_cli("train", "--method", "flow-matching", "--target-file", tmp_path / "pts.csv",
                     "--steps", "100000", "--max-seconds", "1", "--batch", "32", "--hidden", "8", "--depth", "1",
                     "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "time budget of 1 s" in result.stderr and "steps/s" in result.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["state"] == "stopped" and config["target"]["kind"] == "data"


def test_a_diverged_run_prints_one_line_and_exits_1(tmp_path):
    result = run_cli("train", "--method", "meanflow", "--target", "spiral", *TINY, "--lr", "1e30",
                     "--out", tmp_path / "run")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "diverged at step" in lines[0]
    assert (tmp_path / "run" / "weights.safetensors").is_file()


def test_bench_prints_all_three_variants_as_json():
    result = run_cli("bench", "--json", "--hidden", "16", "--depth", "2", "--batch", "32", "--steps", "2",
                     "--rounds", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["ms_per_step"]) == {"flow-matching", "meanflow", "meanflow-naive"}
    assert report["ratio_to_flow_matching"]["flow-matching"] == 1.0


@pytest.mark.parametrize("args, fragment", [
    (["train", "--method", "meanflow", "--target", "banana", "--out", "x"], "unknown target 'banana'; accepted"),
    (["train", "--method", "gan", "--target", "moons", "--out", "x"], "invalid choice: 'gan'"),
    (["train", "--method", "meanflow", "--target", "moons", "--steps", "0", "--out", "x"], "positive integer"),
    (["train", "--method", "meanflow", "--target-file", "/no/such.csv", "--out", "x"], "not found"),
    (["train", "--method", "meanflow", "--out", "x"], "one of the arguments --target --target-file is required"),
    (["train", "--method", "meanflow", "--target", "moons", "--r-neq-t", "2", "--out", "x"], "r_neq_t"),
    (["sample", "/no/such/run", "--nfe", "1", "--n", "10", "--out", "s.npy"], "not found"),
    (["sample", "RUN", "--nfe", "1", "--n", "10", "--out", "s.txt"], "must end in .npy or .csv"),
    (["sample", "RUN", "--nfe", "-3", "--n", "10", "--out", "s.npy"], "positive integer"),
    (["evaluate", "/no/such.npy", "--target", "moons"], "not found"),
    (["frobnicate"], "invalid choice"),
    (["train", "--method", "meanflow", "--target", "moons", "--device", "banana", "--out", "x"], "banana"),
    (["train", "--method", "meanflow", "--target", "moons", "--seed", "99999999999999999999999", "--out", "x"],
     "a seed from 0"),
    (["train", "--method", "meanflow", "--target", "moons", "--out", "/proc/no/such/dir"], "error"),
    (["sample", "RUN", "--nfe", "1", "--n", "10", "--seed", "-1", "--out", "s.npy"], "a seed from 0"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, fragment, run_dir, tmp_path):
    args = [str(run_dir) if a == "RUN" else a for a in args]
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupt_run_folder_exits_2(run_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in run_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "weights.safetensors").write_bytes(b"garbage")
    result = run_cli("sample", bad, "--nfe", "1", "--n", "10", "--out", tmp_path / "s.npy")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not a valid safetensors file" in result.stderr


def test_bench_quality_reports_every_variant_beside_its_floors():
    result = run_cli("bench", "--quality", "--json", "--seconds", "0.3", "--targets", "checkerboard")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {(r["variant"], r["nfe"]) for r in rows} == {
        ("meanflow-naive", 1), ("meanflow", 1), ("meanflow", 2), ("meanflow", 4),
        ("flow-matching", 1), ("flow-matching", 8), ("flow-matching", 32)}
    assert all(r["hist_tv_floor"] > 0 and r["in_support_floor"] == 1.0 for r in rows)
