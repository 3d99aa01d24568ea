"""Build the bundled study tables (assets/studies/) and the bundled pretrained runs (assets/pretrained/).

    python assets/make_studies.py --studies methods --targets checkerboard,moons,spiral,pinwheel,swissroll \
        --seconds 60 --seeds 3 --pretrained                                                 (make assets)
    python assets/make_studies.py --studies methods --targets digits --seconds 60 --seeds 3 --add  (make assets)
    python assets/make_studies.py --studies guidance --targets 8gaussians,moons --steps 8000 --seeds 3 --pretrained
    python assets/make_studies.py --studies guidance --targets digits --steps 8000 --seeds 3 --pretrained --add
                                                                                          (make guidance)
    python assets/make_studies.py --steps 5000 --seeds 3 --targets checkerboard,spiral    (make ablations)
    python assets/make_studies.py --studies r-neq-t,tangent --steps 5000 --seeds 3 --targets digits --add
                                                         (the ablations on the digits, beside the 2D rows)

Each study is swept on the job engine (local workers, or $MEANFLOW_RAY_ADDRESS) over the three seed
targets; its table (mean and spread over seeds, with every seed's values) and a one-step sample of
each cell go to assets/studies/STUDY.json, which the Ablations and Compare pages open on. With
--pretrained, seed 0 of each method's run becomes assets/pretrained/METHOD-TARGET (checkpoint
dropped), the runs Animate and Compare show at first paint, and Home's demo (assets/home.npz) is
sampled from them. Runs that already exist in
--work with the same config and seed are not trained again.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from meanflow.core.paths import BUNDLED_TARGETS
from meanflow.core.runs import CHECKPOINT_FILE, CONFIG_FILE, WEIGHTS_FILE, WRITER_FILE, set_named_run, set_shared
from meanflow.core.targets import get_target
from meanflow.engine.jobs import engine_from_env
from meanflow.lab.demo import write_demo
from meanflow.lab.guidance import format_guidance, guidance_rows
from meanflow.lab.records import load_study, merged_record, save_study, study_record
from meanflow.lab.studies import STUDIES
from meanflow.lab.sweeps import Budget, Sweep
from meanflow.lab.tables import format_table
from meanflow.views.demo import DEMO_FILE

ROOT = Path(__file__).resolve().parents[1]  # this script makes the checkout's assets, never an installed copy
OUT = ROOT / "assets"
STUDY_RUNS = OUT / "studies" / "runs"
TARGETS = BUNDLED_TARGETS  # the default targets, and those whose methods runs are bundled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", default=",".join(s for s in STUDIES if s not in ("methods", "guidance")))
    parser.add_argument("--seconds", type=float, default=None, help="training time per run (a wall-clock budget)")
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps per run (a budget that load cannot change)"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--work", default=str(ROOT / "build" / "study-runs"), help="where the runs are trained")
    parser.add_argument("--pretrained", action="store_true", help="also copy seed 0 of each run to assets/pretrained")
    parser.add_argument(
        "--add", action="store_true", help="add these targets' rows to the bundled tables instead of replacing them"
    )
    args = parser.parse_args()
    if (args.seconds is None) == (args.steps is None):
        parser.error("give one budget: --seconds S or --steps N")
    budget = Budget(seconds=args.seconds) if args.seconds is not None else Budget(seconds=None, steps=args.steps)
    said = f"{args.seconds:g} s" if args.seconds is not None else f"{args.steps} steps"
    targets = [get_target(t) for t in args.targets.split(",")]
    # Each local worker keeps to one core, its pairing thread included: every run gets exactly one core,
    # whatever runs beside it (the zoo's "60 s on one core").
    engine = engine_from_env(pin_cores=True)
    command = "python assets/make_studies.py " + " ".join(sys.argv[1:])
    try:
        for name in args.studies.split(","):
            study = STUDIES[name]
            sweep = Sweep(
                study,
                targets,
                args.seeds,
                budget,
                engine,
                args.work,
                max_active=engine.max_running,
            )
            sweep.run_to_end(on_progress=lambda s: None)
            record = trained = study_record(sweep, command)
            if name == "guidance":  # class accuracy and class TV (FD) against the scale, for the Guidance page
                trained["guidance"] = guidance_rows(sweep)
                print(format_guidance(trained["guidance"]), flush=True)
            stored = load_study(OUT / "studies" / f"{name}.json") if args.add else None
            if stored is not None:  # e.g. the ablations on the digits beside their 2D rows
                record = merged_record(stored, trained)
            save_study(OUT / "studies" / f"{name}.json", record)
            if name not in ("methods", "guidance"):  # those have their pretrained runs
                bundle_cell_runs(trained, Path(args.work))  # this sweep's runs (an added table's others stay)
            print(
                f"== {study.title} ({said} per run, {args.seeds} seeds)\n{format_table(sweep.table())}\n",
                flush=True,
            )
            if args.pretrained:
                for run in sweep.runs:
                    bundle = bundled_name(name, run.cell)
                    shown = name != "methods" or run.target in TARGETS  # the methods' runs: Home's targets only
                    if run.seed == 0 and run.scores and bundle is not None and shown:
                        folder = OUT / "pretrained" / f"{bundle}-{run.target}"
                        shutil.rmtree(folder, ignore_errors=True)
                        shutil.copytree(run.path, folder)
                        for transient in (CHECKPOINT_FILE, WRITER_FILE):
                            (folder / transient).unlink(missing_ok=True)
                        set_shared(folder, True)
                        teacher = next((r for r in sweep.runs if r.cell.name == run.cell.teacher), None)
                        if teacher is not None:  # reflow's teacher by its bundled id (else its run id), never a path
                            teacher_bundle = bundled_name(name, teacher.cell)
                            teacher_id = f"{teacher_bundle}-{run.target}" if teacher_bundle else teacher.path.name
                            set_named_run(folder, "teacher", teacher_id)
                if name == "methods":  # Home's demo, precomputed from the new runs
                    write_demo(OUT / "pretrained", TARGETS, OUT / DEMO_FILE)
    finally:
        engine.close()


def bundle_cell_runs(record: dict, work: Path) -> None:
    """Seed 0 of each cell of an ablation study into assets/studies/runs/RUN_ID (weights and config
    only), so that the Ablations page opens a bundled cell in Animate. Cells of several studies that
    share a config share a folder."""
    for cells in record["runs"].values():
        for run_id in cells.values():
            folder = STUDY_RUNS / run_id
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for name in (WEIGHTS_FILE, CONFIG_FILE):
                shutil.copy2(work / run_id / name, folder / name)
            set_shared(folder, True)


def bundled_name(study: str, cell) -> str | None:
    """The name a cell's run is bundled under: the methods study's own (meanflow; None for a row that is
    not bundled); else the study and the cell's name made a slug (guidance-meanflow-omega-1-5), never
    the name of a methods-study run."""
    if study == "methods":
        return cell.bundle
    return f"{study}-" + re.sub(r"[^a-z0-9]+", "-", cell.name.lower()).strip("-")


if __name__ == "__main__":
    main()
