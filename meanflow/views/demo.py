"""Home's demo, precomputed: the bundled runs' trajectories and scores in one small file (assets/home.npz).

A newcomer's first page should paint without loading torch or a network: `make assets` samples
MeanFlow at 1 step and flow matching at 1 and 16 steps from the same noise on each seed target
(`write_demo`), and Home reads the arrays back with numpy alone (`read_demo`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PANELS = (("meanflow", 1), ("flow-matching", 1), ("flow-matching", 16))
PARTICLES = 1000  # enough to see the shape, light enough to animate smoothly
REFERENCE = 800
DEMO_FILE = "home.npz"


def panel_title(label: str, steps: int) -> str:
    return f"{label}, {steps} step{'s' * (steps != 1)}"


def write_demo(pretrained: Path, targets: tuple[str, ...], out: Path) -> None:
    """Sample the bundled unconditional runs of each target and save what Home draws to `out`."""
    import torch

    from ..core.methods import get_method
    from ..core.metrics import Evaluator
    from ..core.runs import list_runs, load_run
    from ..core.sampling import sample

    infos, _ = list_runs(pretrained)
    arrays: dict[str, np.ndarray] = {}
    for target in targets:
        runs = {i.config.method: i for i in infos if i.target_name == target and not i.config.classes}
        if not {m for m, _ in PANELS} <= set(runs):
            continue
        for p, (method, steps) in enumerate(PANELS):
            saved = load_run(runs[method].path)
            traj = sample(saved.flow, PARTICLES, steps, torch.Generator().manual_seed(0))
            q = Evaluator(saved.target, PARTICLES, torch.Generator().manual_seed(1)).score(traj.samples)
            key = f"{target}/{p}"
            arrays[f"{key}/times"] = traj.times.astype(np.float32)
            arrays[f"{key}/path"] = traj.path.astype(np.float32)
            arrays[f"{key}/title"] = np.array(panel_title(get_method(method).label, steps))
            arrays[f"{key}/score"] = np.array([q.hist_tv, q.hist_tv_floor, q.n], dtype=np.float64)
            if p == 0:
                noise = saved.target.normaliser.to_model(traj.path[0])
                arrays[f"{target}/noise"] = np.asarray(noise, dtype=np.float32)
                reference = saved.target.sample(REFERENCE, torch.Generator().manual_seed(0)).numpy()
                arrays[f"{target}/reference"] = reference.astype(np.float32)
    np.savez_compressed(out, **arrays)


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
