"""Couplings: minibatch OT is a permutation of the noise with the least total squared distance per chunk."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from meanflow.core.couplings import (
    EXACT_CHUNK,
    OT_CHUNK,
    POOL_CHUNK,
    exact_ot,
    get_coupling,
    independent,
    minibatch_ot,
    pair_within_classes,
    pool_pairing,
)
from meanflow.core.targets import get_target
from meanflow.core.training import PairPool, draw_batches


def test_minibatch_ot_is_the_optimal_permutation():
    """On 6 points, the pairing must equal brute force over all 720 permutations."""
    g = torch.Generator().manual_seed(0)
    x, e = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    for pair in (minibatch_ot, exact_ot):
        paired = pair(x, e)
        assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, e.tolist()))  # a permutation
        best = min(
            sum(float((x[i] - e[p]).pow(2).sum()) for i, p in enumerate(perm))
            for perm in itertools.permutations(range(6))
        )
        assert float((x - paired).pow(2).sum()) == pytest.approx(best, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 1e3), shift=st.floats(-1e3, 1e3), n=st.integers(2, 160))
def test_the_reduced_costs_keep_the_optimal_assignment(seed, scale, shift, n):
    """The solver is given each chunk's costs less row and column minima (couplings._reduced): the
    pairing must still be a permutation whose total cost is the plain costs' optimum (scipy on the
    unreduced matrix), for data far from the noise, tiny or huge, and chunks cut short."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64) * scale + shift
    e = torch.randn(n, 2, generator=g, dtype=torch.float64)
    paired = minibatch_ot(x, e)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, e.tolist()))
    best = 0.0
    for start in range(0, n, OT_CHUNK):
        cost = torch.cdist(x[start : start + OT_CHUNK], e[start : start + OT_CHUNK]).pow(2).numpy()
        rows, cols = linear_sum_assignment(cost)
        best += float(cost[rows, cols].sum())
    assert float((x - paired).pow(2).sum()) == pytest.approx(best, rel=1e-9)


def test_ot_pairing_is_never_costlier_than_independent_and_whole_batch_is_best():
    """A 256-row batch: chunks of 128 cost at most a stated 25% more than the whole-batch assignment,
    and both far less than independent pairing."""
    g = torch.Generator().manual_seed(1)
    x, e = torch.randn(256, 2, generator=g) * 2, torch.randn(256, 2, generator=g)
    cost = {
        name: float((x - pair(x, e)).pow(2).sum())
        for name, pair in (("chunks", minibatch_ot), ("whole", exact_ot), ("none", independent))
    }
    assert cost["whole"] <= cost["chunks"] <= 1.25 * cost["whole"] and cost["chunks"] < 0.5 * cost["none"]


def test_large_batches_are_paired_in_chunks_each_optimal():
    """Beyond the chunk size, each chunk is its own exact assignment: still a permutation."""
    g = torch.Generator().manual_seed(2)
    n = OT_CHUNK + 40
    x, e = torch.randn(n, 2, generator=g) * 2, torch.randn(n, 2, generator=g)
    paired = minibatch_ot(x, e)
    torch.testing.assert_close(paired[OT_CHUNK:], minibatch_ot(x[OT_CHUNK:], e[OT_CHUNK:]))
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, e.tolist()))
    assert EXACT_CHUNK > OT_CHUNK


def test_non_finite_data_is_left_unpaired():
    x = torch.full((8, 2), float("nan"))
    e = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(minibatch_ot(x, e), e)


def test_unknown_coupling_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: independent, minibatch-ot, exact-ot, pooled-ot"):
        get_coupling("sinkhorn")


def test_a_labelled_batch_is_paired_within_each_class():
    """Each class keeps exactly the noise rows it drew (every class gets a whole Gaussian's share), and
    within a class the pairing is the coupling's own."""
    g = torch.Generator().manual_seed(0)
    x, e = torch.randn(256, 2, generator=g), torch.randn(256, 2, generator=g)
    y = torch.randint(0, 4, (256,), generator=g)
    paired = pair_within_classes(minibatch_ot, x, e, y)
    for k in range(4):
        rows = y == k
        mine = {tuple(r) for r in e[rows].tolist()}
        assert {tuple(r) for r in paired[rows].tolist()} == mine
        torch.testing.assert_close(paired[rows], minibatch_ot(x[rows], e[rows]))


