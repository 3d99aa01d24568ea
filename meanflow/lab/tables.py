"""A study's table: one row per cell and target, each metric as mean and spread over seeds; as text; and
whether its order follows the paper's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.metrics import floor_name
from ..core.registry import METHODS, make_config
from ..core.targets import Target, get_target, target_names
from .scoring import EVAL_N, METRICS, NFES, REFERENCE_NFE, judged_nfe
from .studies import Cell, Study, cell_on


@dataclass(frozen=True)
class ScoredRun:
    """One scored run of a study: its cell, target and seed, and its scores (scoring.Scorer.score)."""

    cell: Cell
    target: str
    seed: int
    scores: dict
    trace: tuple[tuple[float, float, float, float], ...] = ()  # (budget fraction, seconds, TV, floor) while training


def _metric_columns(scored: Sequence[ScoredRun]) -> dict:
    """Each metric at each NFE as mean, std (nan for one seed) and every seed's value, with its floor;
    'seed_order': the seeds those values belong to, in their order."""
    row: dict = {"steps": statistics.mean(r.scores["steps"] for r in scored), "seed_order": [r.seed for r in scored]}
    for nfe in NFES:
        for metric in METRICS:
            values = [r.scores[nfe][metric] for r in scored if r.scores[nfe][metric] is not None]
            if not values:
                continue
            row[f"{metric}@{nfe}"] = statistics.mean(values)
            row[f"{metric}@{nfe}_std"] = statistics.stdev(values) if len(values) > 1 else math.nan
            row[f"{metric}@{nfe}_seeds"] = values
            row[floor_name(metric)] = statistics.mean(r.scores[nfe][floor_name(metric)] for r in scored)
    return row


def cell_pairing(cell: Cell) -> str:
    """How the cell's runs pair noise with data: its coupling, or its teacher's pairs (reflow)."""
    method = METHODS[cell.method]
    if not method.chooses_pairing:
        return "its teacher's pairs"
    return cell.overrides.get("coupling", method.default_coupling)


def cell_network(cell: Cell, target: Target | None = None) -> str:
    """'128 x 4, batch 256': the network and batch the cell's runs train on `target` (the cell's overrides,
    else the target's own network, e.g. the digits', else the method's defaults)."""
    defaults = make_config(cell.method)
    own = dict(target.train_defaults) if target is not None else {}
    hidden, depth, batch = (
        cell.overrides.get(k, own.get(k, getattr(defaults, k))) for k in ("hidden", "depth", "batch")
    )
    return f"{hidden} x {depth}, batch {batch}"


def cell_facts(cell: Cell, target: Target) -> dict:
    """What a reader must know to compare a row: how the cell pairs, the network and batch, and how its
    settings were chosen, as it trains on `target` (studies.cell_on); a cell with no tuning of its own
    trains its method's defaults, its own changes aside."""
    here = cell_on(cell, target.dim)
    return {
        "pairing": cell_pairing(here),
        "network": cell_network(here, target),
        "tuning": here.tuning or DEFAULTS_TUNING,
    }


DEFAULTS_TUNING = "the method's defaults, the row's own change aside"
FACTS = ("pairing", "network", "tuning")


def with_cell_facts(rows: list[dict], study: Study | None) -> list[dict]:
    """Rows of a record saved before rows stated what they held (or with an empty tuning), given the
    cell_facts they lack from the study's cells (a row of an unknown cell or target is left as it is)."""
    cells = {c.name: c for c in study.cells} if study is not None else {}
    for row in rows:
        named = isinstance(row.get("cell"), str) and isinstance(row.get("target"), str)
        if named and not all(row.get(k) for k in FACTS) and row["cell"] in cells and row["target"] in target_names():
            facts = cell_facts(cells[row["cell"]], get_target(row["target"]))
            row.update({k: v for k, v in facts.items() if not row.get(k)})
    return rows


