"""The Animate view as a movie to take to class: frames drawn with Pillow, encoded as GIF or MP4 by imageio.

Pure: the same panels `figures.trajectory_animation` takes ({title: (times (k + 1,), path (k + 1, n, 2))}),
the same frames (particles at tau = 1 - f / (F - 1), linear along each path) and the same fixed, equal
bounds; no streamlit, no torch. Titles are drawn as pixels, so user text cannot act as markup here.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .geometry import bounds_of, noted_shared_bounds, positions_at
from .palette import PARTICLE_COLOUR, TRACE_COLOURS, hex_rgb

FRAMES = 64
SIZE = (800, 400)  # width, height of the whole movie: the panels side by side
FPS = 16
TITLE_BAND = 34  # pixels above each panel for its title
FOOTER_BAND = 22  # pixels below for the time
REFERENCE_RGB = (200, 200, 200)
MAX_TITLE = 60  # characters of a panel's title drawn


@dataclass(frozen=True)
class _Layout:
    """Where each panel's square plot area lies in a movie frame, and the map from data to pixels."""

    panel_w: int  # pixels per panel, side by side
    side: int  # the square plot area's side in pixels
    bounds: list[tuple[float, float, float, float]]  # per panel (xmin, xmax, ymin, ymax) in data units

    def scale(self, col: int) -> float:
        xmin, xmax, ymin, ymax = self.bounds[col]
        return self.side / max(xmax - xmin, ymax - ymin)

    def box(self, col: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the plot area of panel `col`."""
        left = col * self.panel_w + (self.panel_w - self.side) // 2
        return left, TITLE_BAND, left + self.side, TITLE_BAND + self.side

    def to_pixels(self, xy: np.ndarray, col: int) -> np.ndarray:
        """(..., 2) data-unit points -> (..., 2) pixel positions in panel `col`."""
        xmin, _, ymin, _ = self.bounds[col]
        left, scale = self.box(col)[0], self.scale(col)
        px = left + (xy[..., 0] - xmin) * scale
        py = TITLE_BAND + self.side - (xy[..., 1] - ymin) * scale
        return np.stack([px, py], axis=-1)


def _background(
    titles: list[str], references: list[np.ndarray | None], layout: _Layout, size: tuple[int, int]
) -> Image:
    """The frame without particles: each panel's outline, title and (in grey) the reference points."""
    background = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(background)
    font = ImageFont.load_default(size=14)
    for col, (title, reference) in enumerate(zip(titles, references)):
        draw.rectangle(list(layout.box(col)), outline=(225, 225, 225))
        text = title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"
        draw.text(
            (col * layout.panel_w + layout.panel_w / 2, TITLE_BAND / 2), text, fill="black", font=font, anchor="mm"
        )
        if reference is not None:
            for x, y in layout.to_pixels(np.asarray(reference, dtype=np.float64), col):
                draw.point((float(x), float(y)), fill=REFERENCE_RGB)
    return background


def movie_frames(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    reference: np.ndarray | None = None,
    n_frames: int = FRAMES,
    size: tuple[int, int] = SIZE,
    colours: np.ndarray | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    references: list[np.ndarray | None] | None = None,
    traced: tuple[int, ...] = (),
) -> list[np.ndarray]:
    """n_frames RGB images (height, width, 3) uint8 of the panels side by side.

    reference: (m, 2) target points in grey under every panel, which then share their axes; references:
    one per panel instead, each panel on its own axes when they differ (runs on different targets).
    colours: optional (n, 3) uint8 colour of each particle (the same particle in every panel, e.g. by
    its starting point); else one colour. traced: particles whose path so far is drawn bold, with a ring
    where each is (as the page's animation follows them). on_frame(done, total) after each frame."""
    if not panels:
        raise ValueError("a movie needs at least one panel")
    if n_frames < 2:
        raise ValueError(f"a movie needs at least 2 frames, got {n_frames}")
    width, height = size
    paths = {t: (np.asarray(ts, dtype=np.float64), np.asarray(p, dtype=np.float64)) for t, (ts, p) in panels.items()}
    refs = list(references) if references is not None else [reference] * len(paths)
    shared = all(r is refs[0] or (r is not None and refs[0] is not None and np.array_equal(r, refs[0])) for r in refs)
    ends = [(p[0], p[-1]) for _, p in paths.values()]
    titles = list(paths)
    if shared:  # the samples decide which panel diverged (left out of the view, its title says so)
        first = None if refs[0] is None else np.asarray(refs[0])
        one, titles = noted_shared_bounds(titles, [end for _, end in ends], first, *(start for start, _ in ends))
        bounds = [one] * len(paths)
    else:
        bounds = [bounds_of(*pair, *([] if r is None else [np.asarray(r)])) for pair, r in zip(ends, refs)]
    panel_w = width // len(paths)
    layout = _Layout(panel_w, min(panel_w, height - TITLE_BAND - FOOTER_BAND) - 8, bounds)  # square plot areas
    background = _background(titles, refs, layout, size)
    taus = 1.0 - np.arange(n_frames) / (n_frames - 1)
    moving = [positions_at(times, path, taus) for times, path in paths.values()]  # each (F, n, 2)
    one = np.array([hex_rgb(PARTICLE_COLOUR)], np.uint8)
    fills = np.asarray(colours, dtype=np.uint8) if colours is not None else one
    small = ImageFont.load_default(size=12)
    frames = []
    for f, tau in enumerate(taus):
        image = background.copy()
        ImageDraw.Draw(image).text(
            (width / 2, height - FOOTER_BAND / 2), f"t = {tau:.2f}", fill="black", font=small, anchor="mm"
        )
        _traces(ImageDraw.Draw(image), moving, f, traced, layout)
        pixels = np.array(image)  # (height, width, 3), writable
        for col, xy in enumerate(moving):
            _dots(pixels, layout.to_pixels(xy[f], col), fills, layout.box(col))
        frames.append(pixels)
        if on_frame is not None:
            on_frame(f + 1, n_frames)
    return frames


def _traces(draw: ImageDraw.ImageDraw, moving: list[np.ndarray], f: int, traced, layout: _Layout) -> None:
    """Each traced particle's path up to frame f (F, n, 2 positions per panel), bold, and a ring where it is."""
    for col, xy in enumerate(moving):
        x0, y0, x1, y1 = layout.box(col)
        for i in traced:
            if not 0 <= i < xy.shape[1]:
                continue
            colour = hex_rgb(TRACE_COLOURS[i % len(TRACE_COLOURS)])
            line = [tuple(map(float, p)) for p in layout.to_pixels(xy[: f + 1, i], col) if np.isfinite(p).all()]
            if len(line) > 1:
                draw.line(line, fill=colour, width=2)
            if line:
                cx, cy = line[-1]
                if x0 < cx < x1 and y0 < cy < y1:
                    draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), outline=colour, width=2)


