"""What the command line prints and refuses before any training: `train` following its job (a scripted
engine, no worker) and `bench`'s flags."""

from dataclasses import dataclass

import numpy as np
import pytest

from meanflow.cli import bench, build_parser, common, main
from meanflow.cli.common import EXIT_BAD_INPUT
from meanflow.core.config import empty_history
from meanflow.core.text import error_text
from meanflow.engine.jobs import Snapshot


@dataclass
class ScriptedEngine:
    """Answers wait/snapshot from a list of snapshots, one per call of wait (the last one repeats)."""

    snaps: list

    def wait(self, job_id, timeout=None):
        snap = self.snaps.pop(0) if len(self.snaps) > 1 else self.snaps[0]
        self.now = snap
        return snap

    def snapshot(self, job_id):
        return self.now


def test_the_wait_for_the_first_step_is_printed_once_then_each_step(monkeypatch, capsys):
    clock = iter(range(2, 1000, 2))  # every check is 2 s after the last: each may print
    monkeypatch.setattr(common.time, "monotonic", lambda: float(next(clock)))
    rows = np.zeros(1, dtype=empty_history().dtype)
    starting = [Snapshot(state="running", total_steps=500)] * 5
    moving = [Snapshot(state="running", step=s, total_steps=500, history=rows) for s in (60, 200)]
    done = Snapshot(state="done", step=500, total_steps=500, history=rows)
    engine = ScriptedEngine([Snapshot(state="queued", total_steps=500), *starting, *moving, done])
    assert common._follow(engine, "job", quiet=False) is False
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "step 0/500  waiting for a worker"
    assert lines[1] == "step 0/500  starting the worker"
    assert [line.split()[1] for line in lines[2:]] == ["60/500", "200/500"]


