"""Where jobs train: worker processes on this machine (LocalPool) or actors on a Ray cluster (RayPool).

Both pools give the engine (jobs.py) the same small surface:
    size; ready(slot); start(slot, payload); stop(slot, job_id); poll(timeout) -> [(slot, message)];
    restart(slot); close()
A message is (kind, job_id, data) with kind started | progress | checkpoint | ended | error, and
`lost` when a worker died under its job. Messages carry plain data only: numpy arrays, dataclasses
of them, and safetensors bytes for weights and checkpoints (never torch objects, never file paths).

`run_job` is the one function both kinds of worker run: it rebuilds the config and the target from
the payload, sets the worker's own thread count, and trains with training.run_training.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path

from ..core.config import TrainConfig

# A worker finds its server gone (EOF on its command pipe) and exits; this many seconds bound how
# long a lost server's run keeps a core busy before its worker notices.
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the meanflow package (Ray ships it to every node)


# ---------------------------------------------------------------- the job, on whichever worker


def run_job(payload: dict, send: Callable[[tuple], None], should_stop: Callable[[], bool]) -> None:
    """Train the job in `payload` in this process, sending its messages with `send`."""
    import torch

    from ..core import runs
    from ..core.training import run_training

    job_id = payload["job_id"]
    try:
        config = TrainConfig.from_dict(payload["config"])
        target = payload["target"].build()
        resume = runs.checkpoint_from_bytes(payload["resume"]) if payload.get("resume") else None
        torch.set_num_threads(config.threads)  # this worker's own process: nobody else's setting
    except Exception as exc:  # a bad job is reported, the worker lives on
        send(("error", job_id, {"message": f"{type(exc).__name__}: {exc}"}))
        return

    def on_checkpoint(ckpt) -> None:
        send(
            (
                "checkpoint",
                job_id,
                {
                    "bytes": runs.checkpoint_bytes(ckpt),
                    "step": ckpt.step,
                    "elapsed": ckpt.elapsed,
                    "history": ckpt.history,
                },
            )
        )

    try:
        result = run_training(
            config,
            target,
            resume=resume,
            extras=payload.get("extras") or {},
            should_stop=should_stop,
            on_start=lambda: send(("started", job_id, {})),
            on_progress=lambda p: send(("progress", job_id, p)),
            on_checkpoint=on_checkpoint,
        )
    except Exception as exc:
        send(("error", job_id, {"message": f"{type(exc).__name__}: {exc}"}))
        return
    ckpt = result.checkpoint
    send(
        (
            "ended",
            job_id,
            {
                "state": result.state,
                "message": result.message,
                "step": result.step,
                "elapsed": result.elapsed,
                "steps_per_sec": result.steps_per_sec,
                "history": result.history,
                "preview": result.preview,
                "weights": runs.weights_bytes(ckpt.weights) if ckpt is not None else None,
                "checkpoint": runs.checkpoint_bytes(ckpt) if ckpt is not None else None,
            },
        )
    )


# ---------------------------------------------------------------- local worker processes


def _local_worker(commands: Connection, events: Connection) -> None:
    """A worker process: runs one job at a time from `commands`, reports on `events`.

    A listener thread reads commands while the main thread trains, so a stop arrives within a step.
    When the server goes away (EOF on commands), the worker exits: its run keeps its last checkpoint.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's (or the CLI's) to handle: it stops us
    _take_priority()
    _pin_core()
    # The pairing thread (training.Batches) and the training loop share the GIL; with the default 5 ms
    # switch interval each hand-over can wait that long. This process is a worker's own.
    sys.setswitchinterval(WORKER_SWITCH_SECONDS)
    jobs: queue.Queue = queue.Queue()
    stop = threading.Event()
    current = {"id": None}
    stopped: set[str] = set()  # stop requests, kept: one may come before its job has started here
    lock = threading.Lock()

    def listen() -> None:
        while True:
            try:
                kind, data = commands.recv()
            except (EOFError, OSError):
                os._exit(0)  # the server died: nobody will read our results
            if kind == "start":
                with lock:  # a stop sent before this start was for an earlier job in the same run folder
                    stopped.discard(data["job_id"])
                jobs.put(data)
            elif kind == "stop":
                with lock:
                    stopped.add(data)
                    if data == current["id"]:
                        stop.set()
            elif kind == "exit":
                os._exit(0)

    threading.Thread(target=listen, name="commands", daemon=True).start()

    from ..core import training  # noqa: F401

    events.send(("ready", None, {}))
    while True:
        payload = jobs.get()
        with lock:
            current["id"] = payload["job_id"]
            stop.clear()
            if payload["job_id"] in stopped:  # stopped while on its way here: it ends at its first check
                stopped.discard(payload["job_id"])
                stop.set()
        try:
            run_job(payload, events.send, stop.is_set)
        except (BrokenPipeError, OSError):
            os._exit(0)
        current["id"] = None


