"""Reflow at equal compute with its teacher trained on independent or on minibatch-OT pairs.

    python benchmarks/reflow_teacher_bench.py --targets moons,spiral,swissroll --seconds 60 --seeds 3
    (RESULTS.md, "Reflow's teacher: its pairing, and what bounds the student")

The methods study's reflow cell (half the budget) and its teacher's (flow matching at its tuned preset,
the other half), once as the study trains them (the preset's pairing, independent) and once with the
teacher on minibatch-OT pairs, on pinned workers (one core each, two runs at a time); prints the sweep's
table: each teacher's TV at 32 steps beside its student's at one.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from pinned_sweep import pinned_tables

from meanflow.lab.studies import FM_TEACHER, STUDIES, Study

REFLOW = "Reflow (2-rectified flow)"


def study() -> Study:
    """The two teachers and their two students, as methods-study cells."""
    cells = {c.name: c for c in STUDIES["methods"].cells}
    teacher, student = cells[FM_TEACHER], cells[REFLOW]
    ot_teacher = replace(
        teacher, name=f"{FM_TEACHER}, minibatch OT", overrides={**teacher.overrides, "coupling": "minibatch-ot"}
    )
    return Study(
        "reflow-teacher",
        "Reflow's teacher pairing",
        "Does a teacher trained on minibatch-OT pairs make a better one-step student at equal compute?",
        (teacher, ot_teacher, student, replace(student, name=f"{REFLOW}, OT teacher", teacher=ot_teacher.name)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="moons,spiral,swissroll")
    parser.add_argument("--seconds", type=float, default=60.0, help="the whole budget: teacher and student half each")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    pinned_tables(study(), args.targets, args.seeds, [args.seconds])


if __name__ == "__main__":
    main()
