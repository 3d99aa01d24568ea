"""The job engine on a real Ray cluster: a head and a second node on loopback, started by the tests.

Ray replaces a node address of 127.0.0.1 with the machine's own address and listens there, so the
cluster and its tests run inside a private network namespace (`unshare --net`, holding only a
loopback interface): nothing of it is reachable from outside this machine. The tests themselves are
in tests/engine/ray_cluster/ and run in that namespace; this wrapper starts them and shows their output.
Run them alone with `make test-ray`.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# Bring the namespace's loopback up (SIOCSIFFLAGS with IFF_UP | IFF_RUNNING) without needing `ip`.
LOOPBACK_UP = (
    "import fcntl, socket, struct; s = socket.socket(); "
    "fcntl.ioctl(s, 0x8914, struct.pack('16sH14s', b'lo', 0x1 | 0x40, b''))"
)


def _namespace_available() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    probe = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", LOOPBACK_UP], capture_output=True, timeout=60
    )
    if probe.returncode != 0:
        return f"cannot make a network namespace here (needs root): {probe.stderr.decode()[-200:]}"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed"
    return None


def test_the_ray_cluster_suite_passes():
    why = _namespace_available()
    if why:
        pytest.skip(why)
    command = (
        f'{sys.executable} -c "{LOOPBACK_UP}" && '
        f"exec {sys.executable} -m pytest -q -p no:cacheprovider -s tests/engine/ray_cluster"
    )
    # no token files written under ~/.ray: this cluster is reachable from nowhere but its namespace
    env = dict(os.environ, MEANFLOW_IN_NETNS="1", PYTHONUNBUFFERED="1", RAY_AUTH_MODE="disabled")
    result = subprocess.run(
        ["unshare", "--net", "--", "bash", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    print(result.stdout[-8000:], result.stderr[-3000:])
    assert result.returncode == 0, result.stdout[-4000:]
