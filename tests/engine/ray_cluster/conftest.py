"""A two-node Ray cluster on loopback for the session: `ray start --head`, then a second `ray start`.

Only ever run inside the private network namespace tests/engine/test_ray.py makes. Torn down by killing
exactly the processes that carry this cluster's temporary folder in their command line (and their
children): never `ray stop`, which would stop every Ray process on the machine.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from meanflow.engine.jobs import engine_from_env

ROOT = Path(__file__).resolve().parents[3]
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_of(marker: str) -> list[int]:
    """Processes whose command line mentions `marker`, and all their descendants."""
    parents, mine = {}, set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        pid = int(proc.name)
        parents[pid] = ppid
        if marker in cmdline and pid != os.getpid():
            mine.add(pid)
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in mine} - mine
        grew = bool(children)
        mine |= children
    return sorted(mine)


@pytest.fixture(scope="session")
def cluster():
    """'127.0.0.1:PORT' of a head (1 CPU) and a second node (1 CPU)."""
    if os.environ.get("MEANFLOW_IN_NETNS") != "1":
        pytest.skip("run through tests/engine/test_ray.py, inside a network namespace")
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must stay under 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        subprocess.run(
            [RAY, "start", "--head", "--port", str(port), "--temp-dir", temp, "--include-dashboard=false", *common],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        subprocess.run(
            [RAY, "start", "--address", address, *common], check=True, capture_output=True, env=env, timeout=120
        )
        yield address
    finally:
        try:
            import ray

            ray.shutdown()
        except Exception:
            pass
        for pid in _processes_of(temp):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


@pytest.fixture(scope="session")
def ray_engine(cluster):
    engine = engine_from_env(address=cluster)
    yield engine
    engine.close()
