"""Quality at a fixed wall-clock budget: the naive seed recipe, MeanFlow and flow matching on each target
(`bench --quality`), and the method zoo over seeds with flow matching at 32 NFE as the reference
(`bench --quality --methods`). Every number sits beside its noise floor.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..core.metrics import Evaluator
from ..core.registry import make_config
from ..core.sampling import sample
from ..core.targets import Target, get_target
from ..core.training import run_training
from ..engine.jobs import Engine
from .naive import naive_meanflow
from .scoring import REFERENCE_NFE
from .studies import STUDIES
from .sweeps import Budget, Sweep
from .tables import format_table


@dataclass(frozen=True)
class QualityConfig:
    seconds: float = 30.0  # training wall time per (variant, target)
    targets: tuple[str, ...] = ("checkerboard", "moons", "spiral")
    n: int = 10_000  # samples scored per sampler
    seed: int = 0
    threads: int = 1


def _naive_quality_run(target, qc: QualityConfig):
    """Train the seed recipe (4 x 64 GELU, batch 2048) for the budget; returns (one-step sampler, steps)."""
    g = torch.Generator().manual_seed(qc.seed)
    net, step = naive_meanflow(64, 4, 2048, target, qc.seed, g)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < qc.seconds:
        step()
        steps += 1

    @torch.no_grad()
    def one_step(e: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(len(e), 1)
        return e - net(e, ones, 0 * ones)

    return one_step, steps


def run_quality_benchmark(qc: QualityConfig = QualityConfig()) -> list[dict]:
    """One row per (target, variant, NFE): metrics of n samples beside their floors."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(qc.threads)
    rows = []
    try:
        for name in qc.targets:
            target = get_target(name)
            evaluator = Evaluator(target, qc.n, torch.Generator().manual_seed(qc.seed + 1))

            def add(variant: str, nfe: int, samples, steps: int, evaluator=evaluator, target=target, name=name) -> None:
                q = evaluator.score(
                    target.normaliser.to_data(samples) if isinstance(samples, torch.Tensor) else samples
                )
                rows.append(
                    {
                        "target": name,
                        "variant": variant,
                        "nfe": nfe,
                        "train_steps": steps,
                        **{k: v for k, v in q.to_dict().items() if k != "n"},
                    }
                )

            if target.dim == 2:  # the seed's recipe is a 2D toy
                one_step, steps = _naive_quality_run(target, qc)
                noise = torch.randn(qc.n, 2, generator=torch.Generator().manual_seed(qc.seed))
                add("meanflow-naive", 1, one_step(noise), steps)
            for method, nfes in (("meanflow", (1, 2, 4)), ("flow-matching", (1, 8, 32))):
                own = dict(target.train_defaults)  # the digits' network
                config = make_config(
                    method, steps=10**7, max_seconds=qc.seconds, seed=qc.seed, threads=qc.threads, dim=target.dim, **own
                )
                result = run_training(config, target)
                for nfe in nfes:
                    x = sample(result.flow, qc.n, nfe, torch.Generator().manual_seed(qc.seed)).samples
                    add(method, nfe, x, result.step)
    finally:
        torch.set_num_threads(previous_threads)
    return rows


def format_quality_benchmark(rows: list[dict], qc: QualityConfig) -> str:
    lines = [
        f"sample quality after {qc.seconds:g} s of training ({qc.threads} thread), {qc.n} samples; "
        "floor = the same metric for an exact sample",
        f"{'target':<13}{'variant':<16}{'nfe':>4}{'steps':>8}{'hist TV':>9}{'floor':>7}"
        f"{'sliced W1':>11}{'floor':>7}{'in cells':>10}",
    ]
    for r in rows:
        if r.get("hist_tv") is None:  # beyond 2D: the headline is FD (digits) with sliced W1
            fd = ""
            if r.get("fd") is not None:
                fd = f"FD {r['fd']:.3f} (floor {r['fd_floor']:.3f}), recognised {r['confident']:.0%}, "
            lines.append(
                f"{r['target']:<13}{r['variant']:<16}{r['nfe']:>4}{r['train_steps']:>8}  {fd}sliced W1 "
                f"{r['sliced_w1']:.3f} (floor {r['sliced_w1_floor']:.3f})"
            )
            continue
        inside = f"{r['in_support']:.3f}" if r["in_support"] is not None else "-"
        lines.append(
            f"{r['target']:<13}{r['variant']:<16}{r['nfe']:>4}{r['train_steps']:>8}{r['hist_tv']:>9.3f}"
            f"{r['hist_tv_floor']:>7.3f}{r['sliced_w1']:>11.3f}{r['sliced_w1_floor']:>7.3f}{inside:>10}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- the method zoo


def zoo_cells(methods: Sequence[str]) -> list[str]:
    """The `methods` study's rows that train `methods`, with the flow-matching rows that reflow's rows
    learn from when reflow is asked for."""
    study = STUDIES["methods"]
    cells = [c for c in study.cells if c.method in methods]
    teachers = {c.teacher for c in cells if c.teacher is not None}
    return [c.name for c in study.cells if c in cells or c.name in teachers]


def run_zoo_benchmark(
    methods: list[str], targets: Sequence[Target], seeds: int, seconds: float, engine: Engine, root: str | None = None
) -> tuple[list[dict], str]:
    """Each method's rows of the `methods` study trained for `seconds` per seed on each target (on `engine`),
    scored at 1, 2, 4 and 32 NFE, with each one-step TV over the better flow matching's at 32 NFE (where flow
    matching is among the methods). Returns (rows, text)."""
    sweep = Sweep(
        STUDIES["methods"],
        targets,
        seeds,
        Budget(seconds=seconds),
        engine,
        root or tempfile.mkdtemp(),
        max_active=engine.max_running,
        cells=zoo_cells(methods),
    )
    sweep.run_to_end()
    rows = sweep.table()
    reference = {r["target"]: r["fm32_reference"] for r in rows if "fm32_reference" in r}
    text = format_table(rows)
    if reference:
        text += f"\n\nreference, the better flow matching at {REFERENCE_NFE} NFE (mean over seeds):\n" + "\n".join(
            f"  {target:<13} TV {tv:.3f}" for target, tv in reference.items()
        )
    return rows, text
