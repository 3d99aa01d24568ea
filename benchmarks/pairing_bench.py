"""What one exact assignment of a chunk costs scipy's solver, on plain and on reduced costs.

    python benchmarks/pairing_bench.py [--rounds 5] [--chunk 128]

For each preset target: 64 chunks of data (the target's sampler) against Gaussian noise, each a cost
matrix of squared distances; scipy's linear_sum_assignment on the plain matrices and on the reduced
ones (couplings._reduced: row minima, then column minima, taken off, which keeps the optimum),
interleaved, median over rounds of the mean time a chunk. Also checks the two give the same total
cost. The matrices are built beforehand: this is the solver alone, what a serial pairing pays.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from meanflow import get_target
from meanflow.core.couplings import OT_CHUNK, _costs, _reduced

CHUNKS = 64


def seconds_per_chunk(matrices: list[np.ndarray]) -> float:
    t0 = time.perf_counter()
    for cost in matrices:
        linear_sum_assignment(cost)
    return (time.perf_counter() - t0) / len(matrices)


def total_cost(plain: list[np.ndarray], solved: list[np.ndarray]) -> float:
    return sum(float(p[linear_sum_assignment(s)].sum()) for p, s in zip(plain, solved))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=OT_CHUNK)
    args = parser.parse_args()
    n, g = args.chunk, torch.Generator().manual_seed(0)
    print(f"scipy's assignment of one chunk of {n}, mean of {CHUNKS} chunks, median of {args.rounds} rounds")
    for name in ("checkerboard", "moons", "spiral", "8gaussians"):
        x = get_target(name).sample_model(CHUNKS * n, g).double().numpy()
        e = torch.randn(CHUNKS * n, 2, generator=g).double().numpy()
        plain = [_costs(x[s : s + n], e[s : s + n]) for s in range(0, CHUNKS * n, n)]
        reduced = [_reduced(cost) for cost in plain]
        times: dict = {"plain": [], "reduced": []}
        for _ in range(args.rounds):
            times["plain"].append(seconds_per_chunk(plain))
            times["reduced"].append(seconds_per_chunk(reduced))
        a, b = statistics.median(times["plain"]), statistics.median(times["reduced"])
        same = np.isclose(total_cost(plain, plain), total_cost(plain, reduced), rtol=1e-9)
        print(
            f"{name:<13} plain {a * 1e3:.3f} ms, reduced {b * 1e3:.3f} ms ({b / a:.2f}x); "
            f"same optimum: {'yes' if same else 'NO'}"
        )


if __name__ == "__main__":
    main()
