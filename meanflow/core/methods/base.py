"""What every method shares: the linear path, time samplers, loss weighting, and the Method base.

Time convention, for the whole package: t = 0 is data, t = 1 is noise.
    z_t = (1 - t) x + t e,  e ~ N(0, I),  v = dz_t/dt = e - x.
A method's network sees z and some time features of the interval [r, t] (r <= t) and gives a
velocity; a sampler moves from t down to r by z_r = z_t - (t - r) * velocity(z_t, r, t), unless
the method says otherwise (Method.step). Flow matching ignores r (an Euler step); MeanFlow and its
kin learn the average velocity over [r, t], so one step can span the whole of [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch

from ..config import Search, TrainConfig
from ..couplings import Pairing, independent
from ..models import MLP
from ..targets import Target

if TYPE_CHECKING:  # a teacher is a sampling.Flow; sampling imports this module for the Method type
    from ..sampling import Flow

TIME_SAMPLERS = ("uniform", "logit-normal")

# Where tuning (lab.tuning) looks for the settings several methods share; each option names its own.
SEARCH_TIME_SAMPLER = Search(values=TIME_SAMPLERS)
SEARCH_SHARE = Search(0.25, 1.0)  # a share of the batch on the method's own target (r != t, splitting)
SEARCH_POWER = Search(0.0, 1.5)  # the adaptive weight's power p
SEARCH_EPS = Search(1e-4, 1e-1, log=True)  # the adaptive weight's constant c

# What Method.prepare builds for one run: each method's own type (reflow's TeacherPairs, shortcut's
# ShortcutEMA), or None for the methods that keep no per-run state.
Context = Any


@dataclass(frozen=True)
class LossTerms:
    """loss: the scalar to minimise (with gradient); mse: mean ||prediction - target||^2 (detached);
    instant, average: for methods that draw (r, t), the mse over the rows with r = t (the instantaneous
    velocity) and with r != t (the average velocity), NaN where the batch has no such row or the method
    draws no r (split_by_interval)."""

    loss: torch.Tensor
    mse: torch.Tensor
    instant: float = math.nan
    average: float = math.nan


def split_by_interval(sq: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> dict[str, float]:
    """LossTerms' instant and average from per-row squared errors sq (B,) and times r, t (B, 1)."""
    same = (r == t).reshape(-1)
    sq = sq.detach()
    return {
        "instant": float(sq[same].mean()) if bool(same.any()) else math.nan,
        "average": float(sq[~same].mean()) if bool((~same).any()) else math.nan,
    }


class Batch(NamedTuple):
    """One training batch: data x (B, 2), noise e (B, 2) paired with it, and the classes y (B,) of x (None
    when the run is unconditional)."""

    x: torch.Tensor
    e: torch.Tensor
    y: torch.Tensor | None


@dataclass(frozen=True)
class About:
    """What pages, the command line and Learn say of a method: words and a formula, no maths to run."""

    label: str  # how pages name it
    summary: str  # its idea in one sentence
    paper: str  # authors, year, title
    arxiv: str  # arXiv id of the paper
    cost: str  # what one training step costs beyond flow matching's, in words
    loss_latex: str  # the loss in the app's notation, for Learn


# ---------------------------------------------------------------- the path


