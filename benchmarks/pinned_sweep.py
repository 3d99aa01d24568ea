"""The benchmarks' shared sweep: study cells trained on pinned workers in a temporary folder.

Imported by the benchmark scripts beside it (run as `python benchmarks/NAME.py`, so this folder is on
the path): one core per run, each worker's numerical libraries on one thread, two runs at a time.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow.core.targets import get_target  # noqa: E402
from meanflow.engine.jobs import engine_from_env  # noqa: E402
from meanflow.lab.studies import STUDIES, Study  # noqa: E402
from meanflow.lab.sweeps import Budget, Sweep  # noqa: E402
from meanflow.lab.tables import format_table  # noqa: E402

AT_ONCE = 2  # runs at a time: one per core of the 2-core machine


def unknown_cells(cells) -> str | None:
    """A message naming the cells the methods study does not have (None: all known)."""
    known = [c.name for c in STUDIES["methods"].cells]
    if unknown := [c for c in cells if c not in known]:
        return f"no such cell: {', '.join(unknown)} (the methods study's: {', '.join(known)})"
    return None


def pinned_tables(study: Study, targets: str, seeds: int, budgets: list[float], cells: list[str] | None = None) -> None:
    """Train the study's cells (all, or those named) on the comma-separated targets for `seeds` seeds at
    each budget in seconds in turn, and print each budget's table as it ends."""
    trained_on = [get_target(t) for t in targets.split(",")]
    engine = engine_from_env(pin_cores=True)
    try:
        for seconds in budgets:
            with tempfile.TemporaryDirectory() as root:
                sweep = Sweep(
                    study,
                    trained_on,
                    seeds,
                    Budget(seconds=seconds),
                    engine,
                    root,
                    max_active=AT_ONCE,
                    cells=cells,
                )
                sweep.run_to_end(on_progress=lambda s: None)
                print(f"== {seconds:g} s per run, {seeds} seeds\n{format_table(sweep.table())}\n", flush=True)
    finally:
        engine.close()
