"""Sample quality against a target, each metric beside its noise floor.

Two kinds are needed: a global one (sliced Wasserstein-1) ranks a blurred sampler above a sharp
but shrunk one; a local one (total variation between 2D histograms, and the fraction inside
the support where the target has a sharp one) catches blur. Each metric compares the n samples
with one large fresh exact sample (the reference); its floor is the same metric for an
independent exact sample of the same size n: no sampler can do better than that.
All metrics are computed in model units (the [-2, 2] box), so bins mean the same for every target.

Beyond 2D there are no histograms: sliced W1 takes directions in D dimensions, and an image target
with a classifier (the digits: core.digits) adds its measures: the share of samples it recognises with
confidence, the TV of the recognised classes against the target's class frequencies (coverage), and the
Fréchet distance between the classifier's features of the samples and of the held-out images (FD). The
reference is then the held-out images, never trained on; each floor is the metric of an exact sample of
the same n (training images) against them. The memorisation check: the share of samples closer to a
training image than 90% of the training images are to their nearest other training image (a copier
scores 1.0), beside the same share for the held-out images.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import scipy.linalg
import torch

from .digits import CONFIDENT
from .targets import Target

HIST_BIN = 0.25  # histogram bin width in model units
HIST_HALF_WIDTH = 6.0  # bins cover [-6, 6]^2; points outside share one overflow bin
N_PROJECTIONS = 128  # directions for sliced Wasserstein; 128 keeps its run-to-run spread near 5%
REFERENCE_SIZE = 50_000  # the large fresh target sample that every metric compares against


MEMORISED_QUANTILE = 0.1  # closer to a training image than this share of training images are to their nearest


@dataclass(frozen=True)
class Quality:
    """Metrics of n samples and their noise floors; None where a metric does not apply to the target
    (histograms: 2D only; in_support: targets with a sharp support; the classifier's measures: image
    targets that have one; memorisation: targets with held-out points)."""

    n: int
    sliced_w1: float
    sliced_w1_floor: float
    hist_tv: float | None = None
    hist_tv_floor: float | None = None
    in_support: float | None = None
    in_support_floor: float | None = None
    fd: float | None = None  # Fréchet distance in the classifier's features, to the held-out images
    fd_floor: float | None = None
    confident: float | None = None  # share recognised with probability >= digits.CONFIDENT
    confident_floor: float | None = None
    coverage_tv: float | None = None  # TV of the recognised classes against the target's class frequencies
    coverage_tv_floor: float | None = None
    memorised: float | None = None  # share closer to a training image than training images are to each other
    memorised_real: float | None = None  # the same share for the held-out images (never trained on)

    def to_dict(self) -> dict:
        return asdict(self)

    def applicable(self) -> dict:
        """The metrics that apply to its target (None dropped), in order."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def headline_metric(target: Target) -> str:
    """The metric a target's quality is read by first: histogram TV in 2D, the Fréchet distance where a
    classifier scores the target (digits), sliced W1 otherwise."""
    if target.dim == 2:
        return "hist_tv"
    return "fd" if target.classify is not None else "sliced_w1"


def floor_name(metric: str) -> str:
    """The Quality field that stands beside `metric`: its floor ('fd_floor'), or for the memorisation
    check the held-out images' share ('memorised_real')."""
    return "memorised_real" if metric == "memorised" else f"{metric}_floor"


