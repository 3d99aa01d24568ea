"""The fair methods table for RESULTS.md, from the bundled study (assets/studies/methods.json).

    python benchmarks/methods_table.py            # Markdown: one table per target, then the ratios

Each row: one-step histogram TV (mean ± std over the seeds, n = the record's sample size) and sliced W1,
TV at 2 and 4 steps, flow matching's TV at 32, the steps made in the budget, the pairing and the network
(on the digits: FD in the classifier's features, the recognised share, coverage TV and the memorised
share at one step, FD at 2, 4 and 32 steps). The summary: per target, the best one-step row against the
best flow matching at 32 steps by the target's headline (TV; FD on the digits), and the ratio's spread.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meanflow.lab.records import load_study  # noqa: E402
from meanflow.lab.studies import HELD_OUT_TARGETS  # noqa: E402

DIVERGED = 100.0  # a seed this many times the row's median (or not finite) diverged: its mean would be noise


def _cell(row: dict, key: str) -> str:
    """'mean ± std' over the seeds; where a seed diverged, the others' and how many diverged (a mean of 6.2,
    6.5 and 1.5e7 would read as a number)."""
    if key not in row:
        return ""
    seeds = row.get(f"{key}_seeds") or []
    middle = statistics.median_low(seeds) if seeds else math.nan  # of two seeds, the lower: not their mean
    kept = [v for v in seeds if math.isfinite(v) and not (middle > 0 and v > DIVERGED * middle)]
    if seeds and len(kept) < len(seeds):
        spread = f" ± {statistics.stdev(kept):.3f}" if len(kept) > 1 else ""
        mean = f"{statistics.mean(kept):.3f}{spread}, " if kept else ""
        return f"{mean}{len(seeds) - len(kept)} of {len(seeds)} seeds diverged"
    std = row.get(f"{key}_std", math.nan)
    return f"{row[key]:.3f} ± {std:.3f}" if not math.isnan(std) else f"{row[key]:.3f}"


def headline(rows: list[dict]) -> str:
    """The metric a target's rows are read by: FD where they carry it (the digits), else histogram TV."""
    return "fd" if any("fd@1" in r for r in rows) else "hist_tv"


def target_table(rows: list[dict]) -> list[str]:
    m = headline(rows)
    if m == "fd":
        columns = (("FD @1", "fd@1"), ("recognised @1", "confident@1"), ("coverage TV @1", "coverage_tv@1"))
        columns += (("memorised @1", "memorised@1"), ("FD @2", "fd@2"), ("FD @4", "fd@4"), ("FD @32", "fd@32"))
        floors = ("fd_floor", "confident_floor", "coverage_tv_floor", "memorised_real")
    else:
        columns = (("TV @1", "hist_tv@1"), ("sliced W1 @1", "sliced_w1@1"), ("TV @2", "hist_tv@2"))
        columns += (("TV @4", "hist_tv@4"), ("TV @32", "hist_tv@32"))
        floors = ("hist_tv_floor", "sliced_w1_floor")
    lines = [
        "| cell | steps | " + " | ".join(label for label, _ in columns) + " | pairing | network |",
        "|---" * (len(columns) + 4) + "|",
    ]
    for row in rows:
        cells = " | ".join(_cell(row, key) for _, key in columns)
        said = f"{row.get('pairing', '')} | {row.get('network', '')}"
        lines.append(f"| {row['cell']} | {row.get('steps', 0):,.0f} | {cells} | {said} |")
    if rows[0].get(floors[0]) is not None:
        values = " | ".join(f"{rows[0].get(f, math.nan):.3f}" for f in floors)
        lines.append(f"| floor (exact samples) | | {values} |" + " |" * (len(columns) - len(floors) + 2))
    return lines


