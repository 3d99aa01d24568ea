"""Target distributions: the preset registry and the data-driven targets (CSV, image, text).

A target draws exact samples in *model units*: a box of about [-2, 2]^2 where every preset
already lives. Data-driven targets carry a `Normaliser` that maps their own units (metres,
pixels) into that box and back, so training sees the same scale for every target and
samples come back in the data's own units.

Every draw takes an explicit `torch.Generator`: the UI and training threads share one process.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import config, digits
from .text import clean_name, missing

# Limits on data files: stated here once, enforced on every load path (CLI and app).
MAX_FILE_BYTES = 50 * 1024 * 1024  # larger uploads are refused before parsing
MAX_POINTS = 1_000_000  # rows of a CSV; more adds nothing to a 2D density and costs memory
MIN_POINTS = 20  # fewer points cannot describe a density worth learning
MAX_IMAGE_PIXELS = 40_000_000  # decoded size; guards against decompression bombs
IMAGE_GRID = 128  # an image is resampled so its long side has this many density cells
BOX_HALF_WIDTH = 2.0  # data targets are scaled so their larger extent spans [-2, 2]


class TargetError(ValueError):
    """A target name or data file that cannot be used; the message says what is accepted."""


@dataclass(frozen=True)
class Normaliser:
    """Affine map between data units and model units: model = (data - centre) / scale.

    centre: one value per dimension (its length is the target's dimension D); scale: one for all of
    them, so shapes keep their proportions.
    """

    centre: tuple[float, ...] = (0.0, 0.0)
    scale: float = 1.0

    @property
    def dim(self) -> int:
        """The dimension D of the points it maps."""
        return len(self.centre)

    def to_model(self, points: np.ndarray | torch.Tensor):
        """points: (n, D) in data units -> (n, D) in model units."""
        return (points - self._centre_like(points)) / self.scale

    def to_data(self, points: np.ndarray | torch.Tensor):
        """points: (n, D) in model units -> (n, D) in data units."""
        return points * self.scale + self._centre_like(points)

    def _centre_like(self, points: np.ndarray | torch.Tensor):
        if isinstance(points, torch.Tensor):
            return torch.tensor(self.centre, dtype=points.dtype, device=points.device)
        return np.asarray(self.centre)

    @staticmethod
    def fitting(points: np.ndarray) -> Normaliser:
        """The normaliser that centres `points` (n, D) and scales their largest extent to the box."""
        lo, hi = points.min(axis=0), points.max(axis=0)
        half_extent = float(max(hi - lo)) / 2
        scale = half_extent / BOX_HALF_WIDTH if half_extent > 0 else 1.0
        centre = (lo + hi) / 2
        return Normaliser(centre=tuple(float(c) for c in centre), scale=scale)


@dataclass(frozen=True)
class Target:
    """A distribution to learn, of points in D dimensions (D = 2 for the toys; 64 for the 8x8 digits).

    sample_model(n, generator) -> (n, D) float32 exact samples in model units.
    in_support(points) -> (n,) bool, for targets with a sharp support (None otherwise),
        taking model units.
    sample_labelled(n, generator) -> ((n, D) model units, (n,) long class in [0, classes)), for
        targets whose parts carry a class (None otherwise); sample_model draws the same points.
    image_shape: (height, width) when each point is an image (its D = height * width pixels, row by
        row, row 0 at the top); value_range: the data units' (darkest... brightest) range for showing them.
    """

    name: str
    sample_model: Callable[[int, torch.Generator], torch.Tensor]
    normaliser: Normaliser = Normaliser()
    in_support: Callable[[torch.Tensor], torch.Tensor] | None = None
    sample_labelled: Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]] | None = None
    class_names: tuple[str, ...] = ()  # one per class, for pickers and legends
    # The arrays behind a data-driven target, so a run folder can store and rebuild it.
    points: np.ndarray | None = field(default=None, repr=False, compare=False)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    jitter: float = 0.0
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)  # (m,) per point, data targets
    note: str = field(default="", compare=False)  # what reading a file decided (its label column), in words
    dim: int = 2
    # TrainConfig fields this target trains best with, where a run does not set them (the digits' network:
    # benchmarks/RESULTS.md, "Beyond 2D"); () for the 2D toys, whose defaults are TrainConfig's.
    train_defaults: tuple[tuple[str, int | float], ...] = ()
    image_shape: tuple[int, int] | None = None
    value_range: tuple[float, float] | None = None  # an image target's pixel values in data units (0, 16)
    # Real points that training never sees, (m, D) data units with their classes (m,): the evaluator's
    # reference; and the ones it trains on (k, D), for the memorisation check. Both None for most targets.
    held_out: Callable[[], tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False, compare=False)
    training_points: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)
    # A classifier of its points: (n, D) data units -> class probabilities (n, classes), features (n, F).
    classify: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def classes(self) -> int:
        """How many classes its points carry (0: unlabelled)."""
        return len(self.class_names)

    def class_weights(self) -> tuple[float, ...]:
        """How often each class occurs: equally for the presets, from the points' weights for data targets."""
        if self.labels is None:
            return tuple([1.0 / self.classes] * self.classes)
        totals = np.bincount(self.labels, weights=self.weights, minlength=self.classes)
        return tuple(float(w) for w in totals / totals.sum())

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, D) exact samples in the data's own units."""
        return self.normaliser.to_data(self.sample_model(n, generator))

    @property
    def is_preset(self) -> bool:
        return self.points is None

    def to_spec(self) -> TargetSpec:
        """Plain data that rebuilds this target (a preset's name, or a data target's arrays)."""
        if self.is_preset:
            return TargetSpec("preset", self.name)
        return TargetSpec("data", self.name, self.points, self.weights, self.jitter, self.labels)


