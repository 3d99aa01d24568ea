"""Build the bundled study tables (assets/studies/) and the bundled pretrained runs (assets/pretrained/).

    python assets/make_studies.py --studies methods --seconds 60 --seeds 3 --pretrained   (make assets)
    python assets/make_studies.py --seconds 20 --seeds 3                                  (make ablations)

Each study is swept on the job engine (local workers, or $MEANFLOW_RAY_ADDRESS) over the three seed
targets; its table (mean and spread over seeds, with every seed's values) and a one-step sample of
each cell go to assets/studies/STUDY.json, which the Ablations and Compare pages open on. With
--pretrained, seed 0 of each method's run becomes assets/pretrained/METHOD-TARGET (checkpoint
dropped), the runs Home, Animate and Compare show at first paint. Runs that already exist in
--work with the same config and seed are not trained again.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow import get_target  # noqa: E402
from meanflow.jobs import engine_from_env  # noqa: E402
from meanflow.runs import CHECKPOINT_FILE, set_shared  # noqa: E402
from meanflow.studies import STUDIES, Budget, Sweep, format_table, save_study, study_record  # noqa: E402

OUT = ROOT / "assets"
TARGETS = ("checkerboard", "moons", "spiral")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", default=",".join(s for s in STUDIES if s not in ("methods", "guidance")))
    parser.add_argument("--seconds", type=float, default=20.0, help="training time per run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--work", default=str(ROOT / "build" / "study-runs"), help="where the runs are trained")
    parser.add_argument("--pretrained", action="store_true", help="also copy seed 0 of each run to assets/pretrained")
    args = parser.parse_args()
    targets = [get_target(t) for t in args.targets.split(",")]
    engine = engine_from_env()
    command = "python assets/make_studies.py " + " ".join(sys.argv[1:])
    try:
        for name in args.studies.split(","):
            study = STUDIES[name]
            sweep = Sweep(
                study,
                targets,
                args.seeds,
                Budget(seconds=args.seconds),
                engine,
                args.work,
                max_active=engine.max_running,
            )
            sweep.run_to_end(on_progress=lambda s: None)
            save_study(OUT / "studies" / f"{name}.json", study_record(sweep, command))
            print(
                f"== {study.title} ({args.seconds:g} s per run, {args.seeds} seeds)\n{format_table(sweep.table())}\n",
                flush=True,
            )
            if args.pretrained:
                for run in sweep.runs:
                    if run.seed == 0 and run.scores:
                        folder = OUT / "pretrained" / f"{run.cell.method}-{run.target}"
                        shutil.rmtree(folder, ignore_errors=True)
                        shutil.copytree(run.path, folder)
                        (folder / CHECKPOINT_FILE).unlink(missing_ok=True)
                        set_shared(folder, True)
    finally:
        engine.close()


if __name__ == "__main__":
    main()
