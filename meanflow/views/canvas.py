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

from .geometry import bounds_of, noted_shared_bounds
from .palette import PARTICLE_COLOUR, TRACE_COLOURS, colour_wheel_png


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
    traced: tuple[int, ...] = (),
    references: list[np.ndarray | None] | None = None,
    clickable: bool = False,
    max_traced: int = 5,
    point_scale: float = 1.0,
    autoplay: bool = False,
    colour_key: bool = True,
    fit_window: bool = False,
) -> str:
    """The HTML document of the animation.

    panels: title -> (times (k + 1,) from 1 down to 0, path (k + 1, n, 2)), the same n particles in each;
    reference: (m, 2) target points in grey, shared by the panels (their axes too); references: one
    (m_i, 2) array (or None) per panel instead, each panel on its own axes (runs on different targets);
    colours: (n, 3) uint8 per particle (start_colours), which also shows the colour key; start_at_end:
    open on the samples (t = 0), Play replays from the noise; traced: particles whose whole path is drawn
    bold in every panel; clickable: a click on a particle traces it too (up to max_traced, in the page:
    no round trip to the server), at any time, playing or not; point_scale: larger points (a projector);
    autoplay: play once from the noise as soon as it is on screen (a lesson's step: nothing to press);
    colour_key: show the colour wheel beside colours (False when they mean something else: classes);
    fit_window: panels small enough that the whole animation, Play included, fits the browser window
    below where it starts, with Play and the slider above the panels (the presenter view on a 1280 x 720
    projector).
    """
    paths = [np.asarray(path, dtype=np.float32) for _, path in panels.values()]
    titles = list(panels)
    if references is None:  # the samples decide which panel diverged (left out, its title says so)
        ends, starts = [p[-1] for p in paths], [p[0] for p in paths]
        shared, titles = noted_shared_bounds(titles, ends, reference, *starts, note_first=True)  # it shortens titles
        bounds = [list(shared)] * len(paths)
        refs = [reference] * len(paths)
    else:
        bounds = [list(bounds_of(p[[0, -1]], ref)) for p, ref in zip(paths, references)]
        refs = list(references)
    n = int(paths[0].shape[1])
    data = {
        "titles": titles,
        "times": [np.asarray(times, dtype=float).round(6).tolist() for times, _ in panels.values()],
        "paths": [_b64(p, np.float32) for p in paths],
        "n": n,
        "references": [_b64(r, np.float32) if r is not None else "" for r in refs],
        "colours": _b64(colours, np.uint8) if colours is not None else "",
        "wheel": colour_wheel_png(pixels=81) if colours is not None and colour_key else "",
        "bounds": bounds,
        "ghosts": int(min(ghost_paths, n)),
        "tau": 0.0 if start_at_end else 1.0,
        "seconds": float(seconds),
        "colour": PARTICLE_COLOUR,
        "height": int(height),
        "traced": [int(i) for i in traced if 0 <= int(i) < n][:max_traced],
        "traceColours": list(TRACE_COLOURS),
        "clickable": bool(clickable),
        "maxTraced": int(max_traced),
        "pointScale": float(point_scale),
        "autoplay": bool(autoplay),
        "fitWindow": bool(fit_window),
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
const paths = D.paths.map(floats), refs = D.references.map(r => r ? floats(r) : new Float32Array(0));
const rgb = D.colours ? bytes(D.colours) : null, n = D.n, P = D.titles.length;
const colours = rgb ? Array.from({length: n}, (_, i) => `rgb(${rgb[3*i]},${rgb[3*i+1]},${rgb[3*i+2]})`) : null;
if (D.wheel) { document.getElementById('wheel').src = D.wheel; document.getElementById('key').style.display = 'block'; }
const canvas = document.getElementById('c'), ctx = canvas.getContext('2d');
const play = document.getElementById('play'), slider = document.getElementById('time');
const label = document.getElementById('label'), frame = window.frameElement;
const HEAD = 26, GAP = 10, FPS = 25;
if (D.fitWindow) {  // a projector's short window: Play and the slider above the panels, in sight at once
  const controls = document.getElementById('controls');
  controls.style.margin = '0 0 6px 4px';
  document.body.insertBefore(controls, document.getElementById('row'));
}
let tau = D.tau, playing = false, last = null, size = 100, scale = 1, visible = true;
const traced = D.traced.slice();

function segment(times, t) {  // the step [j, j + 1] of the grid that time t lies in, and how far along (0-1)
  const k = times.length - 1;
  let j = 0;
  while (j < k - 1 && times[j + 1] > t) j++;
  return [j, Math.min(1, Math.max(0, (times[j] - t) / (times[j] - times[j + 1])))];
}
function position(p, times, i, t) {  // particle i of panel p at time t, linear between grid times
  const [j, w] = segment(times, t);
  const a = (j * n + i) * 2, b = ((j + 1) * n + i) * 2;
  return [(1 - w) * paths[p][a] + w * paths[p][b], (1 - w) * paths[p][a + 1] + w * paths[p][b + 1]];
}
let fitTop = null;  // where the animation starts in the page (CSS pixels from its top), read once
function windowRoom() {  // the panel size that leaves the whole animation inside the window (fitWindow)
  if (!D.fitWindow || !frame) return Infinity;
  try {
    const main = window.parent.document.querySelector('[data-testid="stMain"]');
    if (fitTop === null) fitTop = frame.getBoundingClientRect().top + (main ? main.scrollTop : 0);
    const room = window.parent.innerHeight - fitTop - HEAD - 44 - 12;
    return room >= 0.4 * (D.height - HEAD - 44) ? room : Infinity;  // far below the fold: scrolled to anyway
  } catch (e) { return Infinity; }  // a parent of another origin: no fitting
}
function layout() {
  const keyWidth = D.wheel ? 118 : 0;
  const width = Math.max(240, document.body.clientWidth - keyWidth);
  size = Math.max(60, Math.min((width - GAP * (P - 1)) / P, D.height - HEAD - 44, windowRoom()));
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
let still = null, still32 = null, image = null, image32 = null;  // the frame without particles, and the frame
function packed(hex) { return hex.match(/[0-9a-f]{2}/gi).map(h => parseInt(h, 16)); }
const base = packed(D.colour), BASE32 = (255 << 24 | base[2] << 16 | base[1] << 8 | base[0]) >>> 0;
const rgba = i => (255 << 24 | rgb[3 * i + 2] << 16 | rgb[3 * i + 1] << 8 | rgb[3 * i]) >>> 0;  // little-endian
const colours32 = rgb ? Uint32Array.from({length: n}, (_, i) => rgba(i)) : null;
function panelMap(p) {  // data units -> CSS pixels of panel p
  const left = p * (size + GAP), [x0, x1, y0, y1] = D.bounds[p];
  return [left, x => left + (x - x0) / (x1 - x0) * size, y => HEAD + (y1 - y) / (y1 - y0) * size];
}
function drawStill() {  // titles, frames, the target and the ghost paths: drawn once per layout, not per frame
  const c = document.createElement('canvas');
  c.width = canvas.width; c.height = canvas.height;
  const g = c.getContext('2d');
  g.fillStyle = '#ffffff'; g.fillRect(0, 0, c.width, c.height);
  g.setTransform(scale, 0, 0, scale, 0, 0);
  for (let p = 0; p < P; p++) {
    const [left, X, Y] = panelMap(p), ref = refs[p];
    g.fillStyle = '#31333f'; g.textAlign = 'center';
    g.font = Math.round(Math.min(15, Math.max(10, size / 14))) + 'px sans-serif';
    let title = D.titles[p];  // shortened with an ellipsis rather than running into the next panel
    while (title.length > 1 && g.measureText(title).width > size - 4) title = title.slice(0, -2) + '…';
    g.fillText(title, left + size / 2, 17);
    g.strokeStyle = '#e6e7eb'; g.lineWidth = 1; g.strokeRect(left + 0.5, HEAD + 0.5, size - 1, size - 1);
    g.save(); g.beginPath(); g.rect(left, HEAD, size, size); g.clip();
    g.fillStyle = 'rgba(150, 150, 150, 0.35)';
    for (let i = 0; i < ref.length; i += 2) g.fillRect(X(ref[i]) - 1.2, Y(ref[i + 1]) - 1.2, 2.4, 2.4);
    const k = D.times[p].length - 1;
    g.strokeStyle = 'rgba(31, 78, 156, 0.12)'; g.lineWidth = 0.8;
    for (let i = 0; i < D.ghosts; i++) {
      g.beginPath();
      for (let j = 0; j <= k; j++) {
        const a = (j * n + i) * 2, x = X(paths[p][a]), y = Y(paths[p][a + 1]);
        if (j === 0) g.moveTo(x, y); else g.lineTo(x, y);
      }
      g.stroke();
    }
    g.restore();
  }
  image = g.getImageData(0, 0, c.width, c.height);
  image32 = new Uint32Array(image.data.buffer);
  still32 = image32.slice();
  still = c;
}
function draw() {
  // Particles are written into the pixels directly (a square dot each): thousands of arcs per frame cost
  // a software-rendered browser most of a core, this a few milliseconds (benchmarks/RESULTS.md).
  if (!still) drawStill();
  image32.set(still32);
  const W = canvas.width, rd = Math.max(1.2, size / 260) * D.pointScale * scale;
  for (let p = 0; p < P; p++) {
    const [left, X, Y] = panelMap(p), times = D.times[p];
    const bx0 = Math.ceil(left * scale), bx1 = Math.floor((left + size) * scale) - 1;
    const by0 = Math.ceil(HEAD * scale), by1 = Math.floor((HEAD + size) * scale) - 1;
    const [j, w] = segment(times, tau), path = paths[p], a0 = j * n * 2, b0 = (j + 1) * n * 2;
    for (let i = 0; i < n; i++) {
      const x = (1 - w) * path[a0 + 2 * i] + w * path[b0 + 2 * i];
      const y = (1 - w) * path[a0 + 2 * i + 1] + w * path[b0 + 2 * i + 1];
      const cx = X(x) * scale, cy = Y(y) * scale;
      const xa = Math.max(bx0, Math.round(cx - rd)), xb = Math.min(bx1, Math.round(cx + rd) - 1);
      const ya = Math.max(by0, Math.round(cy - rd)), yb = Math.min(by1, Math.round(cy + rd) - 1);
      const c = colours32 ? colours32[i] : BASE32;
      for (let yy = ya; yy <= yb; yy++) image32.fill(c, yy * W + xa, yy * W + xb + 1);
    }
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.putImageData(image, 0, 0);
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  for (let p = 0; p < P; p++) {
    const [left, X, Y] = panelMap(p), times = D.times[p], k = times.length - 1;
    ctx.save(); ctx.beginPath(); ctx.rect(left, HEAD, size, size); ctx.clip();
    traced.forEach(i => {  // a followed particle: its whole path, bold, and where it is now
      ctx.strokeStyle = D.traceColours[i % D.traceColours.length]; ctx.lineWidth = 2.5; ctx.beginPath();
      for (let j = 0; j <= k; j++) {
        const a = (j * n + i) * 2, x = X(paths[p][a]), y = Y(paths[p][a + 1]);
        if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      }
      ctx.stroke();
      const [x, y] = position(p, times, i, tau);
      ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(X(x), Y(y), 5, 0, 2 * Math.PI); ctx.stroke();
    });
    ctx.restore();
  }
  slider.value = Math.round((1 - tau) * 1000);
  label.textContent = 't = ' + tau.toFixed(2);
  play.textContent = playing ? 'Pause' : 'Play';
  if (frame) {
    frame.dataset.tau = tau.toFixed(3);
    frame.dataset.playing = playing ? '1' : '0';
    frame.dataset.ready = '1';
    frame.dataset.traced = traced.join(',');
  }
}
let drawn = 0;
function tick(now) {
  if (!playing || !visible) { last = null; return; }  // off screen: no drawing; it resumes where it was
  if (last !== null) tau = Math.max(0, tau - (now - last) / 1000 / D.seconds);
  last = now;
  if (tau <= 0) playing = false;
  if (!playing || now - drawn >= 1000 / FPS - 2) { draw(); drawn = now; }  // the movie's frame rate (25), not 60
  if (playing) requestAnimationFrame(tick);
}
play.addEventListener('click', () => {
  playing = !playing;
  if (playing) { if (tau <= 0) tau = 1; last = null; requestAnimationFrame(tick); }
  draw();
});
slider.addEventListener('input', () => { playing = false; tau = 1 - slider.value / 1000; draw(); });
const refit = () => { layout(); still = null; draw(); };
window.addEventListener('resize', refit);
if (D.fitWindow) {  // the window alone may change height (a projector's full screen): fit again
  try {
    window.parent.addEventListener('resize', refit);
    window.addEventListener('pagehide', () => window.parent.removeEventListener('resize', refit));
  } catch (e) {}
}
window.pixelOf = (p, i) => {  // where particle i of panel p is drawn now, in the canvas's CSS pixels (tests)
  const [x0, x1, y0, y1] = D.bounds[p], [x, y] = position(p, D.times[p], i, tau);
  return [p * (size + GAP) + (x - x0) / (x1 - x0) * size, HEAD + (y1 - y) / (y1 - y0) * size];
};
canvas.addEventListener('click', e => {  // follow the particle under the pointer (or stop following it)
  if (!D.clickable) return;
  const box = canvas.getBoundingClientRect(), px = e.clientX - box.left, py = e.clientY - box.top;
  const p = Math.floor(px / (size + GAP));
  if (p < 0 || p >= P || py < HEAD) return;
  const left = p * (size + GAP), [x0, x1, y0, y1] = D.bounds[p], times = D.times[p];
  let best = -1, bestD = 64;  // within 8 px
  for (let i = 0; i < n; i++) {
    const [x, y] = position(p, times, i, tau);
    const dx = left + (x - x0) / (x1 - x0) * size - px, dy = HEAD + (y1 - y) / (y1 - y0) * size - py;
    if (dx * dx + dy * dy < bestD) { bestD = dx * dx + dy * dy; best = i; }
  }
  if (best < 0) return;
  const at = traced.indexOf(best);
  if (at >= 0) traced.splice(at, 1); else { traced.push(best); if (traced.length > D.maxTraced) traced.shift(); }
  draw();
});
if ('IntersectionObserver' in window) {  // stop drawing while the animation is scrolled out of sight
  new IntersectionObserver(entries => {
    visible = entries[entries.length - 1].isIntersecting;
    if (visible && playing) { last = null; requestAnimationFrame(tick); }
  }).observe(canvas);
}
layout(); draw();
if (D.autoplay) { tau = 1; playing = true; last = null; requestAnimationFrame(tick); }
</script></body></html>
"""
