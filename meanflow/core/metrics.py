"""Sample quality against a target, each metric beside its noise floor.

Two kinds are needed: a global one (sliced Wasserstein-1) ranks a blurred sampler above a sharp
but shrunk one; a local one (total variation between 2D histograms, and the fraction inside
the support where the target has a sharp one) catches blur. Each metric compares the n samples
with one large fresh exact sample (the reference); its floor is the same metric for an
independent exact sample of the same size n: no sampler can do better than that.
All metrics are computed in model units (the [-2, 2] box), so bins mean the same for every target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .targets import Target

HIST_BIN = 0.25  # histogram bin width in model units
HIST_HALF_WIDTH = 6.0  # bins cover [-6, 6]^2; points outside share one overflow bin
N_PROJECTIONS = 128  # directions for sliced Wasserstein; 128 keeps its run-to-run spread near 5%
REFERENCE_SIZE = 50_000  # the large fresh target sample that every metric compares against


@dataclass(frozen=True)
class Quality:
    """Metrics of n samples and their noise floors (None where the target has no sharp support)."""

    n: int
    sliced_w1: float
    sliced_w1_floor: float
    hist_tv: float
    hist_tv_floor: float
    in_support: float | None = None
    in_support_floor: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _directions(generator: torch.Generator, n: int = N_PROJECTIONS) -> torch.Tensor:
    d = torch.randn(n, 2, generator=generator)
    return d / d.norm(dim=1, keepdim=True)  # (L, 2)


def _sorted_projections(points: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """(L, n): the points' projections on each direction, sorted (each row a quantile function)."""
    return torch.sort(directions @ points.float().T, dim=1).values


def _sliced_w1_sorted(pa: torch.Tensor, pb: torch.Tensor) -> float:
    # Quantile functions compared at the n midpoint levels of the smaller side: exact when n = m.
    if pa.shape[1] > pb.shape[1]:
        pa, pb = pb, pa
    n, m = pa.shape[1], pb.shape[1]
    idx = ((torch.arange(n, dtype=torch.float64) + 0.5) / n * m).long()
    return float((pa - pb[:, idx]).abs().mean())


def _histogram(points: np.ndarray) -> np.ndarray:
    edges = np.arange(-HIST_HALF_WIDTH, HIST_HALF_WIDTH + HIST_BIN / 2, HIST_BIN)
    inside, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[edges, edges])
    overflow = len(points) - inside.sum()  # outside the grid, or not finite
    return np.append(inside.ravel(), overflow) / len(points)


def _tv(ha: np.ndarray, hb: np.ndarray) -> float:
    return float(0.5 * np.abs(ha - hb).sum())


class Evaluator:
    """Scores samples of size n against one target: the reference, its projections and the floors
    are drawn and computed once, so scoring many samplers (a grid of NFE x runs) costs one sort each."""

    def __init__(self, target: Target, n: int, generator: torch.Generator):
        if n < 2:
            raise ValueError(f"the number of samples must be at least 2, got {n}")
        self.target, self.n = target, n
        self.directions = _directions(generator)
        reference = target.sample_model(REFERENCE_SIZE, generator).double()
        self._reference_sorted = _sorted_projections(reference, self.directions)
        self._reference_hist = _histogram(reference.numpy())
        exact = target.sample_model(n, generator).double()
        self._floor = self._score_model(exact)

    def _score_model(self, model: torch.Tensor) -> tuple[float, float, float | None]:
        sw = _sliced_w1_sorted(_sorted_projections(model, self.directions), self._reference_sorted)
        tv = _tv(_histogram(model.numpy()), self._reference_hist)
        inside = None if self.target.in_support is None else float(self.target.in_support(model).double().mean())
        return sw, tv, inside

    def floor(self) -> Quality:
        """The floors alone: exact samples of size n scored (their scores are the floors)."""
        sw, tv, inside = self._floor
        return Quality(self.n, sw, sw, tv, tv, inside, inside)

    def score(self, samples: np.ndarray | torch.Tensor) -> Quality:
        """Quality of `samples` (n, 2) in the target's data units, beside the floors for this n."""
        samples = torch.as_tensor(np.asarray(samples), dtype=torch.float64)
        if samples.shape != (self.n, 2):
            raise ValueError(f"samples must have shape ({self.n}, 2), got {tuple(samples.shape)}")
        model = self.target.normaliser.to_model(samples)
        model = torch.where(torch.isfinite(model), model, torch.full_like(model, 1e6))  # count as far away
        sw, tv, inside = self._score_model(model)
        sw_floor, tv_floor, inside_floor = self._floor
        return Quality(
            n=self.n,
            sliced_w1=sw,
            sliced_w1_floor=sw_floor,
            hist_tv=tv,
            hist_tv_floor=tv_floor,
            in_support=inside,
            in_support_floor=inside_floor,
        )


