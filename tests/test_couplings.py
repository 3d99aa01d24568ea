"""Couplings: minibatch OT is a permutation of the noise with the least total squared distance."""

import itertools

import pytest
import torch

from meanflow.couplings import get_coupling, independent, minibatch_ot


def test_minibatch_ot_is_the_optimal_permutation():
    """On 6 points, the pairing must equal brute force over all 720 permutations."""
    g = torch.Generator().manual_seed(0)
    x, e = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    paired = minibatch_ot(x, e)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, e.tolist()))  # a permutation
    best = min(
        sum(float((x[i] - e[p]).pow(2).sum()) for i, p in enumerate(perm)) for perm in itertools.permutations(range(6))
    )
    assert float((x - paired).pow(2).sum()) == pytest.approx(best, rel=1e-6)


def test_ot_pairing_is_never_costlier_than_independent():
    g = torch.Generator().manual_seed(1)
    x, e = torch.randn(256, 2, generator=g) * 2, torch.randn(256, 2, generator=g)
    assert float((x - minibatch_ot(x, e)).pow(2).sum()) < 0.8 * float((x - independent(x, e)).pow(2).sum())


def test_large_batches_are_paired_in_chunks_each_optimal():
    """Beyond OT_CHUNK rows, each chunk is its own exact assignment: still a permutation, still cheaper."""
    from meanflow.couplings import OT_CHUNK

    g = torch.Generator().manual_seed(2)
    x, e = torch.randn(OT_CHUNK + 40, 2, generator=g) * 2, torch.randn(OT_CHUNK + 40, 2, generator=g)
    paired = minibatch_ot(x, e)
    torch.testing.assert_close(paired[OT_CHUNK:], minibatch_ot(x[OT_CHUNK:], e[OT_CHUNK:]))
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, e.tolist()))


def test_unknown_coupling_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: independent, minibatch-ot"):
        get_coupling("sinkhorn")
