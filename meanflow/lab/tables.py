"""A study's table: one row per cell and target, each metric as mean and spread over seeds; as text; and
whether its order follows the paper's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .scoring import METRICS, NFES
from .studies import Cell, Study


@dataclass(frozen=True)
class ScoredRun:
    """One scored run of a study: its cell, target and seed, and its scores (scoring.Scorer.score)."""

    cell: Cell
    target: str
    seed: int
    scores: dict


def _metric_columns(scored: Sequence[ScoredRun]) -> dict:
    """Each metric at each NFE as mean, std (nan for one seed) and every seed's value, with its floor."""
    row: dict = {"steps": statistics.mean(r.scores["steps"] for r in scored)}
    for nfe in NFES:
        for metric in METRICS:
            values = [r.scores[nfe][metric] for r in scored if r.scores[nfe][metric] is not None]
            if not values:
                continue
            row[f"{metric}@{nfe}"] = statistics.mean(values)
            row[f"{metric}@{nfe}_std"] = statistics.stdev(values) if len(values) > 1 else math.nan
            row[f"{metric}@{nfe}_seeds"] = values
            row[f"{metric}_floor"] = statistics.mean(r.scores[nfe][f"{metric}_floor"] for r in scored)
    return row


def study_table(study: Study, targets: Sequence[str], cells: Sequence[Cell], scored: Sequence[ScoredRun]) -> list[dict]:
    """One row per cell x target (cells in the study's order): study, cell, method, target, seeds, the
    paper's number, and, once any seed is scored, the steps made and the metric columns."""
    rows = []
    for target in targets:
        for cell in [c for c in study.cells if c in cells]:
            mine = [r for r in scored if r.cell is cell and r.target == target]
            row = {
                "study": study.name,
                "cell": cell.name,
                "method": cell.method,
                "target": target,
                "seeds": len(mine),
                "paper": cell.paper,
            }
            if mine:
                row.update(_metric_columns(mine))
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """The table as text: one line per cell and target, mean +- std over seeds, floors last."""
    lines = [
        f"{'target':<13}{'cell':<28}{'seeds':>6}{'steps':>8}  {'TV@1':>13}  {'TV@2':>13}  {'W1@1':>13}  "
        f"{'in cells@1':>13}  {'floors (TV, W1)':>16}"
    ]

    def cell(row, key):
        if key not in row:
            return f"{'-':>13}"
        std = row.get(f"{key}_std", math.nan)
        return f"{row[key]:>6.3f} ± {std:.3f}" if not math.isnan(std) else f"{row[key]:>13.3f}"

    for row in rows:
        steps = f"{row['steps']:>8.0f}" if "steps" in row else f"{'-':>8}"
        floors = (
            f"{row.get('hist_tv_floor', math.nan):.3f}, {row.get('sliced_w1_floor', math.nan):.3f}"
            if "hist_tv_floor" in row
            else "-"
        )
        lines.append(
            f"{row['target']:<13}{row['cell'][:27]:<28}{row['seeds']:>6}{steps}  {cell(row, 'hist_tv@1')}  "
            f"{cell(row, 'hist_tv@2')}  {cell(row, 'sliced_w1@1')}  {cell(row, 'in_support@1')}  {floors:>16}"
        )
    return "\n".join(lines)


def paper_agreement(rows: list[dict], study: Study, metric: str = "hist_tv@1") -> str:
    """One sentence: does the 2D order of the cells follow the paper's (rank correlation of its numbers
    with our metric, lower is better in both)?"""
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
    return (
        f"The paper's order {verdict} in 2D (rank correlation of its FID with our one-step TV: {rho:+.2f}); "
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
