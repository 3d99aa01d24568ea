"""The run library behind a server: an index of each runs folder, a bounded cache of loaded runs, labels.

Server-wide and shared by every browser session: a `RunIndex` per folder (each run's small
config.json, read once per change) and a `RunCache` (networks and target data of recently used runs,
bounded), so memory does not grow with the size of the library. A browser session's own view of the
runs (ui.session.Session) is built on these. Nothing here touches the UI.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

from . import runs
from .config import ACTIVE, FINISHED
from .registry import get_method
from .runs import RunInfo, SavedRun


def run_label(info: RunInfo) -> str:
    """'MeanFlow · checkerboard': how every page names a run (the target's name as the run folder says),
    with the guidance trained into a class-conditional run where there is some ('· ω = 3')."""
    try:
        method = get_method(info.config.method).about.label
    except ValueError:
        method = info.config.method
    omega = getattr(info.config.options, "guidance_scale", 1.0) if info.config.classes else 1.0
    return f"{method} · {info.target_name}" + (f" · ω = {omega:g}" if omega != 1.0 else "")


def distinct_labels(labels_and_ids: list[tuple[str, str]]) -> list[str]:
    """Each (label, run id)'s label, told apart where labels repeat: ' · started 00:35:12' from an id that
    starts with its time (runs.new_run_id), else ' · ' and the id's start; ' (2)', ' (3)' where even that
    repeats. A picker of three 'MeanFlow · checkerboard' runs showed three equal names."""
    repeated = {label for label, _ in labels_and_ids if sum(lab == label for lab, _ in labels_and_ids) > 1}
    out = []
    for label, run_id in labels_and_ids:
        if label in repeated:
            stamp = _STARTED.match(run_id)
            label += f" · started {':'.join(stamp.groups())}" if stamp else f" · {run_id[:24]}"
        out.append(label)
    return [label if out.count(label) == 1 else f"{label} ({out[:i].count(label) + 1})" for i, label in enumerate(out)]


_STARTED = re.compile(r"^\d{8}-(\d\d)(\d\d)(\d\d)-")  # runs.new_run_id's time of day


class RunIndex:
    """The run folders directly under one root, read through runs.list_runs' cache (thread-safe)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._cache: dict = {}
        self._lock = threading.Lock()

    def list(self, live_ids: frozenset[str] = frozenset()) -> tuple[list[RunInfo], list[str]]:
        with self._lock:
            infos, problems = runs.list_runs(self.root, self._cache, live_ids)
            current = {i.path for i in infos}
            for key in [k for k in self._cache if k[0] not in current]:  # folders deleted meanwhile
                del self._cache[key]
            return infos, problems

    def info(self, run_id: str, live: bool = False) -> RunInfo:
        """One run's info by id; raises RunError for an id that is not a run here."""
        return runs.read_info(runs.run_path(self.root, run_id), live)


class RunCache:
    """Loaded runs (network and target data), the most recently used first, at most max_entries."""

    def __init__(self, max_entries: int = 12):
        self.max_entries = max_entries
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, info: RunInfo) -> SavedRun:
        """The run with its network; raises RunError. Reloaded when its files change."""
        path = info.path
        stamp = _stamp(path)
        key = (str(path), info.state in FINISHED)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] == stamp:
                self._items.move_to_end(key)
                return hit[1]
        saved = runs.load_run(path, live=info.state in ACTIVE)
        with self._lock:
            self._items[key] = (stamp, saved)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return saved

    def __len__(self) -> int:
        return len(self._items)


def _stamp(path: Path) -> tuple:
    out = []
    for name in (runs.CONFIG_FILE, runs.WEIGHTS_FILE, runs.CHECKPOINT_FILE):
        try:
            st = os.stat(path / name)
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)
