"""Methods-study cells at a longer budget than the table's 60 s: is one step's gap to 32 a matter of time?

    python benchmarks/budget_bench.py --targets checkerboard,pinwheel --seconds 60,180 --seeds 3
    (RESULTS.md, "One step against 32 at three minutes")

Trains the named cells of the methods study (each at its tuned preset, as the table trains them; the
learning rate's decay follows the budget) at each budget in turn, on pinned workers, one core each, two
runs at a time, and prints the sweep's table per budget (one step beside flow matching's 32 steps).
"""

from __future__ import annotations

import argparse

from pinned_sweep import pinned_tables, unknown_cells

from meanflow.lab.studies import STUDIES

CELLS = ("MeanFlow", "Consistency (iCT)", "Flow matching, minibatch OT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="checkerboard,pinwheel")
    parser.add_argument("--seconds", default="60,240", help="comma-separated budgets, each a sweep")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cell", action="append", help=f"a methods-study cell (repeat; default: {', '.join(CELLS)})")
    args = parser.parse_args()
    cells = args.cell or list(CELLS)
    if message := unknown_cells(cells):
        parser.error(message)
    budgets = [float(s) for s in args.seconds.split(",")]
    pinned_tables(STUDIES["methods"], args.targets, args.seeds, budgets, cells)


if __name__ == "__main__":
    main()
