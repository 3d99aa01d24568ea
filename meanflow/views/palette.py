"""The views' colours: fixed ones (particles, classes, lines), and each particle's colour by where its
noise started, with the picture of that colour key. Numpy only (Pillow for the key's picture)."""

from __future__ import annotations

import base64
import io

import numpy as np

PARTICLE_COLOUR = "#1f4e9c"
# Okabe and Ito's eight colours, told apart with the common colour-vision deficiencies: classes.
CLASS_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
# The same for lines (methods, runs): the darker ones first, yellow last (faint on white).
TRACE_COLOURS = ("#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7")  # Okabe-Ito, for followed particles
LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
LINE_DASHES = ("solid", "dash", "dot", "dashdot", "longdash")  # a family's variants (a method's pairings)
# line_styles' colours: LINE_COLOURS with Tol's wine for the yellow, faint as a thin line beside the others
FAMILY_COLOURS = (*LINE_COLOURS[:7], "#882255")
# Ten classes (the digits): the eight above and two of Tol's muted colours.
DIGIT_COLOURS = CLASS_COLOURS + ("#882255", "#999999")
DIGIT_COLOUR_NAMES = ("orange", "sky blue", "green", "yellow", "blue", "vermilion", "pink", "black", "wine", "grey")


def line_styles(names: list[str], family: dict[str, str], order: tuple[str, ...] = ()) -> dict[str, dict]:
    """name -> Plotly line style {'color', 'dash'}: one colour per family (a method), the same on every chart
    that passes the same `order` (families listed there first, in that order, then as they appear), and one
    dash per variant within a family (its rows in the order given). family: name -> its family (a name
    missing there is a family of its own)."""
    families = list(order)
    for name in names:
        if family.get(name, name) not in families:
            families.append(family.get(name, name))
    seen: dict[str, int] = {}
    styles = {}
    for name in names:
        key = family.get(name, name)
        variant = seen.get(key, 0)
        seen[key] = variant + 1
        index = families.index(key)
        styles[name] = {
            "color": FAMILY_COLOURS[index % len(FAMILY_COLOURS)],
            # past eight families the colours repeat: a dash tells those apart
            "dash": LINE_DASHES[(variant + index // len(FAMILY_COLOURS)) % len(LINE_DASHES)],
        }
    return styles


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """'#D55E00' -> (213, 94, 0)."""
    h = colour.lstrip("#")
    return tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))


def start_colours(noise: np.ndarray) -> np.ndarray:
    """(n, 3) uint8: each particle's colour from where its noise started, a colour wheel over the
    Gaussian: hue is the direction of the starting point, saturation its distance from the centre
    through the 2D normal's radial CDF 1 - exp(-r^2 / 2), so colours spread evenly over the particles
    (pale near the centre, vivid far out). noise: (n, 2) model units."""
    noise = np.asarray(noise, dtype=np.float64)
    hue = (np.arctan2(noise[:, 1], noise[:, 0]) / (2 * np.pi)) % 1.0
    sat = 0.15 + 0.85 * (1 - np.exp(-(noise**2).sum(axis=1) / 2))
    value = 0.92
    h6 = hue * 6
    i = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    p, q, t = value * (1 - sat), value * (1 - sat * f), value * (1 - sat * (1 - f))
    v = np.full_like(sat, value)
    rgb = np.select(
        [i[:, None] == k for k in range(6)],
        [np.stack(c, axis=1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))],
    )
    return np.round(rgb * 255).astype(np.uint8)


def colour_wheel_png(radius: float = 3.0, pixels: int = 121) -> str:
    """start_colours over the noise plane, |z| <= radius, as a PNG data URI (transparent outside the
    disc); row 0 is y = -radius. The one picture of the colour key, for Plotly and the canvas demo."""
    from PIL import Image  # deferred: only when the key is shown (Home's first paint does without it)

    axis = np.linspace(-radius, radius, pixels)
    gx, gy = np.meshgrid(axis, axis)  # row i at y = -radius + i * step
    rgb = start_colours(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(pixels, pixels, 3)
    alpha = np.where(gx**2 + gy**2 <= radius**2, 255, 0).astype(np.uint8)[..., None]
    png = io.BytesIO()
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(png, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
