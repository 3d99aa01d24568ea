"""The study registry: a study is a question and its cells (config changes), each a row of its table.

MeanFlow's ablations (its Table 1) are studies here, beside the pairing, guidance and the method zoo.
A sweep (lab.sweeps) trains every cell x target x seed; lab.scoring scores the runs and lab.tables
tabulates them. Adding a study: one `Study(...)` entry below (and a line in tests/lab/test_studies.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..core.presets import Preset, protocol_phrase, read_presets
from ..core.registry import METHODS
from .scoring import judged_nfe


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
    budget_share: float = 1.0  # the share of the sweep's budget it trains for (reflow and its teacher: half each)
    note: str = ""  # what a reader must know to compare the row (a teacher not counted, a share of the budget)
    tuning: str = ""  # how its settings were chosen ("tuned: 12 trials of 60 s on 8gaussians, rings")
    bundle: str | None = None  # methods study: the name its seed-0 run is bundled under (None: not bundled)
    tuned: Preset | None = None  # methods study: its method's tuned preset (applies at PRESET_DIM only; cell_on)

    @property
    def charged_for_teacher(self) -> bool:
        """A share of the budget with a teacher trained in the rest (reflow at equal compute): its charts
        count the teacher's seconds before its own (lab.tables.charged_curves)."""
        return bool(self.teacher) and self.budget_share < 1


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


LEVER_METHODS = (("MeanFlow", "meanflow"), ("flow matching", "flow-matching"), ("consistency", "consistency"))


def _lever_cells(label: str, method: str) -> tuple[Cell, ...]:
    """A method as it was before the levers (raw time inputs, its learning rate decaying to 0.1 x over the
    budget, seconds or steps, whichever ends first, no average), and with one lever changed each."""
    raw = {"time_frequencies": 0}
    return (
        Cell(label, method, raw),
        Cell(f"{label}, EMA 0.999", method, {**raw, "ema": 0.999}),
        Cell(f"{label}, constant lr", method, {**raw, "lr_final_ratio": 1.0}),
        Cell(f"{label}, Fourier times", method, {"time_frequencies": 4}),
    )


# The comparison's targets: tuning used others (lab.tuning.TUNING_TARGETS); the held-out ones were used
# neither for tuning nor for choosing any default.
EVALUATION_TARGETS = ("checkerboard", "moons", "spiral", "pinwheel", "swissroll")
HELD_OUT_TARGETS = ("pinwheel", "swissroll")
ANYTIME_PREVIEWS = {"preview_every": 500, "preview_n": 4000}  # the methods study's previews: its anytime curves
FM_TEACHER = "Flow matching, reflow's teacher"


PRESET_DIM = 2  # the tuned presets were searched on 2D targets at 2D network sizes (lab.tuning.TUNING_TARGETS)
UNTUNED = "defaults (no tuned preset)"


def _compared(label: str, method: str, presets: dict[str, Preset], **changes) -> Cell:
    """A methods-study row: `method` at its tuned preset (its defaults when none is bundled), previewed at
    the step count it is judged at, with `changes` (Cell fields; 'coupling' overrides the preset's)."""
    preset = presets.get(method)
    coupling = changes.pop("coupling", None)
    overrides = {**ANYTIME_PREVIEWS, "preview_nfe": judged_nfe(method)}
    if coupling is not None:
        overrides["coupling"] = coupling
    if preset:
        p = preset.protocol
        tuning = "tuned: " + protocol_phrase(
            p.get("trials"), p.get("seconds", 0), p.get("targets", []), p.get("seeds", 1), p.get("also", ())
        )
    else:
        tuning = UNTUNED
    return Cell(label, method, overrides, {}, tuning=tuning, tuned=preset, **changes)