def _directions(generator: torch.Generator, n: int = N_PROJECTIONS, dim: int = 2) -> torch.Tensor:
    d = torch.randn(n, dim, generator=generator)
    return d / d.norm(dim=1, keepdim=True)  # (L, D)


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
        self.directions = _directions(generator, dim=target.dim)
        if target.held_out is not None:  # real points never trained on: the reference
            held_out = torch.tensor(np.asarray(target.held_out()[0]), dtype=torch.float64)
            reference = target.normaliser.to_model(held_out)
        else:
            reference = target.sample_model(REFERENCE_SIZE, generator).double()
        self._reference_sorted = _sorted_projections(reference, self.directions)
        self._reference_hist = _histogram(reference.numpy()) if target.dim == 2 else None
        self._reference_features = None
        if target.classify is not None:
            _, features = target.classify(target.normaliser.to_data(reference).numpy())
            self._reference_features = _moments(features)
        self._memorisation, self._memorised_real = None, None
        if target.training_points is not None and target.held_out is not None:
            self._memorisation = _Memorisation(target.normaliser.to_model(np.asarray(target.training_points())))
            self._memorised_real = self._memorisation.share(reference)
        exact = target.sample_model(n, generator).double()
        self._floor = self._score_model(exact)

    def _score_model(self, model: torch.Tensor) -> dict:
        scores = {"sliced_w1": _sliced_w1_sorted(_sorted_projections(model, self.directions), self._reference_sorted)}
        if self._reference_hist is not None:
            scores["hist_tv"] = _tv(_histogram(model.numpy()), self._reference_hist)
        if self.target.in_support is not None:
            scores["in_support"] = float(self.target.in_support(model).double().mean())
        if self._reference_features is not None:
            probs, features = self.target.classify(self.target.normaliser.to_data(model).numpy())
            scores["fd"] = _frechet(_moments(features), self._reference_features)
            scores["confident"] = float((probs.max(axis=1) >= CONFIDENT).mean())
            recognised = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]) / len(probs)
            scores["coverage_tv"] = _tv(recognised, np.asarray(self.target.class_weights()))
        return scores

    def floor(self) -> Quality:
        """The floors alone: exact samples of size n scored (their scores are the floors)."""
        return self._quality(self._floor)

    def _quality(self, scores: dict, memorised: float | None = None) -> Quality:
        floors = self._floor
        return Quality(
            n=self.n,
            memorised=memorised,
            memorised_real=self._memorised_real,
            **scores,
            **{f"{k}_floor": v for k, v in floors.items()},
        )

    def score(self, samples: np.ndarray | torch.Tensor) -> Quality:
        """Quality of `samples` (n, D) in the target's data units, beside the floors for this n."""
        samples = torch.as_tensor(np.array(np.asarray(samples), dtype=np.float64))
        if samples.shape != (self.n, self.target.dim):
            raise ValueError(f"samples must have shape ({self.n}, {self.target.dim}), got {tuple(samples.shape)}")
        model = self.target.normaliser.to_model(samples)
        model = torch.where(torch.isfinite(model), model, torch.full_like(model, 1e6))  # count as far away
        memorised = self._memorisation.share(model) if self._memorisation is not None else None
        return self._quality(self._score_model(model), memorised)


def _moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and covariance (F, F) of features (n, F), in float64."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _frechet(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """The Fréchet distance between Gaussians of these moments: |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^1/2)."""
    (mu_a, cov_a), (mu_b, cov_b) = a, b
    with warnings.catch_warnings():  # a singular product (samples all alike) is handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():  # nudge both covariances, as FID's reference code does
            eps = np.eye(len(cov_a)) * 1e-6
            root = scipy.linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * np.real(root)))
    return max(0.0, value)


class _Memorisation:
    """Whether points lie closer to a training point than training points typically lie to each other."""

    def __init__(self, training: np.ndarray):
        self.training = torch.as_tensor(training, dtype=torch.float32)
        nearest = torch.cdist(self.training, self.training)
        nearest.fill_diagonal_(float("inf"))
        self.threshold = float(torch.quantile(nearest.min(dim=1).values, MEMORISED_QUANTILE))

    def share(self, model: torch.Tensor) -> float:
        """The share of points (n, D) model units within the threshold of some training point."""
        chunks = model.float().split(2048)
        nearest = torch.cat([torch.cdist(chunk, self.training).min(dim=1).values for chunk in chunks])
        return float((nearest < self.threshold).double().mean())


def evaluate(samples: np.ndarray | torch.Tensor, target: Target, generator: torch.Generator) -> Quality:
    """Quality of `samples` (n, D), in the target's data units, with every floor at the same n."""
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[1] != target.dim or len(samples) < 2:
        raise ValueError(f"samples must have shape (n, {target.dim}) with n >= 2, got {samples.shape}")
    return Evaluator(target, len(samples), generator).score(samples)


