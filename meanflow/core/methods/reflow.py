"""Reflow / 2-rectified flow (Liu, Gong, Liu 2022, arXiv 2209.03003): flow matching on a teacher's own pairs.

A teacher (a trained run, typically flow matching: the 1-rectified flow) carries noise e to a sample
x_hat = ODE_teacher(e) (the paper's 2D experiments: 100 Euler steps). 2-rectified flow is plain flow
matching on these fixed pairs (its Algorithm 1, "Reflow"):
    z_t = (1 - t) x_hat + t e,   loss = || v(z_t, t) - (e - x_hat) ||^2,   t ~ U[0, 1] afresh each step
The coupling is the teacher's: a stored x_hat keeps its own e (never a new one). Flows trained on
a deterministic coupling are straighter (the paper's Theorem 3.7), so few steps suffice. As in the
official code, the student starts from the teacher's weights when their networks match.
The paper writes t = 0 for noise; here t = 1 is noise, so its X_t = t X_1 + (1 - t) X_0 is z_t above
and its target X_1 - X_0 is -(e - x_hat).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..config import Options, Search, TrainConfig, option
from ..models import MLP
from .base import About, Batch
from .flow_matching import FlowMatching

if TYPE_CHECKING:  # a teacher is a sampling.Flow, which imports the methods' base: the annotation only
    from ..sampling import Flow


@dataclass(frozen=True)
class ReflowOptions(Options):
    teacher: str = option(
        "",
        "The teacher run's folder (a trained run on the same target, usually flow "
        "matching): its ODE endpoints are the training pairs.",
        run=True,
    )
    teacher_steps: int = option(
        100,
        "Euler steps of the teacher's ODE per pair (the paper's 2D experiments: 100).",
        lo=1,
        hi=1000,
        integer=True,
        search=Search(values=(16, 32, 100)),
    )
    pairs: int = option(
        50_000,
        "Teacher pairs generated before training and drawn from at random; with a time budget, making them "
        "stops at about half of it, and training draws from the pairs made.",
        lo=256,
        hi=1_000_000,
        integer=True,
        search=Search(values=(10_000, 50_000, 200_000)),
    )
    init_from_teacher: str = option(
        "yes",
        "Start from the teacher's weights when the networks match (the official code fine-tunes the 1-rectified flow).",
        choices=("yes", "no"),
        search=Search(values=("yes", "no")),
    )


PAIR_CHUNK = 4096  # teacher pairs per ODE solve; a time budget is looked at between chunks
PAIRS_SHARE = 0.5  # of a run's time budget, about the most its teacher's pairs may take: the rest trains
clock = time.perf_counter  # what the pairs' deadline is read on (a test puts a fake clock here)


@dataclass
class TeacherPairs:
    """The teacher's pairs in model units: noise e (n, D) and its ODE endpoint x_hat (n, D)."""

    e: torch.Tensor
    x_hat: torch.Tensor


def teacher_pairs(
    teacher: Flow, noise: torch.Tensor, steps: int, generator: torch.Generator, deadline: float | None = None
) -> TeacherPairs:
    """The pairs of noise (m, D) and the teacher's `steps`-step ODE endpoints, made in chunks of PAIR_CHUNK
    rows in the noise's order (the ODE keeps one state, not the path), with `generator` for a teacher whose
    sampler draws noise. With a `deadline` on clock(), no chunk starts that the one before says would end
    past it (the first always runs), so the pairs made are the first n <= m of the noise, the same n pairs
    however many are made: what a resumed run remakes from its checkpoint's count."""
    made, n, took = [], 0, 0.0
    while n < len(noise) and not (deadline is not None and n > 0 and clock() + took > deadline):
        started = clock()
        chunk = noise[n : n + PAIR_CHUNK]
        made.append(teacher.endpoint(chunk, steps, generator).float())  # model units (same target, same box)
        n, took = n + len(chunk), clock() - started
    return TeacherPairs(noise[:n], torch.cat(made))


