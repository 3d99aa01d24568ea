"""A lever at the tuned presets: one TrainConfig field, or a method's option, at each of its values.

    python benchmarks/lever_bench.py --field activation --values silu,relu
    python benchmarks/lever_bench.py --field adam_beta2 --values 0.999,0.95
    python benchmarks/lever_bench.py --field options.interval_weight --values flat,short-first --cell MeanFlow
    (RESULTS.md, "Three more levers")
    python benchmarks/lever_bench.py --field space_frequencies --values 0,3
    (RESULTS.md, "Fourier features of the state")
    python benchmarks/lever_bench.py --field adversarial --values 0,0.1,0.3 --cell MeanFlow --cell "Consistency (iCT)"
    (RESULTS.md, "A critic on one step")
    python benchmarks/lever_bench.py --field moment_matching --values 0,2.5 --cell MeanFlow --cell "Consistency (iCT)"
    (RESULTS.md, "Moment matching on one step")
    python benchmarks/lever_bench.py --change adversarial=0.3 --change adversarial=0.3,moment_matching=2.5 \
        --cell MeanFlow
    (fields set together, each change a row beside the cell as tuned: RESULTS.md, "The critic and the kernel
    term together")
    python benchmarks/lever_bench.py --field adam_beta2 --values 0.999 \
        --presets benchmarks/data/tuned-state-features.json \
        --targets checkerboard,moons,spiral,pinwheel,swissroll --cell MeanFlow ...
    (the cells at another tuning's presets, nothing changed: RESULTS.md, "Tuning with the state's features")
    python benchmarks/lever_bench.py --change coupling=pooled-ot --cell MeanFlow --cell "Flow matching, independent" \
        --targets checkerboard,moons,spiral,pinwheel,swissroll --row "MeanFlow, coupling pooled-ot" ...
    (a pairing as the change; --row trains only the rows named: RESULTS.md, "Pooled optimal transport")

The methods study's MeanFlow, consistency and flow matching (its tuned preset's independent pairs,
judged at 32 steps) cells, or those named by --cell, each at its tuned preset with the field at each
value (the first value keeps the cell's name), on pinned workers (one core each, two runs at a time);
prints the sweep's table. Decide on the tuning targets (the default); a sweep on the evaluation targets
(--targets) is information, never a decision.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import replace

from pinned_sweep import pinned_tables, unknown_cells

from meanflow.core import registry
from meanflow.core.config import TrainConfig, option_specs
from meanflow.core.presets import PresetError, read_presets
from meanflow.core.registry import get_method
from meanflow.lab.studies import STUDIES, Cell, Study, method_cells

CELLS = ("MeanFlow", "Consistency (iCT)", "Flow matching, independent")
OPTION = "options."  # a field named options.NAME is the method's option NAME


def _changed(cell: Cell, field: str, value) -> Cell:
    """The cell with a TrainConfig field, or with `options.NAME` one of its method's options, set."""
    if field.startswith(OPTION):
        return replace(cell, options={**cell.options, field.removeprefix(OPTION): value})
    return replace(cell, overrides={**cell.overrides, field: value})


def accepts(method: str, field: str, value) -> bool:
    """Whether `method` takes `field` at `value` (flow matching refuses an adversarial term); a method's own
    option is taken by every method that declares it (parse_values checks that)."""
    return field.startswith(OPTION) or registry.accepts(method, field, value)


def changes_study(
    changes: list[dict], cells: tuple[str, ...] = CELLS, presets: dict | None = None, title: str = "The levers"
) -> Study:
    """Each cell with each change (fields set together) in turn, the first change keeping the cell's name;
    a cell whose method refuses a change's value runs without that change."""
    known = {c.name: c for c in method_cells(presets)}  # None: the bundled presets, as STUDIES["methods"]
    rows = []
    for name in cells:
        for i, change in enumerate(changes):
            if i and not all(accepts(known[name].method, field, value) for field, value in change.items()):
                continue
            cell = known[name]
            for field, value in change.items():
                cell = _changed(cell, field, value)
            rows.append(replace(cell, name=f"{name}, {_label(change)}" if i else name))
    return Study("lever", title, "Which setting trains the best maps in the same budget?", tuple(rows))


