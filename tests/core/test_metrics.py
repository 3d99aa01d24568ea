"""Metrics: floors, and the two kinds of metric disagreeing on blur versus shrinkage."""

import numpy as np
import torch

from meanflow.core.metrics import Evaluator, evaluate
from meanflow.core.targets import get_target


def test_exact_samples_score_at_the_floor():
    """An exact sample must score within noise of the floor on every metric."""
    target = get_target("checkerboard")
    x = target.sample(5000, torch.Generator().manual_seed(0))
    q = evaluate(x, target, torch.Generator().manual_seed(1))
    assert q.n == 5000 and q.in_support == 1.0 and q.in_support_floor == 1.0
    assert q.hist_tv < 1.3 * q.hist_tv_floor and q.sliced_w1 < 0.04
    assert q.hist_tv_floor < 0.15 and q.sliced_w1_floor < 0.05


def test_blur_is_caught_by_the_local_metrics():
    """Blurred samples: sliced W1 stays small while histogram TV and in-cell fraction degrade."""
    target = get_target("checkerboard")
    g = torch.Generator().manual_seed(2)
    x = target.sample(5000, g)
    blurred = x + 0.3 * torch.randn(5000, 2, generator=g)
    shrunk = 0.8 * x
    qb = evaluate(blurred, target, torch.Generator().manual_seed(3))
    qs = evaluate(shrunk, target, torch.Generator().manual_seed(3))
    assert qb.sliced_w1 < qs.sliced_w1  # the global metric prefers the blur...
    assert qb.in_support < 0.8 and qb.hist_tv > 3 * qb.hist_tv_floor  # ...the local ones catch it


def test_non_finite_samples_count_as_misses():
    target = get_target("moons")
    x = target.sample(1000, torch.Generator().manual_seed(4)).numpy()
    x[:500] = np.nan
    q = evaluate(x, target, torch.Generator().manual_seed(5))
    assert q.hist_tv > 0.45 and q.in_support is None and np.isfinite(q.sliced_w1)


def test_histogram_tv_is_one_for_samples_off_the_target():
    """All samples in one bin the target never reaches: the histograms share no mass, TV = 1."""
    target = get_target("moons")
    q = evaluate(np.full((100, 2), 5.9), target, torch.Generator().manual_seed(8))
    assert q.hist_tv == 1.0


def test_evaluator_scores_many_samplers_against_one_reference():
    """Evaluator.score must equal evaluate() for the same generator state, and refuse a wrong n."""
    import pytest

    target = get_target("spiral")
    x = target.sample(3000, torch.Generator().manual_seed(6))
    ev = Evaluator(target, 3000, torch.Generator().manual_seed(7))
    assert ev.score(x) == evaluate(x, target, torch.Generator().manual_seed(7))
    with pytest.raises(ValueError, match="shape"):
        ev.score(x[:10])


def test_histogram_tv_sees_a_sample_with_its_axes_swapped():
    """The moons are not symmetric in x and y: the same exact sample with its columns swapped must read far
    above the floor (a histogram that binned the samples' axes in another order would not notice)."""
    target = get_target("moons")
    x = target.sample(5000, torch.Generator().manual_seed(8))
    exact = evaluate(x, target, torch.Generator().manual_seed(9))
    swapped = evaluate(x.flip(1), target, torch.Generator().manual_seed(9))
    assert exact.hist_tv < 1.3 * exact.hist_tv_floor and swapped.hist_tv > 3 * swapped.hist_tv_floor