# Runs have wall-clock budgets, so a step lost to the web server or a browser on the same machine is
# a step the run never makes; UI work can wait a few milliseconds instead. Workers ask for this
# niceness (lower is more CPU); it takes effect only where allowed (root, or CAP_SYS_NICE) and is
# kept at the parent's otherwise. Measured: benchmarks/RESULTS.md, "Training beside the UI".
DEFAULT_WORKER_NICE = -5
WORKER_SWITCH_SECONDS = 0.0005


def _take_priority() -> None:
    try:
        wanted = int(os.environ.get("MEANFLOW_WORKER_NICE", DEFAULT_WORKER_NICE))
        os.setpriority(os.PRIO_PROCESS, 0, max(-20, min(19, wanted)))
    except (ValueError, PermissionError, OSError):
        pass  # not allowed here: the worker keeps its parent's priority


def _pin_core() -> None:
    """With $MEANFLOW_WORKER_CPU set (by a pool with pinning on), keep this worker, its pairing thread
    included, on that one core: each run of a benchmark gets the same single core whatever runs beside
    it (unpinned, a run beside one that pairs nothing got more than a core)."""
    cpu = os.environ.get("MEANFLOW_WORKER_CPU")
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        os.sched_setaffinity(0, {int(cpu)})
    except (ValueError, OSError):
        pass  # no such core here: the worker keeps every core


def pin_cores_requested() -> bool:
    """$MEANFLOW_PIN_CORES=1: local workers each keep to one core (fair wall-clock budgets in sweeps)."""
    return os.environ.get("MEANFLOW_PIN_CORES", "") == "1"


