"""Image targets shown as images: samples (n, D) tiled into one grey picture, and that picture as PNG.

numpy and Pillow only (no torch): points arrive in the data's own units with the target's image shape
and value range (the digits: 8 x 8 pixels, 0 paper .. 16 ink), and leave as ink on paper.
"""

from __future__ import annotations

import io
import math

import numpy as np

from .geometry import positions_at

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


def frames_along(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    shape: tuple[int, int],
    value_range: tuple[float, float],
    images: int = 36,
    frames: int = 33,
    scale: int = 6,
) -> list[np.ndarray]:
    """The first `images` particles of each panel as image grids side by side, at `frames` evenly spaced
    times from 1 (noise) to 0 (the samples), each (H, W) uint8: noise turning into images, frame by frame.

    panels: title -> (times (k + 1,) from 1 to 0, path (k + 1, n, D) in data units); a one-step panel moves
    in a straight line from its noise to its sample, a K-step panel along its K steps."""
    taus = np.linspace(1.0, 0.0, frames)
    columns = max(1, math.ceil(math.sqrt(images)))
    moving = [positions_at(times, path[:, :images], taus) for times, path in panels.values()]  # (F, m, D) each
    out = []
    for f in range(frames):
        grids = [image_grid(m[f], shape, value_range, columns=columns, scale=scale) for m in moving]
        height = max(g.shape[0] for g in grids)
        padded = [np.pad(g, ((0, height - g.shape[0]), (0, 0)), constant_values=255) for g in grids]
        spacer = np.full((height, 4 * scale), 255, dtype=np.uint8)
        out.append(np.concatenate([p for g in padded for p in (g, spacer)][:-1], axis=1))
    return out


def player_html(frames: list[np.ndarray], titles: list[str], seconds: float = 2.0, autoplay: bool = False) -> str:
    """A page that plays the frames (grey (H, W) uint8) with Play and a time slider, the panel titles above.

    The titles, the image and the controls are sized together to the frame the page is shown in (the
    image keeps its aspect, narrower when the frame is short), so Play is never cut off below it."""
    import base64
    import html
    import json

    uris = ["data:image/png;base64," + base64.b64encode(png_bytes(f)).decode() for f in frames]
    heads = "".join(f"<div>{html.escape(t)}</div>" for t in titles)
    delay = max(20, round(1000 * seconds / max(1, len(frames) - 1)))
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body{{font-family:sans-serif;margin:0;overflow:hidden}} #box{{margin:0 auto;max-width:100%}}
.heads{{display:flex;justify-content:space-around;font-size:14px}}
img{{image-rendering:pixelated;width:100%;display:block}} .bar{{display:flex;gap:8px;align-items:center}}
</style></head><body><div id="box"><div class="heads" id="heads">{heads}</div>
<img id="frame" alt="image grids from noise to samples">
<div class="bar" id="bar"><button id="play">▶ Play</button><input id="t" type="range" min="0" max="{len(frames) - 1}"
value="{len(frames) - 1}" style="flex:1" aria-label="time"><span id="label"></span></div></div><script>
const uris={json.dumps(uris)}, img=document.getElementById("frame"), slider=document.getElementById("t"),
label=document.getElementById("label"), box=document.getElementById("box"), heads=document.getElementById("heads"),
bar=document.getElementById("bar"); let timer=null;
function fit(){{const aspect=img.naturalWidth/img.naturalHeight; if(!aspect) return;
 box.style.width="";  // from the full width: titles wrap more as the box narrows, so narrow until it holds
 for(let k=0;k<6;k++){{const room=window.innerHeight-heads.offsetHeight-bar.offsetHeight-8;
  const width=Math.max(120, Math.min(document.body.clientWidth, room*aspect))+"px";
  if(box.style.width===width) break; box.style.width=width;}}}}
img.addEventListener("load", fit, {{once:true}}); window.addEventListener("resize", fit);
function show(i){{img.src=uris[i]; slider.value=i; label.textContent="t = "+(1-i/(uris.length-1)).toFixed(2);}}
function play(){{clearInterval(timer); let i=0; show(0); timer=setInterval(()=>{{i++; show(i);
 if(i>=uris.length-1) clearInterval(timer);}}, {delay});}}
document.getElementById("play").onclick=play; slider.oninput=()=>{{clearInterval(timer); show(+slider.value);}};
show(uris.length-1); if({"true" if autoplay else "false"}) play();
</script></body></html>"""