def _ratio_spread(one: dict, reference: dict, m: str = "hist_tv") -> tuple[float, float]:
    """The ratio of means, and its spread from the seeds' (first-order: relative stds added in quadrature)."""
    ratio = one[f"{m}@1"] / reference[f"{m}@32"]
    rel = math.hypot(
        one.get(f"{m}@1_std", 0.0) / one[f"{m}@1"], reference.get(f"{m}@32_std", 0.0) / reference[f"{m}@32"]
    )
    return ratio, ratio * rel


def summary(record: dict) -> list[str]:
    lines = [
        "| target | best one-step (@1) | best flow matching @32 | ratio ± spread | MeanFlow's ratio | "
        "reflow, equal compute | reflow, free teacher |",
        "|---|---|---|---|---|---|---|",
    ]
    for target in record["targets"]:
        m = headline([r for r in record["rows"] if r["target"] == target])
        rows = [r for r in record["rows"] if r["target"] == target and f"{m}@1" in r]
        fm = [r for r in rows if r["method"] == "flow-matching" and r.get("budget_share", 1.0) == 1.0]
        reference = min(fm, key=lambda r: r[f"{m}@32"])
        one_step = [r for r in rows if r["method"] != "flow-matching" and "free teacher" not in r["cell"]]
        best = min(one_step, key=lambda r: r[f"{m}@1"])
        ratio, spread = _ratio_spread(best, reference, m)
        by_cell = {r["cell"]: r for r in rows}
        mf = _ratio_spread(by_cell["MeanFlow"], reference, m)
        reflow = next((r for r in rows if r["method"] == "reflow" and "free teacher" not in r["cell"]), None)
        free = next((r for r in rows if "free teacher" in r["cell"]), None)
        held = " (held out)" if target in HELD_OUT_TARGETS else ""
        lines.append(
            f"| {target}{held} | {best['cell']} {_cell(best, f'{m}@1')} | {reference['cell']} "
            f"{_cell(reference, f'{m}@32')} | **{ratio:.2f} ± {spread:.2f}** | {mf[0]:.2f} ± {mf[1]:.2f} "
            f"| {_ratio_spread(reflow, reference, m)[0]:.2f} | {_ratio_spread(free, reference, m)[0]:.2f} |"
            if reflow and free
            else f"| {target}{held} | {best['cell']} | {reference['cell']} | {ratio:.2f} ± {spread:.2f} | | | |"
        )
    return lines


def consistency_steps(record: dict) -> list[str]:
    lines = ["| target | @1 | @2 | @4 |", "|---|---|---|---|"]
    for row in record["rows"]:
        m = headline([row])
        if row["method"] == "consistency" and f"{m}@1" in row:
            steps = " | ".join(_cell(row, f"{m}@{k}") for k in (1, 2, 4))
            lines.append(f"| {row['target']} ({'FD' if m == 'fd' else 'TV'}) | {steps} |")
    return lines


def anytime_summary(record: dict, targets: list[str]) -> list[str]:
    """The headline at each mark of the budget (mean over seeds and `targets`) per cell: the anytime curves
    in numbers."""
    curves = record.get("anytime") or {}
    by_cell: dict[str, dict[float, list[float]]] = {}
    for target in targets:
        for cell, series in curves.get(target, {}).items():
            for point in series:
                by_cell.setdefault(cell, {}).setdefault(round(point[0], 2), []).append(point[2])
    return [
        f"- {cell}: " + "  ".join(f"{f:.2f}: {statistics.mean(v):.3f}" for f, v in sorted(points.items()))
        for cell, points in by_cell.items()
    ]


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
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
    flat = [t for t in record["targets"] if t != "digits"]
    print("#### Anytime (TV against the share of the budget, mean over seeds and the 2D targets)\n")
    print("\n".join(anytime_summary(record, flat)) + "\n")
    if "digits" in record["targets"]:
        print("#### Anytime on the digits (FD against the share of the budget, mean over seeds)\n")
        print("\n".join(anytime_summary(record, ["digits"])))


if __name__ == "__main__":
    main()