def study_table(
    study: Study, targets: Sequence[Target], cells: Sequence[Cell], scored: Sequence[ScoredRun]
) -> list[dict]:
    """One row per cell x target (cells in the study's order): study, cell, method, target, seeds, the
    paper's number, its pairing, network, tuning, share of the budget and note as the cell trains on that
    target (studies.cell_on), and, once any seed is scored, the steps made and the metric columns; then
    each row's one-step headline over the best flow matching's at 32 steps on its target (with_reference)."""
    rows = []
    for target in targets:
        for cell in [c for c in study.cells if c in cells]:
            mine = [r for r in scored if r.cell is cell and r.target == target.name]
            row = {
                "study": study.name,
                "cell": cell.name,
                "method": cell.method,
                "target": target.name,
                "seeds": len(mine),
                "paper": cell.paper,
                **cell_facts(cell, target),
                "budget_share": cell.budget_share,
                "note": cell.note,
            }
            if mine:
                row.update(_metric_columns(mine))
            rows.append(row)
    return with_reference(rows)


HEADLINES = ("hist_tv", "fd")  # a row's headline: histogram TV (2D targets) or FD (digits)


def with_reference(rows: list[dict]) -> list[dict]:
    """Each row with 'fm32_reference' (the best flow-matching row's 32-step headline on its target, TV in 2D
    and FD on digits, over full-budget rows) and the row's headline over it where the table has flow
    matching: 'hist_tv@1_over_fm32' or 'fd@1_over_fm32' (its one step) for a one-step method, and
    'hist_tv@32_over_fm32' or 'fd@32_over_fm32' (its own 32 steps) for flow matching, judged at 32. The
    ratios are derived: any the rows held (a record saved by an older version) are made again."""
    for row in rows:
        for key in [k for k in row if k == "fm32_reference" or k.endswith("_over_fm32")]:
            del row[key]
    for metric in HEADLINES:
        best: dict[str, float] = {}
        key = f"{metric}@{REFERENCE_NFE}"
        for row in rows:
            full = row.get("budget_share", 1.0) == 1.0 and isinstance(row.get("target"), str)
            if row.get("method") == "flow-matching" and full and _number(row, key):
                best[row["target"]] = min(best.get(row["target"], math.inf), row[key])
        for row in rows:
            own = f"{metric}@{judged_nfe(str(row.get('method')))}"
            if isinstance(row.get("target"), str) and row["target"] in best and _number(row, own):
                row["fm32_reference"] = best[row["target"]]
                row[f"{own}_over_fm32"] = row[own] / best[row["target"]]
    return rows


def _number(row: dict, key: str) -> bool:
    """Whether the row holds a finite number at `key` (a NaN reference made every ratio 0.00)."""
    value = row.get(key)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


RUNAWAY = 100.0  # a seed this many times its row's other seeds' median: the mean is that seed's, say so
UNBOUNDED = ("fd", "sliced_w1")  # lower is better and nothing caps them: the metrics a chain can run away in


@dataclass(frozen=True)
class RunawaySeed:
    """One seed whose score dwarfs its row's others (a chain that ran away), which the mean ± std hides."""

    cell: str
    key: str  # the metric at its step count: 'fd@32'
    value: float
    others: tuple[float, ...]
    seed: int = 0  # its place in the row's seeds (seeds are numbered from 0)


def runaway_seeds(rows: list[dict], factor: float = RUNAWAY) -> list[RunawaySeed]:
    """Every (row, metric) whose per-seed scores (the `_seeds` lists) hold one above `factor` times the
    median of the others, or one that is not finite, with at least two other seeds to compare with. Only
    the UNBOUNDED metrics: a share (in cells, recognised, memorised) or a TV is bounded, and a seed far
    above its others there is no runaway."""
    found = []
    for row in rows:
        for key, seeds in row.items():
            if not key.endswith("_seeds") or key.split("@")[0] not in UNBOUNDED:
                continue
            if not isinstance(seeds, list) or len(seeds) < 3:
                continue
            values = [float(v) if isinstance(v, (int, float)) else math.nan for v in seeds]
            worst = max(range(len(values)), key=lambda i: values[i] if math.isfinite(values[i]) else math.inf)
            others = tuple(v for i, v in enumerate(values) if i != worst)
            if not all(math.isfinite(v) for v in others):
                continue
            middle = statistics.median(others)
            if not math.isfinite(values[worst]) or (middle > 0 and values[worst] > factor * middle):
                found.append(RunawaySeed(str(row["cell"]), key.removesuffix("_seeds"), values[worst], others, worst))
    return found


