"""Sweeps: every cell x target x seed of a study, trained on the job engine a few at a time, then scored.

A sweep names each run folder after its cell, target, seed and a hash of its config, so a sweep that
was stopped skips, when run again, every cell already trained to its budget with the same config and
seed. Sweeps keep at most `max_active` jobs in the engine at once (a browser session's share, or the
machine's). Scoring is lab.scoring's; the table is lab.tables'.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ..core import runs
from ..core.config import TrainConfig
from ..core.metrics import floor_name, headline_metric
from ..core.registry import make_config, with_method
from ..core.targets import Target
from ..engine.jobs import Engine
from .scoring import Scorer
from .studies import Cell, Study, cell_on
from .tables import ScoredRun, study_table

# Where one (cell, target, seed) of a sweep stands: waiting its turn, in the engine, scored (trained here,
# or found trained to its budget by an earlier sweep: skipped), failed, or cut short by a stop (not scored).
CellStage = Literal["pending", "queued", "running", "scored", "skipped", "failed", "cut-short"]
ENDED_STAGES = ("scored", "skipped", "failed")
# Fractions of the budget where a run's quality is read from its preview while it trains (anytime curves)
ANYTIME_MARKS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 1.0)


@dataclass(frozen=True)
class Budget:
    """What each run of a sweep may spend: seconds (with steps as a cap) or steps alone."""

    seconds: float | None = 60.0
    steps: int = 10_000_000

    def apply(self, config: TrainConfig, share: float = 1.0) -> TrainConfig:
        """The config with this budget, or `share` of it (reflow and its teacher split one budget)."""
        if self.seconds is not None:
            return replace(config, max_seconds=self.seconds * share, steps=self.steps)
        return replace(config, max_seconds=None, steps=max(1, round(self.steps * share)))


def cell_config(cell: Cell, budget: Budget, seed: int, base: TrainConfig | None = None) -> TrainConfig:
    """The TrainConfig of one cell and seed: the base config with the cell's changes, the budget, the seed.
    The base's options carry over when the cell trains the base's method; the cell's options win."""
    base = base or make_config()
    options = base.options.to_dict() if base.method == cell.method else {}
    config = with_method(base, cell.method, {**options, **cell.options}, seed=seed, **cell.overrides)
    return budget.apply(config, cell.budget_share)


def run_id(study: Study, cell: Cell, target: str, seed: int, config: TrainConfig) -> str:
    """A folder name that is the same for the same cell, target, seed and config (so reruns skip it)."""
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:10]
    slug = "".join(c if c.isalnum() else "-" for c in f"{study.name}-{cell.name}-{target}").strip("-")
    return f"sweep-{slug}-s{seed}-{digest}"[:120]


@dataclass
class CellRun:
    """One (cell, target, seed) of a sweep and how far it got."""

    cell: Cell
    target: str
    seed: int
    config: TrainConfig
    path: Path
    job: str | None = None  # the engine's job id while it is submitted
    stage: CellStage = "pending"
    message: str = ""
    scores: dict = field(default_factory=dict)  # nfe -> metric dict, and 'steps' (scoring.Scorer.score)
    # Quality while it trains, from its previews at ANYTIME_MARKS: (budget fraction, seconds, TV, TV's floor)
    trace: list[tuple[float, float, float, float]] = field(default_factory=list)
    traced_step: int = -1  # the preview step last read into the trace


def _same_config(saved: TrainConfig, wanted: TrainConfig) -> bool:
    """Equal configs, but for a teacher's folder (where the teacher was trained is not part of the cell)."""
    a, b = saved.to_dict(), wanted.to_dict()
    a["options"].pop("teacher", None)
    b["options"].pop("teacher", None)
    return a == b


