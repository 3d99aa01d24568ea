"""The one function every kind of worker runs: rebuild a job from its payload, train it, report.

`run_job` turns a JobPayload into the config, target and checkpoint the training loop takes, sets the
worker's own thread count, and sends protocol messages as it trains (core.training.run_training).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..core.checkpoints import Checkpoint, checkpoint_bytes, checkpoint_from_bytes, weights_bytes
from ..core.registry import config_from_dict
from ..core.training import run_training
from .protocol import CheckpointSaved, Ended, Failed, JobPayload, Message, Reported, Started


def run_job(payload: JobPayload, send: Callable[[Message], None], should_stop: Callable[[], bool]) -> None:
    """Train the job in `payload` in this process, sending its messages with `send`."""
    job_id = payload.job_id
    try:
        config = config_from_dict(payload.config)
        target = payload.target.build()
        resume = checkpoint_from_bytes(payload.resume) if payload.resume is not None else None
        torch.set_num_threads(config.threads)  # this worker's own process: nobody else's setting
    except Exception as exc:  # a bad job is reported, the worker lives on
        send(Failed(job_id, f"{type(exc).__name__}: {exc}"))
        return

    def on_checkpoint(ckpt: Checkpoint) -> None:
        send(CheckpointSaved(job_id, checkpoint_bytes(ckpt), ckpt.step, ckpt.elapsed, ckpt.history))

    try:
        result = run_training(
            config,
            target,
            resume=resume,
            teachers=payload.teachers or {},
            should_stop=should_stop,
            on_start=lambda: send(Started(job_id)),
            on_progress=lambda progress: send(Reported(job_id, progress)),
            on_checkpoint=on_checkpoint,
            pause_at=payload.pause_at,
        )
    except Exception as exc:
        send(Failed(job_id, f"{type(exc).__name__}: {exc}"))
        return
    ckpt = result.checkpoint
    send(
        Ended(
            job_id,
            state=result.state,
            message=result.message,
            step=result.step,
            elapsed=result.elapsed,
            steps_per_sec=result.steps_per_sec,
            history=result.history,
            preview=result.preview,
            weights=weights_bytes(ckpt.sampling_weights) if ckpt is not None else None,
            checkpoint=checkpoint_bytes(ckpt) if ckpt is not None else None,
        )
    )
