"""Step-time benchmark: flow matching, MeanFlow, and the seed tutorial's naive MeanFlow (lab.naive).

All variants train the same width, depth and batch on the checkerboard, timed in one process,
interleaved round by round, and summarised by medians, so the ratios hold on a noisy machine.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from ..core.couplings import get_coupling
from ..core.networks import build_network
from ..core.registry import get_method, make_config
from ..core.targets import get_target
from ..core.training import make_optimiser
from .naive import naive_meanflow

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


def _naive_meanflow_step(cfg: BenchConfig, g: torch.Generator) -> Callable[[], float]:
    return naive_meanflow(cfg.hidden, cfg.depth, cfg.batch, get_target("checkerboard"), cfg.seed, g)[1]


def _package_step(method_name: str, cfg: BenchConfig, g: torch.Generator, pairing: bool = False) -> Callable[[], float]:
    """One training step of the package's method (its per-run state and after-step update included);
    with `pairing`, its default coupling inline (serially). Reflow draws from a stand-in teacher's
    pairs (random ones: its step is flow matching's on them)."""
    config = make_config(method_name, hidden=cfg.hidden, depth=cfg.depth, batch=cfg.batch)
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
    pair, target = get_coupling(make_config().coupling), get_target("checkerboard")

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
