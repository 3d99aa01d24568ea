"""Equal tuning by one protocol (`python -m meanflow tune`): every method gets the same trials, the same
seconds per trial and the same tuning targets, which are not the targets it is compared on.

A trial is one configuration: the shared settings (learning rate and its decay, width, depth, batch,
and the pairing where the method has one to choose) and the method's own options that declare a
`Search` (core.config), drawn together by Optuna's TPE sampler. It trains on each tuning target at once
(one job per target and seed on the job engine, each worker on its own core) for `seconds`, and scores the
runs as a study does (lab.scoring.headline, n = 10,000, at the step count the method is judged at:
one step, or 32 for flow matching). A trial whose preview quality at a quarter, half or three quarters
of its budget is worse than the median of the earlier trials at that point is stopped there (Optuna's
median pruner). The method's defaults are the first trial, so tuning can only match or beat them on the
tuning targets. Reflow's trials spend half the budget on their teacher (flow matching at its tuned
preset, trained once per target) and half on themselves, as the comparison counts it.

Why Optuna and not Ray Tune: measured in benchmarks/RESULTS.md ("Equal tuning"): Optuna asks and is
told in-process in milliseconds and adds no processes; the job engine already runs the trials, on
local workers or on a Ray cluster (`--address`), so Ray Tune would add its own cluster start (seconds
and about a GiB here) and a second scheduler beside the engine for nothing it does better.
"""

from __future__ import annotations

import math
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import torch

from ..core import runs
from ..core.config import MAX_STEPS, Search, TrainConfig, option_specs
from ..core.metrics import Evaluator
from ..core.presets import Preset, PresetError, get_preset, protocol_phrase
from ..core.registry import accepts, get_method, make_config
from ..core.targets import Target, get_target
from ..engine.jobs import Engine
from .scoring import EVAL_N, EVALUATOR_SEED, headline, judged_nfe

TUNING_TARGETS = ("8gaussians", "rings")  # tuned here; compared on others (lab.studies.EVALUATION_TARGETS)
SHARED_SEARCH: dict[str, Search] = {  # TrainConfig fields every method's tuning searches
    # capped at 1e-2: the first protocol's presets at 1.1-1.6e-2, found in 20 s trials, blew up in 60 s runs
    "lr": Search(1e-3, 1e-2, log=True),
    "lr_final_ratio": Search(0.02, 1.0, log=True),  # the cosine decay's end, over the wall-clock budget
    "hidden": Search(values=(64, 128, 256)),
    "depth": Search(values=(2, 3, 4, 5)),
    "batch": Search(values=(128, 256, 512, 1024)),
}
LEVER_SEARCH: dict[str, dict[str, Search]] = {  # levers a tuning may search besides (`tune --also NAME`)
    # z alone or 3 frequencies of the state (RESULTS.md, "Tuning with the state's features")
    "state-features": {"space_frequencies": Search(values=(0, 3))},
    # the critic on one-step samples, its weight and start (RESULTS.md, "A critic on one step")
    "critic": {"adversarial": Search(values=(0.0, 0.1, 0.3)), "adversarial_start": Search(values=(0.25, 0.5))},
    # a kernel MMD on one-step samples, its weight and start (RESULTS.md, "Moment matching on one step")
    "moments": {"moment_matching": Search(values=(0.0, 1.0, 2.5)), "adversarial_start": Search(values=(0.25, 0.5))},
}
PAIRINGS = ("independent", "minibatch-ot")  # the pairings a method that pairs its batches may be tuned with
TEACHER_SHARE = 0.5  # reflow: its teacher's share of a budget (teacher + student = the budget)
PRUNE_MARKS = (0.25, 0.5, 0.75)  # fractions of a trial's budget where it may be stopped
PRUNE_AFTER = 4  # trials that run to the end before any is stopped
PREVIEW_EVERY = 100  # steps between the previews that pruning reads (1,000 points each)
POLL_SECONDS = 0.25
FAILED_TV = 1.0  # the score of a trial that diverged: histogram TV's worst value


