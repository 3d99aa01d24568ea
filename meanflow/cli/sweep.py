"""`python -m meanflow sweep --study NAME`: train every cell of a study for each seed and tabulate it."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..core.runs import CONFIG_FILE
from ..core.text import literal
from ..engine import env
from ..engine.jobs import engine_from_env
from ..lab.scoring import EVAL_N, NFES
from ..lab.studies import STUDIES, get_study
from ..lab.sweeps import Budget, Sweep
from ..lab.tables import format_table
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    bounded_int,
    json_text,
    seconds,
    steps,
    targets_from_list,
)

PROGRESS_SECONDS = 5.0  # how often a line of progress goes to stderr


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="train every cell of a study for each seed and tabulate quality over seeds",
        description="Train every cell of a study (an ablation) x target x seed on the job engine, "
        "and print one row per cell: histogram TV, sliced W1 and the in-cells fraction at "
        f"{', '.join(map(str, NFES))} steps as mean +- std over seeds, with the floors. Cells already done in --out "
        "with the same config and seed are not trained again.",
    )
    p.add_argument("--study", required=True, choices=list(STUDIES))
    p.add_argument("--targets", default="checkerboard", help="comma-separated presets (default: checkerboard)")
    p.add_argument("--seeds", type=bounded_int(1, 100, "a seed count"), default=3, help="seeds per cell (default 3)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=seconds, default=None, help="training time per run (default 60)")
    budget.add_argument("--steps", type=steps, default=None, help="instead: steps per run (no time budget)")
    p.add_argument("--address", default=None, help="a Ray cluster (HOST:PORT or auto); default: local workers")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where the runs go (default: $MEANFLOW_RUNS_DIR or ./runs, the app's library)",
    )
    p.add_argument("--json", action="store_true", help="the table as JSON, with every seed's values")


def progress_printer() -> Callable[[Sweep], None]:
    """An on_progress for Sweep.run_to_end: a line on stderr every PROGRESS_SECONDS."""
    last = 0.0

    def progress(sweep: Sweep) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_SECONDS:
            counts = sweep.counts()
            print(
                f"{sweep.scored_count}/{len(sweep.runs)} runs done, {counts.get('running', 0)} training, "
                f"{counts.get('failed', 0)} failed",
                file=sys.stderr,
                flush=True,
            )
            last = time.monotonic()

    return progress


def drive(sweep: Sweep, as_json: bool) -> int:
    """Drive a sweep to its end with progress on stderr; Ctrl-C stops it and prints what finished."""
    interrupted = False
    try:
        sweep.run_to_end(on_progress=progress_printer())
    except KeyboardInterrupt:
        interrupted = True
        sweep.stop()
        for run in sweep.runs:
            if run.job is not None:
                sweep.engine.wait(run.job, 60)
        sweep.pump()
    rows = sweep.table()
    print(json_text([dict(row, n=EVAL_N) for row in rows]) if as_json else format_table(rows))  # n: each score's
    failed = [r for r in sweep.runs if r.stage == "failed"]
    for run in failed:
        print(f"meanflow sweep: {run.cell.name} on {run.target}, seed {run.seed}: {run.message}", file=sys.stderr)
    if interrupted:
        print(
            f"meanflow sweep: interrupted: {sweep.scored_count} of {len(sweep.runs)} runs scored; the same command "
            "goes on from there (finished runs are not trained again)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    study = get_study(args.study)
    targets = targets_from_list(args.targets)
    budget = Budget(seconds=None, steps=args.steps) if args.steps else Budget(seconds=args.seconds or 60.0)
    out = Path(args.out) if args.out else env.runs_dir()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {literal(str(out), 'terminal')} is a file; a sweep writes a folder of runs")
    if (out / CONFIG_FILE).is_file():  # its runs would nest inside a run, which train --out would replace
        raise UsageError(f"--out {literal(str(out), 'terminal')} is a run's folder; a sweep writes a folder of runs")
    # every run on one core: a fair budget
    engine = engine_from_env(address=args.address, pin_cores=True, address_from="--address")
    try:
        sweep = Sweep(study, targets, args.seeds, budget, engine, out, max_active=engine.max_running, shared=True)
        out.mkdir(parents=True, exist_ok=True)  # after every input and setting is checked (the Sweep's too)
        return drive(sweep, args.json)
    finally:
        engine.close()
