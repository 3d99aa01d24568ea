"""Studies and sweeps: a study is a registry entry of cells (config overrides); a sweep trains every
cell x target x seed on the job engine and tabulates one-step and two-step quality over seeds.

MeanFlow's ablations (its Table 1) are studies here, beside the coupling and the method zoo. A
sweep names each run folder after its cell, target, seed and a hash of its config, so a sweep that
was stopped skips, when run again, every cell already done with the same config and seed. Sweeps
keep at most `max_active` jobs in the engine at once (a browser session's share, or the machine's).
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..core import runs
from ..core.config import TrainConfig, options_from_dict
from ..core.methods import METHODS, get_method

NFES = (1, 2)  # the step counts a study reports
EVAL_N = 10_000  # samples scored per run and step count
METRICS = ("hist_tv", "sliced_w1", "in_support")


@dataclass(frozen=True)
class Cell:
    """One row of a study: a name, a method, and the config fields and options it changes."""

    name: str
    method: str = "meanflow"
    overrides: dict = field(default_factory=dict)  # TrainConfig fields, e.g. {"coupling": "independent"}
    options: dict = field(default_factory=dict)  # the method's options, e.g. {"r_neq_t": 0.25}
    teacher: str | None = None  # reflow: the cell whose run (same target and seed) is its teacher
    paper: float | None = None  # the paper's number for this row (FID), where it has one
    conditional: bool = False  # conditioned on the target's classes (labelled targets only)


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    question: str  # what the study asks, in one sentence
    cells: tuple[Cell, ...]
    paper_source: str = ""  # where the paper's numbers come from
    paper_metric: str = ""  # their metric, e.g. "1-NFE FID-50K, ImageNet 256, B/4, 80 epochs"


# The paper's Table 1 cells could not be read from a stored copy of the paper here; the numbers below are
# those two independent summaries of its PDF agree on (README, notes); rows they do not give are None.
MF = "MeanFlow paper, Table 1, as its published summaries quote it"
MF_SETTING = "1-NFE FID-50K on ImageNet 256 (DiT-B/4, 80 epochs); lower is better"


def _mf(name: str, paper: float | None = None, **options) -> Cell:
    return Cell(name, "meanflow", {}, options, paper=paper)


STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        Study(
            "r-neq-t",
            "Fraction of samples with r != t",
            "How much of the batch should train long intervals (r != t) rather than flow matching (r = t)?",
            (
                _mf("0%", 328.91, r_neq_t=0.0),
                _mf("25%", 61.06, r_neq_t=0.25),
                _mf("50%", None, r_neq_t=0.5),
                _mf("75%", None, r_neq_t=0.75),
                _mf("100%", 67.32, r_neq_t=1.0),
            ),
            MF,
            MF_SETTING,
        ),
        Study(
            "tangent",
            "The JVP tangent",
            "Does the derivative have to be taken along the trajectory, (v, 0, 1), or would another tangent do?",
            (
                _mf("(v, 0, 1)", 61.06, tangent="v,0,1"),
                _mf("(v, 0, 0)", 268.06, tangent="v,0,0"),
                _mf("(v, 1, 0)", 329.22, tangent="v,1,0"),
                _mf("(v, 1, 1)", 137.96, tangent="v,1,1"),
            ),
            MF,
            MF_SETTING,
        ),
        Study(
            "conditioning",
            "Time conditioning",
            "Which time features should the network see?",
            (
                _mf("(t, t - r)", 61.06, conditioning="t,t-r"),
                _mf("(t, r)", 61.75, conditioning="t,r"),
                _mf("(t, r, t - r)", 63.98, conditioning="t,r,t-r"),
                _mf("t - r", 63.13, conditioning="t-r"),
            ),
            MF,
            MF_SETTING,
        ),
        Study(
            "weight-power",
            "Adaptive loss weight power p",
            "How hard should the adaptive weight 1 / (error^2 + c)^p down-weight large errors?",
            (
                _mf("p = 0", 79.75, weight_power=0.0),
                _mf("p = 0.5", 63.98, weight_power=0.5),
                _mf("p = 1", 61.06, weight_power=1.0),
                _mf("p = 1.5", None, weight_power=1.5),
            ),
            MF,
            MF_SETTING,
        ),
        Study(
            "time-sampler",
            "Time sampler",
            "How should (r, t) be drawn: uniformly, or logit-normal as for ImageNet?",
            (
                _mf("uniform", None, time_sampler="uniform"),
                _mf("logit-normal(-0.4, 1.0)", 61.06, time_sampler="logit-normal", time_mean=-0.4, time_std=1.0),
            ),
            MF,
            MF_SETTING,
        ),
        Study(
            "coupling",
            "Noise-data pairing",
            "How much does pairing each batch by optimal transport help, for MeanFlow and for flow matching?",
            (
                Cell("MeanFlow, independent", "meanflow", {"coupling": "independent"}),
                Cell("MeanFlow, minibatch OT", "meanflow", {"coupling": "minibatch-ot"}),
                Cell("flow matching, independent", "flow-matching", {"coupling": "independent"}),
                Cell("flow matching, minibatch OT", "flow-matching", {"coupling": "minibatch-ot"}),
            ),
        ),
        Study(
            "guidance",
            "Guidance in one step",
            "How far does guidance trained into MeanFlow's target (omega) sharpen each class, against flow "
            "matching's classifier-free guidance at sampling time?",
            (
                Cell("MeanFlow, omega = 1", "meanflow", options={"guidance_scale": 1.0}, conditional=True),
                Cell("MeanFlow, omega = 1.5", "meanflow", options={"guidance_scale": 1.5}, conditional=True),
                Cell("MeanFlow, omega = 2", "meanflow", options={"guidance_scale": 2.0}, conditional=True),
                Cell("MeanFlow, omega = 3", "meanflow", options={"guidance_scale": 3.0}, conditional=True),
                Cell("flow matching", "flow-matching", conditional=True),
            ),
        ),
        Study(
            "methods",
            "The one-step methods",
            "Which one-step method is best in 2D at the same network, batch and wall-clock budget?",
            tuple(
                Cell(m.label, name, teacher=METHODS["flow-matching"].label if name == "reflow" else None)
                for name, m in METHODS.items()
            ),
        ),
    )
}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; accepted: {', '.join(STUDIES)}")
    return STUDIES[name]


@dataclass(frozen=True)
class Budget:
    """What each run of a sweep may spend: seconds (with steps as a cap) or steps alone."""

    seconds: float | None = 60.0
    steps: int = 10_000_000

    def apply(self, config: TrainConfig) -> TrainConfig:
        return replace(config, max_seconds=self.seconds, steps=self.steps)


def cell_config(cell: Cell, budget: Budget, seed: int, base: TrainConfig | None = None) -> TrainConfig:
    """The TrainConfig of one cell and seed: the base config with the cell's changes, the budget, the seed."""
    base = base or TrainConfig()
    method = get_method(cell.method)
    options = options_from_dict(method.options, {**_base_options(base, cell.method), **cell.options})
    fields = {k: v for k, v in cell.overrides.items()}
    config = replace(
        base, method=cell.method, options=options, seed=seed, coupling=fields.pop("coupling", None), **fields
    )
    return budget.apply(config)


