"""Worker processes on this machine: the LocalPool.

Each worker is a fresh `python -m meanflow.engine.local_worker` (not a fork: a server's threads and
locks stay behind; and not multiprocessing's spawn, which re-runs the parent's main module, e.g.
Streamlit's), talking over two pipes it inherits. All are started at once, so the first job starts fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from multiprocessing.connection import Connection, wait
from pathlib import Path

from . import env
from .protocol import FINAL_MESSAGES, Exit, JobPayload, Lost, Message, StartJob, StopJob, WorkerReady

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding the meanflow package


class LocalPool:
    """`size` worker processes, at most one job each; with `pin_cores`, worker i keeps to core i."""

    def __init__(self, size: int, pin_cores: bool | None = None):
        if size < 1:
            raise ValueError(f"a pool needs at least one worker, got {size}")
        self.size = size
        self.pin_cores = env.pin_cores() if pin_cores is None else pin_cores
        self._procs: list[subprocess.Popen | None] = [None] * size
        self._exits: list[int | None] = [None] * size  # a pidfd per worker: readable once it has exited
        self._commands: list[Connection | None] = [None] * size
        self._events: list[Connection | None] = [None] * size
        self._jobs: list[str | None] = [None] * size
        self._send_lock = threading.Lock()
        for slot in range(size):
            self._spawn(slot)

    def _core_of(self, slot: int) -> int | None:
        if not self.pin_cores:
            return None
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [slot]
        return cores[slot % len(cores)]

    def _spawn(self, slot: int) -> None:
        cmd_read, cmd_write = os.pipe()
        ev_read, ev_write = os.pipe()
        proc = subprocess.Popen(
            [sys.executable, "-m", "meanflow.engine.local_worker", str(cmd_read), str(ev_write)],
            pass_fds=(cmd_read, ev_write),
            env=env.worker_environment(self._core_of(slot), str(PACKAGE_PARENT)),
            stdin=subprocess.DEVNULL,
            # its own session: a Ctrl-C at the terminal (or `timeout -s INT`, which signals its whole group)
            # reaches the server or the CLI, which stop the job; a worker still importing torch printed a
            # KeyboardInterrupt traceback and was lost. The worker leaves when its command pipe closes.
            start_new_session=True,
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

    def start(self, slot: int, payload: JobPayload) -> None:
        self._jobs[slot] = payload.job_id
        self._send(slot, StartJob(payload))

    def stop(self, slot: int, job_id: str) -> None:
        self._send(slot, StopJob(job_id))

    def _send(self, slot: int, command: StartJob | StopJob | Exit) -> None:
        with self._send_lock:
            try:
                self._commands[slot].send(command)
            except (OSError, ValueError):
                pass  # a dead worker: poll() reports it as lost

    def _receive(self, timeout: float) -> tuple[list[tuple[int, object]], set[int]]:
        """(slot, message) for every message waiting, and the slots whose worker has died."""
        conns = {id(c): i for i, c in enumerate(self._events) if c is not None}
        exits = {fd: i for i, fd in enumerate(self._exits) if fd is not None}
        ready = wait([c for c in self._events if c is not None] + list(exits), timeout)
        messages, dead = [], set()
        for obj in ready:
            if isinstance(obj, int):
                dead.add(exits[obj])
                continue
            slot = conns[id(obj)]
            try:
                while obj.poll():
                    messages.append((slot, obj.recv()))
            except (EOFError, OSError):
                dead.add(slot)
        return messages, dead

    def poll(self, timeout: float) -> list[tuple[int, Message]]:
        """Messages from every worker that has any, and Lost for each worker that died under a job."""
        messages, dead = self._receive(timeout)
        out: list[tuple[int, Message]] = []
        for slot, message in messages:
            if isinstance(message, WorkerReady):
                continue
            if isinstance(message, FINAL_MESSAGES):
                self._jobs[slot] = None
            out.append((slot, message))
        for slot in dead:
            job_id = self._jobs[slot]
            self._jobs[slot] = None
            if job_id is not None:
                out.append((slot, Lost(job_id)))
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
                self._send(slot, Exit())
                self._end(slot, kill=False)
