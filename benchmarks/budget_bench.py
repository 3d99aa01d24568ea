"""Methods-study cells at a longer budget than the table's 60 s: is one step's gap to 32 a matter of time?

    python benchmarks/budget_bench.py --targets checkerboard,pinwheel --seconds 60,240 --seeds 3
    (RESULTS.md, "One step against 32 at four minutes")

Trains the named cells of the methods study (each at its tuned preset, as the table trains them; the
learning rate's decay follows the budget) at each budget in turn, on pinned workers, one core each, two
runs at a time, and prints the sweep's table per budget (one step beside flow matching's 32 steps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow.core.targets import get_target  # noqa: E402
from meanflow.engine.jobs import engine_from_env  # noqa: E402
from meanflow.lab.studies import STUDIES  # noqa: E402
from meanflow.lab.sweeps import Budget, Sweep  # noqa: E402
from meanflow.lab.tables import format_table  # noqa: E402

CELLS = ("MeanFlow", "Consistency (iCT)", "Flow matching, minibatch OT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="checkerboard,pinwheel")
    parser.add_argument("--seconds", default="60,240", help="comma-separated budgets, each a sweep")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cell", action="append", help=f"a methods-study cell (repeat; default: {', '.join(CELLS)})")
    args = parser.parse_args()
    cells = args.cell or list(CELLS)
    known = [c.name for c in STUDIES["methods"].cells]
    if unknown := [c for c in cells if c not in known]:
        parser.error(f"no such cell: {', '.join(unknown)} (the methods study's: {', '.join(known)})")
    engine = engine_from_env(pin_cores=True)
    targets = [get_target(t) for t in args.targets.split(",")]
    try:
        for seconds in (float(s) for s in args.seconds.split(",")):
            with tempfile.TemporaryDirectory() as root:
                sweep = Sweep(
                    STUDIES["methods"], targets, args.seeds, Budget(seconds=seconds), engine, root, 2, cells=cells
                )
                sweep.run_to_end(on_progress=lambda s: None)
                print(f"== {seconds:g} s per run, {args.seeds} seeds\n{format_table(sweep.table())}\n", flush=True)
    finally:
        engine.close()


if __name__ == "__main__":
    main()