@dataclass(frozen=True)
class TargetSpec:
    """What rebuilds a target in another process or from a run folder: no closures, only data.

    kind: 'preset' (name is a registry key) or 'data' (points (m, D), weights (m,), jitter, data units).
    """

    kind: str
    name: str
    points: np.ndarray | None = field(default=None, repr=False, compare=False)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    jitter: float = 0.0
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)

    def build(self) -> Target:
        """The target this spec describes; raises TargetError for an unknown preset or bad arrays."""
        if self.kind == "preset":
            return get_target(self.name)
        if self.kind == "data":
            return point_cloud_target(self.name, self.points, self.weights, jitter=self.jitter, labels=self.labels)
        raise TargetError(f"unknown target kind {self.kind!r}; accepted: preset, data")


# ---------------------------------------------------------------- presets (model units = data units)


def _uniform(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g)


def _checkerboard_labelled(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # The 8 unit cells with i + j even of a 4x4 board on [-2, 2]^2 (the seed tutorial's definition);
    # the class is the board's row, 0 at the bottom.
    x1 = _uniform(n, g) * 4 - 2
    b = (torch.rand(n, generator=g) < 0.5).float()
    x2 = _uniform(n, g) - 2 * b + torch.remainder(torch.floor(x1), 2)
    return torch.stack([x1, x2], dim=1), (torch.floor(x2) + 2).long().clamp(0, 3)


def _checkerboard_cells(points: torch.Tensor) -> torch.Tensor:
    inside = (points.abs() < 2).all(dim=1)  # the board is [-2, 2)^2
    parity = torch.remainder(torch.floor(points[:, 0]) + torch.floor(points[:, 1]), 2) == 0
    return inside & parity


def _moons_labelled(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # Class 0: the upper moon, 1: the lower one.
    a = _uniform(n, g) * math.pi
    label = torch.rand(n, generator=g) < 0.5
    upper = torch.stack([torch.cos(a), torch.sin(a)], dim=1)
    lower = torch.stack([1 - torch.cos(a), 0.5 - torch.sin(a)], dim=1)
    p = torch.where(label[:, None], lower, upper) + 0.1 * torch.randn(n, 2, generator=g)
    return 2 * p + torch.tensor([-1.0, -0.2]), label.long()


def _spiral(n: int, g: torch.Generator) -> torch.Tensor:
    m = torch.sqrt(_uniform(n, g)) * 3 * math.pi
    d = torch.stack([-torch.cos(m) * m + 0.5 * _uniform(n, g), torch.sin(m) * m + 0.5 * _uniform(n, g)], dim=1)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    return d * sign[:, None] / 3 + 0.1 * torch.randn(n, 2, generator=g)


def _eight_gaussians_labelled(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # FFJORD's definition: 8 modes on a circle of radius 2*sqrt(2), std 0.5/sqrt(2); the class is the mode.
    k = torch.randint(0, 8, (n,), generator=g)
    angle = k.float() * math.pi / 4
    centres = 4 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return (centres + 0.5 * torch.randn(n, 2, generator=g)) / math.sqrt(2), k


def _points_of(labelled: Callable) -> Callable[[int, torch.Generator], torch.Tensor]:
    """The unlabelled sampler of a labelled one: the same draws, the labels dropped."""
    return lambda n, g: labelled(n, g)[0]


def _rings(n: int, g: torch.Generator) -> torch.Tensor:
    # Four concentric rings (FFJORD's radii 0.25..1 scaled by 3), equal mass, noise 0.08.
    radius = 0.75 * (torch.randint(0, 4, (n,), generator=g).float() + 1)
    angle = _uniform(n, g) * 2 * math.pi
    circle = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) * radius[:, None]
    return circle + 0.08 * torch.randn(n, 2, generator=g)


def _pinwheel(n: int, g: torch.Generator) -> torch.Tensor:
    # FFJORD's pinwheel: 5 arms, radial std 0.3, tangential std 0.1, twist rate 0.25.
    arm = torch.randint(0, 5, (n,), generator=g).float()
    features = torch.randn(n, 2, generator=g) * torch.tensor([0.3, 0.1]) + torch.tensor([1.0, 0.0])
    angle = arm * 2 * math.pi / 5 + 0.25 * torch.exp(features[:, 0])
    cos, sin = torch.cos(angle), torch.sin(angle)
    x = cos * features[:, 0] - sin * features[:, 1]
    y = sin * features[:, 0] + cos * features[:, 1]
    return 2 * torch.stack([x, y], dim=1)


def _swissroll(n: int, g: torch.Generator) -> torch.Tensor:
    # scikit-learn's 2D Swiss roll (angle 1.5 pi to 4.5 pi, the point at radius = angle), scaled into the box.
    angle = 1.5 * math.pi * (1 + 2 * _uniform(n, g))
    roll = torch.stack([angle * torch.cos(angle), angle * torch.sin(angle)], dim=1)
    return roll / 7.5 + 0.05 * torch.randn(n, 2, generator=g)


PRESETS: dict[str, Target] = {
    t.name: t
    for t in [
        # 8 cells of a 4x4 board; a class per row
        Target(
            "checkerboard",
            _points_of(_checkerboard_labelled),
            in_support=_checkerboard_cells,
            sample_labelled=_checkerboard_labelled,
            class_names=("row 1", "row 2", "row 3", "row 4"),
        ),
        # two interleaved half circles (the seed's crescent); a class per moon
        Target(
            "moons",
            _points_of(_moons_labelled),
            sample_labelled=_moons_labelled,
            class_names=("upper moon", "lower moon"),
        ),
        Target("spiral", _spiral),  # two spiral arms, the seed's hardest target
        # eight round modes on a circle; a class per mode, counter-clockwise from the right
        Target(
            "8gaussians",
            _points_of(_eight_gaussians_labelled),
            sample_labelled=_eight_gaussians_labelled,
            class_names=tuple(f"mode {k + 1}" for k in range(8)),
        ),
        Target("rings", _rings),  # four concentric rings
        Target("pinwheel", _pinwheel),  # five curved arms
        Target("swissroll", _swissroll),  # one rolled-up arm
        # scikit-learn's 8x8 handwritten digits (core.digits): 64 dimensions, a class per digit
        Target(
            "digits",
            _points_of(digits.sample_labelled),
            normaliser=Normaliser(centre=(digits.CENTRE,) * 64, scale=digits.SCALE),
            sample_labelled=digits.sample_labelled,
            class_names=digits.CLASS_NAMES,
            dim=64,
            train_defaults=digits.TRAIN_DEFAULTS,
            image_shape=digits.IMAGE_SHAPE,
            value_range=(0.0, digits.PIXEL_MAX),
            held_out=digits.held_out_split,
            training_points=lambda: digits.train_split()[0],
            classify=digits.classify,
        ),
    ]
}
ALIASES = {"crescent": "moons"}


def target_names() -> list[str]:
    """The preset names a user may pick (aliases excluded)."""
    return list(PRESETS)


def get_target(name: str) -> Target:
    """The preset called `name` (or an alias of one)."""
    key = ALIASES.get(name, name)
    if key not in PRESETS:
        accepted = ", ".join(list(PRESETS) + list(ALIASES))
        raise TargetError(f"unknown target {name!r}; accepted: {accepted}")
    return PRESETS[key]


# ---------------------------------------------------------------- data-driven targets


MAX_DIM = config.MAX_DIM  # columns of a data target's points
MAX_TARGET_CLASSES = 16  # a label column with more distinct values is taken for data, not classes
MAX_COORDINATE = 1e30  # beyond this, samples in data units overflow the network's float32 numbers


def _checked_points(name: str, points: np.ndarray) -> np.ndarray:
    """points as (m, D) float64 with 2 <= D <= MAX_DIM, or TargetError saying what is wrong and what is accepted."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or not 2 <= points.shape[1] <= MAX_DIM:
        raise TargetError(f"points must have shape (n, D) with D from 2 to {MAX_DIM}, got {points.shape}")
    if len(points) < MIN_POINTS:
        count = f"{len(points)} point" + ("" if len(points) == 1 else "s")
        raise TargetError(f"{name}: {count}; at least {MIN_POINTS} are needed")
    if not np.isfinite(points).all():
        raise TargetError(f"{name}: points contain NaN or infinite values; only finite numbers are accepted")
    largest = float(np.abs(points).max())
    if largest > MAX_COORDINATE:
        raise TargetError(
            f"{name}: values up to {largest:.3g}; coordinates beyond ±{MAX_COORDINATE:g} would overflow the "
            "network's 32-bit numbers once normalised and mapped back; rescale the data"
        )
    if len(points) > MAX_POINTS:
        raise TargetError(f"{name}: {len(points):,} points; the limit is {MAX_POINTS:,}")
    return points


def _checked_weights(name: str, weights: np.ndarray | None, m: int) -> np.ndarray:
    """(m,) float64 relative probabilities (None: uniform), or TargetError."""
    weights = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != (m,) or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise TargetError(f"{name}: weights must be {m} finite non-negative numbers, not all zero")
    return weights


def _checked_labels(name: str, labels: np.ndarray | None, m: int) -> np.ndarray | None:
    """(m,) int64 classes 0 .. K - 1 with K <= MAX_TARGET_CLASSES (None: unlabelled), or TargetError."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.shape != (m,) or not np.isfinite(labels).all() or (labels != np.round(labels)).any():
        raise TargetError(f"{name}: labels must be {m} whole numbers, one per point")
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 0 or int(labels.max()) + 1 > MAX_TARGET_CLASSES):
        raise TargetError(f"{name}: labels must be 0 to {MAX_TARGET_CLASSES - 1}")
    return labels


def point_cloud_target(
    name: str,
    points: np.ndarray,
    weights: np.ndarray | None = None,
    jitter: float = 0.0,
    labels: np.ndarray | None = None,
    note: str = "",
) -> Target:
    """A target that resamples `points` (m, D) in data units.

    weights: (m,) non-negative, relative probability of each point (None: uniform).
    jitter: each draw is spread uniformly over a cube this wide (data units), e.g. a pixel.
    labels: (m,) class of each point, integers 0 .. K - 1 (K <= MAX_TARGET_CLASSES), or None.
    """
    points = _checked_points(name, points)
    if not (math.isfinite(jitter) and jitter >= 0):
        raise TargetError(f"{name}: jitter must be a finite non-negative width, got {jitter!r}")
    weights = _checked_weights(name, weights, len(points))
    labels = _checked_labels(name, labels, len(points))
    classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0

    half, dim = jitter / 2, points.shape[1]
    normaliser = Normaliser.fitting(np.stack([points.min(0) - half, points.max(0) + half]))
    model_points = torch.as_tensor(normaliser.to_model(points), dtype=torch.float32)
    probs = torch.as_tensor(weights / weights.sum(), dtype=torch.float32)
    model_jitter = jitter / normaliser.scale
    model_labels = None if labels is None else torch.as_tensor(labels)

    def sample_labelled(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.multinomial(probs, n, replacement=True, generator=g)
        out = model_points[idx]
        if model_jitter > 0:
            out = out + (torch.rand(n, dim, generator=g) - 0.5) * model_jitter
        return out, (model_labels[idx] if model_labels is not None else torch.zeros(n, dtype=torch.long))

    return Target(
        name,
        _points_of(sample_labelled),
        normaliser=normaliser,
        sample_labelled=sample_labelled if classes else None,
        class_names=tuple(f"class {k}" for k in range(classes)),
        points=points.astype(np.float32),
        weights=weights.astype(np.float32),
        jitter=float(jitter),
        labels=labels,
        note=note,
        dim=dim,
    )


def _check_size(data: bytes, what: str) -> None:
    if len(data) == 0:
        raise TargetError(f"{what} is empty; expected a CSV of points or a PNG/JPEG image")
    if len(data) > MAX_FILE_BYTES:
        raise TargetError(f"{what} is {len(data) / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")


def parse_csv_points(data: bytes, what: str = "CSV file") -> np.ndarray:
    """A CSV's points (n, D) float64 (read_csv_table), its label column dropped."""
    return parse_csv_table(data, what)[0]


def label_column(third: list[float | None]) -> tuple[np.ndarray | None, str]:
    """A CSV's third column as class labels (n,) 0 .. K - 1 when every row has one and it holds 2 to
    MAX_TARGET_CLASSES distinct whole numbers, else None; and a sentence saying which, and why."""
    given = [v for v in third if v is not None]
    if not given:
        return None, ""
    if len(given) < len(third):
        return None, f"the third column is missing on {len(third) - len(given):,} rows: no classes were read"
    column = np.asarray(given, dtype=np.float64)
    if not np.isfinite(column).all() or (column != np.round(column)).any():
        return None, "the third column holds numbers that are not whole: it was not read as classes"
    values = np.unique(column)
    if len(values) > MAX_TARGET_CLASSES:
        return None, (
            f"the third column has {len(values):,} distinct values, more than the {MAX_TARGET_CLASSES} classes "
            "a target may have: it was not read as classes"
        )
    if len(values) < 2:
        return None, "the third column holds one value only: no classes were read"
    return np.searchsorted(values, column), f"the third column was read as {len(values)} classes"


def parse_csv_table(data: bytes, what: str = "CSV file") -> tuple[np.ndarray, np.ndarray | None]:
    """A CSV's points (n, D) float64 and its class labels (n,) 0 .. K - 1 or None: read_csv_table."""
    points, labels, _ = read_csv_table(data, what)
    return points, labels


LABEL_HEADERS = ("label", "class")  # a header cell naming the label column of a D-column CSV
COLUMNS_EXPECTED = f"expected 2 to {MAX_DIM} numeric columns (x,y for 2D points)"


def _csv_rows(data: bytes, what: str) -> tuple[list[str] | None, list[list[float]], list[int]]:
    """A CSV's header cells (lower case; None without a header), its numeric rows and their line numbers."""
    _check_size(data, what)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TargetError(f"{what} is not UTF-8 text; expected a CSV of points") from None
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t ").delimiter
    except csv.Error:
        delimiter = ","
    header, rows, lines = None, [], []
    for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
        cells = [c.strip() for c in row if c.strip() != ""]
        if not cells:
            continue
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if i == 0 and not rows:
                header = [c.lower() for c in cells]
                continue
            shown = ",".join(cells)[:60]
            raise TargetError(f"{what}: line {i + 1} is not numeric ({shown!r}); {COLUMNS_EXPECTED}") from None
        if len(values) < 2:
            raise TargetError(f"{what}: line {i + 1} has {len(values)} column; {COLUMNS_EXPECTED}")
        if len(values) > MAX_DIM + 1:
            raise TargetError(
                f"{what}: line {i + 1} has {len(values)} columns; at most {MAX_DIM} coordinates and a label column "
                "are accepted"
            )
        rows.append(values)
        lines.append(i + 1)
        if len(rows) > MAX_POINTS:
            raise TargetError(f"{what} has more than {MAX_POINTS:,} rows; the limit is {MAX_POINTS:,}")
    if not rows:
        raise TargetError(f"{what} has no numeric rows; {COLUMNS_EXPECTED}")
    return header, rows, lines


def _even_width(rows: list[list[float]], lines: list[int], what: str) -> int:
    """The one width of every row, or TargetError naming the first row of another width."""
    width = len(rows[0])
    for values, line in zip(rows, lines):
        if len(values) != width:
            raise TargetError(
                f"{what}: line {line} has {len(values)} columns and line {lines[0]} has {width}; every row needs "
                "the same columns"
            )
    return width


def _declared_labels(column: np.ndarray, what: str) -> tuple[np.ndarray, str]:
    """A label column a header names, as classes 0 .. K - 1 and a sentence; TargetError when it is not a
    small set of whole numbers."""
    if not np.isfinite(column).all() or (column != np.round(column)).any():
        raise TargetError(f"{what}: the label column holds numbers that are not whole; labels are classes 0, 1, 2...")
    values = np.unique(column)
    if len(values) > MAX_TARGET_CLASSES:
        raise TargetError(
            f"{what}: the label column has {len(values):,} distinct values; a target has at most "
            f"{MAX_TARGET_CLASSES} classes"
        )
    return np.searchsorted(values, column), f"the label column was read as {len(values)} classes"


def read_csv_table(data: bytes, what: str = "CSV file") -> tuple[np.ndarray, np.ndarray | None, str]:
    """A CSV's points (n, D) float64 (2 <= D <= MAX_DIM), its class labels (n,) 0 .. K - 1 or None, and a
    sentence on how its columns were read.

    A file of two or three columns keeps its 2D reading: x, y, and a third column as classes when
    label_column accepts it, else a note why not. With four or more, a header cell 'label' or 'class' names
    the label column (a small set of whole numbers, else an error) and every other column is a coordinate;
    without one, all are. Rows of uneven width are refused (but for the 2D reading's missing third column)."""
    header, rows, lines = _csv_rows(data, what)
    declared = [i for i, c in enumerate(header or []) if c in LABEL_HEADERS]
    widths = {len(r) for r in rows}
    if widths <= {2, 3}:
        third = [r[2] if len(r) > 2 else None for r in rows]
        labels, note = label_column(third)  # the distinct values, in order, become 0 .. K - 1
        points = np.asarray([r[:2] for r in rows], dtype=np.float64)
    else:
        width = _even_width(rows, lines, what)
        table = np.asarray(rows, dtype=np.float64)
        labels, note = None, f"read as {width} coordinates"
        if declared and declared[0] < width:
            labels, note = _declared_labels(table[:, declared[0]], what)
            table = np.delete(table, declared[0], axis=1)
        if table.shape[1] > MAX_DIM:
            raise TargetError(
                f"{what} has {table.shape[1]} coordinate columns; at most {MAX_DIM} are accepted (name a label column "
                "'label' in a header line)"
            )
        points = table
    if not np.isfinite(points).all():
        raise TargetError(f"{what} contains NaN or infinite values; only finite numbers are accepted")
    return points, labels, note


def image_density(data: bytes, what: str = "image") -> np.ndarray:
    """Darkness in [0, 1] of an image, (h, w) with h, w <= IMAGE_GRID, row 0 at the top."""
    _check_size(data, what)
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():  # PIL's two-line warning above the limit: the size is refused below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
        with opened as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise TargetError(
                    f"{what} is {img.width}x{img.height} pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels"
                )
            img.draft("L", (IMAGE_GRID * 4, IMAGE_GRID * 4))  # JPEG: decode at reduced size
            grey = img.convert("LA")
            grey.thumbnail((IMAGE_GRID, IMAGE_GRID))
            arr = np.asarray(grey, dtype=np.float32) / 255.0
    except Image.DecompressionBombError:
        raise TargetError(f"{what} is too large to decode; the limit is {MAX_IMAGE_PIXELS:,} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise TargetError(
            f"{what} is not a readable image ({type(exc).__name__}); "
            f"expected a PNG or JPEG up to {MAX_IMAGE_PIXELS:,} pixels"
        ) from None
    luminance, alpha = arr[..., 0], arr[..., 1]
    darkness = (1.0 - luminance) * alpha  # transparent pixels count as background
    return darkness


def density_target(name: str, darkness: np.ndarray) -> Target:
    """A target whose density follows `darkness` (h, w): x = column, y = rows from the bottom (pixels)."""
    h, w = darkness.shape
    weights = np.where(darkness > 0.1, darkness, 0.0)  # ignore paper grain and JPEG noise
    rows, cols = np.nonzero(weights)
    if len(rows) < MIN_POINTS:
        raise TargetError(f"{name}: fewer than {MIN_POINTS} dark pixels; draw dark shapes on a light background")
    points = np.stack([cols + 0.5, (h - rows) - 0.5], axis=1)
    return point_cloud_target(name, points, weights[rows, cols], jitter=1.0)


def _glyph(font, ch: str) -> tuple:
    """What `font` draws for one character: its mask's size and pixels."""
    mask = font.getmask(ch)
    return mask.size, bytes(mask)


def text_target(text: str) -> Target:
    """A target shaped like `text` (a few characters), rendered with the bundled font."""
    text = text.strip()
    if not text or len(text) > 12:
        raise TargetError("text must have 1 to 12 characters")
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=48)
    missing = _glyph(font, "\ue000")  # a private-use character: the font's "no glyph" box
    lacking = sorted({ch for ch in text if not ch.isspace() and _glyph(font, ch) == missing})
    if lacking:
        raise TargetError(
            f"the bundled font has no letter for {' '.join(lacking)}; use plain Latin letters, digits and "
            "punctuation (A-Z, a-z, 0-9, ?!&…)"
        )
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (right - left + 8, bottom - top + 8), color=255)
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, fill=0, font=font)
    return density_target(f"text: {clean_name(text)}", 1.0 - np.asarray(img, dtype=np.float32) / 255.0)


