"""Wall-clock seconds until MeanFlow's one-step checkerboard reaches histogram TV <= 0.15 and >= 90% in cells.

    python benchmarks/time_to_quality.py [--seeds 3] [--seconds 90] [--coupling minibatch-ot]
    python benchmarks/time_to_quality.py --legacy OLD_CHECKOUT     (the same with an older checkout's trainer)

Trains with one-step previews of 10,000 points every 250 steps, keeps each preview with the training
time it was taken at, scores them afterwards (so scoring costs the run nothing), and prints the first
time both thresholds hold, per seed and as a mean.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

TV, IN_CELLS = 0.15, 0.90


# Every import of meanflow waits until main() has put the checkout to measure (this one, or --legacy's)
# first on the path.


def evaluator_and_targets(legacy: bool):
    """(Evaluator, get_target) of the checkout being measured: the old flat modules, or this one's."""
    if legacy:
        from meanflow.metrics import Evaluator  # deferred: the older checkout's modules (see above)
        from meanflow.targets import get_target
    else:
        from meanflow.core.metrics import Evaluator  # deferred: this checkout's (see above)
        from meanflow.core.targets import get_target
    return Evaluator, get_target


def first_time(previews: list[tuple[float, object]], target, Evaluator) -> float | None:
    evaluator = Evaluator(target, 10_000, torch.Generator().manual_seed(99))
    for seconds, points in previews:
        q = evaluator.score(points)
        if q.hist_tv <= TV and q.in_support >= IN_CELLS:
            return seconds
    return None


def run_current(seed: int, seconds: float, coupling: str | None) -> list:
    from meanflow.core.registry import make_config  # deferred: this checkout's (see above)
    from meanflow.core.targets import get_target
    from meanflow.core.training import run_training

    previews = []
    config = make_config(
        steps=10**7, max_seconds=seconds, seed=seed, preview_every=250, preview_n=10_000, coupling=coupling
    )
    run_training(
        config,
        get_target("checkerboard"),
        on_progress=lambda p: previews.append((p.elapsed, p.preview)) if p.preview is not None else None,
    )
    return previews


def run_legacy(seed: int, seconds: float) -> list:
    from meanflow.targets import get_target  # deferred: the older checkout's modules (see above)
    from meanflow.trainer import TrainConfig, TrainingJob

    previews = []
    config = TrainConfig(steps=10**7, max_seconds=seconds, seed=seed, preview_every=250, preview_n=10_000)
    TrainingJob(
        config,
        get_target("checkerboard"),
        on_snapshot=lambda s: (
            previews.append((s.elapsed, s.preview))
            if s.preview is not None and (not previews or previews[-1][1] is not s.preview)
            else None
        ),
    ).start().join()
    return previews


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--coupling", default=None)
    parser.add_argument("--legacy", default=None, help="a checkout of an older version (its meanflow/trainer.py)")
    args = parser.parse_args()
    sys.path.insert(0, args.legacy or str(Path(__file__).resolve().parents[1]))
    torch.set_num_threads(1)
    if not args.legacy:
        from meanflow.engine.local_worker import WORKER_SWITCH_SECONDS  # deferred: this checkout's (see above)

        sys.setswitchinterval(WORKER_SWITCH_SECONDS)  # as a worker process runs (the old trainer set its own)
    Evaluator, get_target = evaluator_and_targets(bool(args.legacy))

    times = []
    for seed in range(args.seeds):
        previews = run_legacy(seed, args.seconds) if args.legacy else run_current(seed, args.seconds, args.coupling)
        t = first_time(previews, get_target("checkerboard"), Evaluator)
        times.append(t)
        print(f"seed {seed}: {'not reached' if t is None else f'{t:.1f} s'}", flush=True)
    reached = [t for t in times if t is not None]
    if reached:
        spread = statistics.stdev(reached) if len(reached) > 1 else 0.0
        print(
            f"mean {statistics.mean(reached):.1f} s ± {spread:.1f} over {len(reached)} of {len(times)} seeds "
            f"(TV <= {TV}, in cells >= {IN_CELLS:.0%}, budget {args.seconds:g} s)"
        )


if __name__ == "__main__":
    main()