class Sweep:
    """Every cell x target x seed of a study, trained on an engine and scored, a few at a time.

    pump() submits what may start and scores what ended; call it until done. Runs already in
    `root` with the same config, trained to their budget (by an earlier, stopped sweep), are scored
    without training again. stop() ends the sweep: runs cut short are not scored, and a rerun trains
    them again.
    """

    def __init__(
        self,
        study: Study,
        targets: Sequence[Target],
        seeds: int,
        budget: Budget,
        engine: Engine,
        root: str | Path,
        owner: str = "",
        max_active: int = 4,
        cells: list[str] | None = None,
        base: TrainConfig | None = None,
        shared: bool = False,
    ):
        self.study, self.targets, self.engine, self.budget = study, list(targets), engine, budget
        self.root, self.owner, self.max_active, self.shared = Path(root), owner, max_active, shared
        self.started = time.monotonic()
        self.cells = [c for c in study.cells if cells is None or c.name in cells]
        unlabelled = [t.name for t in self.targets if not t.classes]
        if unlabelled and any(c.conditional for c in self.cells):  # a class-conditional cell of nothing
            raise ValueError(
                f"the {study.name} study trains class-conditional cells, which need labelled targets; "
                f"{', '.join(unlabelled)} carry no classes"
            )
        self.runs: list[CellRun] = []
        for target in self.targets:
            for seed in range(seeds):
                for cell in self.cells:
                    here = cell_on(cell, target.dim)  # a tuned preset applies in 2D only
                    own = {k: v for k, v in target.train_defaults if k not in here.overrides}  # the digits' network
                    config = replace(cell_config(here, budget, seed, base), dim=target.dim, **own)
                    if cell.conditional:
                        config = replace(config, classes=target.classes)
                    path = self.root / run_id(study, cell, target.name, seed, config)
                    self.runs.append(CellRun(cell, target.name, seed, config, path))
        self._targets = {t.name: t for t in self.targets}
        self._scorer = Scorer(self._targets)
        self.stopped = False

    # -- driving it

    def pump(self) -> None:
        """Score ended runs, submit runs that may start (at most max_active in the engine)."""
        self._collect()
        if self.stopped:
            return
        active, room = self._room()
        for run in self.runs:
            if active >= room:
                break
            if run.stage == "pending" and self._start(run):
                active += 1

    def _collect(self) -> None:
        """Follow the submitted runs: score those that ended."""
        for run in self.runs:
            if run.job is None:
                continue
            snap = self.engine.snapshot(run.job)
            if snap is not None:
                self._trace(run, snap)
            if snap is not None and snap.finished:
                self._finish(run, snap.state, snap.message)
                run.job = None  # after its scores: a Ctrl-C while scoring leaves it to the next look
            elif snap is not None:
                run.stage = snap.state

    def _trace(self, run: CellRun, snap) -> None:
        """Score the run's newest preview when it has passed the next mark of ANYTIME_MARKS (the marks it
        passed between two looks are skipped)."""
        if snap.preview is None or snap.preview_step == run.traced_step:
            return
        passed = [m for m in ANYTIME_MARKS if m <= snap.progress + 1e-9]
        done = {entry[0] for entry in run.trace}
        if not passed or passed[-1] in done:
            return
        evaluator = self._scorer.preview_evaluator(run.target, run.seed, len(snap.preview))
        quality, metric = evaluator.score(snap.preview), headline_metric(self._targets[run.target])
        run.trace.append((passed[-1], snap.elapsed, getattr(quality, metric), getattr(quality, floor_name(metric))))
        run.traced_step = snap.preview_step

    def _room(self) -> tuple[int, int]:
        """(runs of this sweep in the engine, how many it may have)."""
        active = sum(r.job is not None for r in self.runs)
        room = self.max_active
        if self.owner:  # the engine's share for one owner (a browser session) bounds a sweep too
            room = min(room, self.engine.max_running_per_owner + self.engine.max_queued_per_owner)
            active = len(self.engine.jobs(self.owner))
        return active, room

    def _start(self, run: CellRun) -> bool:
        """Submit a pending run (or score it, when an earlier sweep trained it); True if it went to the engine."""
        if self._already_done(run):
            self._finish(run, "skipped", "done earlier with the same config and seed")
            return False
        teacher = self._teacher_of(run)
        if teacher is not None and teacher.stage not in ("scored", "skipped"):
            if teacher.stage == "failed":
                run.stage, run.message = "failed", "its teacher failed"
            return False  # waits for its teacher
        if teacher is not None:
            run.config = replace(run.config, options=replace(run.config.options, teacher=str(teacher.path)))
        try:
            run.job = self.engine.submit(
                run.config,
                self._targets[run.target],
                run.path,
                owner=self.owner,
                check_budget=False,
                shared=self.shared,
            )
        except ValueError as exc:  # over a memory limit, a teacher that cannot be read, ...
            run.stage, run.message = "failed", str(exc)
            return False
        run.stage = "queued"
        return True

    def stop(self) -> None:
        """End the sweep: stop every submitted run and submit no more. Finished cells keep their scores
        (a rerun skips them); runs cut short are left unscored (a rerun trains them again)."""
        self.stopped = True
        for run in self.runs:
            if run.job is not None:
                self.engine.stop(run.job)

    def run_to_end(self, poll: float = 0.5, on_progress: Callable[[Sweep], None] | None = None) -> None:
        while not self.done:
            self.pump()
            if on_progress is not None:
                on_progress(self)
            time.sleep(poll)
        self.pump()

    @property
    def done(self) -> bool:
        """Every run ended; or the sweep was stopped and none is still training."""
        if self.stopped:
            return all(r.job is None for r in self.runs)
        return all(r.stage in ENDED_STAGES for r in self.runs)

    def counts(self) -> dict[str, int]:
        """How many runs are at each stage."""
        out: dict[str, int] = {}
        for r in self.runs:
            out[r.stage] = out.get(r.stage, 0) + 1
        return out

    @property
    def scored_count(self) -> int:
        """Runs with scores: trained by this sweep, or found trained by an earlier one."""
        return sum(r.stage in ("scored", "skipped") for r in self.runs)

    # -- scores

    def _teacher_of(self, run: CellRun) -> CellRun | None:
        if run.cell.teacher is None:
            return None
        return next(
            (r for r in self.runs if r.cell.name == run.cell.teacher and r.target == run.target and r.seed == run.seed),
            None,
        )

    def _already_done(self, run: CellRun) -> bool:
        try:
            info = runs.read_info(run.path)
        except runs.RunError:
            return False
        return info.trained_to_budget and _same_config(info.config, run.config)

    def _finish(self, run: CellRun, state: str, message: str) -> None:
        """Score a run that ended (state: the job's, or 'skipped'), unless it failed or was cut short."""
        run.message = message
        if state == "failed":
            run.stage = "failed"
            return
        if state == "stopped" and not self._trained_to_budget(run):
            run.stage = "cut-short"
            run.message = f"{message}: stopped before its budget, not scored (a rerun trains it again)"
            return
        try:
            run.scores = self._scorer.score(run.path, run.target, run.seed)
        except runs.RunError as exc:
            run.stage, run.message = "failed", str(exc)
            return
        run.stage = "skipped" if state == "skipped" else "scored"

    @staticmethod
    def _trained_to_budget(run: CellRun) -> bool:
        try:
            return runs.read_info(run.path).trained_to_budget
        except runs.RunError:
            return False

    def scored(self) -> list[ScoredRun]:
        return [ScoredRun(r.cell, r.target, r.seed, r.scores, tuple(r.trace)) for r in self.runs if r.scores]

    def table(self) -> list[dict]:
        """One row per cell x target: each metric at each NFE as mean and std over the scored seeds,
        the floors, the steps made, and every seed's values (lab.tables.study_table)."""
        return study_table(self.study, self.targets, self.cells, self.scored())
