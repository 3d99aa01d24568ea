"""Server memory against the size of the run library: 10, 100 and 1,000 shared runs of a data target.

    python benchmarks/library_bench.py [--points 100000] [--sizes 10,100,1000]

Each size gets a fresh server whose runs folder holds copies of one trained run on a point-cloud
target of --points points; three Chromium sessions open the Train page (which lists the library)
and one opens a run from it. Prints the server's resident memory after each step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from meanflow.core.registry import make_config
from meanflow.core.runs import save_result, set_shared
from meanflow.core.targets import point_cloud_target
from meanflow.core.training import run_training


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--sizes", default="10,100,1000")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.browser.test_browser import CHROMIUM, LAUNCH_ARGS, open_page, start_server

    work = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    target = point_cloud_target("big.csv", rng.normal(size=(args.points, 2)))
    config = make_config(steps=20, hidden=32, depth=2)
    template = save_result(work / "template", config, target, run_training(config, target))
    set_shared(template, True)
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        for size in [int(s) for s in args.sizes.split(",")]:
            runs = work / f"runs{size}"
            for i in range(size):
                shutil.copytree(template, runs / f"20260101-000000-meanflow-{i:024x}")
            proc, url = start_server(runs, work / f"server{size}.log")
            try:
                memory = {"started": rss_mb(proc.pid)}
                pages = [browser.new_page() for _ in range(3)]
                for page in pages:
                    open_page(page, f"{url}/train")
                    page.wait_for_timeout(1500)
                memory["3 sessions on Train"] = rss_mb(proc.pid)
                pages[0].get_by_text("Saved runs", exact=True).click()
                pages[0].get_by_role("button", name="Open").first.click()
                pages[0].wait_for_timeout(2000)
                open_page(pages[0], f"{url}/animate")
                memory["one run opened and animated"] = rss_mb(proc.pid)
                for page in pages:
                    page.close()
            finally:
                proc.terminate()
                proc.wait(10)
            results[size] = memory
            print(size, json.dumps({k: round(v) for k, v in memory.items()}), flush=True)
        browser.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
