"""A bounded load test on loopback: four browser sessions train and animate at once.

Marked slow; CI runs it. It reports (prints) page latency and the server's memory, and asserts
what must hold: every session finishes its own run, sees only its own run, and nothing errors.
"""

import re
import time
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, LAUNCH_ARGS, browser, open_page, server, shot  # noqa: F401

pytest.importorskip("playwright")
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium missing"),
]
SESSIONS = 4


def server_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_four_sessions_train_and_animate_at_once(server, browser):  # noqa: F811
    url, log, pid = server
    contexts = [browser.new_context(viewport={"width": 1300, "height": 1600}) for _ in range(SESSIONS)]
    pages = [c.new_page() for c in contexts]
    errors = []
    for pg in pages:
        pg.on("pageerror", lambda e: errors.append(str(e)))
    latency, rss = {"train": [], "animate": []}, [server_rss_mb(pid)]
    try:
        # A demo link: one MeanFlow run of 300 steps, set through the URL.
        for pg in pages:
            latency["train"].append(open_page(pg, f"{url}/train?methods=meanflow&steps=300&seconds=30"))
        for pg in pages:
            pg.get_by_role("button", name="Train", exact=True).click()
        for i, pg in enumerate(pages):
            try:
                expect(pg.get_by_text(re.compile("— (done|stopped)"))).to_have_count(1, timeout=120_000)
            except AssertionError:
                shot(pg, f"load_session{i + 1}_not_done")
                raise
            expect(pg.get_by_text(re.compile(r"MeanFlow · checkerboard — "))).to_have_count(1)  # its own run only
        rss.append(server_rss_mb(pid))
        for pg in pages:
            t0 = time.perf_counter()
            pg.get_by_role("link", name="Animate").first.click()
            # what only Animate shows: the Train page's charts may still be on screen
            pg.locator(".js-plotly-plot .annotation-text").filter(
                has_text="MeanFlow · checkerboard, 1 step"
            ).first.wait_for(timeout=60_000)
            latency["animate"].append(time.perf_counter() - t0)
        for pg in pages:
            pg.locator("g.updatemenu-button").first.click()
        time.sleep(2)
        rss.append(server_rss_mb(pid))
        shot(pages[-1], "load_session4_animate")
    finally:
        for c in contexts:
            c.close()
    print(
        f"\n{SESSIONS} sessions: Train page load (s) {', '.join(f'{t:.2f}' for t in latency['train'])}; "
        f"Animate after training (s) {', '.join(f'{t:.2f}' for t in latency['animate'])}; "
        f"server RSS (MB) start {rss[0]:.0f}, after training {rss[1]:.0f}, animating {rss[2]:.0f}"
    )
    assert not errors, errors
    text = log.read_text()
    assert "Traceback" not in text and "missing ScriptRunContext" not in text
