"""One browser session's runs: those it launched, those it opened, the bundled ones; launch, stop, share.

A `Session` holds one browser session's runs: those it launched (training on the job engine, or
ended), those it opened (by link, or from the shared library), and the bundled pretrained runs.
Runs are private: another session reaches one only through its id (in a link), or once its owner
shares it, unless $MEANFLOW_LIBRARY=shared lists every run (a classroom server).

Ownership is a capability, not a link: a run belongs to the owner key of the browser that launched it
(ui.server keeps the key in a cookie, never in the URL; config.json keeps only its hash), and only a
session with that key may stop, resume or share it. Anyone else holding the run's link watches it.

Built on the server-wide RunIndex and RunCache (meanflow.core.library) and the job engine. It
never imports streamlit: ui.server makes one per browser session and the pages call it.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, replace

from meanflow.core import runs
from meanflow.core.config import FINISHED, TrainConfig
from meanflow.core.library import RunCache, RunIndex, distinct_labels, run_label
from meanflow.core.registry import METHODS
from meanflow.core.runs import RunError, RunInfo, SavedRun
from meanflow.core.targets import Target, target_names
from meanflow.engine import env
from meanflow.engine.jobs import Engine, Snapshot, new_owner
from meanflow.engine.limits import LimitError


def _bundled_order(info: RunInfo) -> tuple:
    """Unconditional runs first, then targets and methods in their registries' order: a page's first
    pick is the plain MeanFlow checkerboard run and its first pair that and flow matching."""
    targets, methods = target_names(), list(METHODS)
    return (
        bool(info.config.classes),
        targets.index(info.target_name) if info.target_name in targets else len(targets),
        methods.index(info.config.method) if info.config.method in methods else len(methods),
        info.id,
    )


@dataclass(frozen=True)
class RunEntry:
    """One run a page can show."""

    key: str  # 'run:<id>' or 'bundled:<id>': stable, kept in widgets and the URL
    label: str
    source: str  # own | opened | bundled
    info: RunInfo
    snapshot: Snapshot | None = None  # while this server's engine has (or had) the job

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def config(self) -> TrainConfig:
        return self.info.config

    @property
    def method(self) -> str:
        return self.info.config.method

    @property
    def target_name(self) -> str:
        return self.info.target_name

    @property
    def state(self) -> str:
        if self.snapshot is not None and not self.snapshot.finished:
            return self.snapshot.state
        return self.info.state

    @property
    def running(self) -> bool:
        return self.snapshot is not None and not self.snapshot.finished

    @property
    def controllable(self) -> bool:
        """This session may stop, resume and share it: it launched it (its owner key)."""
        return self.source == "own"

    @property
    def usable(self) -> bool:
        """Has a network to sample from: ended with weights, or interrupted with a checkpoint."""
        if self.running:
            return False
        if self.info.state in FINISHED:
            return (self.info.path / runs.WEIGHTS_FILE).is_file() or self.info.has_checkpoint
        return self.info.state == "interrupted" and self.info.has_checkpoint


class Session:
    """One browser session's runs: launch, stop, resume, share, open, and list them."""

    def __init__(
        self,
        engine: Engine,
        runs_index: RunIndex,
        bundled_index: RunIndex | None,
        cache: RunCache,
        mode: str | None = None,
        study_index: RunIndex | None = None,
        owner: str | None = None,
    ):
        self.engine = engine
        self.index = runs_index
        self.bundled_index = bundled_index
        self.study_index = study_index  # the ablation cells' bundled runs, listed once opened
        self._studies: dict[str, str] = {}  # run id -> label, newest first
        self.cache = cache
        self.mode = mode or env.library_mode()
        self.owner = owner or new_owner()  # the browser's owner id (ui.server), shared by its tabs and reloads
        self._own: list[str] = []  # run ids, newest first
        self._opened: list[str] = []
        self._lock = threading.Lock()
        # Jobs hold no reference to the session: when the owner's last session is dropped (every tab
        # gone for longer than Streamlit keeps it), its queued runs leave the line and training ones stop.
        _OWNERS.enter(self.owner)
        weakref.finalize(self, _release_later, engine, self.owner)

    # -- runs of this session

    def launch(self, config: TrainConfig, target: Target, pause_at: int | None = None) -> RunEntry:
        """Queue a run of `config` on `target` (pausing after `pause_at` steps, if given); raises
        LimitError over a per-session or budget limit."""
        run_id = runs.new_run_id(config)
        self.engine.submit(config, target, runs.run_path(self.index.root, run_id), owner=self.owner, pause_at=pause_at)
        with self._lock:
            self._own.insert(0, run_id)
        return self.entry(run_id)

    def resume(self, key: str, extra_seconds: float | None = None, steps: int | None = None) -> None:
        """Continue an interrupted (or stopped) run of this session from its checkpoint (for `steps`
        more steps and then pause, if given)."""
        entry = self.get(key)
        if entry is None or not entry.controllable:
            raise LimitError("only the session that launched a run may resume it; this link lets you watch it")
        if not entry.info.resumable:
            raise LimitError("only an interrupted or stopped run with a checkpoint can resume")
        info = entry.info
        seconds = info.config.max_seconds
        if extra_seconds is not None or (seconds is not None and info.elapsed >= seconds):
            seconds = info.elapsed + (extra_seconds or 60.0)
        config = replace(info.config, max_seconds=seconds)
        if info.step >= config.steps:
            config = replace(config, steps=info.step + info.config.steps)
        checkpoint = (info.path / runs.CHECKPOINT_FILE).read_bytes()
        target = runs.read_target(info)
        pause_at = None if steps is None else info.step + steps
        self.engine.submit(config, target, info.path, owner=self.owner, resume=checkpoint, pause_at=pause_at)
        with self._lock:
            if info.id not in self._own:
                self._own.insert(0, info.id)
            if info.id in self._opened:
                self._opened.remove(info.id)

    def stop(self, key: str) -> None:
        entry = self.get(key)
        if entry is not None and entry.controllable:
            self.engine.stop(entry.id)

    def stop_all(self) -> None:
        self.engine.release(self.owner)

    def share(self, key: str, shared: bool = True) -> None:
        entry = self.get(key)
        if entry is not None and entry.controllable:
            runs.set_shared(entry.info.path, shared)

    def open(self, run_id: str) -> RunEntry | None:
        """Bring a run into this session's lists by its id (from a link or the library); None if no such run.

        It is this session's own (controllable) only when its owner key launched it: a reloaded tab, or
        the same browser after a restart. Anyone else holding the link watches it.
        """
        try:
            info = self.index.info(run_id, live=self._live(run_id))
        except RunError:
            return None
        mine = info.owner == self.owner or self.engine.owner_of(run_id) == self.owner
        with self._lock:
            if run_id in self._own or run_id in self._opened:
                pass
            elif mine:
                self._own.insert(0, run_id)
            else:
                self._opened.insert(0, run_id)
        return self.entry(run_id) if info else None

    def reclaim(self, limit: int = 20) -> None:
        """Bring back this owner's newest runs (`limit`) from the run folders: a reloaded tab, a new tab or
        the same browser after a restart finds its runs, finished ones included, whatever its URL says."""
        infos, _ = self.index.list(frozenset(self.engine.jobs()))
        mine = [info.id for info in infos if info.owner == self.owner][:limit]
        with self._lock:
            self._own = list(dict.fromkeys(mine + self._own))
            self._opened = [i for i in self._opened if i not in self._own]

    def own_ids(self) -> list[str]:
        with self._lock:
            return list(self._own)

    # -- reading

    def _live(self, run_id: str) -> bool:
        snap = self.engine.snapshot(run_id)
        return snap is not None and not snap.finished

    def entry(self, run_id: str) -> RunEntry | None:
        """This session's entry for a run it launched or opened (None if gone from disk)."""
        with self._lock:
            source = "own" if run_id in self._own else "opened" if run_id in self._opened else None
        if source is None:
            return None
        snap = self.engine.snapshot(run_id)  # a watcher sees its progress too; only the owner controls it
        try:
            info = self.index.info(run_id, live=snap is not None and not snap.finished)
        except RunError:
            return None
        return RunEntry(f"run:{run_id}", run_label(info), source, info, snap)

    def _session_runs(self) -> tuple[list[RunEntry], list[RunEntry]]:
        """(own, opened) entries, their labels told apart where two runs share one (library.distinct_labels:
        'MeanFlow · checkerboard · started 00:35:12'), so every page names the same run the same way."""
        with self._lock:
            own_ids, opened_ids = list(self._own), list(self._opened)
        own = [e for e in (self.entry(i) for i in own_ids) if e is not None]
        opened = [e for e in (self.entry(i) for i in opened_ids) if e is not None]
        labels = distinct_labels([(e.label, e.id) for e in own + opened])
        named = [replace(e, label=label) for e, label in zip(own + opened, labels)]
        return named[: len(own)], named[len(own) :]

    def own(self) -> list[RunEntry]:
        return self._session_runs()[0]

    def opened(self) -> list[RunEntry]:
        return self._session_runs()[1]

    def bundled(self) -> list[RunEntry]:
        if self.bundled_index is None:
            return []
        infos, _ = self.bundled_index.list()
        infos = sorted(infos, key=_bundled_order)
        labels = [run_label(i) for i in infos]
        return [  # a label two bundled runs share says which folder it is (reflow's teacher beside flow matching)
            RunEntry(
                f"bundled:{i.id}",
                f"{label} (pretrained)" if k == labels.index(label) else f"{label} · {i.id} (pretrained)",
                "bundled",
                i,
            )
            for k, (i, label) in enumerate(zip(infos, labels))
        ]

    def open_study(self, run_id: str, label: str) -> RunEntry | None:
        """Bring a bundled ablation cell's run into this session's lists (from the Ablations page); None
        if there is no such run."""
        if self.study_index is None:
            return None
        try:
            self.study_index.info(run_id)
        except RunError:
            return None
        with self._lock:
            self._studies.pop(run_id, None)
            self._studies = {run_id: label, **self._studies}
        return self._study_entry(run_id)

    def _study_entry(self, run_id: str) -> RunEntry | None:
        with self._lock:
            label = self._studies.get(run_id)
        if label is None or self.study_index is None:
            return None
        try:
            info = self.study_index.info(run_id)
        except RunError:
            return None
        return RunEntry(f"study:{run_id}", f"{run_label(info)} ({label})", "bundled", info)

    def studies(self) -> list[RunEntry]:
        with self._lock:
            ids = list(self._studies)
        return [e for e in (self._study_entry(i) for i in ids) if e is not None]

    def entries(self) -> list[RunEntry]:
        """The runs this session's pages show: its own, those it opened, the bundled ones."""
        own, opened = self._session_runs()
        return own + opened + self.studies() + self.bundled()

    def ready(self) -> list[RunEntry]:
        """Runs with a network to sample from."""
        return [e for e in self.entries() if e.usable]

    def get(self, key: str) -> RunEntry | None:
        kind, _, run_id = key.partition(":")
        if kind == "run":
            own, opened = self._session_runs()
            return next((e for e in own + opened if e.key == key), None)
        if kind == "bundled":
            return next((e for e in self.bundled() if e.key == key), None)
        if kind == "study":
            return self._study_entry(run_id)
        return None

    def load(self, entry: RunEntry) -> SavedRun:
        """The entry's network and target (through the server-wide cache); raises RunError."""
        return self.cache.get(entry.info)

    @property
    def any_running(self) -> bool:
        """A run of this session's, or one it watches, is training (its pages poll)."""
        with self._lock:
            ids = self._own + self._opened
        return any(self._live(i) for i in ids)

    def library(self, query: str = "", offset: int = 0, limit: int = 20) -> tuple[list[RunEntry], int, list[str]]:
        """Runs of other sessions this one may open (shared ones, or all in 'shared' mode), newest first,
        filtered by `query` (in the label or id) and paged: (entries, how many match, skipped folders)."""
        infos, problems = self.index.list(frozenset(self.engine.jobs()))
        mine = set(self.own_ids())
        query = query.strip().lower()
        matches = []
        for info in infos:
            if info.id in mine or not (self.mode == "shared" or info.shared):
                continue
            label = run_label(info)
            if query and query not in label.lower() and query not in info.id.lower():
                continue
            matches.append(RunEntry(f"run:{info.id}", label, "opened", info))
        return matches[offset : offset + limit], len(matches), problems


class _LiveOwners:
    """How many sessions of each owner are alive: a reloaded tab's new session keeps the runs its old
    one launched, so they stop only when the owner's last session is dropped."""

    def __init__(self):
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, owner: str) -> None:
        with self._lock:
            self._count[owner] = self._count.get(owner, 0) + 1

    def leave(self, owner: str) -> bool:
        """One session of `owner` is gone; True when it was the last."""
        with self._lock:
            left = self._count.get(owner, 1) - 1
            if left > 0:
                self._count[owner] = left
                return False
            self._count.pop(owner, None)
            return True


_OWNERS = _LiveOwners()


def _release_later(engine: Engine, owner: str) -> None:
    """The finalizer's work, in a thread of its own: the garbage collector may run a finalizer in any
    thread at any point, even one holding the engine's lock."""

    def leave() -> None:
        if _OWNERS.leave(owner):
            engine.release(owner)

    threading.Thread(target=leave, name="release-dropped-session", daemon=True).start()
