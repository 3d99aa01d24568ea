"""Guidance measured: class accuracy and per-class TV against the guidance scale, at given NFE.

MeanFlow's guidance is trained into its target (omega, one run per scale) and costs one evaluation
per step; flow matching's is classifier-free guidance at sampling time (scale w), two evaluations
per step, counted in its NFE. `score_run` scores one run at one (NFE, scale); `run_guidance_benchmark`
trains the `guidance` study on labelled targets and tabulates mean and spread over seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

import torch

from ..core.metrics import ClassEvaluator
from ..core.runs import load_run
from ..core.sampling import Flow, sample
from ..core.targets import Target
from ..engine.jobs import Engine
from .studies import STUDIES
from .sweeps import Budget, Sweep
from .tables import mean_std

SCALES = (1.0, 1.5, 2.0, 3.0)  # flow matching's sampling-time guidance scales
FM_NFES = (2, 8, 32)
PER_CLASS = 1000  # samples per class


def steps_for(nfe: int, guidance: float) -> int | None:
    """Sampling steps that spend `nfe` network evaluations (two per step with guidance); None if odd."""
    if guidance == 1.0:
        return nfe
    return nfe // 2 if nfe % 2 == 0 and nfe >= 2 else None


def score_run(flow: Flow, evaluator: ClassEvaluator, nfe: int, guidance: float, seed: int) -> dict | None:
    """Class accuracy and class TV of PER_CLASS samples per class at `nfe` evaluations and `guidance`."""
    steps = steps_for(nfe, guidance)
    if steps is None:
        return None
    samples = {
        k: sample(
            flow, evaluator.n, steps, torch.Generator().manual_seed(seed * 100 + k), label=k, guidance=guidance
        ).samples
        for k in range(flow.classes)
    }
    return evaluator.score(samples)


def run_guidance_benchmark(
    targets: Sequence[Target], seeds: int, seconds: float, engine: Engine, root: str | Path
) -> list[dict]:
    """Trains the `guidance` study on labelled targets (runs already in `root` with the same config and
    seed are kept) and returns its `guidance_rows`."""
    sweep = Sweep(
        STUDIES["guidance"], targets, seeds, Budget(seconds=seconds), engine, root, max_active=engine.max_running
    )
    sweep.run_to_end()
    return guidance_rows(sweep)


def guidance_rows(sweep: Sweep) -> list[dict]:
    """Rows of a finished `guidance` sweep: target, model ('MeanFlow, omega = 2', 'flow matching,
    w = 1.5'), nfe, class accuracy and the per-class metric (class TV in 2D, class FD on the digits) as
    mean and standard deviation over seeds (and each seed's value), and that metric's floor."""
    by_key: dict = {}
    evaluators = {t.name: ClassEvaluator(t, PER_CLASS, torch.Generator().manual_seed(4321)) for t in sweep.targets}
    for run in sweep.runs:
        if not run.scores:
            continue
        flow = load_run(run.path).flow
        evaluator = evaluators[run.target]
        if run.cell.method == "meanflow":
            grid = [(run.cell.name, 1, 1.0)]
        else:
            grid = [(f"flow matching, w = {w:g}", nfe, w) for nfe in FM_NFES for w in SCALES]
        for model, nfe, w in grid:
            score = score_run(flow, evaluator, nfe, w, run.seed)
            if score is not None:
                by_key.setdefault((run.target, model, nfe), []).append(score)
    rows = []
    for (target, model, nfe), scores in by_key.items():
        metric = per_class_key(scores[0])
        row = {
            "target": target,
            "model": model,
            "nfe": nfe,
            "seeds": len(scores),
            f"{metric}_floor": statistics.mean(s[f"{metric}_floor"] for s in scores),
        }
        for key in ("accuracy", metric):
            values = [s[key] for s in scores]
            row[key] = statistics.mean(values)
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else float("nan")
            row[f"{key}_seeds"] = values
        rows.append(row)
    return rows


def per_class_key(row: dict) -> str:
    """The per-class metric a guidance row carries: 'class_fd' (the digits) or 'class_tv' (2D)."""
    return "class_fd" if "class_fd" in row else "class_tv"


def format_guidance(rows: list[dict]) -> str:
    lines = [
        f"each class scored on n = {PER_CLASS:,} samples; the floor: class TV/FD of an exact sample of that n",
        f"{'target':<12}{'model':<28}{'NFE':>4}{'seeds':>6}  {'class accuracy':>16}  {'class TV/FD':>15}  {'floor':>6}",
    ]
    for r in rows:
        metric = per_class_key(r)
        acc, value = mean_std(r["accuracy"], r["accuracy_std"]), mean_std(r[metric], r[f"{metric}_std"])
        lines.append(
            f"{r['target']:<12}{r['model']:<28}{r['nfe']:>4}{r['seeds']:>6}  {acc:>16}  {value:>15}  "
            f"{r[f'{metric}_floor']:>6.3f}"
        )
    return "\n".join(lines)
