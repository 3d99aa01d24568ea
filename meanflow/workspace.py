"""The runs one user works with: live training jobs, saved runs on disk, bundled pretrained runs.

A `Workspace` belongs to one browser session (the app keeps it in session state); it never
touches the UI. A job launched through it saves its run folder from the training thread the
moment it ends (done, stopped or failed), so a closed tab loses nothing. When the workspace
itself is dropped (its session expired), its jobs still training are stopped, and so saved.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .runs import SavedRun, list_runs, save_job
from .sampling import Flow
from .scheduler import JobScheduler
from .targets import Target
from .trainer import Snapshot, TrainConfig, TrainingJob

METHOD_LABELS = {"meanflow": "MeanFlow", "flow-matching": "Flow matching"}


@dataclass(frozen=True)
class RunEntry:
    """One run a page can show: a live job (source 'live') or a run read from disk."""

    key: str  # stable and unique: pages keep it in widgets and the URL
    label: str
    source: str  # live | saved | bundled
    job: TrainingJob | None = None
    saved: SavedRun | None = None

    @property
    def config(self) -> TrainConfig:
        return self.job.config if self.job is not None else self.saved.config

    @property
    def target(self) -> Target:
        return self.job.target if self.job is not None else self.saved.target

    @property
    def flow(self) -> Flow | None:
        """The network, once training has ended (None while a live job runs)."""
        return self.job.flow if self.job is not None else self.saved.flow

    @property
    def history(self) -> np.ndarray:
        return self.job.history if self.job is not None else self.saved.history

    @property
    def state(self) -> str:
        return self.job.snapshot().state if self.job is not None else self.saved.state

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.snapshot().finished

    def snapshot(self) -> Snapshot | None:
        return self.job.snapshot() if self.job is not None else None


def run_label(config: TrainConfig, suffix: str = "") -> str:
    """'MeanFlow · checkerboard' plus an optional suffix: how every page names a run."""
    label = f"{METHOD_LABELS.get(config.method, config.method)} · {config.target}"
    return f"{label} {suffix}".strip()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "run"


class Workspace:
    """A session's runs: launch jobs, list everything usable, stop what still runs."""

    def __init__(self, runs_dir: str | Path | None = None, bundled: list[SavedRun] | None = None,
                 scheduler: JobScheduler | None = None):
        """scheduler: shared by every workspace of a server to cap concurrent training; None starts
        each job at once."""
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None
        self.scheduler = scheduler
        self._bundled = [RunEntry(f"bundled:{r.path.name}", run_label(r.config, "(pretrained)"), "bundled", saved=r)
                         for r in (bundled or [])]
        self._live: list[RunEntry] = []
        self._opened: list[RunEntry] = []  # library runs this session chose to use
        self._saved_paths: dict[str, Path] = {}  # live key -> where its run folder is (or will be) saved
        self._disk_cache: dict = {}  # list_runs' cache: saved folders are read once
        self._lock = threading.Lock()
        self.problems: list[str] = []  # saved folders skipped at the last listing
        self.save_errors: list[str] = []  # run folders that could not be written
        # Jobs and their callbacks hold no reference to the workspace, so a dropped session's
        # workspace is collected and this stops what it left training.
        weakref.finalize(self, _stop_jobs_later, self._live, scheduler)

    def launch(self, config: TrainConfig, target: Target) -> RunEntry:
        """Start a job (or queue it); its run folder is saved when it ends. config.target is set
        to target.name, so labels and saved configs always name what was trained."""
        config = replace(config, target=target.name)
        key = f"live:{uuid.uuid4().hex[:8]}"
        n = sum(e.config.method == config.method for e in self._live) + 1
        folder = None
        if self.runs_dir is not None:
            folder = self.runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.method}-{_slug(config.target)}-{key[5:]}"
        job = TrainingJob(config, target)
        if folder is not None:
            job.add_done_callback(_saver(folder, self.save_errors))
        entry = RunEntry(key, run_label(config, f"#{n}"), "live", job=job)
        with self._lock:
            self._live.insert(0, entry)
            if folder is not None:
                self._saved_paths[key] = folder
        if self.scheduler is not None:
            self.scheduler.submit(job)
        else:
            job.start()
        return entry

    def stop(self, entry: RunEntry) -> None:
        """Stop a live run: a queued one leaves the line, a training one ends after its step and is saved."""
        if entry.job is None:
            return
        if self.scheduler is None or not self.scheduler.cancel(entry.job):
            entry.job.stop()

    def queue_position(self, entry: RunEntry) -> int | None:
        """Place in the server's line of jobs waiting to train (1 = next), or None."""
        if entry.job is None or self.scheduler is None:
            return None
        return self.scheduler.position(entry.job)

    def folder(self, entry: RunEntry) -> Path | None:
        """Where `entry`'s run folder is (or will be, for a live job) on disk; None if nowhere."""
        return entry.saved.path if entry.saved is not None else self._saved_paths.get(entry.key)

    def live(self) -> list[RunEntry]:
        with self._lock:
            return list(self._live)

    def saved(self) -> list[RunEntry]:
        """The library: run folders under runs_dir (from any session, before or after a restart)
        not launched by this workspace, newest first. Broken folders are skipped into `problems`."""
        if self.runs_dir is None:
            return []
        own = set(self._saved_paths.values())
        runs, self.problems = list_runs(self.runs_dir, self._disk_cache)
        return [RunEntry(f"saved:{r.path.name}", run_label(r.config, f"({r.path.name[:15]})"), "saved", saved=r)
                for r in runs if r.path not in own]

    def open(self, key: str) -> RunEntry | None:
        """Bring a library run into this session's lists (pages show only this session's runs)."""
        entry = next((e for e in self.saved() if e.key == key), None)
        with self._lock:
            if entry is not None and all(e.key != key for e in self._opened):
                self._opened.insert(0, entry)
        return entry

    def opened(self) -> list[RunEntry]:
        with self._lock:
            return list(self._opened)

    def bundled(self) -> list[RunEntry]:
        return list(self._bundled)

    def entries(self) -> list[RunEntry]:
        """The runs this session's pages show: its own, those it opened from the library, the bundled ones.

        Another session's runs appear only in the library (`saved()`), never here, unless opened."""
        return self.live() + self.opened() + self.bundled()

    def ready(self) -> list[RunEntry]:
        """Runs with a trained network to sample from."""
        return [e for e in self.entries() if e.flow is not None]

    def get(self, key: str) -> RunEntry | None:
        return next((e for e in self.entries() if e.key == key), None)

    @property
    def any_running(self) -> bool:
        return any(e.running for e in self.live())

    def stop_all(self) -> None:
        _stop_jobs(self.live(), self.scheduler)


def _saver(folder: Path, errors: list[str]):
    """A done callback that writes the job's run folder (a module function: it must not hold the workspace)."""

    def save(job: TrainingJob) -> None:
        if job.flow is None:
            return
        try:
            save_job(folder, job)
        except OSError as exc:  # a full disk must not end the thread silently
            errors.append(f"could not save {folder.name}: {exc}")

    return save


def _stop_jobs_later(entries: list[RunEntry], scheduler: JobScheduler | None) -> None:
    """The finalizer's work, in a thread of its own: the garbage collector may run the finalizer
    in any thread at any point, even one holding a job's or the scheduler's lock."""
    threading.Thread(target=_stop_jobs, args=(list(entries), scheduler), name="stop-dropped-session",
                     daemon=True).start()


def _stop_jobs(entries: list[RunEntry], scheduler: JobScheduler | None) -> None:
    for entry in list(entries):
        if entry.job is None or entry.job.snapshot().finished:
            continue
        if scheduler is None or not scheduler.cancel(entry.job):
            entry.job.stop()
