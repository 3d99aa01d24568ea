"""Digits measurements for RESULTS.md ("Beyond 2D"): which network trains best per CPU second at D = 64,
and the one-step goal (MeanFlow at one step against flow matching at 32 after the same wall clock).

    python benchmarks/digits_bench.py network --seconds 60 --seeds 3     # MLP sizes, MeanFlow, one step
    python benchmarks/digits_bench.py goal --seconds 300 --seeds 3       # the goal, with anytime FD curves

Every run trains on one pinned core (two at a time on this machine), on the job engine, class-conditional
(train's default on the labelled digits) unless its cell says otherwise; each is scored at 1, 2, 4 and 32
steps on n = 10,000 samples (lab.scoring's headline n) against the 397 held-out images, floors beside.
The runs stay in --work (build/digits-bench), so a rerun scores them without training again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow.core.runs import CHECKPOINT_FILE, WRITER_FILE, set_shared  # noqa: E402
from meanflow.core.targets import get_target  # noqa: E402
from meanflow.engine.jobs import engine_from_env  # noqa: E402
from meanflow.lab.studies import Cell, Study  # noqa: E402
from meanflow.lab.sweeps import Budget, Sweep  # noqa: E402
from meanflow.lab.tables import anytime_curves, format_table  # noqa: E402

NETWORKS = ((128, 4), (256, 3), (512, 3), (512, 4), (1024, 2))
PREVIEWS = {"preview_every": 500, "preview_n": 1000}  # the anytime curves' points: FD of n = 1,000 previews


def network_study() -> Study:
    cells = tuple(
        Cell(f"MeanFlow {h} x {d}", "meanflow", {"hidden": h, "depth": d}, conditional=True) for h, d in NETWORKS
    )
    return Study("digits-network", "Network size at D = 64", "Which MLP trains best per CPU second?", cells)


def goal_study(hidden: int, depth: int) -> Study:
    net = {"hidden": hidden, "depth": depth, **PREVIEWS}
    cells = (
        Cell("MeanFlow", "meanflow", net, conditional=True),
        Cell("Flow matching", "flow-matching", {**net, "preview_nfe": 32}, conditional=True),
        Cell("MeanFlow, unconditional", "meanflow", net),
    )
    return Study("digits-goal", "One step against 32", "Does one MeanFlow step match 32 of flow matching?", cells)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=("network", "goal"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--work", default=str(ROOT / "build" / "digits-bench"))
    parser.add_argument("--json", default=None, help="also write the table and curves here")
    parser.add_argument(
        "--bundle",
        action="store_true",
        help="goal: seed 0 of MeanFlow and flow matching become assets/pretrained/{meanflow,flow-matching}-digits",
    )
    args = parser.parse_args(argv)
    study = network_study() if args.study == "network" else goal_study(args.hidden, args.depth)
    engine = engine_from_env(pin_cores=True)
    started = time.perf_counter()
    try:
        sweep = Sweep(
            study,
            [get_target("digits")],
            args.seeds,
            Budget(seconds=args.seconds),
            engine,
            args.work,
            max_active=engine.max_running,
        )
        sweep.run_to_end(on_progress=lambda s: None)
    finally:
        engine.close()
    rows = sweep.table()
    print(format_table(rows))
    curves = anytime_curves(sweep.scored())
    for cell, points in curves.get("digits", {}).items():
        line = ", ".join(f"{p[1]:.0f} s: {p[2]:.2f} ± {p[3]:.2f}" for p in points)
        print(f"anytime FD (n = {PREVIEWS['preview_n']}), {cell}: {line}")
    print(f"wall clock: {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "curves": curves}, indent=1, default=str))
    if args.bundle and args.study == "goal":
        bundle(sweep)
    return 0


BUNDLED = {"MeanFlow": "meanflow-digits", "Flow matching": "flow-matching-digits"}


def bundle(sweep: Sweep) -> None:
    """Seed 0 of the bundled cells into assets/pretrained (weights, config, metrics; no checkpoint), shared."""
    for run in sweep.runs:
        name = BUNDLED.get(run.cell.name)
        if run.seed == 0 and run.scores and name is not None:
            folder = ROOT / "assets" / "pretrained" / name
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(run.path, folder)
            for transient in (CHECKPOINT_FILE, WRITER_FILE):
                (folder / transient).unlink(missing_ok=True)
            set_shared(folder, True)
            print(f"bundled {folder.relative_to(ROOT)}")


if __name__ == "__main__":
    raise SystemExit(main())
