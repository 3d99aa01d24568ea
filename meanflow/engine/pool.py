"""The small surface every kind of worker pool gives the engine (local processes, Ray tasks)."""

from __future__ import annotations

from typing import Protocol

from .protocol import JobPayload, Message


class Pool(Protocol):
    """`size` workers, each training at most one job; slots are 0 .. size - 1."""

    size: int

    def ready(self, slot: int) -> bool:
        """Whether the slot's worker can take a job now."""

    def start(self, slot: int, payload: JobPayload) -> None:
        """Hand the slot's worker a job."""

    def stop(self, slot: int, job_id: str) -> None:
        """Ask the slot's worker to stop `job_id` after its current step (a no-op for another job)."""

    def poll(self, timeout: float) -> list[tuple[int, Message]]:
        """(slot, message) for every message that arrived within `timeout` seconds, and Lost for each
        worker that died under its job."""

    def restart(self, slot: int) -> None:
        """Replace the slot's worker (after it was lost)."""

    def pid(self, slot: int) -> int | None:
        """The process id of the slot's current job (None when idle or unknown)."""

    def close(self) -> None:
        """Stop every job and end the workers."""
