"""Home's demo, precomputed: the bundled runs' trajectories and scores in one small file (assets/home.npz).

A newcomer's first page should paint without loading torch or a network: `make assets` samples
MeanFlow at 1 step and flow matching at 1 and 16 steps from the same noise on each seed target
(lab.demo.write_demo), and Home reads the arrays back with numpy alone (`read_demo`). The file's keys
are this module's: '<target>/<panel>/{times,path,title,score}', '<target>/noise', '<target>/reference'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.text import steps_label

PANELS = (("meanflow", 1), ("flow-matching", 1), ("flow-matching", 16))
PARTICLES = 1000  # enough to see the shape, light enough to animate smoothly
REFERENCE = 800
DEMO_FILE = "home.npz"


def panel_title(label: str, steps: int) -> str:
    return f"{label}, {steps_label(steps)}"


def read_demo(path: Path, target: str) -> dict | None:
    """{'panels': {title: (times, path)}, 'scores': {title: (hist_tv, floor, n)}, 'reference': (m, 2),
    'noise': (n, 2) the particles' start in model units} for `target`, or None if the file or the target
    is missing."""
    if not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        if f"{target}/reference" not in data:
            return None
        panels, scores = {}, {}
        for p in range(len(PANELS)):
            key = f"{target}/{p}"
            title = str(data[f"{key}/title"])
            panels[title] = (data[f"{key}/times"].astype(np.float64), data[f"{key}/path"].astype(np.float64))
            tv, floor, n = data[f"{key}/score"]
            scores[title] = (float(tv), float(floor), int(n))
        return {
            "panels": panels,
            "scores": scores,
            "reference": data[f"{target}/reference"],
            "noise": data[f"{target}/noise"],
        }