class LocalPool:
    """`size` worker processes on this machine, started at once so the first job starts fast.

    Each is a fresh `python -m meanflow.engine.workers` (not a fork: a server's threads and locks stay
    behind, and not multiprocessing's spawn, which re-runs the parent's main module, e.g.
    Streamlit's), talking over two pipes it inherits.
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"a pool needs at least one worker, got {size}")
        self.size = size
        self._procs: list[subprocess.Popen | None] = [None] * size
        self._exits: list[int | None] = [None] * size  # a pidfd per worker: readable once it has exited
        self._commands: list[Connection | None] = [None] * size
        self._events: list[Connection | None] = [None] * size
        self._jobs: list[str | None] = [None] * size
        self._send_lock = threading.Lock()
        for slot in range(size):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        cmd_read, cmd_write = os.pipe()
        ev_read, ev_write = os.pipe()
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(PACKAGE_DIR.parent)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)),
        )
        if pin_cores_requested():
            cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [slot]
            env["MEANFLOW_WORKER_CPU"] = str(cores[slot % len(cores)])
        proc = subprocess.Popen(
            [sys.executable, "-m", "meanflow.engine.workers", str(cmd_read), str(ev_write)],
            pass_fds=(cmd_read, ev_write),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        os.close(cmd_read)
        os.close(ev_write)
        self._procs[slot] = proc
        self._exits[slot] = os.pidfd_open(proc.pid)
        self._commands[slot] = Connection(cmd_write, readable=False)
        self._events[slot] = Connection(ev_read, writable=False)

    def pid(self, slot: int) -> int | None:
        proc = self._procs[slot]
        return None if proc is None else proc.pid

    def ready(self, slot: int) -> bool:
        return self._procs[slot] is not None

    def start(self, slot: int, payload: dict) -> None:
        self._jobs[slot] = payload["job_id"]
        self._send(slot, ("start", payload))

    def stop(self, slot: int, job_id: str) -> None:
        self._send(slot, ("stop", job_id))

    def _send(self, slot: int, message: tuple) -> None:
        with self._send_lock:
            try:
                self._commands[slot].send(message)
            except (OSError, ValueError):
                pass  # a dead worker: poll() reports it as lost

    def poll(self, timeout: float) -> list[tuple[int, tuple]]:
        """Messages from every worker that has any, and `lost` for workers that died under a job."""
        conns = {id(c): i for i, c in enumerate(self._events) if c is not None}
        exits = {fd: i for i, fd in enumerate(self._exits) if fd is not None}
        ready = wait([c for c in self._events if c is not None] + list(exits), timeout)
        messages, dead = [], []
        for obj in ready:
            if isinstance(obj, int):
                dead.append(exits[obj])
                continue
            slot = conns[id(obj)]
            try:
                while obj.poll():
                    messages.append((slot, obj.recv()))
            except (EOFError, OSError):
                dead.append(slot)
        out = []
        for slot, message in messages:
            if message[0] == "ready":
                continue
            if message[0] in ("ended", "error"):
                self._jobs[slot] = None
            out.append((slot, message))
        for slot in set(dead):
            job_id = self._jobs[slot]
            self._jobs[slot] = None
            if job_id is not None:
                out.append((slot, ("lost", job_id, {})))
            else:
                self.restart(slot)  # an idle worker died: replace it quietly
        return out

    def restart(self, slot: int) -> None:
        self._end(slot, kill=True)
        self._spawn(slot)

    def _end(self, slot: int, kill: bool) -> None:
        proc = self._procs[slot]
        if proc is None:
            return
        if kill and proc.poll() is None:
            proc.kill()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for conn in (self._commands[slot], self._events[slot]):
            if conn is not None:
                conn.close()
        os.close(self._exits[slot])
        self._procs[slot] = self._commands[slot] = self._events[slot] = self._exits[slot] = None

    def close(self) -> None:
        for slot in range(self.size):
            if self._procs[slot] is not None:
                self._send(slot, ("exit", None))
                self._end(slot, kill=False)


# ---------------------------------------------------------------- Ray tasks


def _ray_classes():
    """The Ray pieces, defined when a RayPool is made (so importing this module never imports Ray).

    A job is a Ray task holding one CPU while it trains: the cluster's CPUs are free for other
    drivers (another server, a sweep from the command line) whenever nothing trains. The task
    reports through a `Mailbox` actor of this pool (no CPU) that also carries stop requests.
    """
    import ray

    @ray.remote(num_cpus=0, max_restarts=0)
    class Mailbox:
        def __init__(self):
            self._messages: list = []
            self._stopped: set[str] = set()

        def put(self, message) -> None:
            self._messages.append(message)

        def take(self) -> list:
            out, self._messages = self._messages, []
            return out

        def stop(self, job_id: str) -> None:
            self._stopped.add(job_id)

        def forget(self, job_id: str) -> None:
            """A new job in the same run folder: earlier stop requests were not for it."""
            self._stopped.discard(job_id)

        def stopped(self, job_id: str) -> bool:
            return job_id in self._stopped

    @ray.remote(num_cpus=1, max_retries=0)
    def train_task(payload: dict, mailbox) -> int:
        """Run one job on whichever node Ray chose; returns the worker's process id."""
        job_id = payload["job_id"]
        stop = threading.Event()

        def watch() -> None:  # a stop request reaches the loop within about a quarter of a second
            while not stop.is_set():
                try:
                    if ray.get(mailbox.stopped.remote(job_id), timeout=10):
                        stop.set()
                except Exception:  # the mailbox is gone with its server: stop
                    stop.set()
                time.sleep(0.25)

        threading.Thread(target=watch, daemon=True).start()
        mailbox.put.remote(("pid", job_id, os.getpid()))
        try:
            run_job(payload, lambda message: mailbox.put.remote(message), stop.is_set)
        finally:
            stop.set()
        return os.getpid()

    @ray.remote(num_cpus=1)
    def warm() -> int:

        return os.getpid()

    return Mailbox, train_task, warm


