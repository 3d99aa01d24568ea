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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

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
    """Affine map between data units and model units: model = (data - centre) / scale."""

    centre: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0

    def to_model(self, points: np.ndarray | torch.Tensor):
        """points: (n, 2) in data units -> (n, 2) in model units."""
        return (points - self._centre_like(points)) / self.scale

    def to_data(self, points: np.ndarray | torch.Tensor):
        """points: (n, 2) in model units -> (n, 2) in data units."""
        return points * self.scale + self._centre_like(points)

    def _centre_like(self, points: np.ndarray | torch.Tensor):
        if isinstance(points, torch.Tensor):
            return torch.tensor(self.centre, dtype=points.dtype, device=points.device)
        return np.asarray(self.centre)

    @staticmethod
    def fitting(points: np.ndarray) -> Normaliser:
        """The normaliser that centres `points` (n, 2) and scales their larger extent to the box."""
        lo, hi = points.min(axis=0), points.max(axis=0)
        half_extent = float(max(hi - lo)) / 2
        scale = half_extent / BOX_HALF_WIDTH if half_extent > 0 else 1.0
        centre = (lo + hi) / 2
        return Normaliser(centre=(float(centre[0]), float(centre[1])), scale=scale)


@dataclass(frozen=True)
class Target:
    """A 2D distribution to learn.

    sample_model(n, generator) -> (n, 2) float32 exact samples in model units.
    in_support(points) -> (n,) bool, for targets with a sharp support (None otherwise),
        taking model units.
    """

    name: str
    sample_model: Callable[[int, torch.Generator], torch.Tensor]
    normaliser: Normaliser = Normaliser()
    in_support: Callable[[torch.Tensor], torch.Tensor] | None = None
    # The arrays behind a data-driven target, so a run folder can store and rebuild it.
    points: np.ndarray | None = field(default=None, repr=False, compare=False)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    jitter: float = 0.0

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, 2) exact samples in the data's own units."""
        return self.normaliser.to_data(self.sample_model(n, generator))

    @property
    def is_preset(self) -> bool:
        return self.points is None

    def to_spec(self) -> TargetSpec:
        """Plain data that rebuilds this target (a preset's name, or a data target's arrays)."""
        if self.is_preset:
            return TargetSpec("preset", self.name)
        return TargetSpec("data", self.name, self.points, self.weights, self.jitter)


@dataclass(frozen=True)
class TargetSpec:
    """What rebuilds a target in another process or from a run folder: no closures, only data.

    kind: 'preset' (name is a registry key) or 'data' (points (m, 2), weights (m,), jitter, data units).
    """

    kind: str
    name: str
    points: np.ndarray | None = field(default=None, repr=False, compare=False)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    jitter: float = 0.0

    def build(self) -> Target:
        """The target this spec describes; raises TargetError for an unknown preset or bad arrays."""
        if self.kind == "preset":
            return get_target(self.name)
        if self.kind == "data":
            return point_cloud_target(self.name, self.points, self.weights, jitter=self.jitter)
        raise TargetError(f"unknown target kind {self.kind!r}; accepted: preset, data")


# ---------------------------------------------------------------- presets (model units = data units)


def _uniform(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g)


def _checkerboard(n: int, g: torch.Generator) -> torch.Tensor:
    # The 8 unit cells with i + j even of a 4x4 board on [-2, 2]^2 (the seed tutorial's definition).
    x1 = _uniform(n, g) * 4 - 2
    b = (torch.rand(n, generator=g) < 0.5).float()
    x2 = _uniform(n, g) - 2 * b + torch.remainder(torch.floor(x1), 2)
    return torch.stack([x1, x2], dim=1)


def _checkerboard_cells(points: torch.Tensor) -> torch.Tensor:
    inside = (points.abs() < 2).all(dim=1)  # the board is [-2, 2)^2
    parity = torch.remainder(torch.floor(points[:, 0]) + torch.floor(points[:, 1]), 2) == 0
    return inside & parity


def _moons(n: int, g: torch.Generator) -> torch.Tensor:
    a = _uniform(n, g) * math.pi
    label = torch.rand(n, generator=g) < 0.5
    upper = torch.stack([torch.cos(a), torch.sin(a)], dim=1)
    lower = torch.stack([1 - torch.cos(a), 0.5 - torch.sin(a)], dim=1)
    p = torch.where(label[:, None], lower, upper) + 0.1 * torch.randn(n, 2, generator=g)
    return 2 * p + torch.tensor([-1.0, -0.2])


def _spiral(n: int, g: torch.Generator) -> torch.Tensor:
    m = torch.sqrt(_uniform(n, g)) * 3 * math.pi
    d = torch.stack([-torch.cos(m) * m + 0.5 * _uniform(n, g), torch.sin(m) * m + 0.5 * _uniform(n, g)], dim=1)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    return d * sign[:, None] / 3 + 0.1 * torch.randn(n, 2, generator=g)


def _eight_gaussians(n: int, g: torch.Generator) -> torch.Tensor:
    # FFJORD's definition: 8 modes on a circle of radius 2*sqrt(2), std 0.5/sqrt(2).
    k = torch.randint(0, 8, (n,), generator=g).float()
    centres = 4 * torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], dim=1)
    return (centres + 0.5 * torch.randn(n, 2, generator=g)) / math.sqrt(2)


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


PRESETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("checkerboard", _checkerboard, in_support=_checkerboard_cells),  # 8 cells of a 4x4 board
        Target("moons", _moons),  # two interleaved half circles (the seed's crescent)
        Target("spiral", _spiral),  # two spiral arms, the seed's hardest target
        Target("8gaussians", _eight_gaussians),  # eight round modes on a circle
        Target("rings", _rings),  # four concentric rings
        Target("pinwheel", _pinwheel),  # five curved arms
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


def point_cloud_target(name: str, points: np.ndarray, weights: np.ndarray | None = None, jitter: float = 0.0) -> Target:
    """A target that resamples `points` (m, 2) in data units.

    weights: (m,) non-negative, relative probability of each point (None: uniform).
    jitter: each draw is spread uniformly over a square cell this wide (data units), e.g. a pixel.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise TargetError(f"points must have shape (n, 2), got {points.shape}")
    if len(points) < MIN_POINTS:
        raise TargetError(f"{name}: {len(points)} points; at least {MIN_POINTS} are needed")
    if not np.isfinite(points).all():
        raise TargetError(f"{name}: points contain NaN or infinite values; only finite numbers are accepted")
    if len(points) > MAX_POINTS:
        raise TargetError(f"{name}: {len(points):,} points; the limit is {MAX_POINTS:,}")
    if not (math.isfinite(jitter) and jitter >= 0):
        raise TargetError(f"{name}: jitter must be a finite non-negative width, got {jitter!r}")
    if weights is None:
        weights = np.ones(len(points))
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(points),) or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise TargetError(f"{name}: weights must be {len(points)} finite non-negative numbers, not all zero")

    half = jitter / 2
    normaliser = Normaliser.fitting(np.concatenate([points.min(0) - half, points.max(0) + half]).reshape(2, 2))
    model_points = torch.as_tensor(normaliser.to_model(points), dtype=torch.float32)
    probs = torch.as_tensor(weights / weights.sum(), dtype=torch.float32)
    model_jitter = jitter / normaliser.scale

    def sample_model(n: int, g: torch.Generator) -> torch.Tensor:
        idx = torch.multinomial(probs, n, replacement=True, generator=g)
        out = model_points[idx]
        if model_jitter > 0:
            out = out + (torch.rand(n, 2, generator=g) - 0.5) * model_jitter
        return out

    return Target(
        name,
        sample_model,
        normaliser=normaliser,
        points=points.astype(np.float32),
        weights=weights.astype(np.float32),
        jitter=float(jitter),
    )


def _check_size(data: bytes, what: str) -> None:
    if len(data) == 0:
        raise TargetError(f"{what} is empty; expected a CSV of 2D points or a PNG/JPEG image")
    if len(data) > MAX_FILE_BYTES:
        raise TargetError(f"{what} is {len(data) / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")


def parse_csv_points(data: bytes, what: str = "CSV file") -> np.ndarray:
    """The first two numeric columns of a CSV (header optional) as (n, 2) float64."""
    _check_size(data, what)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TargetError(f"{what} is not UTF-8 text; expected a CSV of 2D points") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t ")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = []
    for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
        cells = [c.strip() for c in row if c.strip() != ""]
        if not cells:
            continue
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if i == 0 and not rows:
                continue  # a header line
            raise TargetError(
                f"{what}: line {i + 1} is not numeric ({','.join(cells)[:60]!r}); expected two numeric columns x,y"
            ) from None
        if len(values) < 2:
            raise TargetError(f"{what}: line {i + 1} has {len(values)} column; expected two numeric columns x,y")
        rows.append(values[:2])
        if len(rows) > MAX_POINTS:
            raise TargetError(f"{what} has more than {MAX_POINTS:,} rows; the limit is {MAX_POINTS:,}")
    if not rows:
        raise TargetError(f"{what} has no numeric rows; expected two numeric columns x,y")
    points = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(points).all():
        raise TargetError(f"{what} contains NaN or infinite values; only finite numbers are accepted")
    return points


def image_density(data: bytes, what: str = "image") -> np.ndarray:
    """Darkness in [0, 1] of an image, (h, w) with h, w <= IMAGE_GRID, row 0 at the top."""
    _check_size(data, what)
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
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


def text_target(text: str) -> Target:
    """A target shaped like `text` (a few characters), rendered with the bundled font."""
    text = text.strip()
    if not text or len(text) > 12:
        raise TargetError("text must have 1 to 12 characters")
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=48)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (right - left + 8, bottom - top + 8), color=255)
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, fill=0, font=font)
    return density_target(f"text: {text}", 1.0 - np.asarray(img, dtype=np.float32) / 255.0)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def target_from_bytes(name: str, data: bytes) -> Target:
    """A CSV or image target from raw file bytes; the kind is read from the file's first bytes."""
    if data[:8].startswith(b"\x89PNG") or data[:3] == b"\xff\xd8\xff" or Path(name).suffix.lower() in IMAGE_SUFFIXES:
        return density_target(name, image_density(data, name))
    return point_cloud_target(name, parse_csv_points(data, name))


def target_from_file(path: str | Path) -> Target:
    """A CSV or image target read from `path`."""
    path = Path(path)
    if not path.is_file():
        raise TargetError(f"data file {str(path)!r} not found; expected a CSV of 2D points or a PNG/JPEG image")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TargetError(
            f"{path.name} is {path.stat().st_size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"
        )
    return target_from_bytes(path.name, path.read_bytes())