@dataclass(frozen=True)
class Protocol:
    """What every method's tuning gets alike."""

    trials: int = 12
    seconds: float = 60.0  # training per trial and target (reflow: teacher and student together): the comparison's
    targets: tuple[str, ...] = TUNING_TARGETS
    seed: int = 0
    seeds: int = 1  # runs per target, seeds seed .. seed + seeds - 1; a trial's score is the mean over all
    also: tuple[str, ...] = ()  # levers searched besides the shared settings (LEVER_SEARCH's names)

    def __post_init__(self):
        unknown = [name for name in self.also if name not in LEVER_SEARCH]
        if unknown:
            raise ValueError(f"unknown lever {unknown[0]!r}; accepted: {', '.join(LEVER_SEARCH)}")

    def describe(self) -> str:
        return protocol_phrase(self.trials, self.seconds, self.targets, self.seeds, self.also)

    def runs(self) -> dict[str, tuple[str, int]]:
        """A trial's runs: name -> (target, seed); the name is the target's alone with one seed."""
        return {
            (t if self.seeds == 1 else f"{t}-s{k}"): (t, self.seed + k) for t in self.targets for k in range(self.seeds)
        }


@dataclass
class TrialRecord:
    number: int
    state: str  # complete, pruned or failed
    params: dict
    value: float | None = None  # mean histogram TV over the tuning targets (complete trials)
    scores: dict = field(default_factory=dict)  # target -> the headline's metrics
    pruned_at: float | None = None  # the budget fraction where it was stopped
    seconds: float = 0.0  # wall clock of the trial


@dataclass
class TuningResult:
    method: str
    protocol: Protocol
    trials: list[TrialRecord]
    best: TrialRecord
    wall_seconds: float

    @property
    def pruned(self) -> int:
        return sum(t.state == "pruned" for t in self.trials)

    def preset(self, command: str = "") -> Preset:
        """The best trial as the method's tuned preset, with the protocol that found it."""
        fields, options = split_params(self.best.params)
        searched = list(searched_levers(self.method, self.protocol.also))  # a lever not searched is not claimed
        protocol = {
            "trials": self.protocol.trials,
            "seconds": self.protocol.seconds,
            "targets": list(self.protocol.targets),
            "seed": self.protocol.seed,
            "seeds": self.protocol.seeds,
            **({"also": searched} if searched else {}),
            "judged_nfe": judged_nfe(self.method),
            "pruned": self.pruned,
            "wall_seconds": round(self.wall_seconds, 1),
            "search": "Optuna TPE, median pruning at 25/50/75% of the budget; the defaults as the first trial",
            "command": command,
        }
        score = {"hist_tv": self.best.value, "targets": self.best.scores}
        return Preset(self.method, fields, options, protocol, score)


# ---------------------------------------------------------------- the search space


def lever_applies(method: str, lever: str) -> bool:
    """Whether `method` accepts every value of the lever's settings (flow matching refuses the critic)."""
    return all(
        accepts(method, name, value)
        for name, search in LEVER_SEARCH[lever].items()
        for value in search.values or (search.lo, search.hi)
    )


def searched_levers(method: str, also: tuple[str, ...]) -> tuple[str, ...]:
    """The levers of `also` that a tuning of `method` searches: those it accepts (flow matching no critic)."""
    return tuple(lever for lever in also if lever_applies(method, lever))


def search_space(method: str, also: tuple[str, ...] = ()) -> dict[str, Search]:
    """Setting -> where to search: the shared fields, the settings of the levers in `also` that the method
    accepts, the pairing (where the method pairs its batches), and the method's options that declare a
    Search, named 'options.NAME'."""
    spec = get_method(method)
    space = dict(SHARED_SEARCH)
    for lever in searched_levers(method, also):
        space |= LEVER_SEARCH[lever]
    if spec.chooses_pairing:
        space["coupling"] = Search(values=PAIRINGS)
    for option in option_specs(spec.options, offered=True):
        if option.search is not None:
            space[f"options.{option.name}"] = option.search
    return space


def suggest(trial: optuna.Trial, space: dict[str, Search]) -> dict:
    """One value per setting of `space`, drawn by the trial."""
    params = {}
    for name, search in space.items():
        if search.values:
            params[name] = trial.suggest_categorical(name, list(search.values))
        else:
            params[name] = trial.suggest_float(name, search.lo, search.hi, log=search.log)
    return params


