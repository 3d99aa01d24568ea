"""Settings checked at the door: every MEANFLOW_* variable is validated where it is read, with a message
naming it and the values accepted; an unreachable Ray address gives up within its stated time."""

import socket
import time

import pytest

from meanflow.engine import env
from meanflow.engine.ray_pool import RayUnreachable, check_reachable
from tests.conftest import run_cli

MALFORMED = [
    ("MEANFLOW_MAX_JOBS", "two", "a whole number"),
    ("MEANFLOW_MAX_JOBS", "0", "a whole number"),
    ("MEANFLOW_SESSION_RUNNING", "-1", "a whole number"),
    ("MEANFLOW_COMPUTE_BUDGET", "lots", "a positive number"),
    ("MEANFLOW_MEMORY_LIMIT_GB", "inf", "a positive number"),
    ("MEANFLOW_RAY_TIMEOUT", "-3", "a positive number"),
    ("MEANFLOW_LIBRARY", "public", "private or shared"),
    ("MEANFLOW_PIN_CORES", "yes", "1 (pin) or 0"),
    ("MEANFLOW_WORKER_NICE", "-99", "from -20 to 19"),
]


@pytest.mark.parametrize("name, value, expected", MALFORMED, ids=[f"{m[0]}={m[1]}" for m in MALFORMED])
def test_a_malformed_variable_is_refused_by_name_with_the_values_accepted(name, value, expected, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(env.EnvError) as refused:
        env.check()
    assert name in str(refused.value) and expected in str(refused.value) and repr(value) in str(refused.value)


def test_unset_or_empty_variables_take_their_defaults(monkeypatch):
    for v in env.VARIABLES:
        monkeypatch.delenv(v.name, raising=False)
    monkeypatch.setenv("MEANFLOW_MAX_JOBS", "")
    env.check()
    assert env.max_jobs(3) == 3 and env.ray_timeout() == env.DEFAULT_RAY_TIMEOUT and env.library_mode() == "private"


def test_a_worker_keeps_the_servers_priority_unless_the_variable_names_one(monkeypatch):
    """Workers above the server (niceness -5, the old default) starved the pages of a busy machine while two
    runs trained (CI's browser tests): unset, a worker leaves its priority alone; set, it asks for it."""
    from meanflow.engine import local_worker

    asked = []
    monkeypatch.setattr(local_worker.os, "setpriority", lambda which, who, nice: asked.append(nice))
    monkeypatch.delenv("MEANFLOW_WORKER_NICE", raising=False)
    local_worker.take_priority()
    assert env.worker_nice() is None and asked == []
    monkeypatch.setenv("MEANFLOW_WORKER_NICE", "3")
    local_worker.take_priority()
    assert asked == [3]


def test_a_runs_dir_that_is_a_file_is_refused(tmp_path, monkeypatch):
    """Failure 8: MEANFLOW_RUNS_DIR naming a file showed a raw NotADirectoryError with server paths."""
    not_a_folder = tmp_path / "runs.txt"
    not_a_folder.write_text("x")
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(not_a_folder))
    with pytest.raises(env.EnvError, match="MEANFLOW_RUNS_DIR=.* a folder"):
        env.runs_dir()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the socket is: nothing listens there


def test_an_address_where_nothing_listens_gives_up_at_once_naming_it():
    port = _closed_port()
    start = time.monotonic()
    with pytest.raises(RayUnreachable, match=f"127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}", 10.0)
    assert time.monotonic() - start < 10


def test_an_address_that_never_answers_gives_up_after_the_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # a full backlog: further connections wait unanswered
    fillers = []
    try:
        port = listener.getsockname()[1]
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        start = time.monotonic()
        try:
            check_reachable(f"127.0.0.1:{port}", 0.5)
        except RayUnreachable as exc:
            assert "within 0.5 s" in str(exc)
        assert time.monotonic() - start < 5  # bounded either way: refused, timed out, or accepted
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.mark.slow
def test_the_cli_exits_2_naming_a_dead_ray_address_and_a_malformed_variable(tmp_path):
    """Failure 7: with MEANFLOW_RAY_ADDRESS at a port where nothing listens, `train` still hung at 60 s."""
    port = _closed_port()
    args = ["train", "--method", "meanflow", "--target", "moons", "--steps", "20", "--out", str(tmp_path / "r")]
    for variable, value, fragment in (
        ("MEANFLOW_RAY_ADDRESS", f"127.0.0.1:{port}", f"cannot reach the Ray cluster at 127.0.0.1:{port}"),
        ("MEANFLOW_MAX_JOBS", "many", "MEANFLOW_MAX_JOBS='many' is not accepted"),
    ):
        result = run_cli(*args, timeout=60, env={variable: value})
        assert result.returncode == 2 and fragment in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "r").exists()
