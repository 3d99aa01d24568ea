"""A local worker process: `python -m meanflow.engine.local_worker COMMANDS_FD EVENTS_FD`.

Started by engine.local.LocalPool. It runs one job at a time from its command pipe and reports on its
event pipe. A listener thread reads commands while the main thread trains, so a stop arrives within a
step. When the server goes away (EOF on the commands), the worker exits: its run keeps its last
checkpoint.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from multiprocessing.connection import Connection

from ..core.registry import make_config
from ..core.targets import get_target
from ..core.training import run_training
from . import env
from .protocol import Exit, StartJob, StopJob, WorkerReady
from .worker import run_job

# The pairing thread (training.Batches) and the training loop share the GIL; with the default 5 ms
# switch interval each hand-over can wait that long. This process is a worker's own.
WORKER_SWITCH_SECONDS = 0.0005


def take_priority() -> None:
    """Ask for the niceness `MEANFLOW_WORKER_NICE` names, if set. By default a worker keeps the server's
    priority: a worker above it (-5) gave runs 0.82 of their core under load instead of 0.73, but on a
    busy machine two such runs starved the pages (benchmarks/RESULTS.md, "The job engine: training off the
    server"). Below 0 takes effect only where allowed (root, or CAP_SYS_NICE)."""
    nice = env.worker_nice()  # its parent checked the variable (env.check) before it started
    if nice is None:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except (PermissionError, OSError):
        pass  # not allowed here: the worker keeps its parent's priority


def pin_core() -> None:
    """Keep this worker, its pairing thread included, on the core its pool chose (when pinning is on):
    each run of a benchmark gets the same single core whatever runs beside it."""
    cpu = env.worker_cpu()
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        pass  # no such core here: the worker keeps every core


class Commands:
    """The command pipe, read by a thread of its own: jobs to start, and stop requests (kept by job id:
    one may arrive before its job has started here)."""

    def __init__(self, pipe: Connection):
        self.pipe = pipe
        self.jobs: queue.Queue = queue.Queue()
        self.stop = threading.Event()  # the current job should stop
        self._current: str | None = None
        self._stopped: set[str] = set()
        self._lock = threading.Lock()

    def listen(self) -> None:
        while True:
            try:
                command = self.pipe.recv()
            except (EOFError, OSError):
                os._exit(0)  # the server died: nobody will read our results
            match command:
                case StartJob(payload=payload):
                    with self._lock:  # a stop sent before this start was for an earlier job in the same folder
                        self._stopped.discard(payload.job_id)
                    self.jobs.put(payload)
                case StopJob(job_id=job_id):
                    with self._lock:
                        self._stopped.add(job_id)
                        if job_id == self._current:
                            self.stop.set()
                case Exit():
                    os._exit(0)

    def begin(self, job_id: str) -> None:
        """The worker takes `job_id`: a stop that came while it was on its way ends it at its first check."""
        with self._lock:
            self._current = job_id
            self.stop.clear()
            if job_id in self._stopped:
                self._stopped.discard(job_id)
                self.stop.set()

    def end(self) -> None:
        with self._lock:
            self._current = None


def warm_up() -> None:
    """A few steps of MeanFlow (its tangent pass and OT pairing) and of flow matching on a tiny network,
    before the first job: a fresh process's first steps pay for torch's and scipy's first calls (about 2 s
    here, benchmarks/RESULTS.md), which would otherwise be the first visitor's wait. Never fatal."""
    for method in ("meanflow", "flow-matching"):
        try:
            config = make_config(method=method, steps=3, batch=64, hidden=16, depth=2, preview_n=64, threads=1)
            run_training(config, get_target("moons"))
        except Exception:  # a warm-up that fails costs the first job its time, nothing else
            pass


def main(commands_fd: int, events_fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's (or the CLI's) to handle: it stops us
    take_priority()
    pin_core()
    sys.setswitchinterval(WORKER_SWITCH_SECONDS)
    commands = Commands(Connection(commands_fd, writable=False))
    events = Connection(events_fd, readable=False)
    threading.Thread(target=commands.listen, name="commands", daemon=True).start()
    warm_up()
    events.send(WorkerReady())
    while True:
        payload = commands.jobs.get()
        commands.begin(payload.job_id)
        try:
            run_job(payload, events.send, commands.stop.is_set)
        except (BrokenPipeError, OSError):
            os._exit(0)
        commands.end()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
