"""What crosses between the engine and its workers: a job's payload and the messages about it.

Plain data only (dataclasses of numbers, strings, numpy arrays and safetensors bytes; never torch
objects, never file paths), so the same messages travel through a local worker's pipe and through a
Ray mailbox. A worker sends Started, then Reported (progress) and CheckpointSaved while it trains, and
ends with Ended, or Failed when the job could not run; a pool adds Lost when a worker dies under its job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.networks import RunBundle
from ..core.targets import TargetSpec
from ..core.training import Progress


@dataclass(frozen=True)
class JobPayload:
    """Everything a worker needs to train one job, anywhere: no shared disk is assumed."""

    job_id: str  # the run folder's name
    config: dict  # TrainConfig.to_dict()
    target: TargetSpec
    resume: bytes | None = None  # a checkpoint (safetensors bytes) to continue from
    teachers: dict[str, RunBundle] | None = None  # the runs the config names (reflow's teacher)
    pause_at: int | None = None  # stop ("paused at step N") once this many steps are done


# ---------------------------------------------------------------- worker -> engine


@dataclass(frozen=True)
class Started:
    """The network is built; the first step is under way."""

    job_id: str


@dataclass(frozen=True)
class Reported:
    """Progress: steps, rate, new history rows, and a one-step preview every preview_every steps."""

    job_id: str
    progress: Progress


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint to keep in the run folder (at least every config.checkpoint_seconds of training)."""

    job_id: str
    data: bytes  # the checkpoint as safetensors bytes
    step: int
    elapsed: float
    history: np.ndarray  # config.HISTORY_DTYPE rows so far


@dataclass(frozen=True)
class Ended:
    """How the run ended (done, stopped or failed) with its final weights and checkpoint."""

    job_id: str
    state: str
    message: str
    step: int
    elapsed: float
    steps_per_sec: float
    history: np.ndarray
    preview: np.ndarray | None
    weights: bytes | None  # safetensors bytes of the final state_dict (None: no network was built)
    checkpoint: bytes | None


@dataclass(frozen=True)
class Failed:
    """The job could not run (a bad payload, an error in training): the worker lives on."""

    job_id: str
    message: str


@dataclass(frozen=True)
class Lost:
    """The worker died under its job (killed, out of memory, a lost node): made by the pool."""

    job_id: str


Message = Started | Reported | CheckpointSaved | Ended | Failed | Lost
FINAL_MESSAGES = (Ended, Failed, Lost)  # after one of these the worker holds no job


# ---------------------------------------------------------------- pool-internal


@dataclass(frozen=True)
class WorkerReady:
    """A local worker has started and loaded torch (the pool's own; never reaches the engine)."""


@dataclass(frozen=True)
class WorkerPid:
    """The process that took a Ray job (the pool's own; never reaches the engine)."""

    job_id: str
    pid: int


@dataclass(frozen=True)
class StartJob:
    """Engine -> local worker: train this job."""

    payload: JobPayload


@dataclass(frozen=True)
class StopJob:
    """Engine -> local worker: stop this job after its current step (it may not have started yet)."""

    job_id: str


@dataclass(frozen=True)
class Exit:
    """Engine -> local worker: end the process."""