class ClassEvaluator:
    """Scores class-conditional samples against a labelled target, by the target's own labelling.

    accuracy: the share of samples asked for class k that land in class k, a sample's class being, in 2D,
    the class of its nearest point in a labelled exact reference, and for a target with a classifier (the
    digits) the class it reads. class TV (2D): each class's histogram TV against that class's exact samples,
    averaged over classes, beside its floor (the same for an exact sample of the class); class FD (digits):
    each class's FD in the classifier's features against that class's held-out images, averaged, beside
    its floor (an exact sample of the class, the same n).
    """

    REFERENCE = 4000  # labelled points that decide a sample's region (nearest neighbour)

    def __init__(self, target: Target, n_per_class: int, generator: torch.Generator):
        if target.sample_labelled is None:
            raise ValueError(f"{target.name} carries no classes")
        self.target, self.n = target, n_per_class
        self.per_class_metric = "class_fd" if target.classify is not None else "class_tv"
        if target.classify is None:
            self._ref_x, self._ref_y = target.sample_labelled(self.REFERENCE, generator)
            x, y = target.sample_labelled(REFERENCE_SIZE, generator)
            self._class_reference = {k: _histogram(x[y == k].double().numpy()) for k in range(target.classes)}
        else:
            held_out, held_labels = target.held_out()
            _, features = target.classify(np.asarray(held_out))
            self._class_reference = {k: _moments(features[held_labels == k]) for k in range(target.classes)}
        self._floors = {}
        for k in range(target.classes):
            xk, yk = target.sample_labelled(n_per_class * target.classes * 2, generator)
            exact = xk[yk == k][:n_per_class].double()
            self._floors[k] = self._class_score(exact, k)

    def _class_score(self, model: torch.Tensor, k: int) -> float:
        """Class k's samples (n, D) model units against class k's reference: histogram TV, or FD."""
        if self.target.classify is None:
            return _tv(_histogram(model.numpy()), self._class_reference[k])
        _, features = self.target.classify(self.target.normaliser.to_data(model).numpy())
        return _frechet(_moments(features), self._class_reference[k])

    def regions(self, model: torch.Tensor) -> torch.Tensor:
        """(n,) the class of each point (n, D) model units: its nearest reference point's, or the classifier's."""
        if self.target.classify is not None:
            probs, _ = self.target.classify(self.target.normaliser.to_data(model.double()).numpy())
            return torch.as_tensor(probs.argmax(axis=1))
        nearest = torch.cdist(model.float(), self._ref_x.float()).argmin(dim=1)
        return self._ref_y[nearest]

    def score(self, samples: dict[int, np.ndarray]) -> dict:
        """samples: class k -> (n, D) samples asked for class k, in data units. Returns accuracy, the mean
        per-class metric ('class_tv' in 2D, 'class_fd' with a classifier) and its floor, and each class's."""
        name = self.per_class_metric
        hits, total, values, floors, per_class = 0, 0, [], [], {}
        for k, points in samples.items():
            model = self.target.normaliser.to_model(torch.as_tensor(np.array(points, dtype=np.float64)))
            model = torch.where(torch.isfinite(model), model, torch.full_like(model, 1e6))
            inside = int((self.regions(model) == k).sum())
            value = self._class_score(model, k)
            hits, total = hits + inside, total + len(model)
            values.append(value)
            floors.append(self._floors[k])
            per_class[k] = {"accuracy": inside / len(model), name: value}
        return {
            "accuracy": hits / max(1, total),
            name: float(np.mean(values)),
            f"{name}_floor": float(np.mean(floors)),
            "per_class": per_class,
        }
