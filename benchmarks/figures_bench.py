"""How long the Animate page's work takes: trajectories plus the Plotly figure.

    python benchmarks/figures_bench.py [--particles 2000] [--frames 64] [--repeats 7]

Two panels (MeanFlow one step, flow matching 32 steps) from the bundled checkerboard runs, or
untrained networks if assets/pretrained is missing. Prints the median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from meanflow import Flow, list_runs, load_run, sample
from meanflow.core.networks import build_network
from meanflow.core.paths import pretrained_dir
from meanflow.core.registry import get_method, make_config
from meanflow.views import figures


def flows() -> dict[str, Flow]:
    infos, _ = list_runs(pretrained_dir())
    found = {i.config.method: load_run(i.path).flow for i in infos if i.target_name == "checkerboard"}
    return {
        m: found.get(m) or Flow(get_method(m), build_network(make_config(method=m)))
        for m in ("meanflow", "flow-matching")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    by_method = flows()
    timings = {"trajectories": [], "figure": [], "json": []}
    for i in range(args.repeats + 1):  # the first round warms caches and is dropped
        t0 = time.perf_counter()
        panels = {}
        for method, steps in (("meanflow", 1), ("flow-matching", 32)):
            traj = sample(by_method[method], args.particles, steps, torch.Generator().manual_seed(i))
            panels[f"{method}, {steps}"] = (traj.times, traj.path)
        t1 = time.perf_counter()
        fig = figures.trajectory_animation(panels, n_frames=args.frames)
        t2 = time.perf_counter()
        size = len(fig.to_json())
        t3 = time.perf_counter()
        if i:
            for key, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2)):
                timings[key].append(seconds)
    print(f"2 panels x {args.particles} particles x {args.frames} frames, median of {args.repeats}:")
    for key, values in timings.items():
        print(f"  {key:<13}{statistics.median(values) * 1e3:8.1f} ms")
    total = sum(statistics.median(v) for v in (timings["trajectories"], timings["figure"]))
    print(
        f"  trajectories + figure: {total * 1e3:.1f} ms (JSON sent to the browser: {size / 1e6:.1f} MB, "
        f"{statistics.median(timings['json']) * 1e3:.0f} ms to serialise)"
    )


if __name__ == "__main__":
    main()
