"""A particle animation drawn on an HTML canvas: Home's demo without Plotly, for a fast first paint.

A newcomer's first page must show its animation at once, and Plotly's bundle alone takes seconds to
start in Chromium on a small machine (benchmarks/RESULTS.md, "Teaching"). This builds one
self-contained HTML document (no library; a short script) that a page shows in an iframe: panels side
by side with the target in grey, particles moving from noise (t = 1) to samples (t = 0) along their
sampling paths, a sample of whole paths as faint lines, and a Play/Pause button and a time slider
that, being a real button and slider, take the keyboard (Tab, Enter or Space, arrow keys).

Pure: numpy arrays in, an HTML string out. Text (panel titles) travels as JSON and is set with
textContent, so it is shown as text, never read as HTML. Positions travel as base64 float32.

The iframe element is marked for the page around it and for tests: data-ready="1" once drawn,
data-playing="1" while playing, data-tau the time shown.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from .geometry import bounds_of
from .palette import PARTICLE_COLOUR, colour_wheel_png


def _b64(array: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode()


def particle_animation_html(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    reference: np.ndarray | None = None,
    colours: np.ndarray | None = None,
    height: int = 420,
    ghost_paths: int = 150,
    start_at_end: bool = True,
    seconds: float = 3.0,
) -> str:
    """The HTML document of the animation.

    panels: title -> (times (k + 1,) from 1 down to 0, path (k + 1, n, 2)), the same n particles in each;
    reference: (m, 2) target points in grey; colours: (n, 3) uint8 per particle (start_colours), which
    also shows the colour key; start_at_end: open on the samples (t = 0), Play replays from the noise.
    """
    paths = [np.asarray(path, dtype=np.float32) for _, path in panels.values()]
    bounds = bounds_of(*(p[[0, -1]] for p in paths), reference)
    data = {
        "titles": list(panels),
        "times": [np.asarray(times, dtype=float).round(6).tolist() for times, _ in panels.values()],
        "paths": [_b64(p, np.float32) for p in paths],
        "n": int(paths[0].shape[1]),
        "reference": _b64(reference, np.float32) if reference is not None else "",
        "colours": _b64(colours, np.uint8) if colours is not None else "",
        "wheel": colour_wheel_png(pixels=81) if colours is not None else "",
        "bounds": list(bounds),
        "ghosts": int(min(ghost_paths, paths[0].shape[1])),
        "tau": 0.0 if start_at_end else 1.0,
        "seconds": float(seconds),
        "colour": PARTICLE_COLOUR,
        "height": int(height),
    }
    # JSON inside <script>: '<' escaped so no text can close the element
    payload = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return PAGE.replace("__DATA__", payload)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body { margin: 0; font-family: "Source Sans Pro", "Source Sans 3", sans-serif; color: #31333f; }
#row { display: flex; align-items: flex-start; gap: 8px; }
canvas { display: block; }
#controls { display: flex; align-items: center; gap: 10px; margin: 6px 0 0 4px; font-size: 14px; }
#controls button { font: inherit; padding: 3px 14px; border: 1px solid #c9cad0; border-radius: 6px;
  background: #fff; cursor: pointer; }
#controls button:focus-visible, #controls input:focus-visible { outline: 2px solid #1f4e9c; outline-offset: 2px; }
#time { flex: 1; max-width: 420px; }
#key { display: none; font-size: 12px; text-align: center; width: 110px; }
#key img { width: 96px; height: 96px; transform: scaleY(-1); }
</style></head><body>
<div id="row"><canvas id="c" role="img" aria-label="particles moving from noise to data"></canvas>
<div id="key"><img id="wheel" alt="colour key"><div>colour: where the noise started (hue: direction,
strength: distance)</div></div></div>
<div id="controls"><button id="play" type="button">Play</button>
<input id="time" type="range" min="0" max="1000" step="10" aria-label="time t">
<span id="label"></span></div>
<script id="data" type="application/json">__DATA__</script>
<script>
const D = JSON.parse(document.getElementById('data').textContent);
function bytes(b64) {
  const s = atob(b64), u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
  return u;
}
const floats = b64 => new Float32Array(bytes(b64).buffer);
const paths = D.paths.map(floats), ref = D.reference ? floats(D.reference) : new Float32Array(0);
const rgb = D.colours ? bytes(D.colours) : null, n = D.n, P = D.titles.length;
const colours = rgb ? Array.from({length: n}, (_, i) => `rgb(${rgb[3*i]},${rgb[3*i+1]},${rgb[3*i+2]})`) : null;
if (D.wheel) { document.getElementById('wheel').src = D.wheel; document.getElementById('key').style.display = 'block'; }
const canvas = document.getElementById('c'), ctx = canvas.getContext('2d');
const play = document.getElementById('play'), slider = document.getElementById('time');
const label = document.getElementById('label'), frame = window.frameElement;
const [x0, x1, y0, y1] = D.bounds, HEAD = 26, GAP = 10;
let tau = D.tau, playing = false, last = null, size = 100, scale = 1;

function position(p, times, i, t) {  // particle i of panel p at time t, linear between grid times
  const k = times.length - 1;
  let j = 0;
  while (j < k - 1 && times[j + 1] > t) j++;
  const w = Math.min(1, Math.max(0, (times[j] - t) / (times[j] - times[j + 1])));
  const a = (j * n + i) * 2, b = ((j + 1) * n + i) * 2;
  return [(1 - w) * paths[p][a] + w * paths[p][b], (1 - w) * paths[p][a + 1] + w * paths[p][b + 1]];
}
function layout() {
  const keyWidth = D.wheel ? 118 : 0;
  const width = Math.max(240, document.body.clientWidth - keyWidth);
  size = Math.max(60, Math.min((width - GAP * (P - 1)) / P, D.height - HEAD - 44));
  scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round((size + HEAD) * scale);
  canvas.style.width = width + 'px';
  canvas.style.height = (size + HEAD) + 'px';
  if (frame) {  // fit the iframe (and Streamlit's box around it) to the panels: no empty band when narrow
    const h = document.body.scrollHeight + 'px', box = frame.parentElement;
    frame.style.height = h;
    if (box && box.dataset.testid === 'stElementContainer') {
      box.style.setProperty('height', h, 'important');
      box.style.setProperty('flex', '0 0 ' + h, 'important');  // the column layout sizes it by flex-basis
    }
  }
}
function draw() {
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const r = Math.max(1.2, size / 260);
  for (let p = 0; p < P; p++) {
    const left = p * (size + GAP);
    const X = x => left + (x - x0) / (x1 - x0) * size, Y = y => HEAD + (y1 - y) / (y1 - y0) * size;
    ctx.fillStyle = '#31333f'; ctx.textAlign = 'center';
    ctx.font = Math.round(Math.min(15, Math.max(10, size / 14))) + 'px sans-serif';
    let title = D.titles[p];  // shortened with an ellipsis rather than running into the next panel
    while (title.length > 1 && ctx.measureText(title).width > size - 4) title = title.slice(0, -2) + '…';
    ctx.fillText(title, left + size / 2, 17);
    ctx.strokeStyle = '#e6e7eb'; ctx.lineWidth = 1; ctx.strokeRect(left + 0.5, HEAD + 0.5, size - 1, size - 1);
    ctx.save(); ctx.beginPath(); ctx.rect(left, HEAD, size, size); ctx.clip();
    ctx.fillStyle = 'rgba(150, 150, 150, 0.35)';
    for (let i = 0; i < ref.length; i += 2) ctx.fillRect(X(ref[i]) - 1.2, Y(ref[i + 1]) - 1.2, 2.4, 2.4);
    const times = D.times[p], k = times.length - 1;
    ctx.strokeStyle = 'rgba(31, 78, 156, 0.12)'; ctx.lineWidth = 0.8;
    for (let i = 0; i < D.ghosts; i++) {
      ctx.beginPath();
      for (let j = 0; j <= k; j++) {
        const a = (j * n + i) * 2, x = X(paths[p][a]), y = Y(paths[p][a + 1]);
        if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      }
      ctx.stroke();
    }
    ctx.fillStyle = D.colour;
    for (let i = 0; i < n; i++) {
      const [x, y] = position(p, times, i, tau);
      if (colours) ctx.fillStyle = colours[i];
      ctx.beginPath(); ctx.arc(X(x), Y(y), r, 0, 2 * Math.PI); ctx.fill();
    }
    ctx.restore();
  }
  slider.value = Math.round((1 - tau) * 1000);
  label.textContent = 't = ' + tau.toFixed(2);
  play.textContent = playing ? 'Pause' : 'Play';
  if (frame) {
    frame.dataset.tau = tau.toFixed(3);
    frame.dataset.playing = playing ? '1' : '0';
    frame.dataset.ready = '1';
  }
}
function tick(now) {
  if (!playing) return;
  if (last !== null) tau = Math.max(0, tau - (now - last) / 1000 / D.seconds);
  last = now;
  if (tau <= 0) playing = false;
  draw();
  if (playing) requestAnimationFrame(tick);
}
play.addEventListener('click', () => {
  playing = !playing;
  if (playing) { if (tau <= 0) tau = 1; last = null; requestAnimationFrame(tick); }
  draw();
});
slider.addEventListener('input', () => { playing = false; tau = 1 - slider.value / 1000; draw(); });
window.addEventListener('resize', () => { layout(); draw(); });
layout(); draw();
</script></body></html>
"""