def test_a_resumed_run_says_where_it_goes_on_from_not_step_0(monkeypatch, capsys):
    """`resume` of a run at step 342 printed 'step 0/1500  loss 1.6015  0 steps/s' (the queued job's snapshot
    holds the old history at step 0), then jumped to 343."""
    clock = iter(range(2, 1000, 2))
    monkeypatch.setattr(common.time, "monotonic", lambda: float(next(clock)))
    rows = np.zeros(3, dtype=empty_history().dtype)  # the history before the resume
    queued = Snapshot(state="queued", total_steps=1500, history=rows)
    starting = [Snapshot(state="running", step=342, total_steps=1500, history=rows)] * 3
    moving = Snapshot(state="running", step=600, total_steps=1500, history=rows)
    done = Snapshot(state="done", step=1500, total_steps=1500, history=rows)
    assert common._follow(ScriptedEngine([queued, *starting, moving, done]), "job", False, start=342) is False
    lines = capsys.readouterr().err.splitlines()
    assert lines[:2] == [
        "step 342/1500  resuming: waiting for a worker",
        "step 342/1500  resuming: starting the worker",
    ]
    assert [line.split()[1] for line in lines[2:]] == ["600/1500"]


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--quality", "--hidden", "64"], "--hidden"),
        (["--seeds", "3"], "--seeds"),
        (["--guidance", "--rounds", "3"], "--rounds"),
        (["--quality", "--methods", "all", "--threads", "2"], "--threads"),
        (["--methods", "meanflow", "--targets", "moons"], "--targets"),
        (["--guidance", "--quality"], "--quality"),
    ],
)
def test_bench_refuses_a_flag_its_mode_would_ignore(flags, named, capsys, monkeypatch):
    runners = (
        "main_bench",
        "run_step_benchmark",
        "run_quality_benchmark",
        "run_zoo_benchmark",
        "run_guidance_benchmark",
    )
    for runner in runners:
        monkeypatch.setattr(bench, runner, lambda *a, **k: pytest.fail("a refused bench ran"))
    monkeypatch.setattr(bench, "run_guidance_benchmark", lambda *a, **k: pytest.fail("a refused bench ran"))
    assert main(["bench", *flags]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{named} does nothing with" in err and "which reads" in err


def test_bench_reads_the_flags_of_its_mode():
    parser = build_parser()
    for flags in (
        ["--rounds", "2", "--steps", "5", "--hidden", "8"],
        ["--quality", "--seconds", "1", "--threads", "2"],
    ):
        args = parser.parse_args(["bench", *flags])
        bench.check_flags(args, args.bench_defaults)  # no refusal


def test_an_operating_system_error_reads_as_path_and_cause_without_its_number(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    errors = []
    for make in (lambda: (afile / "a" / "b").mkdir(parents=True), lambda: afile.mkdir(parents=True, exist_ok=True)):
        with pytest.raises(OSError) as caught:
            make()
        errors.append(error_text(caught.value))
    assert errors == [f"{afile} is a file, not a folder", f"{afile} already exists and is a file"]
    with pytest.raises(FileExistsError) as caught:  # an exclusive open of a file that is there: no folder asked
        open(afile, "x")
    assert error_text(caught.value) == f"{afile} already exists and is a file"
    with pytest.raises(OSError) as caught:
        (tmp_path / ("a" * 300)).mkdir()
    assert error_text(caught.value) == f"{tmp_path / ('a' * 300)}: File name too long"
    assert error_text(ValueError("as it was")) == "as it was"


def test_train_into_a_path_under_a_file_says_which_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "run"
    assert main(["train", "--method", "meanflow", "--target", "moons", "--steps", "5", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"meanflow train: error: {tmp_path / 'afile'} is a file, not a folder"


def test_bench_guidance_takes_an_explicit_target_list_as_given(monkeypatch, capsys):
    """--guidance swapped a --targets equal to the quality default (checkerboard,moons,spiral) for its own
    default (8gaussians,moons) without a word; now it is read as given (and spiral, without classes, refused)."""
    asked = []
    monkeypatch.setattr(bench, "engine_from_env", lambda **k: type("E", (), {"close": lambda self: None})())
    monkeypatch.setattr(bench, "format_guidance", lambda rows: "")
    monkeypatch.setattr(bench, "run_guidance_benchmark", lambda targets, *a: asked.append(targets) or [])
    assert main(["bench", "--guidance", "--targets", "checkerboard,moons,spiral"]) == EXIT_BAD_INPUT
    assert "spiral carry no classes" in capsys.readouterr().err and not asked
    assert main(["bench", "--guidance"]) == 0
    assert [t.name for t in asked[0]] == ["8gaussians", "moons"]


def test_bench_with_an_empty_method_list_says_so(capsys):
    assert main(["bench", "--methods", " , "]) == EXIT_BAD_INPUT
    assert "--methods needs 'all' or registry names" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["--quality", "--guidance"])
def test_bench_refuses_an_empty_target_list_instead_of_taking_the_default(mode, capsys, monkeypatch):
    for runner in ("run_quality_benchmark", "run_guidance_benchmark"):
        monkeypatch.setattr(bench, runner, lambda *a, **k: pytest.fail("an empty list ran the defaults"))
    monkeypatch.setattr(bench, "engine_from_env", lambda **k: type("E", (), {"close": lambda self: None})())
    assert main(["bench", mode, "--targets", ""]) == EXIT_BAD_INPUT


def test_a_path_of_the_wrong_kind_is_named_so_not_not_found(tmp_path, capsys):
    """A file given for a run folder, or a folder for a sample or data file, read as 'not found'."""
    afile = tmp_path / "s.npy"
    afile.write_text("x")
    run = ["--nfe", "1", "--n", "5", "--out", str(tmp_path / "o.npy")]
    for command, said in (
        (["sample", str(afile), *run], f"run folder '{afile}' is a file, not a folder"),
        (["resume", str(afile)], f"run folder '{afile}' is a file, not a folder"),
        (["evaluate", str(tmp_path), "--target", "moons"], f"sample file '{tmp_path}' is a folder, not a file"),
        (
            ["train", "--method", "meanflow", "--target-file", str(tmp_path), "--out", str(tmp_path / "r")],
            f"data file '{tmp_path}' is a folder, not a file",
        ),
        (["resume", str(tmp_path / "nothing")], "not found"),
        (["evaluate", "/dev/null", "--target", "moons"], "sample file '/dev/null' is not a regular file"),
    ):
        assert main(command) == EXIT_BAD_INPUT
        assert said in capsys.readouterr().err, command


def test_sample_says_what_it_wrote(tmp_path, capsys):
    """It printed nothing at all on success (and made missing folders without a word)."""
    from meanflow.core.paths import pretrained_dir

    out = tmp_path / "new" / "s.csv"
    assert main(["sample", str(pretrained_dir() / "meanflow-moons"), "--nfe", "2", "--n", "7", "--out", str(out)]) == 0
    assert capsys.readouterr().err == f"wrote 7 samples (2 steps, seed 0) to {out}\n"
    assert len(out.read_text().splitlines()) >= 7


def test_tune_names_a_lever_the_method_refuses_and_does_not_claim_it(tmp_path, monkeypatch, capsys):
    """`tune --method flow-matching --also critic` said 'critic searched too' and wrote it into the preset,
    though flow matching refuses the critic and nothing of it was searched."""
    from types import SimpleNamespace

    from meanflow.cli import tune

    seen = []

    def tuner(method, protocol, *rest):
        seen.append(protocol)
        raise KeyboardInterrupt

    monkeypatch.setattr(tune, "engine_from_env", lambda **k: SimpleNamespace(max_running=1, close=lambda: None))
    monkeypatch.setattr(tune, "Tuner", tuner)
    command = ["tune", "--trials", "1", "--seconds", "1", "--out", str(tmp_path / "t")]
    main([*command, "--method", "flow-matching", "--also", "critic"])
    assert "critic does not apply to flow-matching; not searched" in capsys.readouterr().err
    main([*command, "--method", "meanflow", "--also", "critic"])
    assert "does not apply" not in capsys.readouterr().err
    assert [p.also for p in seen] == [(), ("critic",)]


def test_an_unreachable_address_flag_is_named_as_the_flag(tmp_path, monkeypatch, capsys):
    """`sweep --address 127.0.0.1:1` advised to 'fix MEANFLOW_RAY_ADDRESS, or unset it', a variable the user
    never set."""
    import socket

    with socket.socket() as free:  # a port nothing listens on: bound, never listening
        free.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{free.getsockname()[1]}"
        monkeypatch.delenv("MEANFLOW_RAY_ADDRESS", raising=False)
        command = ["sweep", "--study", "tangent", "--seeds", "1", "--steps", "10", "--out", str(tmp_path / "s")]
        assert main([*command, "--address", address]) == EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert f"cannot reach the Ray cluster at {address}" in err and "fix --address, or leave it out" in err, err
        monkeypatch.setenv("MEANFLOW_RAY_ADDRESS", address)
        assert main(command) == EXIT_BAD_INPUT
        assert "fix MEANFLOW_RAY_ADDRESS, or unset it" in capsys.readouterr().err


def test_version_prints_the_installed_version(capsys):
    """`python -m meanflow --version` answered 'the following arguments are required: command'."""
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert (
        done.value.code == 0
        and capsys.readouterr().out.strip() == f"python -m meanflow {version('meanflow-playground')}"
    )
