"""A lever every method can use, at the tuned presets: one TrainConfig field at each of its values.

    python benchmarks/lever_bench.py --field activation --values silu,relu       (RESULTS.md, "Two more levers")
    python benchmarks/lever_bench.py --field adam_beta2 --values 0.999,0.95      (RESULTS.md, "Two more levers")

The methods study's MeanFlow, consistency and flow matching (its tuned preset's independent pairs,
judged at 32 steps) cells, each at its tuned preset with the field at each value (the first value keeps
the cell's name), on pinned workers (one core each, two runs at a time); prints the sweep's table.
Decide on the tuning targets (the default), never on the evaluation targets.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import replace

from pinned_sweep import pinned_tables

from meanflow.core.config import TrainConfig
from meanflow.lab.studies import STUDIES, Study

CELLS = ("MeanFlow", "Consistency (iCT)", "Flow matching, independent")


def study(field: str, values: list, cells: tuple[str, ...] = CELLS) -> Study:
    """Each cell with `field` at each value."""
    known = {c.name: c for c in STUDIES["methods"].cells}
    rows = tuple(
        replace(
            known[name],
            name=name if value == values[0] else f"{name}, {field} {value}",
            overrides={**known[name].overrides, field: value},
        )
        for name in cells
        for value in values
    )
    return Study("lever", f"The lever {field}", f"Which {field} trains the best maps in the same budget?", rows)


def parse_values(field: str, text: str) -> list:
    """The comma-separated values, of the type of the field's default."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    if field not in defaults or defaults[field] is dataclasses.MISSING:
        raise SystemExit(f"lever_bench.py: {field!r} is not a TrainConfig field with a default")
    kind = type(defaults[field])
    return [kind(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--field", required=True, help="a TrainConfig field, e.g. activation or adam_beta2")
    parser.add_argument("--values", required=True, help="comma-separated; the first is the cells' own")
    parser.add_argument("--targets", default="8gaussians,rings")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    pinned_tables(study(args.field, parse_values(args.field, args.values)), args.targets, args.seeds, [args.seconds])


if __name__ == "__main__":
    main()
