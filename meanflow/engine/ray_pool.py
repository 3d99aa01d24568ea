"""Jobs as Ray tasks on a cluster: the RayPool.

Ray is imported only when a RayPool is made (the one deferred import of this layer: most servers
never use a cluster, and Ray takes seconds and a gigabyte to load). The meanflow package travels with
each job (runtime_env py_modules), so nodes need only the requirements installed, not this checkout.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from . import env
from .protocol import FINAL_MESSAGES, JobPayload, Lost, Message, WorkerPid
from .worker import run_job

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the meanflow package, shipped to every node


def _ray_classes():
    """The Ray pieces, defined when a RayPool is made (so importing this module never imports Ray).

    A job is a Ray task holding one CPU while it trains: the cluster's CPUs are free for other
    drivers (another server, a sweep from the command line) whenever nothing trains. The task
    reports through a `Mailbox` actor of this pool (no CPU) that also carries stop requests.
    """
    import ray  # deferred: Ray is optional and heavy (see the module's docstring)

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
    def train_task(payload: JobPayload, mailbox) -> int:
        """Run one job on whichever node Ray chose; returns the worker's process id."""
        stop = threading.Event()

        def watch() -> None:  # a stop request reaches the loop within about a quarter of a second
            while not stop.is_set():
                try:
                    if ray.get(mailbox.stopped.remote(payload.job_id), timeout=10):
                        stop.set()
                except Exception:  # the mailbox is gone with its server: stop
                    stop.set()
                time.sleep(0.25)

        threading.Thread(target=watch, daemon=True).start()
        mailbox.put.remote(WorkerPid(payload.job_id, os.getpid()))
        try:
            run_job(payload, lambda message: mailbox.put.remote(message), stop.is_set)
        finally:
            stop.set()
        return os.getpid()

    @ray.remote(num_cpus=1)
    def warm() -> int:
        return os.getpid()

    return ray, Mailbox, train_task, warm


class RayUnreachable(ConnectionError):
    """Nothing answers at the Ray address within the time allowed; the message names the address."""


def check_reachable(address: str, timeout: float, named_by: str = "MEANFLOW_RAY_ADDRESS") -> None:
    """Raise RayUnreachable unless something accepts a connection at HOST:PORT within `timeout` seconds
    (ray.init itself would wait minutes, printing its own warnings). 'auto' and ray:// addresses are
    left to Ray, which finds or refuses them at once. named_by: where the address came from (the
    environment variable, or a command's --address), for the advice."""
    host, sep, port = address.rpartition(":")
    if address == "auto" or "://" in address or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayUnreachable(
            f"cannot reach the Ray cluster at {address} within {timeout:g} s ({exc.strerror or exc}); "
            f"start it (`ray start --head`), fix {named_by}, or {_leave_out(named_by)} to train on this machine "
            "(MEANFLOW_RAY_TIMEOUT sets the wait)"
        ) from None


def _leave_out(named_by: str) -> str:
    return "unset it" if named_by.isupper() else "leave it out"  # a variable, or a flag or argument


class RayPool:
    """Jobs as Ray tasks on a cluster, at most `size` at once (default: the cluster's CPUs).

    address: 'auto' or HOST:PORT of a running cluster. When this process ends, Ray ends its tasks:
    their runs keep their last checkpoints.
    """

    POLL_SECONDS = 0.25

    def __init__(self, address: str, size: int | None = None, named_by: str = "MEANFLOW_RAY_ADDRESS"):
        check_reachable(address, env.ray_timeout(), named_by)  # before Ray's import and its minutes of retries
        ray, mailbox_class, self._train_task, warm = _ray_classes()
        if not ray.is_initialized():
            ray.init(
                address=address,
                runtime_env={"py_modules": [str(PACKAGE_DIR)]},
                log_to_driver=False,
                logging_level="WARNING",
            )
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.size = size or env.max_jobs(max(1, cpus))
        self._ray = ray
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

    def start(self, slot: int, payload: JobPayload) -> None:
        self._jobs[slot] = payload.job_id
        self._mailbox.forget.remote(payload.job_id)  # runs before any later stop: one caller's calls keep order
        self._refs[slot] = self._train_task.remote(payload, self._mailbox)

    def stop(self, slot: int, job_id: str) -> None:
        self._mailbox.stop.remote(job_id)

    def _take_messages(self, running: dict[str, int]) -> list:
        try:
            return self._ray.get(self._mailbox.take.remote(), timeout=30)
        except Exception:  # the mailbox died: every running job is lost
            return [Lost(job) for job in running]

    def _lost_tasks(self) -> list[tuple[int, Message]]:
        """Lost for each task that ended without saying so (its worker died, its node was lost)."""
        out: list[tuple[int, Message]] = []
        busy = [slot for slot, ref in enumerate(self._refs) if ref is not None]
        if not busy:
            return out
        finished, _ = self._ray.wait([self._refs[s] for s in busy], num_returns=len(busy), timeout=0)
        for slot in busy:
            if self._refs[slot] in finished:
                try:
                    self._ray.get(self._refs[slot])
                    continue  # ended normally: its Ended message is on its way
                except Exception:  # WorkerCrashedError, a lost node
                    out.append((slot, Lost(self._jobs[slot])))
                    self._jobs[slot], self._refs[slot] = None, None
        return out

    def poll(self, timeout: float) -> list[tuple[int, Message]]:
        wait_for = self._last_poll + self.POLL_SECONDS - time.monotonic()
        if wait_for > 0:
            time.sleep(min(wait_for, max(timeout, 0.0)))
            if self._last_poll + self.POLL_SECONDS > time.monotonic():
                return []
        self._last_poll = time.monotonic()
        slot_of = {job: slot for slot, job in enumerate(self._jobs) if job is not None}
        out: list[tuple[int, Message]] = []
        for message in self._take_messages(slot_of):
            if isinstance(message, WorkerPid):
                self._pids[message.job_id] = message.pid
                continue
            slot = slot_of.get(message.job_id)
            if slot is None:
                continue
            if isinstance(message, FINAL_MESSAGES):
                self._jobs[slot], self._refs[slot] = None, None
            out.append((slot, message))
        return out + self._lost_tasks()

    def restart(self, slot: int) -> None:
        self._refs[slot], self._jobs[slot] = None, None  # Ray replaces dead worker processes itself

    def close(self) -> None:
        for job_id in [j for j in self._jobs if j is not None]:
            self._mailbox.stop.remote(job_id)
        try:
            self._ray.kill(self._mailbox)
        except Exception:  # already gone
            pass