class RayPool:
    """Jobs as Ray tasks on a cluster, at most `size` at once (default: the cluster's CPUs).

    address: 'auto' or HOST:PORT of a running cluster. The meanflow package travels with the job
    (runtime_env py_modules), so nodes need only the requirements installed, not this checkout.
    When this process ends, Ray ends its tasks: their runs keep their last checkpoints.
    """

    POLL_SECONDS = 0.25

    def __init__(self, address: str, size: int | None = None):
        import ray

        from .jobs import max_jobs_from_env

        if not ray.is_initialized():
            ray.init(
                address=address,
                runtime_env={"py_modules": [str(PACKAGE_DIR)]},
                log_to_driver=False,
                logging_level="WARNING",
            )
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.size = size or max_jobs_from_env(max(1, cpus))
        self._ray = ray
        mailbox_class, self._train_task, warm = _ray_classes()
        self._mailbox = mailbox_class.remote()
        self._refs: list = [None] * self.size  # each slot's running task
        self._jobs: list[str | None] = [None] * self.size
        self._pids: dict[str, int] = {}
        self._last_poll = 0.0
        self._warm = [warm.remote() for _ in range(self.size)]  # worker processes start now, with torch

    def ready(self, slot: int) -> bool:
        return True

    def pid(self, slot: int) -> int | None:
        """The process id of the slot's task on its own node (meaningful on a one-machine cluster)."""
        job_id = self._jobs[slot]
        if job_id is None:
            return None
        deadline = time.monotonic() + 30
        while job_id not in self._pids and time.monotonic() < deadline:
            time.sleep(0.1)  # the engine's thread fills it from the mailbox
        return self._pids.get(job_id)

    def start(self, slot: int, payload: dict) -> None:
        self._jobs[slot] = payload["job_id"]
        self._mailbox.forget.remote(payload["job_id"])  # runs before any later stop: one caller's calls keep order
        self._refs[slot] = self._train_task.remote(payload, self._mailbox)

    def stop(self, slot: int, job_id: str) -> None:
        self._mailbox.stop.remote(job_id)

    def poll(self, timeout: float) -> list[tuple[int, tuple]]:
        wait_for = self._last_poll + self.POLL_SECONDS - time.monotonic()
        if wait_for > 0:
            time.sleep(min(wait_for, max(timeout, 0.0)))
            if self._last_poll + self.POLL_SECONDS > time.monotonic():
                return []
        self._last_poll = time.monotonic()
        slot_of = {job: slot for slot, job in enumerate(self._jobs) if job is not None}
        try:
            batch = self._ray.get(self._mailbox.take.remote(), timeout=30)
        except Exception:  # the mailbox died: every running job is lost
            batch = [("lost", job, {}) for job in slot_of]
        out = []
        for message in batch:
            kind, job_id, data = message
            if kind == "pid":
                self._pids[job_id] = data
                continue
            slot = slot_of.get(job_id)
            if slot is None:
                continue
            if kind in ("ended", "error", "lost"):
                self._jobs[slot], self._refs[slot] = None, None
            out.append((slot, message))
        done = [slot for slot, ref in enumerate(self._refs) if ref is not None]
        if done:  # a task that ended without saying so: its worker died
            finished, _ = self._ray.wait([self._refs[s] for s in done], num_returns=len(done), timeout=0)
            for slot in done:
                if self._refs[slot] in finished:
                    try:
                        self._ray.get(self._refs[slot])
                        continue  # ended normally: its 'ended' message is on its way
                    except Exception:  # WorkerCrashedError, a lost node
                        out.append((slot, ("lost", self._jobs[slot], {})))
                        self._jobs[slot], self._refs[slot] = None, None
        return out

    def restart(self, slot: int) -> None:
        self._refs[slot], self._jobs[slot] = None, None  # Ray replaces dead worker processes itself

    def close(self) -> None:
        for job_id in [j for j in self._jobs if j is not None]:
            self._mailbox.stop.remote(job_id)
        try:
            self._ray.kill(self._mailbox)
        except Exception:  # already gone
            pass


if __name__ == "__main__":  # a LocalPool worker: python -m meanflow.engine.workers COMMANDS_FD EVENTS_FD
    _local_worker(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