# A drawn target: shapes (polygons in the unit square, each with a density level) painted on a grid.
DRAW_GRID = 96  # pixels on a side of the canvas the shapes are painted on
DRAW_LEVELS = 5  # density levels 1 (faint) .. 5 (dense)
MAX_SHAPES = 24
MAX_VERTICES = 48  # a lasso is thinned to this many vertices (the URL stays short)
_CODE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # 64 positions per coordinate


Shape = tuple[int, np.ndarray]  # (density level 1..DRAW_LEVELS, (k, 2) vertices in [0, 1]^2)


def thin_polygon(vertices: np.ndarray, keep: int = MAX_VERTICES) -> np.ndarray:
    """(k, 2) -> at most `keep` vertices, evenly spaced along the list, clipped to the unit square."""
    vertices = np.clip(np.asarray(vertices, dtype=np.float64).reshape(-1, 2), 0.0, 1.0)
    if len(vertices) > keep:
        vertices = vertices[np.linspace(0, len(vertices) - 1, keep).round().astype(int)]
    return vertices


def encode_shapes(shapes: list[Shape]) -> str:
    """Shapes as a short URL-safe string: per shape its level digit, then two characters per vertex
    (64 positions each way); shapes separated by '.'."""
    parts = []
    for level, vertices in shapes[:MAX_SHAPES]:
        q = np.round(thin_polygon(vertices) * 63).astype(int)
        parts.append(str(int(level)) + "".join(_CODE[x] + _CODE[y] for x, y in q))
    return ".".join(parts)


