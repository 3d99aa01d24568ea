"""Step-time benchmark: flow matching, MeanFlow, and the seed tutorial's naive MeanFlow.

All variants train the same width, depth and batch on the checkerboard, timed in one process,
interleaved round by round, and summarised by medians, so the ratios hold on a noisy machine.
The naive baseline is written here, on purpose apart from the package: the seed tutorial's
network (inputs x, t, r; GELU) and its loss with `torch.autograd.functional.jvp(create_graph=True)`.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..core.config import TrainConfig, mlp_widths
from ..core.couplings import get_coupling
from ..core.methods import build_network, get_method
from ..core.targets import get_target
from ..core.training import make_optimiser

SIZES = {"default": (128, 4, 256), "large": (256, 4, 1024)}  # (hidden, depth, batch): the app's, and a big one


@dataclass(frozen=True)
class BenchConfig:
    hidden: int = 128  # one size: the app's default (SIZES lists both that main_bench times by default)
    depth: int = 4
    batch: int = 256
    steps: int = 30  # timed steps per round
    warmup: int = 5  # untimed steps before each round
    rounds: int = 5  # interleaved rounds; the median is reported
    threads: int = 1
    seed: int = 0


class _SeedNet(nn.Module):
    """The seed tutorial's MeanFlowNet: cat(x, t, r) -> GELU MLP."""

    def __init__(self, hidden: int, depth: int):
        super().__init__()
        widths = mlp_widths(4, hidden, depth)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x, t, r):
        h = torch.cat([x, t, r], dim=1)
        for layer in self.layers[:-1]:
            h = F.gelu(layer(h))
        return self.layers[-1](h)


def _naive_meanflow(hidden: int, depth: int, batch: int, target, seed: int, g: torch.Generator):
    """The seed tutorial's recipe: (network, one training step). Uniform r < t, Adam 3e-3."""
    torch.manual_seed(seed)
    net = _SeedNet(hidden, depth)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def step() -> float:
        x = target.sample_model(batch, g)
        e = torch.randn(batch, 2, generator=g)
        pair = torch.rand(batch, 2, generator=g)
        t, r = pair.max(1, keepdim=True).values, pair.min(1, keepdim=True).values
        z, v = (1 - t) * x + t * e, e - x
        u, dudt = torch.autograd.functional.jvp(
            net, (z, t, r), (v, torch.ones_like(t), torch.zeros_like(r)), create_graph=True
        )
        loss = F.mse_loss(u, (v - (t - r) * dudt).detach())
        loss.backward()
        opt.step()
        opt.zero_grad()
        return float(loss.detach())

    return net, step


def _naive_meanflow_step(cfg: BenchConfig, g: torch.Generator) -> Callable[[], float]:
    return _naive_meanflow(cfg.hidden, cfg.depth, cfg.batch, get_target("checkerboard"), cfg.seed, g)[1]


def _package_step(method_name: str, cfg: BenchConfig, g: torch.Generator, pairing: bool = False) -> Callable[[], float]:
    """One training step of the package's method (its per-run state and after-step update included);
    with `pairing`, its default coupling inline (serially). Reflow draws from a stand-in teacher's
    pairs (random ones: its step is flow matching's on them)."""
    config = TrainConfig(method=method_name, hidden=cfg.hidden, depth=cfg.depth, batch=cfg.batch)
    net = build_network(config, generator=torch.Generator().manual_seed(cfg.seed))
    opt = make_optimiser(net, 3e-3)
    method, target = get_method(method_name), get_target("checkerboard")
    pair = get_coupling(config.coupling) if pairing else None
    context = None if method_name == "reflow" else method.prepare(config, target, {}, torch.Generator(), net)

    def step() -> float:
        x = target.sample_model(cfg.batch, g)
        e = torch.randn(cfg.batch, 2, generator=g)
        if pair is not None:
            e = pair(x, e)
        terms = method.loss(net, x, e, g, config.options, 0.5, context)
        opt.zero_grad(set_to_none=True)
        terms.loss.backward()
        opt.step()
        method.after_step(context, net)
        return float(terms.loss.detach())

    return step