def _base_options(base: TrainConfig, method: str) -> dict:
    return {} if base.method != method else {k: getattr(base.options, k) for k in base.options.__dataclass_fields__}


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
    state: str = "pending"  # pending | queued | running | done | failed | skipped | stopped (cut short)
    message: str = ""
    scores: dict = field(default_factory=dict)  # nfe -> metric dict


def trained_to_budget(info) -> bool:
    """Whether a run folder's training ran to its budget: all its steps, or its wall-clock time
    (a run stopped by hand, or one that failed, did not)."""
    if info.state == "done":
        return True
    seconds = info.config.max_seconds
    return info.state == "stopped" and seconds is not None and info.elapsed >= seconds * 0.999


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
        targets: list,
        seeds: int,
        budget: Budget,
        engine,
        root: str | Path,
        owner: str = "",
        max_active: int = 4,
        cells: list[str] | None = None,
        base: TrainConfig | None = None,
        shared: bool = False,
    ):
        self.study, self.targets, self.engine = study, targets, engine
        self.root, self.owner, self.max_active, self.shared = Path(root), owner, max_active, shared
        self.started = time.monotonic()
        chosen = [c for c in study.cells if cells is None or c.name in cells]
        self.runs: list[CellRun] = []
        for target in targets:
            for seed in range(seeds):
                for cell in chosen:
                    config = cell_config(cell, budget, seed, base)
                    if cell.conditional:
                        config = replace(config, classes=target.classes)
                    path = self.root / run_id(study, cell, target.name, seed, config)
                    self.runs.append(CellRun(cell, target.name, seed, config, path))
        self._targets = {t.name: t for t in targets}
        self._evaluators: dict = {}
        self.stopped = False

    # -- driving it

    def pump(self) -> None:
        """Score ended runs, submit runs that may start (at most max_active in the engine)."""
        for run in self.runs:
            if run.job is not None:
                snap = self.engine.snapshot(run.job)
                if snap is not None and snap.finished:
                    run.job = None
                    self._finish(run, snap.state, snap.message)
                elif snap is not None:
                    run.state = snap.state
        if self.stopped:
            return
        active = sum(r.job is not None for r in self.runs)
        room = self.max_active
        if self.owner:  # the engine's share for one owner (a browser session) bounds a sweep too
            room = min(room, self.engine.max_running_per_owner + self.engine.max_queued_per_owner)
            active = len(self.engine.jobs(self.owner))
        for run in self.runs:
            if active >= room:
                break
            if run.state != "pending":
                continue
            if self._already_done(run):
                self._finish(run, "skipped", "done earlier with the same config and seed")
                continue
            teacher = self._teacher_of(run)
            if teacher is not None and teacher.state not in ("done", "skipped"):
                if teacher.state == "failed":
                    run.state, run.message = "failed", "its teacher failed"
                continue  # waits for its teacher
            config = run.config
            if teacher is not None:
                config = replace(config, options=replace(config.options, teacher=str(teacher.path)))
                run.config = config
            try:
                run.job = self.engine.submit(
                    config,
                    self._targets[run.target],
                    run.path,
                    owner=self.owner,
                    check_budget=False,
                    shared=self.shared,
                )
            except ValueError as exc:  # over a memory limit, a teacher that cannot be read, ...
                run.state, run.message = "failed", str(exc)
                continue
            run.state = "queued"
            active += 1

    def stop(self) -> None:
        """End the sweep: stop every submitted run and submit no more. Finished cells keep their scores
        (a rerun skips them); runs cut short are left unscored (a rerun trains them again)."""
        self.stopped = True
        for run in self.runs:
            if run.job is not None:
                self.engine.stop(run.job)

    def run_to_end(self, poll: float = 0.5, on_progress=None) -> None:
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
        return all(r.state in ("done", "failed", "skipped") for r in self.runs)

    def counts(self) -> dict:
        out: dict = {}
        for r in self.runs:
            out[r.state] = out.get(r.state, 0) + 1
        return out

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
        if not trained_to_budget(info):
            return False
        saved = info.config.to_dict()
        wanted = run.config.to_dict()
        saved["options"].pop("teacher", None)
        wanted["options"].pop("teacher", None)
        return saved == wanted

    def _finish(self, run: CellRun, state: str, message: str) -> None:
        run.message = message
        if state == "failed":
            run.state = "failed"
            return
        if state == "stopped":
            try:
                cut_short = not trained_to_budget(runs.read_info(run.path))
            except runs.RunError:
                cut_short = True
            if cut_short:
                run.state = "stopped"
                run.message = f"{message}: stopped before its budget, not scored (a rerun trains it again)"
                return
        try:
            saved = runs.load_run(run.path)
        except runs.RunError as exc:
            run.state, run.message = "failed", str(exc)
            return
        target = self._targets[run.target]
        from ..core.metrics import Evaluator
        from ..core.sampling import sample

        key = (run.target, run.seed)
        if key not in self._evaluators:
            self._evaluators[key] = Evaluator(target, EVAL_N, torch.Generator().manual_seed(1000 + run.seed))
        for nfe in NFES:
            x = sample(saved.flow, EVAL_N, nfe, torch.Generator().manual_seed(run.seed)).samples
            run.scores[nfe] = self._evaluators[key].score(x).to_dict()
        run.scores["steps"] = saved.info.step
        run.state = "done" if state != "skipped" else "skipped"

    def table(self) -> list[dict]:
        """One row per cell x target: each metric at each NFE as mean and std over the scored seeds,
        the floors, the steps made, and every seed's values."""
        rows = []
        for target in self.targets:
            for cell in [c for c in self.study.cells if any(r.cell is c for r in self.runs)]:
                scored = [r for r in self.runs if r.cell is cell and r.target == target.name and r.scores]
                row = {
                    "study": self.study.name,
                    "cell": cell.name,
                    "method": cell.method,
                    "target": target.name,
                    "seeds": len(scored),
                    "paper": cell.paper,
                }
                if scored:
                    row["steps"] = statistics.mean(r.scores["steps"] for r in scored)
                    for nfe in NFES:
                        for metric in METRICS:
                            values = [r.scores[nfe][metric] for r in scored if r.scores[nfe][metric] is not None]
                            if not values:
                                continue
                            row[f"{metric}@{nfe}"] = statistics.mean(values)
                            row[f"{metric}@{nfe}_std"] = statistics.stdev(values) if len(values) > 1 else math.nan
                            row[f"{metric}@{nfe}_seeds"] = values
                            floors = [r.scores[nfe][f"{metric}_floor"] for r in scored]
                            row[f"{metric}_floor"] = statistics.mean(floors)
                rows.append(row)
        return rows


