"""Home's demo file (views.demo's format), written from the bundled pretrained runs by `make assets`:
each panel's particles, and its run's headline quality (lab.scoring: the methods table's number)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.registry import get_method
from ..core.runs import list_runs, load_run
from ..core.sampling import sample
from ..views.demo import PANELS, PARTICLES, REFERENCE, panel_title
from .scoring import headline


def write_demo(pretrained: Path, targets: tuple[str, ...], out: Path) -> None:
    """Sample the bundled unconditional runs of each target and save what Home draws to `out`."""
    infos, _ = list_runs(pretrained)
    arrays: dict[str, np.ndarray] = {}
    for target in targets:
        runs = {i.config.method: i for i in infos if i.target_name == target and not i.config.classes}
        if not {m for m, _ in PANELS} <= set(runs):
            continue
        for p, (method, steps) in enumerate(PANELS):
            saved = load_run(runs[method].path)
            traj = sample(saved.flow, PARTICLES, steps, torch.Generator().manual_seed(0))
            q = headline(saved.flow, saved.target, steps, runs[method].config.seed)  # as the methods table scores it
            key = f"{target}/{p}"
            arrays[f"{key}/times"] = traj.times.astype(np.float32)
            arrays[f"{key}/path"] = traj.path.astype(np.float32)
            arrays[f"{key}/title"] = np.array(panel_title(get_method(method).about.label, steps))
            arrays[f"{key}/score"] = np.array([q.hist_tv, q.hist_tv_floor, q.n], dtype=np.float64)
            if p == 0:
                noise = saved.target.normaliser.to_model(traj.path[0])
                arrays[f"{target}/noise"] = np.asarray(noise, dtype=np.float32)
                reference = saved.target.sample(REFERENCE, torch.Generator().manual_seed(0)).numpy()
                arrays[f"{target}/reference"] = reference.astype(np.float32)
    np.savez_compressed(out, **arrays)