def _dots(pixels: np.ndarray, centres: np.ndarray, fills: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Paint a 3 x 3 dot at each (x, y) pixel centre (n, 2) in place; fills: (n, 3) or (1, 3) colours.
    Only pixels inside box (x0, y0, x1, y1) are painted (a panel's square: outliers are clipped)."""
    x0, y0, x1, y1 = box
    ok = np.isfinite(centres).all(axis=1)
    cx, cy = np.round(centres[ok]).astype(int).T
    colour = fills[ok] if len(fills) > 1 else np.broadcast_to(fills, (int(ok.sum()), 3))
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            x, y = cx + dx, cy + dy
            inside = (x > x0) & (x < x1) & (y > y0) & (y < y1)
            pixels[y[inside], x[inside]] = colour[inside]


def gif_bytes(frames: list[np.ndarray], fps: int = FPS) -> bytes:
    """An animated GIF that loops, with a pause on the last frame (the samples). One palette for all
    frames, taken from the first and the last (every colour appears in one of them)."""
    both = Image.fromarray(np.concatenate([frames[0], frames[-1]], axis=0))
    palette = both.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    durations = [round(1000 / fps)] * len(images)
    durations[-1] = 1500
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buf.getvalue()


def mp4_bytes(frames: list[np.ndarray], fps: int = FPS) -> bytes:
    """An H.264 MP4 (yuv420p, plays in browsers and slide software), through imageio's ffmpeg."""
    import imageio.v2 as imageio

    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        with imageio.get_writer(
            path, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p", quality=7
        ) as writer:
            for frame in frames:
                writer.append_data(frame)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)