def _pairing_alone(cfg: BenchConfig, g: torch.Generator) -> Callable[[], float]:
    """MeanFlow's default pairing of one batch, nothing else."""
    pair, target = get_coupling(TrainConfig().coupling), get_target("checkerboard")

    def step() -> float:
        pair(target.sample_model(cfg.batch, g), torch.randn(cfg.batch, 2, generator=g))
        return 0.0

    return step


# Every variant draws its batch; flow matching and "meanflow" pair independently (the same pairing),
# "meanflow+pairing" adds MeanFlow's default pairing serially, "pairing" times that pairing alone.
VARIANTS = {
    "flow-matching": lambda cfg, g: _package_step("flow-matching", cfg, g),
    "meanflow": lambda cfg, g: _package_step("meanflow", cfg, g),
    "meanflow+pairing": lambda cfg, g: _package_step("meanflow", cfg, g, pairing=True),
    "pairing": _pairing_alone,
    "meanflow-naive": _naive_meanflow_step,
}


def method_variants(names: list[str]) -> dict:
    """Each registered method's bare step, all with the same (independent) pairing: `bench --methods`."""
    return {name: (lambda cfg, g, n=name: _package_step(n, cfg, g)) for name in ["flow-matching", *names]}


def run_step_benchmark(cfg: BenchConfig = BenchConfig(), variants: dict | None = None) -> dict:
    """Median milliseconds per training step of each variant, and ratios to flow matching."""
    variants = variants or VARIANTS
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        g = torch.Generator().manual_seed(cfg.seed)
        steps = {name: make(cfg, g) for name, make in variants.items()}
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(cfg.rounds):
            for name, step in steps.items():  # interleaved: each round times every variant
                for _ in range(cfg.warmup):
                    step()
                start = time.perf_counter()
                for _ in range(cfg.steps):
                    step()
                times[name].append((time.perf_counter() - start) / cfg.steps * 1e3)
    finally:
        torch.set_num_threads(previous_threads)
    median = {name: statistics.median(ts) for name, ts in times.items()}
    return {
        "config": asdict(cfg),
        "machine": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "processor": platform.machine(),
            "threads": cfg.threads,
        },
        "ms_per_step": median,
        "ms_per_step_rounds": times,
        "ratio_to_flow_matching": {name: m / median["flow-matching"] for name, m in median.items()},
        "pairing_share_of_meanflow_step": (
            median["pairing"] / median["meanflow"] if {"pairing", "meanflow"} <= set(median) else None
        ),
    }


def format_step_benchmark(result: dict) -> str:
    cfg = result["config"]
    lines = [
        f"step time, hidden {cfg['hidden']} depth {cfg['depth']} batch {cfg['batch']}, "
        f"{cfg['threads']} thread(s), median of {cfg['rounds']} interleaved rounds x {cfg['steps']} steps",
        f"{'variant':<18}{'ms/step':>10}{'x flow matching':>18}",
    ]
    for name, ms in result["ms_per_step"].items():
        lines.append(f"{name:<18}{ms:>10.2f}{result['ratio_to_flow_matching'][name]:>18.2f}")
    if result["pairing_share_of_meanflow_step"] is not None:
        lines.append(
            f"pairing share of a MeanFlow step: {result['pairing_share_of_meanflow_step']:.0%} "
            "(in training it runs ahead of the step, beside it, when a core is free)"
        )
    return "\n".join(lines)


def main_bench(configs: list[BenchConfig], as_json: bool) -> str:
    results = [run_step_benchmark(cfg) for cfg in configs]
    if as_json:
        return json.dumps({"sizes": results}, indent=2)
    return "\n\n".join(format_step_benchmark(r) for r in results)


