"""A run's headline numbers: how a study scores a run, and what every page shows as a run's quality.

One sample size and one pair of seeds for this purpose, so a run's number is the same wherever it
appears (the methods table, Home, Animate's headline line): EVAL_N samples at a step count, drawn from
a generator of the run's seed, against an Evaluator of the target drawn from EVALUATOR_SEED + the run's
seed (the same reference and floors for every cell of that seed). A page that scores other samples
(Animate's particles, Compare's cells) says its own n beside its floors.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core import runs
from ..core.metrics import Evaluator, Quality
from ..core.sampling import Flow, sample
from ..core.targets import Target

NFES = (1, 2)  # the step counts a study reports
EVAL_N = 10_000  # samples scored per run and step count
METRICS = ("hist_tv", "sliced_w1", "in_support")
EVALUATOR_SEED = 1000  # evaluators draw from EVALUATOR_SEED + the run's seed


def headline(flow: Flow, target: Target, nfe: int, seed: int, evaluator: Evaluator | None = None) -> Quality:
    """The run's headline quality at `nfe` steps: EVAL_N samples from its seed's generator, scored against
    the evaluator of its seed (pass one to reuse its reference; else it is built here)."""
    evaluator = evaluator or Evaluator(target, EVAL_N, torch.Generator().manual_seed(EVALUATOR_SEED + seed))
    x = sample(flow, EVAL_N, nfe, torch.Generator().manual_seed(seed)).samples
    return evaluator.score(x)


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
            scores[nfe] = headline(saved.flow, saved.target, nfe, seed, self.evaluator(target, seed)).to_dict()
        scores["steps"] = saved.info.step
        return scores
