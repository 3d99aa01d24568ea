"""Every MEANFLOW_* environment variable: read here and nowhere else.

`VARIABLES` is the table of them (name, default, meaning); the README's table lists the same and a
test keeps the two equal. Each reader returns the variable's value when it is set, else the default;
a malformed value raises EnvError, whose message names the variable and the values accepted (never a
traceback, never a silent fallback). `check()` reads them all at once: the CLI and the server call it
before anything starts.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Variable:
    name: str
    default: str  # in words, as the README's table shows it
    meaning: str


DEFAULT_RUNS_DIR = Path("runs")
DEFAULT_COMPUTE_BUDGET = 1e11  # the default network (about 50k parameters) at batch 256 trains 600 s
DEFAULT_PAGE_POINTS = 150_000  # the server's memory for one Compare page stays in the low hundreds of MB
DEFAULT_RUN_CACHE = 12
DEFAULT_SESSION_RUNNING = DEFAULT_SESSION_QUEUED = 2
DEFAULT_RAY_TIMEOUT = 10.0  # seconds to reach a Ray cluster before giving up with a message
LIBRARY_MODES = ("private", "shared")

VARIABLES: tuple[Variable, ...] = (
    Variable("MEANFLOW_RUNS_DIR", f"{DEFAULT_RUNS_DIR}/ in the working folder", "where the app and the CLI save runs"),
    Variable("MEANFLOW_RAY_ADDRESS", "unset: local worker processes", "a Ray cluster (HOST:PORT or auto) to train on"),
    Variable("MEANFLOW_RAY_TIMEOUT", f"{DEFAULT_RAY_TIMEOUT:g}", "seconds to reach the Ray cluster before giving up"),
    Variable("MEANFLOW_MAX_JOBS", "the cores (or the cluster's CPUs)", "runs that train at once"),
    Variable("MEANFLOW_SESSION_RUNNING", f"{DEFAULT_SESSION_RUNNING}", "runs one browser session may have training"),
    Variable("MEANFLOW_SESSION_QUEUED", f"{DEFAULT_SESSION_QUEUED}", "runs one browser session may have waiting"),
    Variable("MEANFLOW_COMPUTE_BUDGET", f"{DEFAULT_COMPUTE_BUDGET:g}", "a run's limit on parameters x batch x seconds"),
    Variable("MEANFLOW_MEMORY_LIMIT_GB", "half the machine's memory", "a run's limit on its memory estimate"),
    Variable("MEANFLOW_PAGE_POINTS", f"{DEFAULT_PAGE_POINTS}", "points one page samples and draws per request"),
    Variable("MEANFLOW_RUN_CACHE", f"{DEFAULT_RUN_CACHE}", "loaded runs kept in memory, shared by the sessions"),
    Variable("MEANFLOW_LIBRARY", LIBRARY_MODES[0], "private: a run is listed once shared; shared: every run is listed"),
    Variable("MEANFLOW_PIN_CORES", "unset (sweeps and benchmarks: 1)", "1: each local worker keeps to one core"),
    Variable("MEANFLOW_WORKER_NICE", "unset: the server's", "the niceness local workers ask for (below 0: root only)"),
    Variable("MEANFLOW_WORKER_CPU", "set by the pool", "the core a pinned worker keeps to (set for each worker)"),
)
NAMES = frozenset(v.name for v in VARIABLES)


class EnvError(ValueError):
    """A MEANFLOW_* variable with a value this program does not accept; the message says which and why."""


def _raw(name: str) -> str | None:
    assert name in NAMES, f"{name} is not in env.VARIABLES"  # every variable is listed (and documented)
    value = os.environ.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def _refuse(name: str, raw: str, expected: str) -> EnvError:
    return EnvError(f"{name}={raw[:60]!r} is not accepted: expected {expected} (or leave it unset)")


def _positive_int(name: str, default: int) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        raise _refuse(name, raw, "a whole number from 1 to 1,000,000")
    return value


def _positive_float(name: str, default: float) -> float:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise _refuse(name, raw, "a positive number")
    return value


def runs_dir() -> Path:
    """Where runs are saved: $MEANFLOW_RUNS_DIR, else runs/ in the working folder (the checkout for `make run`).
    A path that exists and is not a folder is refused."""
    raw = _raw("MEANFLOW_RUNS_DIR")
    path = Path(raw) if raw is not None else DEFAULT_RUNS_DIR
    if path.exists() and not path.is_dir():
        raise _refuse("MEANFLOW_RUNS_DIR", str(path), "a folder (made if missing), not a file")
    return path


def ray_address() -> str | None:
    """$MEANFLOW_RAY_ADDRESS (HOST:PORT or auto), or None: local worker processes."""
    return _raw("MEANFLOW_RAY_ADDRESS") or None


def ray_timeout() -> float:
    """Seconds to reach the Ray cluster before giving up with a message ($MEANFLOW_RAY_TIMEOUT)."""
    return _positive_float("MEANFLOW_RAY_TIMEOUT", DEFAULT_RAY_TIMEOUT)


def max_jobs(default: int) -> int:
    """$MEANFLOW_MAX_JOBS if it is a positive integer, else `default` (the cores, or the cluster's CPUs)."""
    return _positive_int("MEANFLOW_MAX_JOBS", default)


def session_running() -> int:
    return _positive_int("MEANFLOW_SESSION_RUNNING", DEFAULT_SESSION_RUNNING)


def session_queued() -> int:
    return _positive_int("MEANFLOW_SESSION_QUEUED", DEFAULT_SESSION_QUEUED)


def compute_budget() -> float:
    """The per-run limit on parameters x batch x seconds."""
    return _positive_float("MEANFLOW_COMPUTE_BUDGET", DEFAULT_COMPUTE_BUDGET)


def memory_limit_bytes() -> float:
    """A run's memory limit: $MEANFLOW_MEMORY_LIMIT_GB, else half of this machine's memory."""
    gigabytes = _positive_float("MEANFLOW_MEMORY_LIMIT_GB", math.nan)  # nan: unset
    if math.isfinite(gigabytes):
        return gigabytes * 2**30
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def page_points() -> int:
    return _positive_int("MEANFLOW_PAGE_POINTS", DEFAULT_PAGE_POINTS)


def run_cache_size() -> int:
    return _positive_int("MEANFLOW_RUN_CACHE", DEFAULT_RUN_CACHE)


def library_mode() -> str:
    """'private' (a run is listed once its owner shares it) or 'shared' (every run, a classroom server)."""
    mode = _raw("MEANFLOW_LIBRARY")
    if mode is None:
        return LIBRARY_MODES[0]
    if mode not in LIBRARY_MODES:
        raise _refuse("MEANFLOW_LIBRARY", mode, " or ".join(LIBRARY_MODES))
    return mode


def pin_cores(default: bool = False) -> bool:
    """Whether each local worker keeps to one core: $MEANFLOW_PIN_CORES ('1' yes, anything else no), else
    `default` (sweeps and benchmarks pass True: every run of theirs gets exactly one core)."""
    raw = _raw("MEANFLOW_PIN_CORES")
    if raw is None:
        return default
    if raw not in ("0", "1"):
        raise _refuse("MEANFLOW_PIN_CORES", raw, "1 (pin) or 0 (do not)")
    return raw == "1"


def worker_nice() -> int | None:
    """The niceness a local worker asks for, in [-20, 19]; None: it keeps its parent's. Unset by default:
    workers above the server (-5, the default before) starved the pages of a busy machine while two runs
    trained (benchmarks/RESULTS.md, "The job engine: training off the server")."""
    raw = _raw("MEANFLOW_WORKER_NICE")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 99
    if not -20 <= value <= 19:
        raise _refuse("MEANFLOW_WORKER_NICE", raw, "a whole number from -20 to 19")
    return value


def worker_cpu() -> int | None:
    """The core this worker keeps to, as its pool set it (None: every core)."""
    try:
        return int(_raw("MEANFLOW_WORKER_CPU") or "")
    except ValueError:
        return None


def check() -> None:
    """Read every variable a person sets, so a malformed one is refused (EnvError) before anything starts."""
    runs_dir()
    ray_timeout()
    max_jobs(1)
    session_running()
    session_queued()
    compute_budget()
    memory_limit_bytes()
    page_points()
    run_cache_size()
    library_mode()
    pin_cores()
    worker_nice()


def worker_environment(cpu: int | None, pythonpath: str) -> dict[str, str]:
    """The environment a local worker process starts with: this one's, the package on its path, and
    the core it keeps to (when pinned). A pinned worker's numerical libraries start one thread each: their
    pools are made when numpy and torch load, before the worker pins itself, and would keep every core
    (OpenBLAS's threads for the pairing's 64-dimensional cost matrices took half the other worker's core:
    benchmarks/RESULTS.md, "Beyond 2D")."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([pythonpath] + os.environ.get("PYTHONPATH", "").split(os.pathsep))
    if cpu is not None:
        environment["MEANFLOW_WORKER_CPU"] = str(cpu)
        environment.update(dict.fromkeys(ONE_THREAD, "1"))
    return environment


ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # a pinned worker's library pools
