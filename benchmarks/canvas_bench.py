"""The browser's CPU for Animate's canvas animation: one page of 2 panels x N particles replaying
throughout a 10 s window in headless Chromium (no GPU), as a share of one core.

    python benchmarks/canvas_bench.py [--particles 2000] [--colours] [--seconds 10]

Needs Debian's chromium and Playwright (as the browser tests). Prints one line; compare numbers from
one run only (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from meanflow.views.canvas import particle_animation_html
from meanflow.views.palette import start_colours

CHROMIUM = "/usr/bin/chromium"


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _chromium_pids() -> list[int]:
    pids = []
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            if b"chromium" in (folder / "cmdline").read_bytes():
                pids.append(int(folder.name))
        except OSError:
            pass
    return pids


def page_html(particles: int, colours: bool) -> str:
    """Two panels as Animate draws them: one step, and eight steps, from the same noise."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(particles, 2))
    data = noise * 0.3 + 1.0
    times = np.linspace(1, 0, 9)
    many = noise[None] * times[:, None, None] + data[None] * (1 - times[:, None, None])
    panels = {"one step": (np.array([1.0, 0.0]), np.stack([noise, data])), "eight steps": (times, many)}
    return particle_animation_html(
        panels,
        rng.normal(size=(800, 2)),
        start_colours(noise) if colours else None,
        height=560,
        start_at_end=False,
        seconds=2.56,
        clickable=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=2000)
    parser.add_argument("--colours", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "animation.html"
    path.write_text(page_html(args.particles, args.colours))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(path.as_uri())
        page.wait_for_timeout(1000)
        pids = _chromium_pids()
        cpu0, t0 = _cpu_seconds(pids), time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            page.evaluate(
                "() => { const b = document.getElementById('play'); if (b.textContent === 'Play') b.click(); }"
            )
            time.sleep(0.2)
        share = (_cpu_seconds(pids) - cpu0) / (time.perf_counter() - t0)
        browser.close()
    print(
        f"2 panels x {args.particles} particles{' coloured' if args.colours else ''}, replaying: "
        f"Chromium {share:.2f} of a core"
    )


if __name__ == "__main__":
    main()
