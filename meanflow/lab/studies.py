"""The study registry: a study is a question and its cells (config changes), each a row of its table.

MeanFlow's ablations (its Table 1) are studies here, beside the pairing, guidance and the method zoo.
A sweep (lab.sweeps) trains every cell x target x seed; lab.scoring scores the runs and lab.tables
tabulates them. Adding a study: one `Study(...)` entry below (and a line in tests/lab/test_studies.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.registry import METHODS


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
                Cell(m.about.label, name, teacher=METHODS["flow-matching"].about.label if name == "reflow" else None)
                for name, m in METHODS.items()
            ),
        ),
    )
}


def get_study(name: str) -> Study:
    """The study registered as `name`; raises ValueError listing the accepted names."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; accepted: {', '.join(STUDIES)}")
    return STUDIES[name]
