"""The fair methods table for RESULTS.md, from the bundled study (assets/studies/methods.json).

    python benchmarks/methods_table.py            # Markdown: one table per target, then the ratios

Each row: one-step histogram TV (mean ± std over the seeds, n = the record's sample size) and sliced W1,
TV at 2 and 4 steps, flow matching's TV at 32, the steps made in the budget, the pairing and the network.
The summary: per target, the best one-step row against the best flow matching at 32 steps, and whether the
ratio is <= 1 beyond the seeds' spread.
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow.lab.records import load_study  # noqa: E402
from meanflow.lab.studies import HELD_OUT_TARGETS  # noqa: E402


def _cell(row: dict, key: str) -> str:
    if key not in row:
        return ""
    std = row.get(f"{key}_std", math.nan)
    return f"{row[key]:.3f} ± {std:.3f}" if not math.isnan(std) else f"{row[key]:.3f}"


def target_table(rows: list[dict]) -> list[str]:
    lines = [
        "| cell | steps | TV @1 | sliced W1 @1 | TV @2 | TV @4 | TV @32 | pairing | network |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['cell']} | {row.get('steps', 0):,.0f} | {_cell(row, 'hist_tv@1')} | {_cell(row, 'sliced_w1@1')} "
            f"| {_cell(row, 'hist_tv@2')} | {_cell(row, 'hist_tv@4')} | {_cell(row, 'hist_tv@32')} "
            f"| {row.get('pairing', '')} | {row.get('network', '')} |"
        )
    floor = rows[0].get("hist_tv_floor")
    if floor is not None:
        lines.append(
            f"| floor (exact samples) | | {floor:.3f} | {rows[0].get('sliced_w1_floor', math.nan):.3f} | | | | | |"
        )
    return lines


def _ratio_spread(one: dict, reference: dict) -> tuple[float, float]:
    """The ratio of means, and its spread from the seeds' (first-order: relative stds added in quadrature)."""
    ratio = one["hist_tv@1"] / reference["hist_tv@32"]
    rel = math.hypot(
        one.get("hist_tv@1_std", 0.0) / one["hist_tv@1"], reference.get("hist_tv@32_std", 0.0) / reference["hist_tv@32"]
    )
    return ratio, ratio * rel


def summary(record: dict) -> list[str]:
    lines = [
        "| target | best one-step (TV @1) | best flow matching @32 | ratio ± spread | MeanFlow's ratio | "
        "reflow, equal compute | reflow, free teacher |",
        "|---|---|---|---|---|---|---|",
    ]
    for target in record["targets"]:
        rows = [r for r in record["rows"] if r["target"] == target and "hist_tv@1" in r]
        fm = [r for r in rows if r["method"] == "flow-matching" and r.get("budget_share", 1.0) == 1.0]
        reference = min(fm, key=lambda r: r["hist_tv@32"])
        one_step = [r for r in rows if r["method"] != "flow-matching" and "free teacher" not in r["cell"]]
        best = min(one_step, key=lambda r: r["hist_tv@1"])
        ratio, spread = _ratio_spread(best, reference)
        by_cell = {r["cell"]: r for r in rows}
        mf = _ratio_spread(by_cell["MeanFlow"], reference)
        reflow = next((r for r in rows if r["method"] == "reflow" and "free teacher" not in r["cell"]), None)
        free = next((r for r in rows if "free teacher" in r["cell"]), None)
        held = " (held out)" if target in HELD_OUT_TARGETS else ""
        lines.append(
            f"| {target}{held} | {best['cell']} {_cell(best, 'hist_tv@1')} | {reference['cell']} "
            f"{_cell(reference, 'hist_tv@32')} | **{ratio:.2f} ± {spread:.2f}** | {mf[0]:.2f} ± {mf[1]:.2f} "
            f"| {_ratio_spread(reflow, reference)[0]:.2f} | {_ratio_spread(free, reference)[0]:.2f} |"
            if reflow and free
            else f"| {target}{held} | {best['cell']} | {reference['cell']} | {ratio:.2f} ± {spread:.2f} | | | |"
        )
    return lines


def consistency_steps(record: dict) -> list[str]:
    lines = ["| target | TV @1 | TV @2 | TV @4 |", "|---|---|---|---|"]
    for row in record["rows"]:
        if row["method"] == "consistency" and "hist_tv@1" in row:
            steps = " | ".join(_cell(row, f"hist_tv@{k}") for k in (1, 2, 4))
            lines.append(f"| {row['target']} | {steps} |")
    return lines


def anytime_summary(record: dict) -> list[str]:
    """TV at each mark of the budget (mean over seeds and targets) per cell: the anytime curves in numbers."""
    curves = record.get("anytime") or {}
    lines = []
    for cell, per_target in curves.items():
        points: dict[float, list[float]] = {}
        for series in per_target.values():
            for point in series:
                points.setdefault(round(point[0], 2), []).append(point[2])
        if points:
            marks = "  ".join(f"{f:.2f}: {statistics.mean(v):.3f}" for f, v in sorted(points.items()))
            lines.append(f"- {cell}: {marks}")
    return lines


def main() -> None:
    record = load_study(ROOT / "assets" / "studies" / "methods.json")
    if record is None:
        raise SystemExit("assets/studies/methods.json missing: `make assets`")
    print(f"{record['seeds']} seeds; anytime previews of n = {record.get('preview_n', '?')}\n")
    for target in record["targets"]:
        print(f"#### {target}\n")
        print("\n".join(target_table([r for r in record["rows"] if r["target"] == target])) + "\n")
    print("#### Best one step against the best flow matching at 32 steps\n")
    print("\n".join(summary(record)) + "\n")
    print("#### Consistency's steps\n")
    print("\n".join(consistency_steps(record)) + "\n")
    print("#### Anytime (TV against the share of the budget, mean over seeds and targets)\n")
    print("\n".join(anytime_summary(record)))


if __name__ == "__main__":
    main()
