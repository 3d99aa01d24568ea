"""Build the bundled pretrained runs the Home page and the comparisons open on at first visit.

    python assets/make_pretrained.py [--seconds 150] [--jobs 2] [--methods meanflow,flow-matching]   (or: make assets)

Trains each method on the three seed targets (checkerboard, moons, spiral) with the package
defaults and a wall-clock budget each, on the job engine (local worker processes), and writes run
folders to assets/pretrained/METHOD-TARGET (checkpoints dropped: nothing resumes a bundled run).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow import TrainConfig, get_target  # noqa: E402
from meanflow.jobs import engine_from_env  # noqa: E402
from meanflow.methods import METHODS  # noqa: E402
from meanflow.runs import CHECKPOINT_FILE  # noqa: E402

OUT = ROOT / "assets" / "pretrained"
TARGETS = ("checkerboard", "moons", "spiral")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seconds", type=float, default=150.0, help="training time per run")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once (one core each)")
    parser.add_argument("--methods", default="meanflow,flow-matching", help="comma-separated registry names")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; accepted: {', '.join(METHODS)}")
    engine = engine_from_env(workers=args.jobs)
    jobs = []
    try:
        for target in TARGETS:
            for method in methods:
                # a coarser history keeps the bundled metrics.csv small
                config = replace(TrainConfig(method=method), steps=10**7, max_seconds=args.seconds, log_every=50)
                folder = OUT / f"{method}-{target}"
                shutil.rmtree(folder, ignore_errors=True)
                jobs.append((engine.submit(config, get_target(target), folder, check_budget=False), folder))
        for job, folder in jobs:
            snap = engine.wait(job)
            (folder / CHECKPOINT_FILE).unlink(missing_ok=True)
            print(f"{folder.name:<32} {snap.step:>7} steps in {snap.elapsed:5.0f} s: {snap.state}", flush=True)
    finally:
        engine.close()


if __name__ == "__main__":
    main()