def decode_shapes(text: str) -> list[Shape]:
    """The shapes of `encode_shapes` output; raises TargetError for anything it could not have written."""
    shapes = []
    for part in str(text).split(".")[: MAX_SHAPES + 1]:
        body = part[1:]
        if (
            not part
            or part[0] not in "12345"
            or len(body) % 2
            or not 6 <= len(body) <= 2 * MAX_VERTICES
            or any(c not in _CODE for c in body)
        ):
            raise TargetError("the drawing in the link is damaged; draw again")
        q = np.array([_CODE.index(c) for c in body], dtype=np.float64).reshape(-1, 2) / 63
        shapes.append((int(part[0]), q))
    if len(shapes) > MAX_SHAPES:
        raise TargetError(f"a drawing has at most {MAX_SHAPES} shapes")
    return shapes


def drawn_target(shapes: list[Shape]) -> Target:
    """A target painted from shapes: each polygon filled on a DRAW_GRID square at its density level
    (overlaps keep the denser level), then sampled like an image (density_target)."""
    from PIL import Image, ImageDraw

    if not shapes:
        raise TargetError("draw at least one shape")
    canvas = Image.new("L", (DRAW_GRID, DRAW_GRID), 0)
    for level, vertices in shapes[:MAX_SHAPES]:
        layer = Image.new("L", canvas.size, 0)
        corners = [(float(x) * DRAW_GRID, (1 - float(y)) * DRAW_GRID) for x, y in thin_polygon(vertices)]
        if len(corners) >= 3:
            ImageDraw.Draw(layer).polygon(corners, fill=round(255 * min(max(level, 1), DRAW_LEVELS) / DRAW_LEVELS))
        canvas = Image.fromarray(np.maximum(np.asarray(canvas), np.asarray(layer)))
    return density_target("drawn", np.asarray(canvas, dtype=np.float32) / 255.0)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def target_from_bytes(name: str, data: bytes) -> Target:
    """A CSV or image target from raw file bytes; the kind is read from the file's first bytes.

    The target is named after the file, made one short line (text.clean_name): it becomes run labels.
    """
    name = clean_name(name)
    if data[:8].startswith(b"\x89PNG") or data[:3] == b"\xff\xd8\xff" or Path(name).suffix.lower() in IMAGE_SUFFIXES:
        return density_target(name, image_density(data, name))
    points, labels, note = read_csv_table(data, name)
    return point_cloud_target(name, points, labels=labels, note=note)


def target_from_file(path: str | Path) -> Target:
    """A CSV or image target read from `path`."""
    path = Path(path)
    if not path.is_file():
        raise TargetError(
            f"data file {str(path)!r} {missing(path, 'file')}; expected a CSV of points or a PNG/JPEG image"
        )
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TargetError(
            f"{path.name} is {path.stat().st_size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"
        )
    return target_from_bytes(path.name, path.read_bytes())
