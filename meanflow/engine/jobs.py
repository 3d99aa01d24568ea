"""The job engine: training runs outside the caller's process, on local worker processes or a Ray cluster.

The interface is small and the same for both kinds of workers:
    engine.submit(config, target, run_dir, owner) -> job id     (the run folder's name)
    engine.snapshot(job_id) -> Snapshot                          (plain data, replaced whole)
    engine.stop(job_id)                                          (a queued job leaves the line)
    engine.jobs(owner) -> [job ids]                              (queued or running)
    engine.wait(job_id, timeout) -> Snapshot
Jobs wait in one line, fairly shared between owners (browser sessions), and start on the first
free worker. The engine's own thread receives each worker's messages (engine.protocol) and writes
every checkpoint and result into the job's run folder here (core.runs), so workers on other machines
need no shared disk. Pages read snapshots; nothing here touches the UI.

`engine_from_env()` picks the workers: a Ray cluster when $MEANFLOW_RAY_ADDRESS is set, else local
processes; at most $MEANFLOW_MAX_JOBS train at once (default: the cores, or the cluster's CPUs).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..core import runs
from ..core.config import FINISHED, JobState, TrainConfig, budget_fraction, empty_history
from ..core.networks import RunBundle
from ..core.targets import Target, TargetSpec
from ..core.text import error_text
from ..core.training import check_dimension
from . import env
from .limits import LimitError, check_compute_budget, check_memory
from .local import LocalPool
from .pool import Pool
from .protocol import CheckpointSaved, Ended, Failed, JobPayload, Lost, Message, Reported, Started
from .ray_pool import RayPool

POLL_SECONDS = 0.1  # the engine thread's longest sleep between looks at its workers and its line


@dataclass(frozen=True)
class Snapshot:
    """What a page may read of a job at one moment. Arrays are never written again."""

    state: JobState
    step: int = 0  # optimiser steps done
    total_steps: int = 0
    elapsed: float = 0.0  # seconds of training
    budget_seconds: float | None = None  # the run's max_seconds
    steps_per_sec: float = 0.0
    eta_seconds: float | None = None
    history: np.ndarray = field(default_factory=empty_history)  # config.HISTORY_DTYPE rows
    preview: np.ndarray | None = None  # (preview_n, 2) samples in data units (config.preview_nfe steps: one by default)
    preview_step: int = 0
    message: str = ""  # why a run failed, or how it ended
    position: int | None = None  # place in the line while queued (1 = next)
    started_after: float | None = None  # seconds from submit to the first training step (this server's clock)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def progress(self) -> float:
        """Fraction of the budget (steps or seconds, whichever runs out first) spent, in [0, 1]."""
        if self.finished:
            return 1.0
        return budget_fraction(self.step, self.total_steps, self.elapsed, self.budget_seconds)


@dataclass
class _Job:
    id: str
    config: TrainConfig
    target_spec: TargetSpec
    run_dir: Path
    owner: str
    resume: bytes | None  # checkpoint to continue from
    teachers: dict[str, RunBundle]  # the runs the config names (reflow's teacher), read at submit
    fresh: bool  # the engine made the run folder (a cancelled fresh job leaves nothing behind)
    snapshot: Snapshot
    submitted: float = field(default_factory=time.monotonic)
    history_chunks: list = field(default_factory=list)
    slot: int | None = None
    stop_requested: bool = False
    has_checkpoint: bool = False
    lock_token: str = ""  # the run folder's writer lock, held from submit to the end
    saved_document: bytes | None = None  # a resumed run's config.json as it was: put back if it cannot start
    save_error: str = ""  # the first write that failed: the job stops and ends as failed, saying so
    pause_at: int | None = None  # the step it pauses at (the app's Step), or None
    done: threading.Event = field(default_factory=threading.Event)

    def payload(self) -> JobPayload:
        return JobPayload(self.id, self.config.to_dict(), self.target_spec, self.resume, self.teachers, self.pause_at)


class Engine:
    """Runs jobs on a pool of workers (LocalPool or RayPool), at most one job per worker."""

    def __init__(
        self,
        pool: Pool,
        max_running_per_owner: int = 2,
        max_queued_per_owner: int = 2,
        memory_limit_bytes: float | None = None,
    ):
        self.pool = pool
        self.max_running_per_owner = max_running_per_owner
        self.max_queued_per_owner = max_queued_per_owner
        self.memory_limit_bytes = memory_limit_bytes if memory_limit_bytes is not None else env.memory_limit_bytes()
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._line: deque[str] = deque()
        self._slots: list[str | None] = [None] * pool.size
        self._closed = False
        self.errors: list[str] = []  # run folders that could not be written, for the pages to show
        self._thread = threading.Thread(target=self._loop, name="meanflow-engine", daemon=True)
        self._thread.start()

    @property
    def max_running(self) -> int:
        return self.pool.size

    # -- the interface

    def submit(
        self,
        config: TrainConfig,
        target: Target,
        run_dir: str | Path,
        owner: str = "",
        resume: bytes | None = None,
        check_budget: bool = True,
        shared: bool = False,
        pause_at: int | None = None,
    ) -> str:
        """Queue a job; its run folder is created now (unless resuming) and written as it trains.
        pause_at: the job ends "stopped" ("paused at step N") once it has done this many steps.

        Raises LimitError when the owner already has its share of queued or running jobs, or the
        run would exceed the compute or memory budget; ValueError when a run its config names (reflow's
        teacher) cannot be used or is the run itself; runs.RunError when `resume` is not a checkpoint of
        this run, and runs.RunBusy when another process writes the folder. Everything is checked before
        the folder is touched; then the job holds the folder's writer lock until it ends.
        """
        run_dir = Path(run_dir)
        job_id = run_dir.name
        check_dimension(config, target)
        if check_budget:
            check_compute_budget(config)
        check_memory(config, self.memory_limit_bytes)
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine is closed")
            self._check_room(job_id, owner)
        teachers = runs.read_teachers(config, target, run_dir)  # read here: workers need no shared disk
        fresh = resume is None
        before = empty_history()  # a resumed run's curves start with the steps it had made (a walk saw them cut)
        if not fresh:
            before = runs.check_resume(config, target, resume, str(run_dir / runs.CHECKPOINT_FILE)).history
        token, saved_document = self._take_folder(run_dir, config, target, fresh, shared, owner)
        snapshot = Snapshot("queued", 0, config.steps, 0.0, config.max_seconds, history=before)
        job = _Job(job_id, config, target.to_spec(), run_dir, owner, resume, teachers, fresh, snapshot)
        job.lock_token, job.saved_document, job.pause_at = token, saved_document, pause_at
        job.history_chunks = [before] if len(before) else []
        with self._lock:
            self._jobs[job_id] = job
            self._line.append(job_id)
        return job_id

    @staticmethod
    def _take_folder(
        run_dir: Path, config: TrainConfig, target: Target, fresh: bool, shared: bool, owner: str
    ) -> tuple[str, bytes | None]:
        """Lock the run folder (made if new) and write a fresh run's config; returns the lock's token and,
        for a resume, config.json as it was. Nothing is left behind when this raises."""
        made = not run_dir.exists()
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            token = runs.lock_run(run_dir)
        except runs.RunError:
            if made:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        try:
            if fresh:
                runs.create_run(run_dir, config, target, shared=shared, owner=owner)
                return token, None
            return token, (run_dir / runs.CONFIG_FILE).read_bytes()
        except BaseException:
            runs.unlock_run(run_dir, token)
            if made:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise

    def _check_room(self, job_id: str, owner: str) -> None:
        """Raise LimitError for a run already in the engine, or an owner at its share (under the lock)."""
        if job_id in self._jobs and not self._jobs[job_id].snapshot.finished:
            raise LimitError(f"run {job_id} is already queued or training")
        if owner:
            mine = [j for j in self._jobs.values() if j.owner == owner and not j.snapshot.finished]
            if len(mine) >= self.max_running_per_owner + self.max_queued_per_owner:
                raise LimitError(
                    f"at most {self.max_running_per_owner} runs training and "
                    f"{self.max_queued_per_owner} waiting per session; stop one or wait for it"
                )

    def snapshot(self, job_id: str) -> Snapshot | None:
        """The job's latest snapshot (with its place in the line while queued), or None if unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            snap = job.snapshot
            if snap.state == "queued":
                snap = replace(snap, position=self._line.index(job_id) + 1 if job_id in self._line else None)
            return snap

    def stop(self, job_id: str) -> None:
        """A queued job leaves the line (ends as stopped); a training one ends after its step and is saved."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.snapshot.finished:
                return
            job.stop_requested = True
            if job_id in self._line:
                self._line.remove(job_id)
                self._cancel(job)
                return
            slot = job.slot
        if slot is not None:
            self.pool.stop(slot, job_id)

    def jobs(self, owner: str | None = None) -> list[str]:
        """Ids of queued or running jobs (of `owner`, if given), oldest first."""
        with self._lock:
            return [
                j.id for j in self._jobs.values() if not j.snapshot.finished and (owner is None or j.owner == owner)
            ]

    def owner_of(self, job_id: str) -> str | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.owner

    def worker_pid(self, job_id: str) -> int | None:
        """The process id of the local worker training `job_id` (None if queued, ended, or on Ray)."""
        with self._lock:
            job = self._jobs.get(job_id)
            slot = None if job is None else job.slot
        return None if slot is None else self.pool.pid(slot)

    def release(self, owner: str) -> None:
        """Stop every job of `owner` (a browser session that went away): queued ones leave the line."""
        for job_id in self.jobs(owner):
            self.stop(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Snapshot | None:
        """Block until the job ends (or timeout); returns its snapshot."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            job.done.wait(timeout)
        return self.snapshot(job_id)

    @property
    def running(self) -> int:
        with self._lock:
            return sum(s is not None for s in self._slots)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._line)

    def close(self, timeout: float = 30.0) -> None:
        """Stop every job, wait for running ones to be saved (up to timeout), and end the workers."""
        for job_id in self.jobs():
            self.stop(job_id)
        deadline = time.monotonic() + timeout
        for job_id in self.jobs():
            self.wait(job_id, max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._closed = True
        self._thread.join(5)
        self.pool.close()

    # -- the engine's thread

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
            try:
                for slot, message in self.pool.poll(POLL_SECONDS):
                    self._handle(slot, message)
                self._dispatch()
            except Exception as exc:  # the engine thread must outlive any one bad message
                self.errors.append(f"engine: {type(exc).__name__}: {exc}")
                time.sleep(POLL_SECONDS)

    def _next_job(self) -> tuple[_Job, int] | None:
        """The oldest waiting job whose owner is below its running share, and a free slot (under the lock)."""
        free = [i for i, s in enumerate(self._slots) if s is None and self.pool.ready(i)]
        if not free or not self._line:
            return None
        running_by: dict[str, int] = {}
        for s in self._slots:
            if s is not None:
                owner = self._jobs[s].owner
                running_by[owner] = running_by.get(owner, 0) + 1
        for job_id in self._line:
            job = self._jobs[job_id]
            if not job.owner or running_by.get(job.owner, 0) < self.max_running_per_owner:
                return job, free[0]
        return None

    def _dispatch(self) -> None:
        """Start waiting jobs on free workers: oldest first, skipping owners at their running share."""
        while True:
            with self._lock:
                chosen = self._next_job()
                if chosen is None:
                    return
                job, slot = chosen
                self._line.remove(job.id)
                self._slots[slot] = job.id
                job.slot = slot
            if not self._write(job, runs.mark_running, job.run_dir, job.config):  # folder gone or full: never start
                self._finish(job, slot, state="failed", message=job.save_error, eta_seconds=0.0)
                continue
            self._update(job, state="running", message="starting")
            self.pool.start(slot, job.payload())
            with self._lock:
                stopped_meanwhile = job.stop_requested
            if stopped_meanwhile:  # a stop sent while it was being started reached the worker before the start
                self.pool.stop(slot, job.id)

    def _handle(self, slot: int, message: Message) -> None:
        with self._lock:
            job = self._jobs.get(message.job_id)
        if job is None or job.snapshot.finished:
            return
        match message:
            case Started():
                self._update(job, message="")
            case Reported(progress=progress):
                self._on_progress(job, progress)
            case CheckpointSaved(data=data, step=step, elapsed=elapsed, history=history):
                self._write(job, runs.write_checkpoint, job.run_dir, data, step, elapsed, history)
                job.has_checkpoint = True
            case Ended():
                self._on_ended(job, slot, message)
            case Failed(message=why):
                self._on_failed(job, slot, f"failed at step {job.snapshot.step}: {why}", lost=False)
            case Lost():
                self._on_failed(job, slot, f"worker lost at step {job.snapshot.step}", lost=True)

    def _on_progress(self, job: _Job, progress) -> None:
        if len(progress.new_history):
            job.history_chunks.append(progress.new_history)
        changes = dict(
            step=progress.step,
            elapsed=progress.elapsed,
            steps_per_sec=progress.steps_per_sec,
            eta_seconds=progress.eta_seconds,
            history=_joined(job.history_chunks),
        )
        if progress.preview is not None:
            changes.update(preview=progress.preview, preview_step=progress.preview_step)
        if job.snapshot.started_after is None:
            changes["started_after"] = time.monotonic() - job.submitted
        self._update(job, **changes)

    def _on_ended(self, job: _Job, slot: int, ended: Ended) -> None:
        if job.save_error:  # stopped because a write failed: the run ends as failed, saying why
            self._on_failed(job, slot, job.save_error, lost=False)
            return
        saved = self._write(
            job,
            runs.finish_run,
            job.run_dir,
            ended.state,
            ended.message,
            ended.step,
            ended.elapsed,
            ended.history,
            ended.weights,
            ended.checkpoint,
        )
        if not saved:
            self._finish(job, slot, state="failed", message=job.save_error, eta_seconds=0.0)
            return
        self._finish(
            job,
            slot,
            state=ended.state,
            message=ended.message,
            step=ended.step,
            elapsed=ended.elapsed,
            steps_per_sec=ended.steps_per_sec,
            eta_seconds=0.0,
            history=ended.history,
            preview=ended.preview,
            preview_step=ended.step,
        )

    def _on_failed(self, job: _Job, slot: int, message: str, lost: bool) -> None:
        """The job could not finish: the run keeps its last checkpoint's weights (usable and resumable).
        A resume that failed before its first checkpoint leaves the folder exactly as it was."""
        if job.saved_document is not None and not job.has_checkpoint:
            self._write(job, runs.put_back_document, job.run_dir, job.saved_document)
        else:
            snap, weights = job.snapshot, None
            if job.has_checkpoint:
                try:
                    weights = runs.checkpoint_weights_bytes(job.run_dir)
                except runs.RunError:
                    weights = None
            self._write(
                job,
                runs.finish_run,
                job.run_dir,
                "failed",
                message,
                snap.step,
                snap.elapsed,
                snap.history,
                weights,
                None,
            )
        self._finish(job, slot, state="failed", message=message, eta_seconds=0.0)
        if lost:
            self.pool.restart(slot)

    def _update(self, job: _Job, **changes) -> None:
        with self._lock:
            job.snapshot = replace(job.snapshot, **changes)

    def _finish(self, job: _Job, slot: int | None, **changes) -> None:
        with self._lock:
            job.snapshot = replace(job.snapshot, position=None, **changes)
            if slot is not None and self._slots[slot] == job.id:
                self._slots[slot] = None
            job.slot = None
            job.resume = None  # the bytes are on disk now; free the memory
        self._unlock(job)
        job.done.set()

    def _cancel(self, job: _Job) -> None:
        """Called under the lock for a job taken out of the line before it started: nothing was trained,
        so a fresh run leaves nothing behind and a resumed one is left exactly as it was."""
        job.snapshot = replace(job.snapshot, state="stopped", message="cancelled before it started", position=None)
        job.resume = None
        try:
            if job.fresh:
                shutil.rmtree(job.run_dir, ignore_errors=True)
            elif job.saved_document is not None:
                runs.put_back_document(job.run_dir, job.saved_document)
        except (OSError, runs.RunError) as exc:
            self.errors.append(f"could not write {job.run_dir.name}: {error_text(exc)}")
        self._unlock(job)
        job.done.set()

    def _unlock(self, job: _Job) -> None:
        if job.lock_token:
            try:
                runs.unlock_run(job.run_dir, job.lock_token)
            except OSError:
                pass  # a folder that is gone holds no lock
            job.lock_token = ""

    def _write(self, job: _Job, fn, *args) -> bool:
        """Write to the job's run folder; a failed write (full disk, folder gone, permission) stops the
        job at once, and it ends as failed saying so. Returns whether the write landed."""
        try:
            fn(*args)
            return True
        except (OSError, runs.RunError, ValueError) as exc:  # a full disk must not end the engine
            reason = f"could not save ({error_text(exc)})"
            self.errors.append(f"could not write {job.run_dir.name}: {error_text(exc)}")
            with self._lock:
                first = not job.save_error
                job.save_error = job.save_error or reason
                slot = job.slot
            if first and slot is not None:
                self.pool.stop(slot, job.id)
            return False


def _joined(chunks: list) -> np.ndarray:
    if len(chunks) > 1:  # keep one array: each report then costs one concatenation, not a growing list
        chunks[:] = [np.concatenate(chunks)]
    return chunks[0] if chunks else empty_history()


def engine_from_env(
    workers: int | None = None,
    address: str | None = None,
    pin_cores: bool | None = None,
    address_from: str = "the address given",
    **limits,
) -> Engine:
    """An engine on a Ray cluster ($MEANFLOW_RAY_ADDRESS or `address`) or on local worker processes.

    workers: how many jobs train at once; default $MEANFLOW_MAX_JOBS, else the machine's cores
    (or the cluster's CPUs). pin_cores: local workers keep to a core each (default $MEANFLOW_PIN_CORES).
    address_from: where `address` came from (a command's '--address'), named when nothing answers there.
    """
    env.check()  # a malformed MEANFLOW_* variable is refused by name before any worker starts
    named_by = address_from if address else "MEANFLOW_RAY_ADDRESS"  # where the advice sends a wrong address
    address = address or env.ray_address()
    if address:
        pool: Pool = RayPool(address, workers, named_by)
    else:
        pool = LocalPool(workers or env.max_jobs(os.cpu_count() or 1), pin_cores=env.pin_cores(bool(pin_cores)))
    return Engine(pool, **limits)


def new_owner() -> str:
    """An id for a browser session or a command-line process."""
    return uuid.uuid4().hex
