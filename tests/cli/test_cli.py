"""The command line end to end on a tiny run, and its exit codes for bad input."""

import json

import numpy as np
import pytest

from meanflow.core.registry import METHODS
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # worker processes, subprocesses or whole app runs: `make test-fast` skips them

# two `sample` processes on two threads can differ in float32's last bit (MKL's AVX-512 products split their
# work per process: about 1 process in 4 here); its AVX2 path in strict mode gives the same bits every time.
# Without it this test fails only about 1 run in 4; a torch without MKL ignores the variable.
BITWISE = {"MKL_CBWR": "AVX2,STRICT"}
TINY = ["--steps", "40", "--batch", "64", "--hidden", "16", "--depth", "2", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = run_cli("train", "--method", "meanflow", "--target", "crescent", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_train_sample_evaluate_end_to_end(run_dir, tmp_path):
    assert (run_dir / "config.json").is_file() and (run_dir / "weights.safetensors").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["state"] == "done" and config["target"]["name"] == "moons" and config["config"]["steps"] == 40
    for suffix in (".npy", ".csv"):
        out = tmp_path / f"s{suffix}"
        result = run_cli("sample", run_dir, "--nfe", 2, "--n", 300, "--seed", 1, "--out", out, env=BITWISE)
        assert result.returncode == 0, result.stderr
        result = run_cli("evaluate", out, "--target", "moons")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["n"] == 300 and report["hist_tv_floor"] > 0 and "sliced_w1" in report
    a = np.load(tmp_path / "s.npy")
    b = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    assert a.shape == (300, 2)
    np.testing.assert_allclose(a, b, rtol=1e-6)  # the CSV's 7 significant digits


def test_train_from_a_csv_file_with_a_time_budget(tmp_path):
    pts = np.random.default_rng(0).normal(size=(500, 2)) * 100 + 1000
    np.savetxt(tmp_path / "pts.csv", pts, delimiter=",")
    result = run_cli(
        "train",
        "--method",
        "flow-matching",
        "--target-file",
        tmp_path / "pts.csv",
        "--steps",
        "100000",
        "--max-seconds",
        "1",
        "--batch",
        "32",
        "--hidden",
        "8",
        "--depth",
        "1",
        "--out",
        tmp_path / "run\nfolder",  # a newline in the path stays on the success line
    )
    assert result.returncode == 0, result.stderr
    assert "time budget of 1 s" in result.stderr and "steps/s" in result.stderr
    assert "saved" in result.stderr.splitlines()[-1] and result.stderr.rstrip().endswith("run?folder")
    config = json.loads((tmp_path / "run\nfolder" / "config.json").read_text())
    assert config["state"] == "stopped" and config["target"]["kind"] == "data"


def test_a_diverged_run_prints_one_line_and_exits_1(tmp_path):
    result = run_cli(
        "train", "--method", "meanflow", "--target", "spiral", *TINY, "--lr", "1e30", "--out", tmp_path / "run"
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "diverged at step" in lines[0]
    assert (tmp_path / "run" / "weights.safetensors").is_file()


def test_bench_prints_every_variant_and_the_pairing_share_as_json():
    result = run_cli(
        "bench", "--json", "--hidden", "16", "--depth", "2", "--batch", "32", "--steps", "2", "--rounds", "1"
    )
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)["sizes"]
    assert set(report["ms_per_step"]) == {"flow-matching", "meanflow", "meanflow+pairing", "pairing", "meanflow-naive"}
    assert report["ratio_to_flow_matching"]["flow-matching"] == 1.0 and report["config"]["hidden"] == 16
    assert report["pairing_share_of_meanflow_step"] == pytest.approx(
        report["ms_per_step"]["pairing"] / report["ms_per_step"]["meanflow"]
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "--method", "meanflow", "--target", "banana", "--out", "x"], "unknown target 'banana'; accepted"),
        (["train", "--method", "gan", "--target", "moons", "--out", "x"], "invalid choice: 'gan'"),
        (
            ["train", "--method", "meanflow", "--target", "moons", "--steps", "0", "--out", "x"],
            "a step count from 1 to 10,000,000",
        ),
        (["train", "--method", "meanflow", "--target-file", "/no/such.csv", "--out", "x"], "not found"),
        (["train", "--method", "meanflow", "--out", "x"], "one of the arguments --target --target-file is required"),
        (["train", "--method", "meanflow", "--target", "moons", "--r-neq-t", "2", "--out", "x"], "a number in [0, 1]"),
        (["sample", "/no/such/run", "--nfe", "1", "--n", "10", "--out", "s.npy"], "not found"),
        (["sample", "RUN", "--nfe", "1", "--n", "10", "--out", "s.txt"], "must end in .npy or .csv"),
        (["sample", "RUN", "--nfe", "-3", "--n", "10", "--out", "s.npy"], "a step count from 1 to 1,024, got '-3'"),
        (["evaluate", "/no/such.npy", "--target", "moons"], "not found"),
        (["frobnicate"], "invalid choice"),
        (["train", "--method", "meanflow", "--target", "moons", "--device", "banana", "--out", "x"], "banana"),
        (
            ["train", "--method", "meanflow", "--target", "moons", "--seed", "99999999999999999999999", "--out", "x"],
            "a seed from 0",
        ),
        (
            ["train", "--method", "meanflow", "--target", "moons", "--out", "/proc/no/such/dir"],
            "No such file or directory",
        ),
        (["sample", "RUN", "--nfe", "1", "--n", "10", "--seed", "-1", "--out", "s.npy"], "a seed from 0"),
        (["sample", "RUN", "--nfe", "100000", "--n", "10", "--out", "s.npy"], "a step count from 1 to 1,024"),
        (["sample", "RUN", "--nfe", "1", "--n", "99999999", "--out", "s.npy"], "a sample count from 1 to 1,000,000"),
        (
            ["train", "--method", "flow-matching", "--target", "moons", "--r-neq-t", "0.5", "--out", "x"],
            "--r-neq-t is not an option of flow-matching",
        ),
        (
            ["train", "--method", "meanflow", "--target", "moons", "--hidden", "100000", "--out", "x"],
            "a width from 1 to",
        ),
        (
            ["train", "--method", "meanflow", "--target", "moons", "--max-seconds", "inf", "--out", "x"],
            "seconds in (0, ",
        ),
        (["resume", "/no/such/run"], "not found"),
        (
            ["train", "--method", "meanflow", "--target", "moons", "--preset", "fastest", "--out", "x"],
            "--preset 'fastest' is neither 'tuned' nor a presets file",
        ),
        (["tune", "--method", "meanflow", "--targets", "banana"], "unknown target 'banana'"),
        (["tune", "--method", "meanflow", "--trials", "0"], "a trial count from 1"),
        (["tune", "--method", "meanflow", "--also", "critic,magic"], "unknown lever 'magic'; accepted: state-features"),
        (["tune", "--method", "meanflow", "--targets", "digits,rings"], "tune searches 2D targets"),
        (["methods", "extra"], "unrecognized arguments: extra (see python -m meanflow methods --help)"),
        (["train", "--method", "meanflow", "--target", "moons", "--device", "banana", "--out", "x"], "accepted: auto"),
        (  # a hostile probe's: trained five runs on a target with no classes and printed a table of nothing
            ["sweep", "--study", "guidance", "--targets", "rings", "--steps", "5", "--seeds", "1", "--out", "OUT"],
            "rings carry no classes",
        ),
        (  # its runs nested inside a run's folder, which train --out would replace
            ["sweep", "--study", "r-neq-t", "--targets", "moons", "--steps", "5", "--seeds", "1", "--out", "RUN"],
            "is a run's folder; a sweep writes a folder of runs",
        ),
        (  # and an empty guidance interval, with which any guidance scale did nothing
            ["train", "--method", "meanflow", "--target", "moons", "--guidance-t-min", "0.8"]
            + ["--guidance-t-max", "0.2", "--out", "OUT"],
            "which would be empty",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, fragment, run_dir, tmp_path):
    args = [str(run_dir) if a == "RUN" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = run_cli(*args)
    assert not (tmp_path / "out").exists()  # a refused command makes nothing
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
    assert result.stderr.count("weights.safetensors") == 1  # it named the file twice


def test_nothing_is_overwritten_that_the_program_did_not_write(run_dir, tmp_path):
    """train --out refuses a non-empty folder that is not a run; sample --out needs --force to replace."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("my own notes")
    result = run_cli("train", "--method", "meanflow", "--target", "moons", *TINY, "--out", mine)
    assert result.returncode == 2 and "is not empty and is not a run folder" in result.stderr
    assert (mine / "config.json").read_text() == "my own notes"
    out = tmp_path / "s.csv"
    out.write_text("precious")
    result = run_cli("sample", run_dir, "--nfe", 1, "--n", 5, "--out", out)
    assert result.returncode == 2 and "exists; pass --force" in result.stderr and out.read_text() == "precious"
    assert run_cli("sample", run_dir, "--nfe", 1, "--n", 5, "--out", out, "--force").returncode == 0
    assert out.read_text().startswith("x,y")


def test_an_oversized_npy_is_refused_from_its_header(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:  # a header promising 10^9 rows, and no data
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 2)})
    result = run_cli("evaluate", path, "--target", "moons")
    assert result.returncode == 2 and "expected (n, 2) numbers with 2 <= n <= 1,000,000" in result.stderr


def test_sample_refuses_a_run_stopped_before_its_first_step(run_dir, tmp_path):
    """Ctrl-C while its worker started left a run at step 0; sampling it wrote untrained noise, exit 0."""
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    for f in run_dir.iterdir():
        (stopped / f.name).write_bytes(f.read_bytes())
    config = json.loads((stopped / "config.json").read_text())
    (stopped / "config.json").write_text(json.dumps({**config, "step": 0}))
    result = run_cli("sample", stopped, "--nfe", 1, "--n", 5, "--out", tmp_path / "s.npy")
    assert result.returncode == 2 and "stopped before its first training step" in result.stderr, result.stderr
    assert not (tmp_path / "s.npy").exists()


def test_evaluate_refuses_numbers_it_cannot_score_and_sample_writes_the_file_asked_for(run_dir, tmp_path):
    """A .npy of NaN read TV 1.0 and sliced W1 908,581 with exit 0, and one of 1e300 printed NaN, which is
    not JSON: both are refused as the CSV reader refuses them. `sample --out s.NPY` wrote s.NPY.npy."""
    for name, values in (("nan", np.full((100, 2), np.nan)), ("inf", np.r_[np.zeros((99, 2)), [[np.inf, 0]]])):
        np.save(tmp_path / f"{name}.npy", values)
        result = run_cli("evaluate", tmp_path / f"{name}.npy", "--target", "moons")
        assert result.returncode == 2 and "only finite numbers are accepted" in result.stderr, result.stderr
    np.save(tmp_path / "huge.npy", np.full((100, 2), 1e300))
    result = run_cli("evaluate", tmp_path / "huge.npy", "--target", "moons")
    assert result.returncode == 2 and "at most 1e+12 in size" in result.stderr, result.stderr
    result = run_cli("sample", run_dir, "--nfe", 1, "--n", 5, "--out", tmp_path / "s.NPY")
    assert result.returncode == 0 and np.load(tmp_path / "s.NPY").shape == (5, 2)
    assert not (tmp_path / "s.NPY.npy").exists()


def test_methods_lists_the_registry_and_train_takes_each_methods_flags(tmp_path):
    listing = run_cli("methods")
    assert listing.returncode == 0
    for name, method in METHODS.items():
        assert f"{name}  ({method.about.label})" in listing.stdout and method.about.arxiv in listing.stdout
    assert "--tangent" not in listing.stdout  # an ablation-only option is never offered for training
    result = run_cli(
        "train",
        "--method",
        "meanflow",
        "--target",
        "moons",
        *TINY,
        "--conditioning",
        "t,r",
        "--r-neq-t",
        "0.25",
        "--out",
        tmp_path / "run",
    )
    assert result.returncode == 0, result.stderr
    options = json.loads((tmp_path / "run" / "config.json").read_text())["config"]["options"]
    assert options["conditioning"] == "t,r" and options["r_neq_t"] == 0.25


def test_resume_continues_a_run_to_more_steps(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    assert run_cli("resume", copy, "--quiet").returncode == 2  # already at its 40 steps
    result = run_cli("resume", copy, "--steps", "70", "--quiet")
    assert result.returncode == 0, result.stderr
    config = json.loads((copy / "config.json").read_text())
    assert config["state"] == "done" and config["step"] == 70
    assert config["config"]["steps"] == 70  # the resume's own count (config.json kept 40: a probe's finding)
    result = run_cli("resume", copy, "--steps", "10000000", "--max-seconds", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    config = json.loads((copy / "config.json").read_text())
    assert config["config"]["max_seconds"] == pytest.approx(config["elapsed"], abs=0.5)  # the budget it was given
    assert "used its" in run_cli("resume", copy, "--quiet").stderr  # and it has used it, as it says


def test_bench_quality_reports_every_variant_beside_its_floors():
    result = run_cli("bench", "--quality", "--json", "--seconds", "0.3", "--targets", "checkerboard")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {(r["variant"], r["nfe"]) for r in rows} == {
        ("meanflow-naive", 1),
        ("meanflow", 1),
        ("meanflow", 2),
        ("meanflow", 4),
        ("flow-matching", 1),
        ("flow-matching", 8),
        ("flow-matching", 32),
    }
    assert all(r["hist_tv_floor"] > 0 and r["in_support_floor"] == 1.0 for r in rows)


@pytest.mark.slow
def test_reflow_learns_from_an_unconditional_teacher_and_refuses_a_class_conditional_one(tmp_path):
    """On a labelled target flow matching trains class-conditional by default: reflow refuses that teacher
    with a message saying what to do (exit 2, nothing trained); from an unconditional teacher it trains."""
    conditional, plain, student = tmp_path / "fm-classes", tmp_path / "fm-plain", tmp_path / "reflow"
    tiny = ["--target", "moons", *TINY]
    assert run_cli("train", "--method", "flow-matching", *tiny, "--out", conditional).returncode == 0
    assert json.loads((conditional / "config.json").read_text())["config"]["classes"] == 2
    refused = run_cli("train", "--method", "reflow", "--teacher", conditional, "--pairs", 300, *tiny, "--out", student)
    assert refused.returncode == 2
    assert "class-conditional" in refused.stderr and "--unconditional" in refused.stderr
    assert not (student / "weights.safetensors").exists()
    assert run_cli("train", "--method", "flow-matching", "--unconditional", *tiny, "--out", plain).returncode == 0
    trained = run_cli("train", "--method", "reflow", "--teacher", plain, "--pairs", 300, *tiny, "--out", student)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((student / "config.json").read_text())["state"] == "done"


def test_train_starts_from_a_preset_and_a_flag_beside_it_wins(tmp_path):
    """--preset FILE (what `tune` writes): its width, batch and options are the run's; --hidden given beside
    it wins (and --space-frequencies reaches the config); a method the file has no preset for is one line,
    exit 2."""
    presets = tmp_path / "tuned.json"
    presets.write_text(
        json.dumps(
            {
                "format": "meanflow-presets",
                "version": 1,
                "methods": {
                    "meanflow": {"fields": {"hidden": 24, "batch": 96, "lr": 0.004}, "options": {"r_neq_t": 0.4}}
                },
            }
        )
    )
    out = tmp_path / "run"
    args = ["train", "--method", "meanflow", "--target", "moons", "--steps", "5", "--quiet", "--preset", presets]
    result = run_cli(*args, "--depth", "2", "--space-frequencies", "2", "--out", out)
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["hidden"], config["batch"], config["lr"], config["depth"]) == (24, 96, 0.004, 2)
    assert config["space_frequencies"] == 2
    assert config["options"]["r_neq_t"] == 0.4
    result = run_cli(*args, "--hidden", "20", "--out", tmp_path / "run2")
    assert json.loads((tmp_path / "run2" / "config.json").read_text())["config"]["hidden"] == 20
    result = run_cli("train", "--method", "imf", "--target", "moons", "--preset", presets, "--out", tmp_path / "x")
    assert result.returncode == 2 and "no tuned preset of imf" in result.stderr and "Traceback" not in result.stderr


def test_digits_train_sample_png_and_evaluate_from_the_shell(tmp_path):
    """train --target digits, sample (n, 64) pixel values with a --png grid, evaluate with the classifier's
    metrics; a file of the wrong width, --png on a 2D run and --class beyond the ten digits are messages."""
    run = tmp_path / "digits"
    result = run_cli("train", "--method", "meanflow", "--target", "digits", *TINY, "--out", run)
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "config.json").read_text())["config"]["dim"] == 64
    out, png = tmp_path / "s.npy", tmp_path / "grid.png"
    result = run_cli("sample", run, "--nfe", 1, "--n", 120, "--out", out, "--png", png)
    assert result.returncode == 0, result.stderr
    assert np.load(out).shape == (120, 64) and png.read_bytes()[:4] == b"\x89PNG"
    report = json.loads(run_cli("evaluate", out, "--target", "digits").stdout)
    assert {"fd", "fd_floor", "confident", "coverage_tv", "memorised", "sliced_w1"} <= set(report)
    assert "hist_tv" not in report and report["n"] == 120
    wrong = run_cli("evaluate", out, "--target", "moons")
    assert wrong.returncode == 2 and "expected (n, 2)" in wrong.stderr and "Traceback" not in wrong.stderr
    result = run_cli("sample", run, "--nfe", 1, "--n", 10, "--class", 12, "--out", tmp_path / "c.npy")
    assert result.returncode == 2 and "classes 0 to 9" in result.stderr


def test_png_is_for_image_targets(run_dir, tmp_path):
    result = run_cli("sample", run_dir, "--nfe", 1, "--n", 10, "--out", tmp_path / "s.npy", "--png", tmp_path / "g.png")
    assert result.returncode == 2 and "image targets" in result.stderr and not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["tune", "--method", "nosuch"],  # refused while parsing
        ["tune", "--method", "meanflow", "--seconds", "-1"],
        ["tune", "--method", "meanflow", "--targets", "nosuch"],  # refused after parsing
    ],
)
def test_a_commands_bad_input_is_one_line_named_by_the_command(args, capsys):
    """Whether argparse or the command refuses it, the line starts 'meanflow tune: error:' and exits 2."""
    from meanflow.cli import main

    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("meanflow tune: error: ")


def test_tune_refuses_a_destination_it_could_not_write_before_any_trial(tmp_path, monkeypatch, capsys):
    """A presets file with one unusable entry was replaced by the new method's alone (the others' presets
    gone, exit 0), and a folder named tuned.json failed only after every trial: both are refused before the
    engine starts, the file left as it was. An alias and its name are one tuning target."""
    from meanflow.cli import main, tune
    from meanflow.cli.common import targets_from_list

    def no_engine(**_):
        raise AssertionError("a trial started")

    monkeypatch.setattr(tune, "engine_from_env", no_engine)
    kept = tmp_path / "kept"
    kept.mkdir()
    text = '{"format": "meanflow-presets", "methods": {"alphaflow": {"fields": {}, "options": {"gamma": -5}}}}'
    (kept / "tuned.json").write_text(text)
    (tmp_path / "dir" / "tuned.json").mkdir(parents=True)
    (tmp_path / "afile").write_text("mine")
    for out, said in (
        ("kept", "keeps the others'"),
        ("dir", "is not a file"),
        ("afile", "is a file; expected a folder"),
        ("afile/sub", "is a file, not a folder"),
    ):
        assert (
            main(["tune", "--method", "meanflow", "--trials", "1", "--seconds", "1", "--out", str(tmp_path / out)]) == 2
        )
        assert said in capsys.readouterr().err
    assert (kept / "tuned.json").read_text() == text and (tmp_path / "afile").read_text() == "mine"
    assert [t.name for t in targets_from_list("moons,crescent,8gaussians,8gaussians")] == ["moons", "8gaussians"]


@pytest.mark.parametrize("delay", [0.5, 2.0, 3.5])
def test_ctrl_c_while_train_starts_is_one_line_and_130(delay, tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal or `timeout -s INT` sends it) while torch
    imports or the worker starts printed KeyboardInterrupt tracebacks from the worker and the CLI and exited
    1 ('worker lost') or 130 by chance. Workers now have a session of their own and the CLI stops the job:
    130, no traceback; a run stopped before its first step is refused by `sample`."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    out = tmp_path / "run"
    command = [sys.executable, "-m", "meanflow", "train", "--method", "meanflow", "--target", "moons"]
    proc = subprocess.Popen(
        [*command, "--max-seconds", "3", "--steps", "100000", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of this test's own, signalled as a terminal would
    )
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # 130, or (once in CI, the signal inside interpreter start-up, after the one line) ended by SIGINT itself,
    # which a shell reports as 130 too; never 1 ('worker lost'), never a traceback
    assert proc.returncode in (130, -signal.SIGINT) and "Traceback" not in err, err
    config = out / "config.json"
    if config.is_file() and json.loads(config.read_text()).get("step") == 0:
        result = run_cli("sample", out, "--nfe", 1, "--n", 5, "--out", tmp_path / "s.npy")
        assert result.returncode == 2 and "before its first training step" in result.stderr


def test_a_plain_kill_stops_and_saves_a_run_as_ctrl_c_does(tmp_path):
    """SIGTERM (`kill PID`, `timeout`, a scheduler) to the command alone killed it at once: exit 143, no last
    line, the folder left 'running' with its writer lock, and up to a checkpoint interval of training lost.
    It now stops the job as Ctrl-C does: 130, 'stopped at step N', the lock released, the state saved."""
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = tmp_path / "run"
    command = [sys.executable, "-m", "meanflow", "train", "--method", "flow-matching", "--target", "moons"]
    proc = subprocess.Popen(
        [*command, "--steps", "1000000", "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    for line in proc.stderr:  # until a step has been made
        if line.startswith("step ") and not line.startswith("step 0/"):
            break
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130 and "Traceback" not in err, err
    assert "stopped at step" in err and "saved" in err, err
    assert not (out / "writer.lock").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["state"] == "stopped" and config["step"] > 0, config


def test_a_reader_that_leaves_early_is_no_input_error():
    """`meanflow methods | true` printed "error: [Errno 32] Broken pipe" and exited 2, the bad-input code."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes
    try:
        result = subprocess.run(
            [sys.executable, "-m", "meanflow", "methods"], cwd=ROOT, stdout=write, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write)
    assert result.returncode == 1 and result.stderr == b""


def test_sample_counts_the_rows_evaluate_would_refuse():
    """The bundled MeanFlow digits run at 32 steps ran away in a few of 10,000 samples (NaN, 1e27) and
    sample said nothing; it now warns with unscorable's count."""
    from meanflow.cli.common import unscorable

    x = np.zeros((5, 2))
    x[1, 0], x[2, 1], x[3, 0] = np.nan, np.inf, 1e27
    assert unscorable(x) == 3 and unscorable(np.zeros((4, 64))) == 0
