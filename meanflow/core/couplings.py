"""How noise is paired with data in a training batch.

Independent pairing is the textbook one: any noise point may be sent to any data point, so
conditional paths cross and the learned flow curves. Minibatch optimal transport re-pairs each
batch to minimise the total squared distance (an exact assignment), so paths cross less and the
flow straightens: what a single jump needs (MeanFlow's one-step samples get much sharper at the same
budget: benchmarks/RESULTS.md, "Sample quality at a fixed wall-clock budget").

An exact assignment costs O(B^3), at B = 256 more than the MeanFlow step it serves. `minibatch_ot`
therefore assigns within chunks of OT_CHUNK = 128 rows (rows are i.i.d., so a chunk is a random
minibatch of its own, as in the minibatch-OT literature): a fraction of the cost, and sharper one-step
samples at a fixed budget than whole-batch assignment, whose cost ate half the steps
(benchmarks/RESULTS.md, "Pairing: which assignment"). The training loop draws and pairs the next chunk
of batches ahead in a thread of its own (training.Batches), so on a free core the assignment costs the
step little. `exact_ot` keeps the whole-batch assignment (chunks of 512).

Pooled optimal transport (`pooled-ot`) pays for a larger assignment once: the run draws a pool of
POOL_ROWS data points and as many noise points from a stream of its own, pairs them by exact
assignments within chunks of POOL_CHUNK rows (four times a minibatch's chunk, so nearer the whole
distributions' transport), and then draws every batch from the pool's pairs (training.PairPool). The
pool costs 2-4 s of the run's clock at its start (2D, one core; 5-8 s paired within classes, whose
assignments are slower) and nothing per step after it (benchmarks/RESULTS.md, "Pooled optimal
transport"). Where a pairing must be applied to one batch alone (a multistep sampler's fresh noise), a
pooled pairing pairs as minibatch OT does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

# A pairing: (data x (B, 2), noise e (B, 2)) -> e reordered, so that row i of x goes with row i of the result.
Pairing = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

OT_CHUNK = 128  # rows per assignment in minibatch_ot (chunks of 64 to 256 and Hilbert-sorted chunks: RESULTS.md)
EXACT_CHUNK = 512  # exact_ot's rows per assignment: O(B^3) beyond it would dominate training
POOL_ROWS = 32_768  # pairs in a pooled-OT run's pool
POOL_CHUNK = 512  # rows per assignment in the pool: 2-4 s for the pool on one core, 5-8 s within classes (RESULTS.md)


def independent(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """The noise as drawn: x (B, 2) and e (B, 2) are paired row by row."""
    return e


def _costs(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Squared distances between the rows of x (b, 2) and e (b, 2): (b, b), by one matrix product."""
    return (x * x).sum(-1)[:, None] + (e * e).sum(-1)[None, :] - 2 * x @ e.T


def _reduced(cost: np.ndarray) -> np.ndarray:
    """cost (b, b) less each row's minimum, then each column's: the same optimal assignment (every
    permutation's total moves by the same constant), found sooner by scipy's solver, whose augmenting
    paths start from zero potentials and so end sooner where a row's cheapest entry is 0
    (benchmarks/pairing_bench.py; RESULTS.md, "Reduced costs for the solver")."""
    cost = cost - cost.min(1, keepdims=True)
    return cost - cost.min(0, keepdims=True)


def _permutation(xs: np.ndarray, es: np.ndarray, chunk: int) -> np.ndarray | None:
    """perm (b,) with x[i] paired to e[perm[i]], minimal in total squared distance within each chunk of
    `chunk` rows; None when a chunk's costs are not finite (the caller leaves that noise as drawn)."""
    from scipy.optimize import linear_sum_assignment  # here: the pages that only list couplings skip scipy

    perm = np.empty(len(xs), dtype=np.int64)
    for start in range(0, len(xs), chunk):
        cost = _costs(xs[start : start + chunk], es[start : start + chunk])  # (b, b)
        if not np.isfinite(cost).all():
            return None  # non-finite data: leave it to the loss, which reports the divergence
        perm[start : start + chunk] = start + linear_sum_assignment(_reduced(cost))[1]
    return perm


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _assign(x: torch.Tensor, e: torch.Tensor, chunk: int) -> torch.Tensor:
    """e (B, 2) reordered so that sum_i ||x_i - e_i||^2 is minimal within each chunk of `chunk` rows."""
    perm = _permutation(_numpy(x), _numpy(e), chunk)
    return e if perm is None else e[torch.as_tensor(perm, device=e.device)]


