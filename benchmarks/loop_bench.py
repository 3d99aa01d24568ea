"""What the training loop costs around the step, measured from outside by timing whole runs.

    python benchmarks/loop_bench.py [--rounds 5] [--batch 256 --hidden 128 --steps 1000]

For flow matching (independent pairing) and MeanFlow (its default pairing, computed ahead in a thread,
and independent pairing, which gives what the pairing costs a whole run), at the app's default
size (or --batch, --hidden): seconds per step of whole runs (the difference between runs of
200 + --steps and 200 steps, so start-up cancels) against seconds per bare step (loss, backward,
optimiser step on a batch drawn beforehand). The loop's share is (whole - bare) / bare: drawing
and pairing batches, the rollback copy, history, progress reports. Medians of interleaved rounds.

"one draw a batch" rows call the target's sampler once per batch, as the loop did before it drew
about training.DRAW_ROWS rows per call: the same process and rounds, so the two compare directly.
First, the draw alone (data and noise for one batch of 256, no pairing) for each preset, both ways:
a small, steady number where whole runs move by several percent from round to round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

import torch

from meanflow import get_target
from meanflow.core import training
from meanflow.core.config import TrainConfig
from meanflow.core.networks import build_network
from meanflow.core.registry import (
    get_method,
    make_config,
)
from meanflow.core.training import make_optimiser, run_training
from meanflow.engine.local_worker import WORKER_SWITCH_SECONDS


def whole_run(config: TrainConfig, steps: int) -> float:
    t0 = time.perf_counter()
    run_training(replace(config, steps=steps), get_target("checkerboard"), on_progress=lambda p: None)
    return time.perf_counter() - t0


def bare_steps(config: TrainConfig, steps: int) -> float:
    net = build_network(config, generator=torch.Generator().manual_seed(0))
    opt = make_optimiser(net, config.lr)
    method, g = get_method(config.method), torch.Generator().manual_seed(1)
    x = get_target("checkerboard").sample_model(config.batch, g)
    e = torch.randn(config.batch, 2, generator=g)
    t0 = time.perf_counter()
    for _ in range(steps):
        terms = method.loss(net, x, e, g, config.options, 0.5)
        opt.zero_grad(set_to_none=True)
        terms.loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def draw_cost(name: str, rows_per_call: int, batch: int = 256, repeats: int = 200) -> float:
    """Median seconds to draw one batch's data and noise when the sampler draws rows_per_call rows a call."""
    target, g = get_target(name), torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        target.sample_model(rows_per_call, g)
        torch.randn(rows_per_call, 2, generator=g)
        times.append((time.perf_counter() - t0) * batch / rows_per_call)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=make_config().batch)
    parser.add_argument("--hidden", type=int, default=make_config().hidden)
    parser.add_argument("--steps", type=int, default=1000, help="steps in the difference of two whole runs")
    args = parser.parse_args()
    size = {"batch": args.batch, "hidden": args.hidden}
    torch.set_num_threads(1)
    sys.setswitchinterval(WORKER_SWITCH_SECONDS)  # as a worker process runs
    chunked = training.DRAW_ROWS
    for name in ("checkerboard", "spiral", "moons", "8gaussians"):
        one, many = draw_cost(name, 256), draw_cost(name, chunked // 256 * 256)
        print(f"draw of a batch of 256, {name}: {one * 1e3:.3f} ms one call a batch, {many * 1e3:.3f} ms chunked")
    configs = {  # name: (config, rows per sampler call)
        "flow matching": (make_config(method="flow-matching", **size), chunked),
        "flow matching, one draw a batch": (make_config(method="flow-matching", **size), 1),
        "MeanFlow": (make_config(method="meanflow", **size), chunked),
        "MeanFlow, one draw a batch": (make_config(method="meanflow", **size), 1),
        "MeanFlow, indep.": (make_config(method="meanflow", coupling="independent", **size), chunked),
    }
    whole: dict = {k: [] for k in configs}
    bare: dict = {k: [] for k in configs}
    for _ in range(args.rounds):
        for name, (config, draw_rows) in configs.items():
            training.DRAW_ROWS = draw_rows
            whole[name].append((whole_run(config, 200 + args.steps) - whole_run(config, 200)) / args.steps)
            bare[name].append(bare_steps(config, max(50, args.steps // 3)))
    training.DRAW_ROWS = chunked
    for name, (config, _) in configs.items():
        w, b = statistics.median(whole[name]), statistics.median(bare[name])
        print(
            f"{name:<32} whole run {w * 1e3:.2f} ms/step, bare step {b * 1e3:.2f} ms: loop {(w - b) / b:+.0%} "
            f"({config.coupling} pairing)"
        )
    mf, fm, mf_plain = (statistics.median(whole[k]) for k in ("MeanFlow", "flow matching", "MeanFlow, indep."))
    print(f"whole runs: MeanFlow with its pairing / flow matching = {mf / fm:.2f}x")
    print(f"the pairing's cost in whole MeanFlow runs (against independent pairing): {(mf - mf_plain) / mf_plain:+.0%}")


if __name__ == "__main__":
    main()