def evaluate(samples: np.ndarray | torch.Tensor, target: Target, generator: torch.Generator) -> Quality:
    """Quality of `samples` (n, 2), in the target's data units, with every floor at the same n."""
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) < 2:
        raise ValueError(f"samples must have shape (n, 2) with n >= 2, got {samples.shape}")
    return Evaluator(target, len(samples), generator).score(samples)


class ClassEvaluator:
    """Scores class-conditional samples against a labelled target, by the target's own labelling.

    accuracy: the share of samples asked for class k that land in class k's region, a sample's region
    being the class of its nearest point in a labelled exact reference; class TV: each class's
    histogram TV against that class's exact samples, averaged over classes, beside its floor (the
    same for an exact sample of the class).
    """

    REFERENCE = 4000  # labelled points that decide a sample's region (nearest neighbour)

    def __init__(self, target: Target, n_per_class: int, generator: torch.Generator):
        if target.sample_labelled is None:
            raise ValueError(f"{target.name} carries no classes")
        self.target, self.n = target, n_per_class
        self._ref_x, self._ref_y = target.sample_labelled(self.REFERENCE, generator)
        x, y = target.sample_labelled(REFERENCE_SIZE, generator)
        self._class_hist = {k: _histogram(x[y == k].double().numpy()) for k in range(target.classes)}
        self._floors = {}
        for k in range(target.classes):
            xk, yk = target.sample_labelled(n_per_class * target.classes * 2, generator)
            exact = xk[yk == k][:n_per_class].double().numpy()
            self._floors[k] = _tv(_histogram(exact), self._class_hist[k])

    def regions(self, model: torch.Tensor) -> torch.Tensor:
        """(n,) the class of each point's nearest reference point; model: (n, 2) model units."""
        nearest = torch.cdist(model.float(), self._ref_x.float()).argmin(dim=1)
        return self._ref_y[nearest]

    def score(self, samples: dict[int, np.ndarray]) -> dict:
        """samples: class k -> (n, 2) samples asked for class k, in data units. Returns accuracy, the mean
        class TV and its floor, and each class's accuracy and TV."""
        hits, total, tvs, floors, per_class = 0, 0, [], [], {}
        for k, points in samples.items():
            model = self.target.normaliser.to_model(torch.as_tensor(np.asarray(points), dtype=torch.float64))
            model = torch.where(torch.isfinite(model), model, torch.full_like(model, 1e6))
            inside = int((self.regions(model) == k).sum())
            tv = _tv(_histogram(model.numpy()), self._class_hist[k])
            hits, total = hits + inside, total + len(model)
            tvs.append(tv)
            floors.append(self._floors[k])
            per_class[k] = {"accuracy": inside / len(model), "class_tv": tv}
        return {
            "accuracy": hits / max(1, total),
            "class_tv": float(np.mean(tvs)),
            "class_tv_floor": float(np.mean(floors)),
            "per_class": per_class,
        }
