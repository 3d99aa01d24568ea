"""Plain numpy geometry the views share: a square window around point clouds, and particles along paths.

No Plotly, no torch: Home's canvas page and the movie export use these without loading either.
"""

from __future__ import annotations

import numpy as np

Bounds = tuple[float, float, float, float]  # (xmin, xmax, ymin, ymax)


def bounds_of(*arrays: np.ndarray, margin: float = 0.1, quantile: float = 0.995) -> Bounds:
    """A square (xmin, xmax, ymin, ymax) covering the (n, 2) arrays, ignoring the outermost points.

    Each axis spans its [1 - quantile, quantile] quantiles of all points together, widened by
    `margin` times the span on both sides; the smaller span is then grown so both are equal
    (equal aspect without empty bands). Empty input gives (-1, 1, -1, 1).
    """
    pts = [np.asarray(a, dtype=np.float64).reshape(-1, 2) for a in arrays if a is not None]
    pts = np.concatenate(pts) if pts else np.empty((0, 2))
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo = np.quantile(pts, 1.0 - quantile, axis=0)  # (2,)
    hi = np.quantile(pts, quantile, axis=0)  # (2,)
    centre = (lo + hi) / 2
    span = float((hi - lo).max()) or 1.0  # a single point still gets a visible window
    half = span * (0.5 + margin)
    return (float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half))


OUTLIER_SPAN = 10.0  # a panel spanning this many times the target's (or the median panel's) extent diverged


def shared_bounds(panels: list[np.ndarray], *extra: np.ndarray | None) -> tuple[Bounds, list[bool]]:
    """The bounds side-by-side panels share, and which panels they leave out: a panel of (n, 2) points
    whose own extent (bounds_of) is more than OUTLIER_SPAN times the first `extra` array's (the target's
    sample, where given) or else the median panel's (not the narrowest: a collapsed panel would leave out
    the rest). One diverged run (points at 1e3) would otherwise shrink every other panel to a dot; its
    points fall outside the view instead, and the caller says so."""
    extra = [a for a in extra if a is not None]

    def span(arrays) -> float:
        b = bounds_of(*arrays)
        return b[1] - b[0]

    spans = [span([p]) for p in panels]
    base = span(extra[:1]) if extra else float(np.median(spans)) if spans else 1.0
    left_out = [s > OUTLIER_SPAN * base for s in spans]
    kept = [p for p, out in zip(panels, left_out) if not out]
    return bounds_of(*kept, *extra), left_out


def shared_view(panels: list[np.ndarray], *extra: np.ndarray | None) -> tuple[Bounds, list[str]]:
    """shared_bounds, with a note per panel: '' for a panel in view; for a left-out one, how much of it
    the shared view cannot show."""
    bounds, left_out = shared_bounds(panels, *extra)
    return bounds, [
        f"({share_outside(p, bounds):.0%} beyond the view)" if out else "" for p, out in zip(panels, left_out)
    ]


def noted_shared_bounds(
    titles: list[str], ends: list[np.ndarray], *extra: np.ndarray | None, note_first: bool = False
) -> tuple[Bounds, list[str]]:
    """shared_bounds over the panels' samples (ends), with the titles of those it leaves out noted: the
    animations' (Plotly's, the canvas player's, the movie's) one rule for a diverged panel. note_first: the
    note before the title (a player that shortens long titles at their end would cut it)."""
    bounds, notes = shared_view(ends, *extra)
    return bounds, [(f"{n} {t}" if note_first else f"{t} {n}") if n else t for t, n in zip(titles, notes)]


def share_outside(points: np.ndarray, bounds: Bounds) -> float:
    """The fraction of (n, 2) points outside bounds (non-finite ones included)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return 0.0
    xmin, xmax, ymin, ymax = bounds
    inside = (pts[:, 0] >= xmin) & (pts[:, 0] <= xmax) & (pts[:, 1] >= ymin) & (pts[:, 1] <= ymax)
    return float(1.0 - inside.mean())


def positions_at(times: np.ndarray, path: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """(F, n, 2): the particles at each tau, linear along the path between its grid times.

    times: (k + 1,) decreasing; path: (k + 1, n, 2); taus: (F,).
    """
    k = len(times) - 1
    pos = np.interp(-taus, -times, np.arange(k + 1))  # fractional index into the path, (F,)
    j = np.minimum(pos.astype(int), k - 1)  # segment start; tau = 0 lands at the end of the last segment
    w = (pos - j)[:, None, None]  # (F, 1, 1)
    return (1 - w) * path[j] + w * path[j + 1]


def noise_grid(lines: int = 17, per_line: int = 61, extent: float = 3.0) -> np.ndarray:
    """(2 * lines * per_line, 2) points of a square grid over the noise plane [-extent, extent]^2 (model
    units): `lines` horizontal lines of `per_line` points each, then as many vertical ones (grid_lines
    draws them)."""
    ticks = np.linspace(-extent, extent, lines)  # (lines,)
    along = np.linspace(-extent, extent, per_line)  # (per_line,)
    rows = np.stack(np.broadcast_arrays(along[None, :], ticks[:, None]), axis=-1)  # (lines, per_line, 2): y fixed
    columns = rows[..., ::-1]  # x fixed
    return np.concatenate([rows, columns]).reshape(-1, 2)


def grid_lines(points: np.ndarray, lines: int, per_line: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid of noise_grid, wherever its points went: (x, y) polylines, NaN between lines.

    points: (2 * lines * per_line, 2); returns two (2 * lines * (per_line + 1),) arrays, the horizontal
    lines first."""
    pts = np.asarray(points, dtype=np.float64).reshape(2 * lines, per_line, 2)
    gaps = np.full((2 * lines, 1, 2), np.nan)
    joined = np.concatenate([pts, gaps], axis=1).reshape(-1, 2)
    return joined[:, 0], joined[:, 1]


def principal_axes(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean (D,) and the first two principal directions (D, 2) of points (m, D): the plane that shows
    most of their spread, for drawing points of more than two dimensions."""
    reference = np.asarray(reference, dtype=np.float64)
    mean = reference.mean(axis=0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    axes = vt[:2].T
    signs = np.where(axes.sum(axis=0) < 0, -1.0, 1.0)  # a fixed orientation: the same picture on every call
    return mean, axes * signs


def project(points: np.ndarray, axes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(..., D) points onto principal_axes' plane: (..., 2) coordinates (2D points pass through unchanged)."""
    points = np.asarray(points, dtype=np.float64)
    mean, directions = axes
    return (points - mean) @ directions