def default_params(method: str, space: dict[str, Search]) -> dict:
    """The method's defaults for every setting of `space` (the first trial)."""
    config = make_config(method)
    fields, options = config.to_dict(), config.options.to_dict()
    return {name: options[name[8:]] if name.startswith("options.") else fields[name] for name in space}


def split_params(params: dict) -> tuple[dict, dict]:
    """(TrainConfig fields, options) of a trial's parameters."""
    fields = {k: v for k, v in params.items() if not k.startswith("options.")}
    options = {k[8:]: v for k, v in params.items() if k.startswith("options.")}
    return fields, options


def trial_config(method: str, params: dict, seconds: float, seed: int, teacher: Path | None = None) -> TrainConfig:
    """A trial's TrainConfig: its parameters, the budget, the seed, and previews at the judged step count."""
    fields, options = split_params(params)
    if teacher is not None:
        options["teacher"] = str(teacher)
    return Preset(method, fields, options).config(
        max_seconds=seconds,
        steps=MAX_STEPS,
        seed=seed,
        preview_every=PREVIEW_EVERY,
        preview_nfe=judged_nfe(method),
    )


# ---------------------------------------------------------------- trials on the engine


class TrialPruned(Exception):
    """A trial stopped early; `fraction` of its budget was spent."""

    def __init__(self, fraction: float):
        super().__init__(f"stopped at {fraction:.0%} of its budget")
        self.fraction = fraction


def run_jobs(
    engine: Engine,
    configs: dict[str, TrainConfig],
    targets: dict[str, Target],
    folders: dict[str, Path],
    on_mark: Callable[[int, dict[str, object]], bool] | None = None,
) -> dict[str, str]:
    """Train one config per target at once; target -> how its job ended ('done', 'stopped', 'failed').

    on_mark(k, snapshots) is called when every job has passed PRUNE_MARKS[k] of its budget with a preview;
    when it returns True every job is stopped and TrialPruned raised."""
    jobs = {t: engine.submit(configs[t], targets[t], folders[t], check_budget=False) for t in configs}
    try:
        mark = 0
        while True:
            snaps = {t: engine.snapshot(j) for t, j in jobs.items()}
            if all(s.finished for s in snaps.values()):
                return {t: s.state for t, s in snaps.items()}
            passed = mark < len(PRUNE_MARKS) and all(
                s.finished or (s.progress >= PRUNE_MARKS[mark] and s.preview is not None) for s in snaps.values()
            )
            if passed and on_mark is not None:
                if on_mark(mark, snaps):
                    raise TrialPruned(PRUNE_MARKS[mark])
                mark += 1
            time.sleep(POLL_SECONDS)
    finally:
        for job in jobs.values():  # pruned or interrupted: nothing keeps training
            engine.stop(job)
        for job in jobs.values():
            engine.wait(job, 60)


