"""How a study scores a run: its one- and two-step samples against the target, beside the floors.

Every run of a study is scored the same way, so the rows of its table compare: EVAL_N samples at each
step count in NFES, from a generator of the run's seed, against an Evaluator of the target drawn from
a generator of the same seed (the same reference and floors for every cell of that seed).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core import runs
from ..core.metrics import Evaluator
from ..core.sampling import sample
from ..core.targets import Target

NFES = (1, 2)  # the step counts a study reports
EVAL_N = 10_000  # samples scored per run and step count
METRICS = ("hist_tv", "sliced_w1", "in_support")
EVALUATOR_SEED = 1000  # evaluators draw from EVALUATOR_SEED + the run's seed


class Scorer:
    """Scores runs on the targets of one sweep, building each (target, seed) evaluator once."""

    def __init__(self, targets: dict[str, Target]):
        self._targets = targets
        self._evaluators: dict[tuple[str, int], Evaluator] = {}

    def evaluator(self, target: str, seed: int) -> Evaluator:
        key = (target, seed)
        if key not in self._evaluators:
            generator = torch.Generator().manual_seed(EVALUATOR_SEED + seed)
            self._evaluators[key] = Evaluator(self._targets[target], EVAL_N, generator)
        return self._evaluators[key]

    def score(self, path: Path, target: str, seed: int) -> dict:
        """{nfe: metric dict for each of NFES, 'steps': steps trained}; raises RunError for a run that
        cannot be loaded."""
        saved = runs.load_run(path)
        scores: dict = {}
        for nfe in NFES:
            x = sample(saved.flow, EVAL_N, nfe, torch.Generator().manual_seed(seed)).samples
            scores[nfe] = self.evaluator(target, seed).score(x).to_dict()
        scores["steps"] = saved.info.step
        return scores