@pytest.mark.parametrize("labelled", [False, True])
def test_each_batch_of_a_chunked_draw_is_paired_on_its_own(labelled):
    """Many batches come from one sampler call (training.Batches); pairing never crosses a batch: each
    batch's noise is a permutation of the noise drawn for its rows, paired as that batch alone would be.
    A batch of 200 is not a multiple of OT_CHUNK, so chunks of the whole draw would not line up."""
    n, count, target = 200, 3, get_target("checkerboard")
    batches = draw_batches(target, minibatch_ot, n, count, torch.Generator().manual_seed(4), labelled)
    g = torch.Generator().manual_seed(4)  # the same draws, unpaired
    x, y = target.sample_labelled(n * count, g) if labelled else (target.sample_model(n * count, g), None)
    e = torch.randn(n * count, 2, generator=g)
    assert len(batches) == count
    for b, (xb, eb, yb) in enumerate(batches):
        rows = slice(b * n, (b + 1) * n)
        torch.testing.assert_close(xb, x[rows])
        alone = (
            pair_within_classes(minibatch_ot, x[rows], e[rows], y[rows]) if labelled else minibatch_ot(x[rows], e[rows])
        )
        torch.testing.assert_close(eb, alone)
        assert (yb is None) == (not labelled)


@pytest.mark.parametrize("pair", [minibatch_ot, exact_ot])
def test_pairing_within_classes_in_one_pass_gives_the_pairs_of_class_by_class(pair):
    """The one-pass assignment (one numpy copy, one reordering) pairs exactly as `pair` on each class's rows
    alone (the generic path, taken by any other pairing function), non-finite classes left as drawn."""
    g = torch.Generator().manual_seed(5)
    x, e = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g)
    y = torch.randint(0, 5, (300,), generator=g)
    x[y == 3] = float("nan")  # a class whose costs are not finite keeps its noise as drawn
    one_pass = pair_within_classes(pair, x, e, y)
    class_by_class = pair_within_classes(lambda a, b: pair(a, b), x, e, y)
    torch.testing.assert_close(one_pass, class_by_class, rtol=0, atol=0)
    torch.testing.assert_close(one_pass[y == 3], e[y == 3], rtol=0, atol=0)
    assert not torch.equal(one_pass, e)


def test_a_pool_is_paired_nearer_the_transport_than_minibatches_and_within_each_class():
    """The pool's pairs (chunks of POOL_CHUNK) must cost a stated 15% less in total squared distance than
    the same rows paired in minibatch chunks, be a permutation of the pool's noise, and, labelled, keep
    each class's own noise rows."""
    g = torch.Generator().manual_seed(5)
    target = get_target("checkerboard")
    x, y = target.sample_labelled(2 * POOL_CHUNK, g)
    e = torch.randn(len(x), 2, generator=g)
    pooled = pool_pairing(x, e, None)
    assert sorted(map(tuple, pooled.tolist())) == sorted(map(tuple, e.tolist()))
    assert float((x - pooled).pow(2).sum()) < 0.85 * float((x - minibatch_ot(x, e)).pow(2).sum())
    within = pool_pairing(x, e, y)
    for k in torch.unique(y):
        rows = y == k
        assert {tuple(r) for r in within[rows].tolist()} == {tuple(r) for r in e[rows].tolist()}


@pytest.mark.parametrize("labelled", [False, True])
def test_a_pools_batches_are_its_own_pairs(labelled):
    """Every row of a pooled batch is one of the pool's (data, noise, class) rows, as paired, and the
    batches draw different rows."""
    pool = PairPool.draw(get_target("moons"), 600, torch.Generator().manual_seed(6), labelled)
    rows = {(tuple(x), tuple(e), None if pool.y is None else int(y)) for x, e, y in _pool_rows(pool)}
    batches = pool.batches(50, 3, torch.Generator().manual_seed(7))
    assert len(batches) == 3 and all(len(b.x) == 50 for b in batches)
    for b in batches:
        assert (b.y is None) == (not labelled)
        assert {(tuple(x), tuple(e), None if b.y is None else int(y)) for x, e, y in _pool_rows(b)} <= rows
    assert not torch.equal(batches[0].x, batches[1].x)


def _pool_rows(pairs):
    ys = [None] * len(pairs.x) if pairs.y is None else pairs.y.tolist()
    return zip(pairs.x.tolist(), pairs.e.tolist(), ys)
