"""A run is safe: a refused command changes nothing, one writer at a time, and no success is claimed that
the disk does not hold. Faults stay inside the test's temporary folders."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from meanflow.cli import main
from meanflow.core import runs
from meanflow.core.registry import make_config
from meanflow.core.targets import get_target
from tests.conftest import ROOT, run_cli, wait_until

pytestmark = pytest.mark.slow  # worker processes and subprocesses

TINY = ["--steps", "40", "--batch", "64", "--hidden", "16", "--depth", "2", "--quiet"]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run (MeanFlow on moons, 40 steps) to copy into each test."""
    out = tmp_path_factory.mktemp("safety") / "run"
    result = run_cli("train", "--method", "meanflow", "--target", "moons", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def other_run(tmp_path_factory):
    """A run of another network (hidden 24): its checkpoint is foreign to `trained`."""
    out = tmp_path_factory.mktemp("safety") / "other"
    result = run_cli("train", "--method", "meanflow", "--target", "moons", *TINY, "--hidden", "24", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def run_copy(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def _edit_config(run: Path, **changes) -> None:
    document = json.loads((run / "config.json").read_text())
    document["config"].update(changes)
    (run / "config.json").write_text(json.dumps(document))


def _damage(run: Path, how: str, other: Path) -> None:
    checkpoint = run / "checkpoint.safetensors"
    if how == "empty checkpoint":
        checkpoint.write_bytes(b"")
    elif how == "truncated checkpoint":
        checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    elif how == "foreign checkpoint":  # another run's, of another network
        checkpoint.write_bytes((other / "checkpoint.safetensors").read_bytes())
    elif how == "a device it lacks":
        _edit_config(run, device="cuda:7")
    elif how == "an absurd thread count":
        _edit_config(run, threads=10**9)
    elif how in EDITED_STATE:  # a checkpoint edited by hand: each part of its state in turn
        _edit_checkpoint(checkpoint, how)


def _edit_checkpoint(path: Path, how: str) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    if how == "optimiser NaN":
        tensors["adam.0.exp_avg"][0] = float("nan")
    elif how == "optimiser shape":
        tensors["adam.0.exp_avg"] = torch.zeros(2, 2)
    elif how == "no optimiser":
        tensors = {k: v for k, v in tensors.items() if not k.startswith("adam.")}
    elif how == "step beyond range":
        metadata["step"] = "99999999"
    elif how == "random state":
        tensors["rng"] = torch.zeros_like(tensors["rng"])
    elif how == "pending rows":
        tensors["pending"] = torch.zeros(3, 9, dtype=torch.float64)
    save_file(tensors, str(path), metadata=metadata)


EDITED_STATE = {  # a hostile probe's edits: each trained on (diverged, rewrote the run as failed) or failed at step 0
    "optimiser NaN": "holds values no optimiser makes",
    "optimiser shape": "not the network's",
    "no optimiser": "optimiser state is missing",
    "step beyond range": "out of range",
    "random state": "random state 'rng'",
    "pending rows": "pending steps have shape",
}


RESUME_FAULTS = [
    ("empty checkpoint", "is empty"),
    ("truncated checkpoint", "not a valid checkpoint"),
    ("foreign checkpoint", "not this run's checkpoint"),
    ("a device it lacks", "cuda"),
    ("an absurd thread count", "threads"),
    *EDITED_STATE.items(),
]


@pytest.mark.parametrize("how, fragment", RESUME_FAULTS, ids=[f[0] for f in RESUME_FAULTS])
def test_a_resume_that_cannot_start_exits_2_and_changes_nothing(how, fragment, run_copy, other_run):
    """Failures 5 and 6: an empty checkpoint was taken for none (training from step 0 over the weights),
    and a resume failing at its start wiped config.json and metrics.csv and exited 1."""
    _damage(run_copy, how, other_run)
    before = folder_bytes(run_copy)
    result = run_cli("resume", run_copy, "--steps", "80")
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert folder_bytes(run_copy) == before


TRAIN_FAULTS = [
    (["--method", "reflow"], "needs a teacher run"),
    (["--method", "reflow", "--teacher", "OUT"], "is the folder this run would be written to"),
    (["--method", "reflow", "--teacher", "MISSING"], "cannot be used"),
    (["--method", "meanflow", "--preset", "MISSING"], "--preset"),
]


@pytest.mark.parametrize("args, fragment", TRAIN_FAULTS, ids=["no teacher", "teacher is out", "bad teacher", "preset"])
def test_train_over_an_existing_run_checks_every_input_before_it_touches_the_folder(args, fragment, run_copy, tmp_path):
    """Failure 2: a late-checked argument (a missing --teacher) deleted the run's weights, checkpoint and
    metrics before exiting 2; the same with --out the teacher itself."""
    args = [str(run_copy) if a == "OUT" else str(tmp_path / "nope") if a == "MISSING" else a for a in args]
    before = folder_bytes(run_copy)
    result = run_cli("train", *args, "--target", "moons", *TINY, "--out", run_copy)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert folder_bytes(run_copy) == before


def _failing_writes(monkeypatch, when, error: OSError) -> list[str]:
    """Make run-folder writes in this process fail where when(path) says so; returns the paths refused."""
    refused, real = [], runs.write_atomic

    def write(path, data):
        if when(Path(path)):
            refused.append(str(path))
            raise error
        real(path, data)

    monkeypatch.setattr(runs, "write_atomic", write)
    return refused


def _long_job(engine, tmp_path, name="run"):
    config = replace(
        make_config(method="meanflow", steps=10**6, batch=64, hidden=16, depth=2, seed=1),
        max_seconds=60.0,
        checkpoint_seconds=0.2,
    )
    run_dir = tmp_path / name
    job = engine.submit(config, get_target("moons"), run_dir, check_budget=False)
    wait_until(lambda: (run_dir / "checkpoint.safetensors").is_file(), 60, "the first checkpoint")
    return job, run_dir


def test_a_full_disk_stops_the_run_at_once_and_says_so(engine, tmp_path, monkeypatch):
    """Failure 3: with the disk full mid-run, training went on for its whole budget and 'saved' was printed."""
    job, run_dir = _long_job(engine, tmp_path)
    landed = runs.read_checkpoint(run_dir).step
    refused = _failing_writes(monkeypatch, lambda p: True, OSError(errno.ENOSPC, "No space left on device"))
    snap = engine.wait(job, 30)
    assert snap.state == "failed" and "could not save" in snap.message and "No space left" in snap.message
    assert snap.elapsed < 30  # stopped at once, not at the end of its 60 s
    assert refused
    monkeypatch.undo()
    checkpoint = runs.read_checkpoint(run_dir)  # the last checkpoint that landed is whole and resumable
    assert checkpoint.step >= landed
    info = runs.read_info(run_dir)
    assert info.state == "interrupted" and info.resumable and not info.writer  # the truth on disk; lock released


def test_a_folder_removed_mid_run_fails_the_run_and_is_not_made_again(engine, tmp_path):
    job, run_dir = _long_job(engine, tmp_path)
    while run_dir.exists():  # the engine may be writing a checkpoint into it at this moment: remove again
        shutil.rmtree(run_dir, ignore_errors=True)
    snap = engine.wait(job, 30)
    assert snap.state == "failed" and "could not save" in snap.message
    assert not run_dir.exists()


def test_the_cli_exits_1_naming_the_folder_when_its_checkpoints_cannot_be_written(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _failing_writes(monkeypatch, lambda p: p.name == runs.CHECKPOINT_FILE, OSError(errno.ENOSPC, "No space left"))
    code = main(
        ["train", "--method", "meanflow", "--target", "moons", "--steps", "100000", "--max-seconds", "30"]
        + [
            "--checkpoint-seconds",
            "0.3",
            "--batch",
            "64",
            "--hidden",
            "16",
            "--depth",
            "2",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1, err
    assert (
        "could not save" in err
        and "no weights are saved in" in err
        and str(out) in err
        and "saved " + str(out) not in err
    )
    assert runs.read_info(out).state == "failed" and not (out / runs.WEIGHTS_FILE).exists()


def test_one_writer_per_run_folder_and_a_dead_writers_lock_is_stale(run_copy):
    token = runs.lock_run(run_copy, "test writer")
    with pytest.raises(runs.RunBusy, match="test writer"):
        runs.lock_run(run_copy)
    runs.unlock_run(run_copy, "not-the-token")  # another writer's token releases nothing
    assert runs.run_writer(run_copy)
    runs.unlock_run(run_copy, token)
    assert not runs.run_writer(run_copy) and not (run_copy / runs.WRITER_FILE).exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run_copy / runs.WRITER_FILE).write_text(
        json.dumps({"pid": dead.pid, "host": os.uname().nodename, "command": "gone", "token": "x"})
    )
    assert not runs.run_writer(run_copy)  # its process is dead: stale
    runs.unlock_run(run_copy, runs.lock_run(run_copy))  # taken over


def _race_for_the_lock(folder, barrier, wins) -> None:
    barrier.wait()
    try:
        runs.lock_run(folder, f"racer {os.getpid()}")
    except runs.RunBusy:
        return
    wins.put(os.getpid())
    time.sleep(0.3)  # hold it while the others try


@pytest.mark.parametrize("stale", [False, True])
def test_six_processes_racing_for_one_lock_leave_one_writer(tmp_path, stale):
    """A hostile probe started six lock_run at once: two won in 3 of 15 races (5 of 15 over a dead writer's
    lock), because a lock was made empty and then written, and a stale one checked, then deleted."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for trial in range(8):
        folder = tmp_path / f"race{trial}"
        folder.mkdir()
        if stale:
            (folder / runs.WRITER_FILE).write_text(json.dumps({"pid": 2**22 + 1, "host": os.uname().nodename}))
        barrier, wins = context.Barrier(6), context.Queue()
        racers = [context.Process(target=_race_for_the_lock, args=(folder, barrier, wins)) for _ in range(6)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
        winners = [wins.get(timeout=5) for _ in range(wins.qsize())] if not wins.empty() else []
        assert len(winners) == 1, (trial, winners)


def test_a_second_resume_of_a_run_being_trained_is_refused_and_the_first_writer_wins(run_copy, capsys):
    """Failure 4: two resumes of one run were both accepted and the last writer won silently."""
    first = subprocess.Popen(
        [sys.executable, "-m", "meanflow", "resume", str(run_copy), "--steps", "1000000", "--max-seconds", "60"]
        + ["--quiet"],
        cwd=ROOT,
        start_new_session=True,  # its own process group: the test kills exactly it; its worker (a session of its
        # own) leaves when the resume's command pipe closes
    )
    try:
        wait_until(lambda: runs.read_info(run_copy).state == "running", 60, "the first resume training")
        info = runs.read_info(run_copy)
        assert info.writer and info.state == "running" and not info.resumable  # not 'interrupted': it is live
        assert main(["resume", str(run_copy), "--steps", "2000000", "--quiet"]) == 2
        assert "is being trained by" in capsys.readouterr().err
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # a writer killed outright leaves a stale lock
        first.wait()
    assert not runs.run_writer(run_copy)
    info = runs.read_info(run_copy)
    assert info.state == "interrupted" and info.resumable
    assert main(["resume", str(run_copy), "--steps", str(info.step + 20), "--quiet"]) == 0
    assert runs.read_info(run_copy).state == "done" and not (run_copy / runs.WRITER_FILE).exists()


def test_a_cancelled_resume_leaves_the_folder_as_it_was(run_copy):
    """A resume taken out of the line before it started changes nothing on disk."""
    from meanflow.engine.jobs import Engine
    from meanflow.engine.local import LocalPool

    before = folder_bytes(run_copy)
    info = runs.read_info(run_copy)
    eng = Engine(LocalPool(1))
    try:
        long = replace(info.config, steps=10**6, max_seconds=60.0)
        blocker = eng.submit(long, get_target("moons"), run_copy.parent / "blocker", check_budget=False)
        job = eng.submit(
            replace(info.config, steps=info.step + 40),
            get_target("moons"),
            run_copy,
            resume=(run_copy / runs.CHECKPOINT_FILE).read_bytes(),
            check_budget=False,
        )
        eng.stop(job)
        eng.stop(blocker)
        eng.wait(blocker, 30)
    finally:
        eng.close()
    assert folder_bytes(run_copy) == before


@pytest.mark.parametrize("delay", [1.3, 2.1, 2.9])
def test_kill_9_at_any_moment_of_checkpointing_leaves_a_readable_resumable_run(delay, tmp_path):
    """The writer killed outright while it writes checkpoints every 50 ms: the folder reads, its
    checkpoint is whole (the old one or the new one), its lock is stale, and resume trains on."""
    out = tmp_path / "run"
    writer = subprocess.Popen(
        [sys.executable, "-m", "meanflow", "train", "--method", "meanflow", "--target", "moons"]
        + ["--steps", "1000000", "--max-seconds", "60", "--checkpoint-seconds", "0.05"]
        + ["--batch", "64", "--hidden", "16", "--depth", "2", "--quiet", "--out", str(out)],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: (out / runs.CHECKPOINT_FILE).is_file(), 60, "the first checkpoint")
        time.sleep(delay)
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()
    info = runs.read_info(out)
    assert info.state == "interrupted" and info.resumable and not info.writer
    checkpoint = runs.read_checkpoint(out)
    assert checkpoint.step >= 1
    assert main(["resume", str(out), "--steps", str(checkpoint.step + 20), "--quiet"]) == 0
    assert runs.read_info(out).state == "done"


REFUSED = [
    (["sample", "RUN", "--nfe", "0", "--n", "5", "--out", "OUT/samples.csv", "--force"], {}),
    (["sample", "RUN", "--nfe", "1", "--n", "5", "--out", "OUT/samples.csv"], {}),  # exists, no --force
    (["sweep", "--study", "r-neq-t", "--targets", "nowhere", "--seconds", "1", "--out", "OUT"], {}),
    (["sweep", "--study", "r-neq-t", "--seconds", "1", "--out", "OUT/new"], {"MEANFLOW_MAX_JOBS": "many"}),
    (["tune", "--method", "meanflow", "--targets", "nowhere", "--out", "OUT"], {}),
    (["tune", "--method", "meanflow", "--trials", "2", "--out", "OUT/new"], {"MEANFLOW_PIN_CORES": "maybe"}),
    (["train", "--method", "meanflow", "--target", "moons", "--out", "OUT/new"], {"MEANFLOW_WORKER_NICE": "-99"}),
]


@pytest.mark.parametrize("args, environment", REFUSED, ids=[" ".join(a[:2]) + str(e) for a, e in REFUSED])
def test_every_command_refused_for_bad_input_leaves_its_output_folder_as_it_was(args, environment, trained, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "samples.csv").write_text("x,y\n1,2\n")
    (out / "tuned.json").write_text('{"mine": true}')
    before = folder_bytes(out)
    args = [str(trained) if a == "RUN" else a.replace("OUT", str(out)) for a in args]
    result = run_cli(*args, env=environment)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert folder_bytes(out) == before and sorted(p.name for p in out.iterdir()) == ["samples.csv", "tuned.json"]