# ---------------------------------------------------------------- quality at a fixed wall-clock budget


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
    net, step = _naive_meanflow(64, 4, 2048, target, qc.seed, g)
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
    from ..core.metrics import Evaluator
    from ..core.sampling import sample
    from ..core.training import train

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

            one_step, steps = _naive_quality_run(target, qc)
            add(
                "meanflow-naive",
                1,
                one_step(torch.randn(qc.n, 2, generator=torch.Generator().manual_seed(qc.seed))),
                steps,
            )
            for method, nfes in (("meanflow", (1, 2, 4)), ("flow-matching", (1, 8, 32))):
                config = TrainConfig(
                    method=method, steps=10**7, max_seconds=qc.seconds, seed=qc.seed, threads=qc.threads
                )
                result = train(config, target)
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
        inside = f"{r['in_support']:.3f}" if r["in_support"] is not None else "-"
        lines.append(
            f"{r['target']:<13}{r['variant']:<16}{r['nfe']:>4}{r['train_steps']:>8}{r['hist_tv']:>9.3f}"
            f"{r['hist_tv_floor']:>7.3f}{r['sliced_w1']:>11.3f}{r['sliced_w1_floor']:>7.3f}{inside:>10}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- the method zoo at a fixed wall-clock budget


def run_zoo_benchmark(
    methods: list[str], targets: list, seeds: int, seconds: float, root: str | None = None
) -> tuple[list[dict], str]:
    """Each method trained for `seconds` per seed on each target (the `methods` study, on local workers),
    scored at 1 and 2 NFE, beside flow matching at 32 NFE as the reference. Returns (rows, text)."""
    import tempfile

    from ..core.metrics import Evaluator
    from ..core.runs import load_run
    from ..core.sampling import sample
    from ..engine.jobs import engine_from_env
    from .studies import EVAL_N, STUDIES, Budget, Sweep, format_table

    study = STUDIES["methods"]
    cells = [c.name for c in study.cells if c.method in methods]
    if "reflow" in methods and "flow-matching" not in methods:  # reflow's teacher is the flow-matching run
        cells.append(next(c.name for c in study.cells if c.method == "flow-matching"))
    os.environ.setdefault("MEANFLOW_PIN_CORES", "1")  # every run on one core, whatever runs beside it
    engine = engine_from_env()
    try:
        sweep = Sweep(
            study,
            targets,
            seeds,
            Budget(seconds=seconds),
            engine,
            root or tempfile.mkdtemp(),
            max_active=engine.max_running,
            cells=cells,
        )
        sweep.run_to_end()
    finally:
        engine.close()
    rows = sweep.table()
    reference = []
    for target in targets:
        scores = []
        for run in sweep.runs:
            if run.cell.method == "flow-matching" and run.target == target.name and run.scores:
                flow = load_run(run.path).flow
                x = sample(flow, EVAL_N, 32, torch.Generator().manual_seed(run.seed)).samples
                evaluator = Evaluator(target, EVAL_N, torch.Generator().manual_seed(1000 + run.seed))
                scores.append(evaluator.score(x).to_dict())
        if scores:
            reference.append(
                {
                    "target": target.name,
                    "reference": "flow matching, 32 NFE",
                    "seeds": len(scores),
                    **{k: statistics.mean(s[k] for s in scores) for k in ("hist_tv", "sliced_w1")},
                }
            )
    for row in rows:
        ref = next((r for r in reference if r["target"] == row["target"]), None)
        if ref is not None and "hist_tv@1" in row:
            row["hist_tv@1_over_fm32"] = row["hist_tv@1"] / ref["hist_tv"]
    text = (
        format_table(rows)
        + "\n\nreference, flow matching at 32 NFE (mean over seeds):\n"
        + "\n".join(f"  {r['target']:<13} TV {r['hist_tv']:.3f}  W1 {r['sliced_w1']:.3f}" for r in reference)
    )
    return rows + reference, text