def minibatch_ot(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """e (B, 2) paired with x (B, 2) by an exact assignment within each chunk of OT_CHUNK rows."""
    return _assign(x, e, OT_CHUNK)


def exact_ot(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """e (B, 2) paired with x (B, 2) by an exact assignment of the whole batch (chunks of EXACT_CHUNK rows)."""
    return _assign(x, e, EXACT_CHUNK)


CHUNKS = {minibatch_ot: OT_CHUNK, exact_ot: EXACT_CHUNK}  # the assignments, by their rows per chunk


def permutation_within_classes(xs: np.ndarray, es: np.ndarray, ys: np.ndarray | None, chunk: int) -> np.ndarray:
    """perm (b,) with xs[i] (b, D) paired to es[perm[i]] (b, D): an exact assignment within each chunk of
    `chunk` rows of each class ys (b,), or of all rows when ys is None. Rows whose class has non-finite
    costs keep their noise as drawn."""
    perm = np.arange(len(xs))
    for k in [None] if ys is None else np.unique(ys):
        rows = np.arange(len(xs)) if k is None else np.flatnonzero(ys == k)
        within = _permutation(xs[rows], es[rows], chunk)
        if within is not None:
            perm[rows] = rows[within]
    return perm


def pair_within_classes(pair: Pairing, x: torch.Tensor, e: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """e (B, 2) paired with x (B, 2) by `pair` separately within each class y (B,).

    A class-conditional model must carry the whole Gaussian onto each class. Pairing across classes
    would send each class only the noise that lies near it, and the model would learn to read the
    class from the noise rather than from its label (benchmarks/RESULTS.md, "Guidance in one step").
    Within a class, every row's noise is still an i.i.d. Gaussian draw, so each class gets a fair
    minibatch coupling. The assignments run on one numpy copy of the batch and end in one reordering
    (the same pairs as `pair` on each class's rows, in a fraction of the torch calls)."""
    if pair is independent:
        return e
    if pair not in CHUNKS:  # any other pairing: class by class
        out = e.clone()
        for k in torch.unique(y):
            rows = (y == k).nonzero(as_tuple=True)[0]
            out[rows] = pair(x[rows], e[rows])
        return out
    perm = permutation_within_classes(_numpy(x), _numpy(e), y.detach().cpu().numpy(), CHUNKS[pair])
    return e[torch.as_tensor(perm, device=e.device)]


def pool_pairing(x: torch.Tensor, e: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """A pool's noise e (P, D) reordered to pair with its data x (P, D): exact within chunks of POOL_CHUNK
    rows, within each class y (P,) when the pool is labelled."""
    ys = None if y is None else y.detach().cpu().numpy()
    perm = permutation_within_classes(_numpy(x), _numpy(e), ys, POOL_CHUNK)
    return e[torch.as_tensor(perm, device=e.device)]


POOLED = "pooled-ot"  # batches drawn from a pool of pairs made once (training.PairPool)
# A pairing by name; a pooled run's batches come from its pool, and a single batch pairs as minibatch OT.
COUPLINGS = {"independent": independent, "minibatch-ot": minibatch_ot, "exact-ot": exact_ot, POOLED: minibatch_ot}
LABELS = {
    "independent": "independent (textbook)",
    "minibatch-ot": "minibatch optimal transport (chunks of 128)",
    "exact-ot": "optimal transport over the whole batch (slower)",
    POOLED: f"optimal transport over a pool of {POOL_ROWS:,} pairs made once (chunks of {POOL_CHUNK})",
}


def get_coupling(name: str) -> Pairing:
    if name not in COUPLINGS:
        raise ValueError(f"unknown coupling {name!r}; accepted: {', '.join(COUPLINGS)}")
    return COUPLINGS[name]
