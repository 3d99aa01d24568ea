"""Steps made by two pinned workers at once, with and without one thread for their numerical libraries.

    python benchmarks/pinning_bench.py --target digits --seconds 20      (RESULTS.md, "Every method on the digits")
    python benchmarks/pinning_bench.py --target checkerboard --seconds 20

Trains the methods study's MeanFlow and flow-matching (independent) cells side by side on the job engine
with pinned workers (one core each), once as the engine starts workers now (OPENBLAS_NUM_THREADS and
the like set to 1: engine.env.ONE_THREAD) and once without those variables (the pools numpy and torch
make when they load keep every core), and prints the steps each run made in the budget.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow.core.targets import get_target  # noqa: E402
from meanflow.engine import env  # noqa: E402
from meanflow.engine.jobs import engine_from_env  # noqa: E402
from meanflow.lab.studies import STUDIES  # noqa: E402
from meanflow.lab.sweeps import Budget, Sweep  # noqa: E402

CELLS = ["MeanFlow", "Flow matching, independent"]


def steps_made(target: str, seconds: float, one_thread: bool) -> dict[str, int]:
    """cell -> steps its run made in `seconds`, the two cells trained at once on pinned workers."""
    saved = env.ONE_THREAD
    env.ONE_THREAD = saved if one_thread else ()  # read when the pool starts its workers
    engine = engine_from_env(workers=2, pin_cores=True)
    try:
        with tempfile.TemporaryDirectory() as root:
            budget = Budget(seconds=seconds)
            sweep = Sweep(STUDIES["methods"], [get_target(target)], 1, budget, engine, root, max_active=2, cells=CELLS)
            sweep.run_to_end(on_progress=lambda s: None)
            return {run.cell.name: int(run.scores["steps"]) for run in sweep.runs}
    finally:
        engine.close()
        env.ONE_THREAD = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="digits")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    for one_thread in (True, False):
        made = steps_made(args.target, args.seconds, one_thread)
        said = "one library thread" if one_thread else "library pools on every core"
        print(f"{args.target}, {said}: " + ", ".join(f"{cell} {steps:,}" for cell, steps in made.items()), flush=True)


if __name__ == "__main__":
    main()