def format_table(rows: list[dict]) -> str:
    """The sweep table as text: one line per cell and target, mean +- std over seeds, floors last."""
    lines = [
        f"{'target':<13}{'cell':<28}{'seeds':>6}{'steps':>8}  {'TV@1':>13}  {'TV@2':>13}  {'W1@1':>13}  "
        f"{'in cells@1':>13}  {'floors (TV, W1)':>16}"
    ]

    def cell(row, key):
        if key not in row:
            return f"{'-':>13}"
        std = row.get(f"{key}_std", math.nan)
        return f"{row[key]:>6.3f} ± {std:.3f}" if not math.isnan(std) else f"{row[key]:>13.3f}"

    for row in rows:
        steps = f"{row['steps']:>8.0f}" if "steps" in row else f"{'-':>8}"
        floors = (
            f"{row.get('hist_tv_floor', math.nan):.3f}, {row.get('sliced_w1_floor', math.nan):.3f}"
            if "hist_tv_floor" in row
            else "-"
        )
        lines.append(
            f"{row['target']:<13}{row['cell'][:27]:<28}{row['seeds']:>6}{steps}  {cell(row, 'hist_tv@1')}  "
            f"{cell(row, 'hist_tv@2')}  {cell(row, 'sliced_w1@1')}  {cell(row, 'in_support@1')}  {floors:>16}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- a sweep's results on disk (bundled tables)

STUDY_FORMAT = "meanflow-study"
MAX_STUDY_BYTES = 16 << 20
PICTURE_N = 600  # one-step samples kept per cell and target for the pictures


def study_record(sweep: Sweep, command: str = "") -> dict:
    """A sweep's table, with 1-step samples of seed 0 for each cell and target and its run ids: what
    the Ablations page draws without training anything."""
    from ..core.sampling import sample

    samples: dict = {}
    run_ids: dict = {}
    for run in sweep.runs:
        if run.seed != 0 or not run.scores:
            continue
        flow = runs.load_run(run.path).flow
        x = sample(flow, PICTURE_N, 1, torch.Generator().manual_seed(7)).samples
        samples.setdefault(run.target, {})[run.cell.name] = [[round(float(a), 3), round(float(b), 3)] for a, b in x]
        run_ids.setdefault(run.target, {})[run.cell.name] = run.path.name
    budget = sweep.runs[0].config if sweep.runs else None
    return {
        "format": STUDY_FORMAT,
        "version": 1,
        "study": sweep.study.name,
        "command": command,
        "budget": {"seconds": budget.max_seconds if budget else None, "steps": budget.steps if budget else None},
        "seeds": max((r.seed for r in sweep.runs), default=-1) + 1,
        "targets": [t.name for t in sweep.targets],
        "rows": sweep.table(),
        "samples": samples,
        "runs": run_ids,
    }


def save_study(path: str | Path, record: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v))