def saved_pair_count(saved: dict[str, torch.Tensor], most: int) -> int:
    """The number of pairs a checkpoint's run made (`saved`: its context tensors): `most`, all that were asked
    for, in a checkpoint from before the count was kept. Raises ValueError for a count that this run cannot
    have written (not one whole number from 1 to `most`)."""
    count = saved.get("pairs_made")
    if count is None:
        return most
    value = float(count.reshape(-1)[0]) if count.numel() == 1 else math.nan
    if not (value.is_integer() and 1 <= value <= most):
        raise ValueError(
            f"the checkpoint says its run made {count.tolist()} teacher pairs, not a count from 1 to {most}: "
            "resume from a checkpoint this run wrote"
        )
    return int(value)


class Reflow(FlowMatching):
    """Flow matching's loss (inherited) on the teacher's pairs (own_batches)."""

    name = "reflow"
    about = About(
        label="Reflow (2-rectified flow)",
        summary=(
            "Retrains flow matching on the (noise, sample) pairs a teacher's ODE produces, which straightens "
            "the flow so that few steps suffice."
        ),
        paper="Liu, Gong, Liu 2022: Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow",
        arxiv="2209.03003",
        cost=(
            "flow matching's step, no JVP; before training, the teacher's ODE for every pair (steps x pairs forward "
            "passes, about half of a time budget at most), and the teacher's own training"
        ),
        loss_latex=(
            r"\big\lVert v_\theta(z_t, t) - (e - \hat x)\big\rVert^2,"
            r"\ \hat x = \mathrm{ODE}_{\mathrm{teacher}}(e)"
        ),
    )
    options = ReflowOptions
    default_coupling = "independent"  # the teacher's pairs are the coupling; no other pairing applies
    conditional = False  # its teacher's pairs carry no classes
    chooses_pairing = False  # own_batches: the teacher's pairs, whatever the coupling

    def check_teacher(self, role: str, teacher: TrainConfig) -> None:
        """A class-conditional teacher is refused: its ODE endpoints depend on the class it was given, and a
        student without classes trained on them lands between the classes (benchmarks/RESULTS.md,
        "Reflow from a class-conditional teacher")."""
        if teacher.classes:
            raise ValueError(
                f"the {role} is class-conditional ({teacher.classes} classes); reflow learns from an unconditional "
                f"{role}: train flow matching on this target with --unconditional (on the Train page: switch off "
                "'Condition on classes') and use that run"
            )

    def prepare(
        self, config, target, teachers: dict[str, Flow], generator: torch.Generator, net: MLP, saved=None
    ) -> TeacherPairs:
        teacher = teachers.get("teacher")
        if teacher is None:
            raise ValueError("reflow trains on a teacher's pairs: pass the teacher's flow as teachers['teacher']")
        options = config.options
        noise = torch.randn(options.pairs, config.dim, generator=generator)
        if saved is not None:  # resumed: the pairs its checkpoint's run made (already paid for in its budget)
            made = saved_pair_count(saved, options.pairs)
            pairs = teacher_pairs(teacher, noise[:made], options.teacher_steps, generator)
        else:  # the pairs are part of the run's budget (core.training): about half of it at most
            deadline = None if config.max_seconds is None else clock() + PAIRS_SHARE * config.max_seconds
            pairs = teacher_pairs(teacher, noise, options.teacher_steps, generator, deadline)
        if options.init_from_teacher == "yes":
            student = net.state_dict()
            weights = teacher.net.state_dict()
            if {k: v.shape for k, v in weights.items()} == {k: v.shape for k, v in student.items()}:
                net.load_state_dict(weights)
        return pairs

    def context_tensors(self, context: TeacherPairs) -> dict[str, torch.Tensor]:
        """How many pairs were made: a time budget may stop them early, and a resumed run remakes as many."""
        return {"pairs_made": torch.tensor(len(context.x_hat))}

    def own_batches(self, context: TeacherPairs, n: int, count: int, generator: torch.Generator) -> list[Batch]:
        """Batches of the teacher's pairs, drawn at random: each x_hat with its own e."""
        idx = torch.randint(0, len(context.e), (count, n), generator=generator)
        return [Batch(context.x_hat[rows], context.e[rows], None) for rows in idx]