class Tuner:
    """Tunes one method by the protocol on an engine; trial runs go to `root`."""

    def __init__(self, method: str, protocol: Protocol, engine: Engine, root: str | Path, presets: Path | None = None):
        get_method(method)
        self.method, self.protocol, self.engine, self.root = method, protocol, engine, Path(root) / method
        self.presets = presets  # where flow matching's tuned preset is read for reflow's teachers
        self.targets = {name: get_target(name) for name in protocol.targets}
        seed = EVALUATOR_SEED + protocol.seed
        self._preview_evaluators = {  # pruning reads 1,000-point previews: scored against 1,000 points
            name: Evaluator(t, make_config(method).preview_n, torch.Generator().manual_seed(seed))
            for name, t in self.targets.items()
        }
        self._final_evaluators = {
            name: Evaluator(t, EVAL_N, torch.Generator().manual_seed(seed)) for name, t in self.targets.items()
        }

    @property
    def needs_teacher(self) -> bool:
        return any(o.names_run for o in option_specs(get_method(self.method).options))

    def teachers(self) -> dict[str, Path]:
        """Reflow's teachers, one per tuning target: flow matching at its tuned preset (else its defaults),
        unconditional, for TEACHER_SHARE of the budget; trained once and reused while the config is equal."""
        try:
            preset = get_preset("flow-matching", self.presets)
        except PresetError:
            preset = Preset("flow-matching", {}, {})
        config = preset.config(
            max_seconds=self.protocol.seconds * TEACHER_SHARE, steps=MAX_STEPS, seed=self.protocol.seed
        )
        folders = {t: self.root / f"teacher-{t}" for t in self.targets}
        todo = {t: config for t, path in folders.items() if not _trained(path, config)}
        if todo:
            run_jobs(self.engine, todo, self.targets, folders)
        return folders

    def tune(self, on_trial: Callable[[TrialRecord], None] | None = None) -> TuningResult:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        started = time.monotonic()
        space = search_space(self.method, self.protocol.also)
        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(
                seed=self.protocol.seed, n_startup_trials=max(1, self.protocol.trials // 2)
            ),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER, n_warmup_steps=0),
        )
        study.enqueue_trial(default_params(self.method, space), skip_if_exists=True)
        for stale in self.root.glob("trial-*"):  # an earlier tuning's trials (its teachers are reused)
            shutil.rmtree(stale, ignore_errors=True)
        teachers = self.teachers() if self.needs_teacher else {}
        seconds = self.protocol.seconds * (1 - TEACHER_SHARE) if teachers else self.protocol.seconds
        records = []
        for _ in range(self.protocol.trials):
            trial = study.ask()
            record = self._trial(trial, suggest(trial, space), seconds, teachers)
            if record.state == "pruned":
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, record.value)
            records.append(record)
            if on_trial is not None:
                on_trial(record)
        done = [r for r in records if r.value is not None and r.state == "complete"]
        best = min(done or records, key=lambda r: r.value if r.value is not None else math.inf)
        return TuningResult(self.method, self.protocol, records, best, time.monotonic() - started)

    def _trial(self, trial: optuna.Trial, params: dict, seconds: float, teachers: dict[str, Path]) -> TrialRecord:
        """One configuration trained on every run of the protocol (each target, each seed) at once."""
        start = time.monotonic()
        record = TrialRecord(trial.number, "complete", params)
        planned = self.protocol.runs()  # name -> (target, seed)
        configs = {
            name: trial_config(self.method, params, seconds, seed, teachers.get(t))
            for name, (t, seed) in planned.items()
        }
        targets = {name: self.targets[t] for name, (t, _) in planned.items()}
        folders = {name: self.root / f"trial-{trial.number:03d}-{name}" for name in planned}

        def on_mark(k: int, snaps: dict) -> bool:
            scored = [
                self._preview_evaluators[planned[name][0]].score(s.preview).hist_tv
                for name, s in snaps.items()
                if s.preview is not None
            ]
            trial.report(statistics.mean(scored) if scored else FAILED_TV, k)
            return trial.should_prune()

        try:
            ended = run_jobs(self.engine, configs, targets, folders, on_mark)
        except TrialPruned as pruned:
            record.state, record.pruned_at = "pruned", pruned.fraction
            record.seconds = time.monotonic() - start
            return record
        for name, state in ended.items():
            if state == "failed":
                record.scores[name] = {"hist_tv": FAILED_TV, "failed": True}
                continue
            t, seed = planned[name]
            flow = runs.load_run(folders[name]).flow
            quality = headline(flow, self.targets[t], judged_nfe(self.method), seed, self._final_evaluators[t])
            record.scores[name] = quality.to_dict()
        record.state = "failed" if any(s.get("failed") for s in record.scores.values()) else "complete"
        record.value = statistics.mean(s["hist_tv"] for s in record.scores.values())
        record.seconds = time.monotonic() - start
        return record


def _trained(path: Path, config: TrainConfig) -> bool:
    """Whether `path` holds a run of `config` trained to its budget (a teacher made by an earlier tuning)."""
    try:
        info = runs.read_info(path)
    except runs.RunError:
        return False
    return info.trained_to_budget and info.config == config


def format_trial(record: TrialRecord, total: int) -> str:
    """One line per trial: its state and score, then its settings."""
    settings = ", ".join(f"{k.removeprefix('options.')}={_short(v)}" for k, v in record.params.items())
    if record.state == "pruned":
        head = f"stopped at {record.pruned_at:.0%}"
    else:
        per = ", ".join(f"{t} {s['hist_tv']:.3f}" for t, s in record.scores.items())
        head = f"TV {record.value:.3f} ({per})" + (" diverged" if record.state == "failed" else "")
    return f"trial {record.number + 1}/{total}: {head}; {settings}"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