def _label(change: dict) -> str:
    """'adversarial 0.3 + moment_matching 2.5': a change as a row's name says it."""
    return " + ".join(f"{field.removeprefix(OPTION)} {value}" for field, value in change.items())


def parse_change(text: str, cells: tuple[str, ...] = CELLS) -> dict:
    """'adversarial=0.3,moment_matching=2.5' -> {'adversarial': 0.3, 'moment_matching': 2.5}, each value of
    its field's type (parse_values)."""
    change = {}
    for part in text.split(","):
        field, equals, value = part.partition("=")
        if not equals or not field or not value:
            raise SystemExit(f"lever_bench.py: --change wants FIELD=VALUE[,FIELD=VALUE], got {part!r}")
        change[field] = parse_values(field, value, cells)[0]
    return change


def parse_values(field: str, text: str, cells: tuple[str, ...] = CELLS) -> list:
    """The comma-separated values, of the type of the field's default (for an option, every named
    cell's method must declare it)."""
    if field.startswith(OPTION):
        name, methods = field.removeprefix(OPTION), {c.name: c.method for c in STUDIES["methods"].cells}
        declared = [{s.name: s.default for s in option_specs(get_method(methods[c]).options)} for c in cells]
        if any(name not in d for d in declared):
            raise SystemExit(f"lever_bench.py: not every cell's method has the option {name!r} (pick cells: --cell)")
        default = declared[0][name]
    else:
        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)} | {"coupling": ""}  # a pairing's name
        if field not in defaults or defaults[field] is dataclasses.MISSING:
            raise SystemExit(f"lever_bench.py: {field!r} is not a TrainConfig field with a default")
        default = defaults[field]
    return [type(default)(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--field", help="a TrainConfig field (activation, adam_beta2) or options.NAME: a method's option"
    )
    parser.add_argument("--values", help="comma-separated; the first is the cells' own")
    parser.add_argument(
        "--change",
        action="append",
        help="instead of --field: FIELD=VALUE[,FIELD=VALUE] set together, a row beside each cell as tuned (repeat)",
    )
    parser.add_argument("--targets", default="8gaussians,rings")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cell", action="append", help=f"a methods-study cell (repeat; default: {', '.join(CELLS)})")
    parser.add_argument("--presets", help="a presets file that `tune` wrote (default: the bundled tuned presets)")
    parser.add_argument(
        "--row", action="append", help="train only this row of the sweep's table (repeat; default: all)"
    )
    args = parser.parse_args()
    cells = tuple(args.cell or CELLS)
    if message := unknown_cells(cells):
        parser.error(message)
    if args.change and (args.field or args.values) or not args.change and not (args.field and args.values):
        parser.error("give --field and --values, or --change (repeatable)")
    if args.change:
        changes = [{}] + [parse_change(text, cells) for text in args.change]
    else:
        changes = [{args.field: value} for value in parse_values(args.field, args.values, cells)]
    presets = None
    if args.presets:
        try:
            presets = read_presets(args.presets)
        except PresetError as exc:
            parser.error(str(exc))
        if not presets:
            parser.error(f"no presets file at {args.presets}")
    title = f"The lever {args.field}" if args.field else "The levers"
    study = changes_study(changes, cells, presets, title)
    if unknown := set(args.row or ()) - {c.name for c in study.cells}:
        parser.error(f"no such row: {', '.join(sorted(unknown))}; rows: {', '.join(c.name for c in study.cells)}")
    pinned_tables(study, args.targets, args.seeds, [args.seconds], cells=args.row)


if __name__ == "__main__":
    main()