def anytime_curves(scored: Sequence[ScoredRun]) -> dict:
    """Quality while training, from the runs' traces: target -> cell -> one point per budget fraction,
    [fraction, mean seconds, mean preview TV, its std over seeds (nan for one), seeds, mean floor]."""
    points: dict = {}
    for run in scored:
        for fraction, seconds, tv, floor in run.trace:
            by_cell = points.setdefault(run.target, {}).setdefault(run.cell.name, {})
            by_cell.setdefault(fraction, []).append((seconds, tv, floor))
    curves: dict = {}
    for target, cells in points.items():
        for cell, by_fraction in cells.items():
            curves.setdefault(target, {})[cell] = [_anytime_point(f, seen) for f, seen in sorted(by_fraction.items())]
    return curves


def charged_curves(curves: dict, study: Study, whole_seeds: bool = True) -> dict:
    """A target's anytime curves (cell -> points, as anytime_curves gives them) as a chart shows them: a
    cell charged for its teacher (a teacher and a share of the budget: reflow at equal compute) has the
    teacher's seconds added to its own, so its line is drawn after its teacher's half of the budget (from
    its first reading, once it has made its teacher's pairs); with whole_seeds (a finished study), each cell
    keeps only the points read on all of its seeds (an early preview that one seed had not reached would put
    a mean of fewer seeds beside the others). A live sweep keeps every point: its newest are read on the
    seeds that got there first."""
    cells = {c.name: c for c in study.cells}
    shown = {}
    for name, points in curves.items():
        cell = cells.get(name)
        teacher = curves.get(cell.teacher) if cell and cell.charged_for_teacher else None
        offset = teacher[-1][1] if teacher else 0.0  # the teacher's mean seconds at the end of its budget
        most = max((p[4] for p in points), default=0)
        shown[name] = [[p[0], p[1] + offset, *p[2:]] for p in points if p[4] == most or not whole_seeds]
    return shown


def mean_std(value: float, std: float) -> str:
    """'0.123 ± 0.004', or '0.123' where there is no spread (one seed: its std is NaN, not '± nan')."""
    return f"{value:.3f} ± {std:.3f}" if not math.isnan(std) else f"{value:.3f}"


def row_mean_std(row: dict, key: str, width: int) -> str:
    """A row's `key` and its spread (key_std) right-aligned in `width`, or '-' where the row has no such key."""
    return f"{mean_std(row[key], row.get(f'{key}_std', math.nan)) if key in row else '-':>{width}}"


DIGITS_COLUMNS = ("fd@1", "fd@2", "fd@4", "fd@32", "confident@1", "coverage_tv@1", "memorised@1")
DIGITS_FLOORS = ("fd_floor", "confident_floor", "coverage_tv_floor", "memorised_real")


def _cell_width(rows: list[dict]) -> int:
    """The cell column's width: whole names (a sweep's rows may differ only at their ends), at least 28."""
    return max(28, 1 + max((len(row["cell"]) for row in rows), default=0))


def format_digits_table(rows: list[dict]) -> str:
    """Rows of a target scored by its classifier (digits): FD at each step count, the recognised share,
    the coverage TV and the memorised share at one step, and the floors."""
    width = _cell_width(rows)
    head = (
        f"{'target':<9}{'cell':<{width}}{'seeds':>6}{'steps':>8}  {'FD@1':>15}  {'FD@2':>15}  {'FD@4':>15}  "
        f"{'FD@32':>15}  {'recognised@1':>15}  {'coverage TV@1':>15}  {'memorised@1':>15}  "
        "floors (FD, recognised, coverage, held-out)"
    )
    lines = [head]
    for row in rows:
        steps = f"{row['steps']:>8.0f}" if "steps" in row else f"{'-':>8}"
        floors = ", ".join(f"{row.get(k, math.nan):.3f}" for k in DIGITS_FLOORS)
        cells = "  ".join(row_mean_std(row, k, 15) for k in DIGITS_COLUMNS)
        lines.append(f"{row['target']:<9}{row['cell']:<{width}}{row['seeds']:>6}{steps}  {cells}  {floors}")
    lines += [  # a runaway in a column printed here, said under it
        f"note: {row['target']}, {r.cell}, {r.key}: seed {r.seed} of {len(r.others) + 1} reads {r.value:.3g} "
        f"(the others {', '.join(f'{v:.3g}' for v in r.others)}); the mean is that seed's"
        for row in rows
        for r in runaway_seeds([row])
        if r.key in DIGITS_COLUMNS
    ]
    return "\n".join(lines)