def load_study(path: str | Path) -> dict | None:
    """A saved study record, or None if the file is missing; raises ValueError for one that is not ours."""
    path = Path(path)
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_STUDY_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_STUDY_BYTES} bytes; not a study this program wrote")
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError(f"{path.name} is not valid JSON") from None
    if not isinstance(record, dict) or record.get("format") != STUDY_FORMAT or not isinstance(record.get("rows"), list):
        raise ValueError(f"{path.name} is not a study record")
    return record


def paper_agreement(rows: list[dict], study: Study, metric: str = "hist_tv@1") -> str:
    """One sentence: does the 2D order of the cells follow the paper's (rank correlation of its numbers
    with our metric, lower is better in both)?"""
    pairs = [
        (c.paper, r[metric])
        for c in study.cells
        for r in rows
        if r["cell"] == c.name and c.paper is not None and r.get(metric) is not None
    ]
    if len(pairs) < 2:
        return (
            "The paper gives a number for only one of these rows, so there is no order to compare."
            if pairs
            else "The paper has no comparable numbers for these rows."
        )
    best_paper = min(study.cells, key=lambda c: c.paper if c.paper is not None else math.inf).name
    best_2d = min((r for r in rows if r.get(metric) is not None), key=lambda r: r[metric])["cell"]
    rho = _spearman([p for p, _ in pairs], [m for _, m in pairs])
    verdict = "holds" if rho > 0.6 else "partly holds" if rho > 0.1 else "does not hold"
    same = "the same row" if best_paper == best_2d else f"{best_2d} (the paper's best: {best_paper})"
    return (
        f"The paper's order {verdict} in 2D (rank correlation of its FID with our one-step TV: {rho:+.2f}); "
        f"the best row here is {same}."
    )


def _spearman(a: list[float], b: list[float]) -> float:
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        out = [0.0] * len(v)
        for rank, i in enumerate(order):
            out[i] = float(rank)
        return out

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return num / den if den else 0.0