def interpolate(x: torch.Tensor, e: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z_t and v for data x (B, 2), noise e (B, 2), times t (B, 1): the linear path."""
    return (1 - t) * x + t * e, e - x


# ---------------------------------------------------------------- time samplers


def sample_times(n: int, sampler: str, mean: float, std: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 1) times in [0, 1]: uniform, or logit-normal sigmoid(N(mean, std^2))."""
    if sampler == "logit-normal":
        return torch.sigmoid(torch.randn(n, 1, generator=generator) * std + mean)
    return torch.rand(n, 1, generator=generator)


def sample_r_t(
    n: int, sampler: str, mean: float, std: float, r_neq_t: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, t), each (n, 1), 0 <= r <= t <= 1: the min and max of two draws; a fraction 1 - r_neq_t has r = t.

    Whether a row has r = t is a Bernoulli draw per row, so the fraction holds in expectation.
    """
    pair = torch.cat([sample_times(n, sampler, mean, std, generator) for _ in range(2)], dim=1)  # (n, 2)
    t = pair.max(dim=1, keepdim=True).values
    r = pair.min(dim=1, keepdim=True).values
    same = torch.rand(n, 1, generator=generator) >= r_neq_t
    return torch.where(same, t, r), t


# ---------------------------------------------------------------- loss weighting


def draw_r_t(options, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, t) for the batch x (B, 2) from a method's time options (time_sampler, time_mean, time_std,
    r_neq_t), on x's device: sample_r_t as the (r, t) methods call it."""
    r, t = sample_r_t(len(x), options.time_sampler, options.time_mean, options.time_std, options.r_neq_t, generator)
    return r.to(x.device), t.to(x.device)


def adaptive_weighted(sq: torch.Tensor, power: float, eps: float, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of scale * sg(w) * sq with w = 1 / (sq + eps)^power; sq: (B,) squared errors. power 0 is the mean.

    MeanFlow's adaptive loss (its Section 4.3): p = 1 makes it close to a log loss, p = 0.5 to an
    L1-like (robust) loss; the weight carries no gradient. scale: (B,) per-row factors applied after
    the adaptive weight (None: 1).
    """
    weighted = sq if power == 0 else (sq.detach() + eps).pow(-power) * sq
    return (weighted if scale is None else scale * weighted).mean()


def squared_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) ||prediction - target||^2 per row, summed over the two coordinates."""
    return (prediction - target).pow(2).sum(dim=1)


# ---------------------------------------------------------------- time features

# The network's time inputs are named features of (r, t); each has a tangent along (dr, dt).
TIME_FEATURES = {
    "t": (lambda r, t: t, lambda dr, dt: dt),
    "r": (lambda r, t: r, lambda dr, dt: dr),
    "t-r": (lambda r, t: t - r, lambda dr, dt: dt - dr),
}


def time_features(names: tuple[str, ...], r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(B, len(names)) features of r, t (each (B, 1))."""
    return torch.cat([TIME_FEATURES[n][0](r, t) for n in names], dim=1)


def time_feature_tangents(names: tuple[str, ...], dr: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    """(B, len(names)): how each feature moves when (r, t) move by (dr, dt), each (B, 1)."""
    return torch.cat([TIME_FEATURES[n][1](dr, dt) for n in names], dim=1)


# ---------------------------------------------------------------- the method base


class Method:
    """One registry entry: its name, its options, its pairing, what pages say of it (`about`), and the maths.

    Subclasses set the class attributes and implement `loss`; sampling uses `velocity` (the
    average velocity over [r, t] that a jump from t to r follows) through `step`.
    """

    name: ClassVar[str]  # registry key and --method value
    about: ClassVar[About]
    options: ClassVar[type]  # frozen dataclass of the method's options (fields made with config.option)
    default_coupling: ClassVar[str] = "independent"
    conditional: ClassVar[bool] = False  # whether it trains class-conditional models (models.Conditioned)
    time_feature_names: ClassVar[tuple[str, ...]] = ("t",)  # what the network sees of (r, t) (TIME_FEATURES)
    learns_average: ClassVar[bool] = True  # its network gives an average velocity over [r, t], not only v(z, t)
    chooses_pairing: ClassVar[bool] = True  # the run's coupling pairs its batches (reflow's pairs are its teacher's)

    # -- the network's inputs

    def feature_names(self, options) -> tuple[str, ...]:
        """The time features the network sees, in order: `time_feature_names`, unless the options choose."""
        return self.time_feature_names

    def n_time_features(self, options) -> int:
        return len(self.feature_names(options))

    def network_input(self, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, options) -> torch.Tensor:
        """(B, 2 + k): z (B, 2) beside the time features of r, t (B, 1)."""
        return torch.cat([z, time_features(self.feature_names(options), r, t)], dim=1)

    # -- sampling

    def velocity(self, net: MLP, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor, options) -> torch.Tensor:
        """The velocity a jump from t to r follows, (B, 2); z (B, 2), r and t (B, 1)."""
        return net(self.network_input(z, r, t, options))

    def step(
        self,
        net: MLP,
        z: torch.Tensor,
        r: torch.Tensor,
        t: torch.Tensor,
        options,
        generator: torch.Generator,
        pair: Pairing = independent,
    ) -> torch.Tensor:
        """z at time r from z at time t (r < t): z - (t - r) * velocity. A stochastic sampler draws its fresh
        noise from `generator` and pairs it with its points by `pair`, the coupling the model trained with."""
        return z - (t - r) * self.velocity(net, z, r, t, options)

    # -- training

    def prepare(
        self,
        config: TrainConfig,
        target: Target,
        teachers: dict[str, Flow],
        generator: torch.Generator,
        net: MLP,
        saved: dict[str, torch.Tensor] | None = None,
    ) -> Context:
        """Per-run state built once before training (reflow's teacher pairs, shortcut's EMA targets);
        None for most methods. `net` is the freshly initialised network (a method may initialise it).

        teachers: the flows of the runs the options name (an option declared with run=True), by option.
        generator: a draw of its own, so a resumed run rebuilds the same state without disturbing
        the training stream.
        saved: on resume, the checkpoint's context_tensors (reflow remakes the pairs its run made from their
        count); None for a fresh run. load_context_tensors then puts back the rest.
        """
        return None

    def check_teacher(self, role: str, teacher: TrainConfig) -> None:
        """Raise ValueError when a run the options name (`role`: reflow's 'teacher') cannot serve this method;
        called where the job is submitted and again where training starts."""

    def own_batches(self, context: Context, n: int, count: int, generator: torch.Generator) -> list[Batch] | None:
        """`count` batches of n rows the method draws itself (reflow: its teacher's pairs), or None for the
        usual ones: the target's data paired with fresh noise by the run's coupling (core.training)."""
        return None

    def after_step(self, context: Context, net: MLP) -> None:
        """Called after each optimiser step (an EMA update)."""

    def context_tensors(self, context: Context) -> dict[str, torch.Tensor]:
        """The part of the per-run state that a checkpoint must keep (an EMA's weights)."""
        return {}

    def load_context_tensors(self, context: Context, tensors: dict[str, torch.Tensor]) -> None:
        """Put back what context_tensors gave (on resume)."""

    def loss(
        self,
        net: MLP,
        x: torch.Tensor,
        e: torch.Tensor,
        generator: torch.Generator,
        options,
        progress: float,
        context: Context = None,
    ) -> LossTerms:
        """The training loss on data x (B, 2) paired with noise e (B, 2).

        progress: the fraction of the run's budget spent, in [0, 1], for methods with a curriculum;
        context: what prepare() returned.
        """
        raise NotImplementedError
