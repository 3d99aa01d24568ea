"""A bounded load test on loopback: four browser sessions train and animate at once.

Marked slow; CI runs it. It reports (prints) page latency and the server's memory, and asserts
what must hold: every session finishes its own run, sees only its own run, and nothing errors.
"""

import os
import re
import time
from pathlib import Path

import pytest

from tests.browser.test_browser import (  # noqa: F401
    CANVAS,
    CHROMIUM,
    LAUNCH_ARGS,
    LAUNCHER,
    animation,
    app_log,
    browser,
    open_page,
    server,
    shot,
)

pytest.importorskip("playwright")
from playwright.sync_api import expect

from tests.browser.test_browser import _children, start_server

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
            animation(pg, ", 1 step").wait_for(timeout=60_000)
            latency["animate"].append(time.perf_counter() - t0)
        for pg in pages:
            pg.frame_locator(CANVAS).get_by_role("button", name="Play").click()
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
    text = app_log(log)
    assert "Traceback" not in text and "missing ScriptRunContext" not in text


def _progress(page) -> tuple[int, float]:
    """(step, seconds trained) from a Train page's progress line."""
    text = page.get_by_text(re.compile(r"step [\d,]+ · \d+ steps/s · [\d.]+ s trained")).first.text_content()
    match = re.search(r"step ([\d,]+) · \d+ steps/s · ([\d.]+) s trained", text)
    return int(match.group(1).replace(",", "")), float(match.group(2))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


REPLAY = """() => {  // Play again whenever the animation has ended: animating throughout the window
    const f = document.querySelector("iframe[data-ready='1']");
    if (f && f.dataset.playing === '0') f.contentDocument.getElementById('play').click();
}"""


def test_a_run_keeps_its_speed_while_four_sessions_poll_and_animate(browser, tmp_path):  # noqa: F811
    """One run trains; its steps per second are measured with no other browser, then while four more
    sessions poll (two Train pages with runs waiting in line) and animate (two Animate pages of 2 x 2,000
    particles, once their pages have loaded, replaying throughout the window).

    Printed as a ratio (a benchmark, benchmarks/RESULTS.md), with the server's CPU time against the
    worker's; asserted: the run trains throughout and nothing errors.
    """
    log = tmp_path / "server.log"
    proc, url = start_server(tmp_path / "runs", log, MEANFLOW_MAX_JOBS="1")
    contexts = [browser.new_context(viewport={"width": 1300, "height": 1600}) for _ in range(5)]
    pages = [c.new_page() for c in contexts]
    errors = []
    for pg in pages:
        pg.on("pageerror", lambda e: errors.append(str(e)))
    window = 10.0
    try:
        trainer = pages[0]
        open_page(trainer, f"{url}/train?methods=meanflow&seconds=600&steps=1000000")
        trainer.get_by_role("button", name="Train", exact=True).click()
        trainer.get_by_text(re.compile(r"\d+ steps/s · [\d.]+ s trained")).first.wait_for(timeout=60_000)
        (worker,) = _children(proc.pid)

        def measure(during=lambda: None) -> tuple[float, float]:
            step0, trained0 = _progress(trainer)
            server0, worker0 = _cpu_seconds(proc.pid), _cpu_seconds(worker)
            end = time.monotonic() + window
            while time.monotonic() < end:
                during()
                time.sleep(0.25)
            step1, trained1 = _progress(trainer)
            server = _cpu_seconds(proc.pid) - server0
            return (step1 - step0) / (trained1 - trained0), server / (_cpu_seconds(worker) - worker0)

        time.sleep(3)  # past the first steps' warm-up
        quiet, quiet_cpu = measure()
        for pg in pages[1:3]:  # runs that wait in line: their pages poll every second
            open_page(pg, f"{url}/train?methods=meanflow&seconds=60&steps=300")
            pg.get_by_role("button", name="Train", exact=True).click()
            expect(pg.get_by_text(re.compile(r"queued \(position \d"))).to_be_visible(timeout=30_000)
        animators = pages[3:]
        for pg in animators:
            open_page(pg, f"{url}/animate?particles=2000", ready=CANVAS)
            pg.get_by_text(re.compile("floors at n = ")).first.wait_for(timeout=60_000)  # the page has loaded
        time.sleep(2)
        loaded, loaded_cpu = measure(lambda: [pg.evaluate(REPLAY) for pg in animators])
        shot(animators[0], "load_animating_while_training")
    finally:
        for c in contexts:
            c.close()
        proc.terminate()
        proc.wait(10)
    print(
        f"\none run alone: {quiet:.0f} steps/s, with 4 sessions polling and animating: {loaded:.0f} steps/s, "
        f"ratio {loaded / quiet:.2f}; server CPU / worker CPU: {quiet_cpu:.1%} alone, {loaded_cpu:.1%} loaded"
    )
    assert quiet > 0 and loaded > 0 and not errors, errors
    assert "Traceback" not in app_log(log)


PLAY_SECONDS = """() => new Promise(done => {  // Play Animate's canvas once; the wall seconds until it ends
    const f = document.querySelector("iframe[data-ready='1']"), t0 = performance.now();
    f.contentDocument.getElementById('play').click();
    const poll = () => f.dataset.playing === '0' ? done((performance.now() - t0) / 1000) : setTimeout(poll, 20);
    setTimeout(poll, 50);
})"""


def test_the_waits_a_new_user_meets_on_a_quiet_server(browser, tmp_path):  # noqa: F811
    """Printed, not asserted (timings are benchmarks): click to first training step on a just-started
    server, a reload bringing the run cards back, Compare's step-count table, and one play of Animate."""
    log = tmp_path / "server.log"
    proc, url = start_server(tmp_path / "runs", log, command=LAUNCHER)
    context = browser.new_context(viewport={"width": 1300, "height": 1600})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        open_page(page, f"{url}/train?methods=meanflow,flow-matching&seconds=15")
        t0 = time.perf_counter()
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text(re.compile(r"\d+ steps/s")).first.wait_for(timeout=60_000)
        first_step = time.perf_counter() - t0
        note = page.get_by_text(re.compile(r"first training step [\d.]+ s after launch"))
        note.first.wait_for(timeout=30_000)  # the caption can come a poll after the progress line
        notes = note.all_text_contents()
        engine_part = min(float(re.search(r"first training step ([\d.]+) s", n).group(1)) for n in notes)
        expect(page.get_by_text("— done")).to_have_count(2, timeout=90_000)
        t0 = time.perf_counter()
        page.reload()
        expect(page.get_by_text("— done")).to_have_count(2, timeout=60_000)
        cards = time.perf_counter() - t0
        compare = []
        for seed in (1, 2):  # a new seed: sampled and scored again, not a cached table
            t0 = time.perf_counter()
            page.goto(f"{url}/compare?cmp_mode=Step+counts&cmp_seed={seed}")
            page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
            compare.append(time.perf_counter() - t0)
        open_page(page, f"{url}/animate", ready=CANVAS)
        page.wait_for_timeout(1000)
        plays = [page.evaluate(PLAY_SECONDS) for _ in range(3)]
    finally:
        context.close()
        proc.terminate()
        proc.wait(10)
    print(
        f"\nclick to first step shown (just-started server) {first_step:.2f} s, launch to the first run's first step "
        f"{engine_part:.2f} s; reload to run cards {cards:.2f} s; "
        f"Compare step counts {', '.join(f'{t:.2f}' for t in compare)} s; "
        f"one play of Animate (2.56 s of animation) {', '.join(f'{t:.2f}' for t in plays)} s"
    )
    assert not errors, errors
    assert "Traceback" not in app_log(log)