def _anytime_point(fraction: float, seen: list[tuple[float, float, float]]) -> list:
    tvs = [tv for _, tv, _ in seen]
    spread = statistics.stdev(tvs) if len(tvs) > 1 else math.nan
    seconds, floor = statistics.mean(s for s, _, _ in seen), statistics.mean(f for _, _, f in seen)
    return [fraction, seconds, statistics.mean(tvs), spread, len(tvs), floor]


def format_table(rows: list[dict]) -> str:
    """The table as text: one line per cell and target, mean +- std over seeds, floors last (rows on the
    digits: format_digits_table)."""
    if not rows:
        return ""
    digits = [row for row in rows if "fd@1" in row]
    tables = [_format_2d_table([r for r in rows if r not in digits]), format_digits_table(digits) if digits else ""]
    return "\n\n".join([t for t in tables if t] + [SAMPLE_SIZE_LINE])


SAMPLE_SIZE_LINE = (
    f"Each run scored on n = {EVAL_N:,} samples per step count; the floors are the same metrics at that n."
)


def _format_2d_table(rows: list[dict]) -> str:
    """format_table's lines for the rows on 2D targets."""
    if not rows:
        return ""
    width = _cell_width(rows)
    lines = [
        f"{'target':<13}{'cell':<{width}}{'seeds':>6}{'steps':>8}  {'TV@1':>13}  {'TV@2':>13}  {'TV@4':>13}  "
        f"{'TV@32':>13}  {'W1@1':>13}  {'in cells@1':>13}  {'floors (TV, W1)':>16}"
    ]

    def cell(row, key):
        return row_mean_std(row, key, 13)

    for row in rows:
        steps = f"{row['steps']:>8.0f}" if "steps" in row else f"{'-':>8}"
        floors = (
            f"{row.get('hist_tv_floor', math.nan):.3f}, {row.get('sliced_w1_floor', math.nan):.3f}"
            if "hist_tv_floor" in row
            else "-"
        )
        lines.append(
            f"{row['target']:<13}{row['cell']:<{width}}{row['seeds']:>6}{steps}  {cell(row, 'hist_tv@1')}  "
            f"{cell(row, 'hist_tv@2')}  {cell(row, 'hist_tv@4')}  {cell(row, 'hist_tv@32')}  "
            f"{cell(row, 'sliced_w1@1')}  {cell(row, 'in_support@1')}  {floors:>16}"
        )
    return "\n".join(lines)


def paper_agreement(rows: list[dict], study: Study, metric: str = "hist_tv@1") -> str:
    """One sentence: does the order of the cells here (2D, or the digits with metric 'fd@1') follow the
    paper's (rank correlation of its numbers with our metric, lower is better in both)?"""
    pairs = [
        (c.paper, r[metric])
        for c in study.cells
        for r in rows
        if r["cell"] == c.name and c.paper is not None and r.get(metric) is not None
    ]
    if len(pairs) < 2:
        return (
            "The paper gives a number for only one of these rows, so there is no order to compare."
            if pairs
            else "The paper has no comparable numbers for these rows."
        )
    best_paper = min(study.cells, key=lambda c: c.paper if c.paper is not None else math.inf).name
    best_2d = min((r for r in rows if r.get(metric) is not None), key=lambda r: r[metric])["cell"]
    rho = spearman([p for p, _ in pairs], [m for _, m in pairs])
    verdict = "holds" if rho > 0.6 else "partly holds" if rho > 0.1 else "does not hold"
    same = "the same row" if best_paper == best_2d else f"{best_2d} (the paper's best: {best_paper})"
    where, ours = ("on the digits", "one-step FD") if metric.startswith("fd") else ("in 2D", "one-step TV")
    return (
        f"The paper's order {verdict} {where} (rank correlation of its FID with our {ours}: {rho:+.2f}); "
        f"the best row here is {same}."
    )


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation of two equally long lists (ties ranked in order of appearance)."""

    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        out = [0.0] * len(v)
        for rank, i in enumerate(order):
            out[i] = float(rank)
        return out

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return num / den if den else 0.0
