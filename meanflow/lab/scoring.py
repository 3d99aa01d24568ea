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

NFES = (1, 2, 4, 32)  # the step counts a study reports: one step, a few, and the many-step reference
EVAL_N = 10_000  # samples scored per run and step count
# 2D targets: the first three; the digits: sliced W1 and the classifier's measures (core.metrics)
METRICS = ("hist_tv", "sliced_w1", "in_support", "fd", "confident", "coverage_tv", "memorised")
EVALUATOR_SEED = 1000  # evaluators draw from EVALUATOR_SEED + the run's seed
REFERENCE_NFE = 32  # flow matching is judged where it is at its best: many small steps
JUDGED_NFE = {"flow-matching": REFERENCE_NFE}  # the step count a method is tuned and compared at (others: 1)


def judged_nfe(method: str) -> int:
    """The step count `method` is tuned and compared at: one for the one-step methods, 32 for flow matching."""
    return JUDGED_NFE.get(method, 1)


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
        self._preview_evaluators: dict[tuple[str, int, int], Evaluator] = {}

    def evaluator(self, target: str, seed: int) -> Evaluator:
        key = (target, seed)
        if key not in self._evaluators:
            generator = torch.Generator().manual_seed(EVALUATOR_SEED + seed)
            self._evaluators[key] = Evaluator(self._targets[target], EVAL_N, generator)
        return self._evaluators[key]

    def preview_evaluator(self, target: str, seed: int, n: int) -> Evaluator:
        """An evaluator of n points (a preview's size) for the anytime curves, drawn like the headline's."""
        key = (target, seed, n)
        if key not in self._preview_evaluators:
            generator = torch.Generator().manual_seed(EVALUATOR_SEED + seed)
            self._preview_evaluators[key] = Evaluator(self._targets[target], n, generator)
        return self._preview_evaluators[key]

    def score(self, path: Path, target: str, seed: int) -> dict:
        """{nfe: metric dict for each of NFES, 'steps': steps trained}; raises RunError for a run that
        cannot be loaded."""
        saved = runs.load_run(path)
        scores: dict = {}
        for nfe in NFES:
            scores[nfe] = headline(saved.flow, saved.target, nfe, seed, self.evaluator(target, seed)).to_dict()
        scores["steps"] = saved.info.step
        return scores
