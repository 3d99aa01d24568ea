"""Build the bundled pretrained runs the Home page animates at first visit.

    python assets/make_pretrained.py [--seconds 150] [--jobs 1]      (or: make assets)

Trains MeanFlow and flow matching on the three seed targets (checkerboard, moons, spiral) with the
package defaults and a wall-clock budget each, and writes run folders to assets/pretrained/.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow import TrainConfig, get_target  # noqa: E402
from meanflow.runs import save_job  # noqa: E402
from meanflow.trainer import train  # noqa: E402

OUT = ROOT / "assets" / "pretrained"
TARGETS = ("checkerboard", "moons", "spiral")
METHODS = ("meanflow", "flow-matching")


def build(method: str, target_name: str, seconds: float) -> str:
    config = replace(TrainConfig(method=method, target=target_name), steps=10**7, max_seconds=seconds,
                     log_every=50)  # a coarser history keeps the bundled metrics.csv small
    job = train(config, get_target(target_name))
    snap = job.snapshot()
    save_job(OUT / f"{method}-{target_name}", job)
    return f"{method:>13} {target_name:<12} {snap.step:>7} steps in {snap.elapsed:5.0f} s: {snap.state}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seconds", type=float, default=150.0, help="training time per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once (one core each)")
    args = parser.parse_args()
    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(lambda mt: build(*mt, args.seconds), [(m, t) for t in TARGETS for m in METHODS]):
            print(line, flush=True)


if __name__ == "__main__":
    main()
