"""`python -m meanflow resume RUN_DIR`: continue an interrupted, stopped or finished run from its checkpoint."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..core.models import pick_device
from ..core.runs import CHECKPOINT_FILE, read_info, read_target
from .common import UsageError, run_on_engine, seconds, steps


def add_parser(sub) -> None:
    p = sub.add_parser("resume", help="continue an interrupted, stopped or finished run from its checkpoint")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--max-seconds",
        type=seconds,
        default=None,
        help="train at most this much longer; the run's time budget becomes its elapsed time plus this, "
        "so a later resume that should train longer passes --max-seconds again",
    )
    p.add_argument("--steps", type=steps, default=None, help="the step count to end at (default: the run's own)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    out = Path(args.run_dir)
    info = read_info(out)
    if not info.has_checkpoint:
        raise UsageError(f"{out} has no {CHECKPOINT_FILE}; only runs with a checkpoint can resume")
    checkpoint = (out / CHECKPOINT_FILE).read_bytes()
    if not checkpoint:
        raise UsageError(f"{out / CHECKPOINT_FILE} is empty: not a checkpoint; the run was left as it is")
    config = info.config
    total = args.steps if args.steps is not None else config.steps
    if total <= info.step:
        raise UsageError(f"{out} is already at step {info.step}; pass --steps above it to train further")
    budget = None if args.max_seconds is None else info.elapsed + args.max_seconds
    config = replace(config, steps=total, max_seconds=budget if budget is not None else config.max_seconds)
    if config.max_seconds is not None and config.max_seconds <= info.elapsed:
        raise UsageError(
            f"{out} has used its time budget, {config.max_seconds:.1f} s of training (its train --max-seconds, or "
            "the last resume's elapsed time plus its --max-seconds); pass --max-seconds S to train S s longer"
        )
    target = read_target(info)
    pick_device(config.device)  # a device this machine lacks is bad input, found before anything changes
    # the engine checks the checkpoint against the run's network and takes the folder's writer lock
    # before it writes anything; a resume that cannot start leaves the folder as it was
    return run_on_engine(
        lambda engine: engine.submit(config, target, out, resume=checkpoint, check_budget=False),
        out,
        args.quiet,
        start=info.step,
    )
