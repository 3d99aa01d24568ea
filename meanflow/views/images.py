"""Image targets shown as images: samples (n, D) tiled into one grey picture, and that picture as PNG.

numpy and Pillow only (no torch): points arrive in the data's own units with the target's image shape
and value range (the digits: 8 x 8 pixels, 0 paper .. 16 ink), and leave as ink on paper.
"""

from __future__ import annotations

import io
import math

import numpy as np

GAP = 1  # paper between two tiles, in image pixels


def ink(points: np.ndarray, shape: tuple[int, int], value_range: tuple[float, float]) -> np.ndarray:
    """(n, h, w) in [0, 1], 1 the darkest ink, from (n, h * w) points in data units (clipped to the range;
    NaN counts as paper)."""
    low, high = value_range
    h, w = shape
    values = (np.asarray(points, dtype=np.float64).reshape(-1, h, w) - low) / (high - low)
    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)


def image_grid(
    points: np.ndarray,
    shape: tuple[int, int],
    value_range: tuple[float, float],
    columns: int | None = None,
    scale: int = 1,
) -> np.ndarray:
    """One (H, W) uint8 picture (255 paper, 0 ink) of the images, row by row, `columns` to a row (default: a
    square), each pixel `scale` x `scale`, GAP pixels of paper between tiles and around them."""
    tiles = ink(points, shape, value_range)
    n, (h, w) = len(tiles), shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    grid = np.zeros((rows * (h + GAP) + GAP, columns * (w + GAP) + GAP))
    for i, tile in enumerate(tiles):
        top, left = GAP + (i // columns) * (h + GAP), GAP + (i % columns) * (w + GAP)
        grid[top : top + h, left : left + w] = tile
    picture = np.round(255 * (1.0 - grid)).astype(np.uint8)
    return np.kron(picture, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else picture


def png_bytes(picture: np.ndarray) -> bytes:
    """A grey (H, W) uint8 picture as PNG bytes."""
    from PIL import Image  # deferred: Pillow only where a picture is written

    out = io.BytesIO()
    Image.fromarray(picture, mode="L").save(out, format="PNG")
    return out.getvalue()
