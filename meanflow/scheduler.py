"""The server-wide cap on training jobs: at most N train at once, the rest wait in line.

One scheduler serves every session of a server (the app keeps a single instance), so a
classroom of launches queues up instead of slowing every run and the UI to a crawl.
"""

from __future__ import annotations

import threading
from collections import deque

from .trainer import TrainingJob


class JobScheduler:
    """Starts submitted jobs, at most `max_running` at a time, first come first served."""

    def __init__(self, max_running: int = 2):
        if max_running < 1:
            raise ValueError(f"max_running must be at least 1, got {max_running}")
        self.max_running = max_running
        self._lock = threading.Lock()
        self._running: set[TrainingJob] = set()
        self._waiting: deque[TrainingJob] = deque()

    def submit(self, job: TrainingJob) -> None:
        """Start `job` now if a slot is free, else queue it; a slot frees when a job ends."""
        job.add_done_callback(self._release)
        with self._lock:
            if len(self._running) < self.max_running:
                self._running.add(job)
                job.start()
            else:
                self._waiting.append(job)

    def position(self, job: TrainingJob) -> int | None:
        """1 for the next job to start, 2 after it...; None when `job` is not waiting."""
        with self._lock:
            return self._waiting.index(job) + 1 if job in self._waiting else None

    def cancel(self, job: TrainingJob) -> bool:
        """Take a waiting job out of the line (it ends as stopped); False if it was not waiting."""
        with self._lock:
            if job not in self._waiting:
                return False
            self._waiting.remove(job)
        job.cancel()
        return True

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def _release(self, job: TrainingJob) -> None:
        with self._lock:
            self._running.discard(job)
            while self._waiting and len(self._running) < self.max_running:
                nxt = self._waiting.popleft()
                self._running.add(nxt)
                nxt.start()
