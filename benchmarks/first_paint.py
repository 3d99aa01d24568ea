"""First paint in Chromium: a freshly started server's Home, then every page's widgets and first picture.

    python benchmarks/first_paint.py [--rounds 3]

Each round starts its own server as `make run` does (`python -m ui.serve`; `--plain`: `streamlit run
app.py`) on a free loopback port with an empty run library, waits for its health check, then opens
Home in a new browser context and times the navigation until Home's animation (its canvas) is drawn:
the cold first paint a newcomer sees. It then visits every other page for the first time on that
server (its first run there: cold) and times the navigation until the page's first widget, and until
its first picture; then loads each page again (warm). Medians over rounds; Debian's Chromium
(../shared/TESTING.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a script reusing the browser tests' helpers (tests is no installed package)

# the browser tests' server and page loading: the same start and the same "first picture"
from tests.browser.test_browser import CHROMIUM, LAUNCHER, PLAIN, READY, start_server  # noqa: E402
from tests.browser.test_browser import open_page as load  # noqa: E402

PAGES = ("", "train", "animate", "compare", "fields", "ablations")
WIDGET = ", ".join(
    f"[data-testid='{w}']"
    for w in ("stSelectbox", "stSlider", "stButtonGroup", "stButton", "stNumberInput", "stRadio", "stTextInput")
)


def first_visit(page, url: str) -> tuple[float, float]:
    """Seconds from navigation to the page's first widget, and to its first picture."""
    t0 = time.perf_counter()
    page.goto(url)
    page.locator(WIDGET).first.wait_for(timeout=60_000)
    widget = time.perf_counter() - t0
    page.locator(READY).first.wait_for(timeout=60_000)
    return widget, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--plain", action="store_true", help="start `streamlit run app.py` rather than `make run`'s launcher"
    )
    args = parser.parse_args()
    cold, warm = [], {p or "home": [] for p in PAGES}
    widgets, pictures = {p: [] for p in PAGES[1:]}, {p: [] for p in PAGES[1:]}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        for _ in range(args.rounds):
            work = Path(tempfile.mkdtemp(prefix="first-paint-"))
            (work / "runs").mkdir()
            proc, url = start_server(work / "runs", work / "server.log", command=PLAIN if args.plain else LAUNCHER)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                cold.append(load(page, url))
                for path in PAGES[1:]:
                    widget, picture = first_visit(page, f"{url}/{path}")
                    widgets[path].append(widget)
                    pictures[path].append(picture)
                for path in PAGES:
                    load(page, f"{url}/{path}")
                    warm[path or "home"].append(load(page, f"{url}/{path}"))
                context.close()
            finally:
                proc.terminate()
                proc.wait(10)
        browser.close()
    print(f"Home, cold (fresh server): median {statistics.median(cold):.2f} s ({', '.join(f'{c:.2f}' for c in cold)})")
    print(
        "first visit of each page (cold), median s to its widgets / its first picture: "
        + ", ".join(f"{k} {statistics.median(widgets[k]):.2f} / {statistics.median(pictures[k]):.2f}" for k in widgets)
    )
    print(
        "warm, median s to the first picture: " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in warm.items())
    )


if __name__ == "__main__":
    main()