def cell_on(cell: Cell, dim: int) -> Cell:
    """The cell as it trains on a target of `dim` dimensions. On 2D targets its tuned preset's fields and
    options sit under the cell's own changes; elsewhere (the 64-dimensional digits) the preset, searched
    on 2D targets with 2D-sized networks and learning rates, does not apply: the method's defaults, the
    target's own network, and the cell's own changes, said in its tuning."""
    if cell.tuned is None:
        return cell
    if dim == PRESET_DIM:
        preset = cell.tuned
        return replace(
            cell,
            overrides={**preset.fields, **cell.overrides},
            options={**preset.options, **cell.options},
            tuned=None,
        )
    return replace(cell, tuned=None, tuning=f"defaults (the presets were tuned in {PRESET_DIM}D)")


def method_cells(presets: dict[str, Preset] | None = None) -> tuple[Cell, ...]:
    """The methods study: each one-step method at its tuned preset (`presets`, default the bundled ones);
    reflow at an equal total budget (its teacher trained in the first half) and, marked, with a free
    teacher; flow matching both with independent pairs and with minibatch OT (its 32-step reference is
    the better of the two)."""
    if presets is None:
        try:
            presets = read_presets()
        except ValueError:  # a broken bundled file: the defaults, said in each row's tuning
            presets = {}
    one_step = [
        _compared(m.about.label, name, presets, bundle=name)
        for name, m in METHODS.items()
        if name not in ("flow-matching", "reflow")
    ]
    fm = presets.get("flow-matching")
    fm_coupling = fm.fields.get("coupling", "independent") if fm else "independent"
    fm_label = {"independent": "Flow matching, independent", "minibatch-ot": "Flow matching, minibatch OT"}
    reflow = METHODS["reflow"].about.label
    return (
        *one_step,
        _compared(
            reflow,
            "reflow",
            presets,
            teacher=FM_TEACHER,
            budget_share=0.5,
            note="half the budget; its teacher trained in the other half",
            bundle="reflow",  # the bundled reflow: equal compute (the free teacher's runs diverge at its lr)
        ),
        _compared(
            f"{reflow}, free teacher",
            "reflow",
            presets,
            teacher=fm_label[fm_coupling],
            note="its teacher's full budget not counted",
            bundle=None,
        ),
        *(
            _compared(
                label,
                "flow-matching",
                presets,
                coupling=coupling,
                bundle="flow-matching" if coupling == fm_coupling else None,
            )
            for coupling, label in fm_label.items()
        ),
        _compared(
            FM_TEACHER,
            "flow-matching",
            presets,
            coupling=fm_coupling,
            budget_share=0.5,
            note="half the budget: reflow's teacher, not a contender",
            bundle="flow-matching-teacher",  # shipped beside the bundled reflow it taught
        ),
    )


def headline_cells(study: Study) -> dict[str, Cell]:
    """method -> the row whose seed-0 run is bundled under the method's own name (the methods study: flow
    matching at its preset's pairing, reflow at equal compute): the run Compare samples for that method."""
    return {c.method: c for c in study.cells if c.bundle == c.method}


def chart_families(study: Study) -> dict[str, str]:
    """cell -> its method where the study compares methods (a method's rows share a colour on its charts,
    views.palette.line_styles); empty where every row is the same method's (each row its own colour)."""
    if len({c.method for c in study.cells}) < 2:
        return {}
    return {c.name: c.method for c in study.cells}


STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        Study(
            "r-neq-t",
            "Fraction of samples with r ≠ t",
            "How much of the batch should train long intervals (r ≠ t) rather than flow matching (r = t)?",
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
            "levers",
            "Levers every method can use",
            "Does a moving average of the weights for sampling, a learning rate that decays over the wall-clock "
            "budget, or Fourier features of the time inputs help MeanFlow, flow matching (at 32 steps) and "
            "consistency?",
            tuple(cell for label, method in LEVER_METHODS for cell in _lever_cells(label, method)),
        ),
        Study(
            "methods",
            "The one-step methods",
            "Which one-step method is best at the same wall-clock budget, each with its tuned settings and its "
            "best pairing, against flow matching at its best at 32 steps?",
            method_cells(),
        ),
    )
}


def get_study(name: str) -> Study:
    """The study registered as `name`; raises ValueError listing the accepted names."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; accepted: {', '.join(STUDIES)}")
    return STUDIES[name]
