"""The command line: train, resume, sample, evaluate, methods, bench. The only module that parses arguments.

Exit codes: 0 success; 1 a run that diverged or failed; 2 bad input (one line on stderr saying
what is wrong and what is accepted, never a traceback); 130 interrupted (the run is saved).
Training runs on the job engine like the app's: a local worker process, or the Ray cluster at
$MEANFLOW_RAY_ADDRESS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from ..core.config import MAX_BATCH, MAX_DEPTH, MAX_HIDDEN, MAX_NFE, MAX_SAMPLES, MAX_SECONDS, MAX_STEPS, TrainConfig
from ..core.couplings import COUPLINGS
from ..core.methods import METHODS, get_method
from ..core.targets import (
    ALIASES,
    MAX_FILE_BYTES,
    PRESETS,
    Target,
    TargetError,
    get_target,
    parse_csv_points,
    target_from_file,
)
from ..core.text import literal

SAMPLE_SUFFIXES = (".npy", ".csv")


class UsageError(Exception):
    """Bad input: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage block
        raise UsageError(f"{message} (see {self.prog} --help)")


def _number(parse, accept, expected: str):
    """An argparse type: `parse` the text, then require `accept(value)`; errors say what is expected."""

    def convert(text: str):
        try:
            value = parse(text)
        except (ValueError, OverflowError):
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text[:40]!r}")
        return value

    return convert


def _bounded_int(lo: int, hi: int, what: str):
    return _number(int, lambda v: lo <= v <= hi, f"{what} from {lo:,} to {hi:,}")


_positive_float = _number(float, lambda v: v > 0 and math.isfinite(v), "a positive number")
_seconds = _number(float, lambda v: 0 < v <= MAX_SECONDS and math.isfinite(v), f"seconds in (0, {MAX_SECONDS:g}]")
_seed = _number(int, lambda v: 0 <= v < 2**63, "a seed from 0 to 2**63 - 1")
_steps = _bounded_int(1, MAX_STEPS, "a step count")


def _add_target_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--target", metavar="NAME", help=f"a preset: {', '.join(list(PRESETS) + list(ALIASES))}")
    group.add_argument("--target-file", metavar="PATH", help="a CSV of 2D points or a PNG/JPEG image")


def _resolve_target(args: argparse.Namespace) -> Target:
    return get_target(args.target) if args.target is not None else target_from_file(args.target_file)


# ---------------------------------------------------------------- method options as flags


def _option_fields() -> dict[str, tuple[object, list[str]]]:
    """Every option offered for training, by field name: (its dataclass field, the methods that have it)."""
    out: dict[str, tuple[object, list[str]]] = {}
    for name, method in METHODS.items():
        for f in fields(method.options):
            if f.metadata.get("ablation_only"):
                continue
            out.setdefault(f.name, (f, []))[1].append(name)
    return out


def _option_type(f):
    meta = f.metadata
    if meta.get("choices") is not None or isinstance(f.default, str):
        return str
    lo = meta.get("lo") if meta.get("lo") is not None else -math.inf
    hi = meta.get("hi") if meta.get("hi") is not None else math.inf
    if meta.get("integer"):
        return _number(int, lambda v: lo <= v <= hi, f"a whole number in [{lo:g}, {hi:g}]")
    return _number(float, lambda v: math.isfinite(v) and lo <= v <= hi, f"a number in [{lo:g}, {hi:g}]")


def _add_option_flags(p: argparse.ArgumentParser) -> None:
    """One flag per method option (--time-sampler, --r-neq-t, ...), grouped under the first method that has it."""
    groups = {}
    for name, (f, owners) in _option_fields().items():
        owner = owners[0]
        if owner not in groups:
            groups[owner] = p.add_argument_group(f"{owner} options")
        shared = f" (also {', '.join(owners[1:])})" if len(owners) > 1 else ""
        groups[owner].add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"opt_{name}",
            type=_option_type(f),
            choices=f.metadata.get("choices"),
            default=None,
            help=f"{f.metadata['help']} Default: {f.default}.{shared}",
        )


def _options_from_args(method_name: str, args: argparse.Namespace) -> dict:
    """The options the user gave for `method_name`; a flag of another method's is bad input."""
    method = get_method(method_name)
    mine = {f.name for f in fields(method.options)}
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}
    foreign = sorted(set(given) - mine)
    if foreign:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in foreign)
        raise UsageError(
            f"{flags} {'is not an option' if len(foreign) == 1 else 'are not options'} of {method_name}; "
            f"see `python -m meanflow methods`"
        )
    return given


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = _Parser(
        prog="python -m meanflow",
        description="Train and sample one-step generative models (MeanFlow and its rivals) on 2D targets.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "train",
        help="train a run and save its folder",
        description="Train a run on the job engine and save its folder. Method options are "
        "listed under each method below (python -m meanflow methods shows them all).",
    )
    p.add_argument("--method", required=True, choices=list(METHODS))
    _add_target_arguments(p)
    p.add_argument("--steps", type=_steps, default=defaults.steps, help=f"optimiser steps (default {defaults.steps})")
    p.add_argument("--max-seconds", type=_seconds, default=None, help="stop after this wall time and save")
    p.add_argument("--batch", type=_bounded_int(1, MAX_BATCH, "a batch size"), default=defaults.batch)
    p.add_argument("--hidden", type=_bounded_int(1, MAX_HIDDEN, "a width"), default=defaults.hidden)
    p.add_argument("--depth", type=_bounded_int(1, MAX_DEPTH, "a depth"), default=defaults.depth, help="hidden layers")
    p.add_argument("--lr", type=_positive_float, default=defaults.lr)
    p.add_argument("--seed", type=_seed, default=defaults.seed)
    p.add_argument(
        "--coupling",
        choices=list(COUPLINGS),
        default=None,
        help="noise-data pairing; default: the method's ("
        + ", ".join(f"{n}: {m.default_coupling}" for n, m in METHODS.items())
        + ")",
    )
    p.add_argument(
        "--threads",
        type=_bounded_int(1, 256, "a thread count"),
        default=defaults.threads,
        help="torch CPU threads of the worker",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=_seconds,
        default=defaults.checkpoint_seconds,
        help=f"write a resumable checkpoint at least this often (default {defaults.checkpoint_seconds:g})",
    )
    p.add_argument("--device", default=defaults.device, help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument(
        "--unconditional",
        action="store_true",
        help="ignore a labelled target's classes (by default meanflow and flow-matching train "
        "class-conditional models on 8gaussians, moons, checkerboard and labelled CSVs)",
    )
    p.add_argument(
        "--class-dropout",
        type=_number(float, lambda v: 0 <= v < 1, "a share from 0 to below 1"),
        default=defaults.class_dropout,
        help="class-conditional runs: the share of rows trained with 'no class', the unconditional branch "
        f"that guidance needs (the paper: 10%%). Default: {defaults.class_dropout}.",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="RUN_DIR",
        help="the run folder: new, empty, or an earlier run of this program (which is replaced)",
    )
    _add_option_flags(p)

    p = sub.add_parser("resume", help="continue an interrupted, stopped or finished run from its checkpoint")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--max-seconds", type=_seconds, default=None, help="train at most this much longer")
    p.add_argument("--steps", type=_steps, default=None, help="the step count to end at (default: the run's own)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")

    p = sub.add_parser("sample", help="draw samples from a saved run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--nfe",
        type=_bounded_int(1, MAX_NFE, "a step count"),
        required=True,
        metavar="K",
        help="network evaluations (steps)",
    )
    p.add_argument("--n", type=_bounded_int(1, MAX_SAMPLES, "a sample count"), required=True, help="number of samples")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--out", required=True, metavar="FILE", help="a .npy or .csv file, shape (n, 2)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.add_argument(
        "--class",
        dest="label",
        type=_bounded_int(0, 63, "a class index"),
        default=None,
        metavar="K",
        help="sample class K of a class-conditional run (default: every class, as often as in the target)",
    )
    p.add_argument(
        "--guidance",
        type=_number(float, lambda v: math.isfinite(v) and 0 <= v <= 20, "a guidance scale from 0 to 20"),
        default=1.0,
        metavar="W",
        help="classifier-free guidance at sampling time: two network evaluations per step (1: none; "
        "MeanFlow's own guidance is trained in, --guidance-scale of train)",
    )

    p = sub.add_parser("evaluate", help="metrics of a sample file against a target, with noise floors, as JSON")
    p.add_argument("file", metavar="FILE", help="a .npy or .csv file of shape (n, 2)")
    _add_target_arguments(p)
    p.add_argument("--seed", type=_seed, default=0)

    sub.add_parser("methods", help="the method registry: each method's idea, paper, cost and options")

    from ..lab.studies import STUDIES

    p = sub.add_parser(
        "sweep",
        help="train every cell of a study for each seed and tabulate quality over seeds",
        description="Train every cell of a study (an ablation) x target x seed on the job engine, "
        "and print one row per cell: the 1- and 2-NFE histogram TV, sliced W1 and in-cells "
        "fraction as mean +- std over seeds, with the floors. Cells already done in --out "
        "with the same config and seed are not trained again.",
    )
    p.add_argument("--study", required=True, choices=list(STUDIES))
    p.add_argument("--targets", default="checkerboard", help="comma-separated presets (default: checkerboard)")
    p.add_argument("--seeds", type=_bounded_int(1, 100, "a seed count"), default=3)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=_seconds, default=None, help="training time per run (default 60)")
    budget.add_argument("--steps", type=_steps, default=None, help="instead: steps per run (no time budget)")
    p.add_argument("--address", default=None, help="a Ray cluster (HOST:PORT or auto); default: local workers")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where the runs go (default: $MEANFLOW_RUNS_DIR or ./runs, the app's library)",
    )
    p.add_argument("--json", action="store_true", help="the table as JSON, with every seed's values")

    p = sub.add_parser("bench", help="step-time benchmark: flow matching vs MeanFlow vs the naive seed MeanFlow")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--quality",
        action="store_true",
        help="instead: sample quality of the naive seed recipe, MeanFlow and flow matching after "
        "--seconds of training each, on --targets",
    )
    p.add_argument("--seconds", type=_seconds, default=30.0, help="with --quality: training time per run")
    p.add_argument("--targets", default="checkerboard,moons,spiral", help="with --quality: comma-separated presets")
    p.add_argument(
        "--methods",
        default=None,
        help="'all' or comma-separated registry names: each method's training step against flow "
        "matching's (the same pairing); with --quality, the method zoo instead, trained on the job engine "
        "for --seconds each (one core per run), with flow matching at 32 NFE as the reference",
    )
    p.add_argument(
        "--seeds", type=_bounded_int(1, 100, "a seed count"), default=1, help="with --methods or --guidance: seeds"
    )
    p.add_argument(
        "--guidance",
        action="store_true",
        help="instead: class accuracy and class TV against the guidance scale, MeanFlow (trained-in "
        "omega, 1 NFE) and flow matching (CFG, 2/8/32 NFE), on --targets (default 8gaussians,moons)",
    )
    from ..lab.bench import SIZES, BenchConfig

    b = BenchConfig()
    sizes = ", ".join(f"{k} {h}x{d} batch {n}" for k, (h, d, n) in SIZES.items())
    p.add_argument(
        "--hidden",
        type=_bounded_int(1, MAX_HIDDEN, "a width"),
        default=None,
        help=f"time this size only (default: both sizes, {sizes})",
    )
    p.add_argument("--depth", type=_bounded_int(1, MAX_DEPTH, "a depth"), default=None)
    p.add_argument("--batch", type=_bounded_int(1, MAX_BATCH, "a batch size"), default=None)
    p.add_argument(
        "--steps", type=_bounded_int(1, 100_000, "a step count"), default=b.steps, help="timed steps per round"
    )
    p.add_argument("--rounds", type=_bounded_int(1, 1000, "a round count"), default=b.rounds)
    p.add_argument("--threads", type=_bounded_int(1, 256, "a thread count"), default=b.threads)
    return parser


# ---------------------------------------------------------------- commands


def _format_progress(snap) -> str:
    eta = f"ETA {snap.eta_seconds:.0f}s" if snap.eta_seconds is not None else "ETA --"
    loss = f"loss {snap.history['loss'][-1]:.4f}" if len(snap.history) else "loss --"
    return f"step {snap.step}/{snap.total_steps}  {loss}  {snap.steps_per_sec:.0f} steps/s  {eta}"


def _check_out_folder(out: Path) -> None:
    """--out must be new, empty, or a run folder this program wrote: never someone else's files."""
    from ..core.runs import CONFIG_FILE, RunError, read_info

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; expected a folder for the run")
    if out.is_dir() and any(out.iterdir()):
        try:
            read_info(out)
        except RunError:
            raise UsageError(
                f"--out {str(out)!r} is not empty and is not a run folder ({CONFIG_FILE} of a meanflow "
                "run); choose a new or empty folder"
            ) from None


def _run_on_engine(submit, quiet: bool) -> int:
    """Submit one job on a one-worker engine, print progress, and turn how it ended into an exit code."""
    from ..engine.jobs import engine_from_env

    engine = engine_from_env(workers=1)
    interrupted = False
    try:
        job_id, out = submit(engine)
        last_print = 0.0
        try:
            while not engine.wait(job_id, timeout=0.2).finished:
                if not quiet and time.monotonic() - last_print >= 1.0:
                    print(_format_progress(engine.snapshot(job_id)), file=sys.stderr, flush=True)
                    last_print = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
            engine.stop(job_id)
            engine.wait(job_id)
        snap = engine.snapshot(job_id)
    finally:
        engine.close()
    for error in engine.errors:
        print(f"meanflow: {literal(error, 'terminal')}", file=sys.stderr)
    if snap.state == "failed":
        print(
            f"meanflow: {literal(snap.message, 'terminal')}; the last good weights are saved in "
            f"{literal(str(out), 'terminal')}",
            file=sys.stderr,
        )
        return 1
    if not quiet:
        print(
            f"{snap.message}: {snap.step} steps in {snap.elapsed:.1f} s ({snap.steps_per_sec:.0f} steps/s); "
            f"saved {out}",
            file=sys.stderr,
        )
    return 130 if interrupted else 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..core.models import pick_device

    target = _resolve_target(args)
    pick_device(args.device)  # an unusable device is bad input, found before training starts
    out = Path(args.out)
    _check_out_folder(out)
    out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails now, not after training
    config = TrainConfig(
        method=args.method,
        options=_options_from_args(args.method, args),
        steps=args.steps,
        max_seconds=args.max_seconds,
        batch=args.batch,
        hidden=args.hidden,
        depth=args.depth,
        lr=args.lr,
        seed=args.seed,
        coupling=args.coupling,
        threads=args.threads,
        device=args.device,
        classes=0 if args.unconditional or not get_method(args.method).conditional else target.classes,
        class_dropout=args.class_dropout,
        checkpoint_seconds=args.checkpoint_seconds,
    )
    for stale in ("weights.safetensors", "checkpoint.safetensors", "target.safetensors", "metrics.csv"):
        (out / stale).unlink(missing_ok=True)  # an earlier run in this folder is replaced whole
    return _run_on_engine(lambda engine: (engine.submit(config, target, out, check_budget=False), out), args.quiet)


def cmd_resume(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..core.runs import CHECKPOINT_FILE, read_info, read_target

    out = Path(args.run_dir)
    info = read_info(out)
    if not info.has_checkpoint:
        raise UsageError(f"{out} has no {CHECKPOINT_FILE}; only runs with a checkpoint can resume")
    checkpoint = (out / CHECKPOINT_FILE).read_bytes()
    config = info.config
    steps = args.steps if args.steps is not None else config.steps
    if steps <= info.step:
        raise UsageError(f"{out} is already at step {info.step}; pass --steps above it to train further")
    seconds = None if args.max_seconds is None else info.elapsed + args.max_seconds
    config = replace(config, steps=steps, max_seconds=seconds if seconds is not None else config.max_seconds)
    if config.max_seconds is not None and config.max_seconds <= info.elapsed:
        raise UsageError(f"{out} has used its {config.max_seconds:g} s budget; pass --max-seconds to train longer")
    target = read_target(info)
    return _run_on_engine(
        lambda engine: (engine.submit(config, target, out, resume=checkpoint, check_budget=False), out), args.quiet
    )


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from ..core.runs import load_run
    from ..core.sampling import sample, samples_csv

    out = Path(args.out)
    if out.suffix.lower() not in SAMPLE_SUFFIXES:
        raise UsageError(f"--out must end in {' or '.join(SAMPLE_SUFFIXES)}, got {args.out!r}")
    if out.exists() and not args.force:
        raise UsageError(f"{args.out} exists; pass --force to replace it")
    run = load_run(args.run_dir)
    if (args.label is not None or args.guidance != 1.0) and not run.flow.classes:
        raise UsageError(
            f"{args.run_dir} is not class-conditional; --class and --guidance need a run trained on a "
            "labelled target without --unconditional"
        )
    if args.label is not None and args.label >= run.flow.classes:
        raise UsageError(f"--class {args.label} is out of range; this run has classes 0 to {run.flow.classes - 1}")
    samples = sample(
        run.flow, args.n, args.nfe, torch.Generator().manual_seed(args.seed), label=args.label, guidance=args.guidance
    ).samples
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, samples)
    else:
        out.write_bytes(samples_csv(samples))
    return 0


def _read_samples(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"sample file {path!r} not found; expected a .npy or .csv file of shape (n, 2)")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise UsageError(f"{path} is {p.stat().st_size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    if p.suffix.lower() == ".npy":
        try:
            with open(p, "rb") as f:  # the header says the shape: check it before reading any data
                version = np.lib.format.read_magic(f)
                read_header = {
                    (1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0,
                }.get(version)
                if read_header is None:
                    raise ValueError(f"unsupported .npy version {version}")
                shape, _, dtype = read_header(f)
            if len(shape) != 2 or shape[1] != 2 or not 2 <= shape[0] <= MAX_SAMPLES or dtype.kind not in "iuf":
                raise UsageError(
                    f"{path} has shape {shape} of {dtype}; expected (n, 2) numbers with 2 <= n <= {MAX_SAMPLES:,}"
                )
            samples = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise UsageError(f"{path} is not a readable .npy array ({exc})") from None
    elif p.suffix.lower() == ".csv":
        samples = parse_csv_points(p.read_bytes(), p.name)
    else:
        raise UsageError(f"sample file must end in {' or '.join(SAMPLE_SUFFIXES)}, got {path!r}")
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) < 2 or not np.issubdtype(samples.dtype, np.number):
        raise UsageError(f"{path} has shape {samples.shape}; expected (n, 2) numbers with n >= 2")
    return samples.astype(np.float64)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from ..core.metrics import evaluate

    samples = _read_samples(args.file)
    target = _resolve_target(args)
    quality = evaluate(samples, target, torch.Generator().manual_seed(args.seed))
    print(json.dumps({"target": target.name, **quality.to_dict()}, indent=2))
    return 0


def format_methods() -> str:
    """The registry as text: name, label, idea, paper, cost, and each option with its default."""
    blocks = []
    for name, method in METHODS.items():
        lines = [
            f"{name}  ({method.label})",
            f"  {method.summary}",
            f"  paper: {method.paper} (arXiv {method.arxiv})",
            f"  default pairing: {method.default_coupling}; per step: {method.cost}",
        ]
        for f in fields(method.options):
            if f.metadata.get("ablation_only"):
                continue
            choices = f" [{', '.join(map(str, f.metadata['choices']))}]" if f.metadata.get("choices") else ""
            lines.append(f"  --{f.name.replace('_', '-')} (default {f.default}){choices}: {f.metadata['help']}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def cmd_methods(args: argparse.Namespace) -> int:
    print(format_methods())
    return 0


def _targets(text: str) -> list:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError("--targets names no target; expected comma-separated presets")
    return [get_target(n) for n in dict.fromkeys(names)]


def _run_sweep(sweep, as_json: bool) -> int:
    """Drive a sweep to its end with progress on stderr; Ctrl-C stops it and prints what finished."""
    last = 0.0
    interrupted = False

    def progress(s) -> None:
        nonlocal last
        if time.monotonic() - last >= 5:
            counts = s.counts()
            done = counts.get("done", 0) + counts.get("skipped", 0)
            print(
                f"{done}/{len(s.runs)} runs done, {counts.get('running', 0)} training, "
                f"{counts.get('failed', 0)} failed",
                file=sys.stderr,
                flush=True,
            )
            last = time.monotonic()

    try:
        sweep.run_to_end(on_progress=progress)
    except KeyboardInterrupt:
        interrupted = True
        sweep.stop()
        for run in sweep.runs:
            if run.job is not None:
                sweep.engine.wait(run.job, 60)
        sweep.pump()
    from ..lab.studies import format_table

    rows = sweep.table()
    print(json.dumps(rows, indent=2, default=float) if as_json else format_table(rows))
    for run in sweep.runs:
        if run.state == "failed":
            print(f"meanflow sweep: {run.cell.name} on {run.target}, seed {run.seed}: {run.message}", file=sys.stderr)
    if interrupted:
        return 130
    return 1 if any(r.state == "failed" for r in sweep.runs) else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..engine.jobs import engine_from_env
    from ..lab.studies import Budget, Sweep, get_study

    study = get_study(args.study)
    targets = _targets(args.targets)
    budget = Budget(seconds=None, steps=args.steps) if args.steps else Budget(seconds=args.seconds or 60.0)
    out = Path(args.out) if args.out else Path(os.environ.get("MEANFLOW_RUNS_DIR", "runs"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MEANFLOW_PIN_CORES", "1")  # local workers: every run on one core, a fair budget
    engine = engine_from_env(address=args.address)
    try:
        sweep = Sweep(study, targets, args.seeds, budget, engine, out, max_active=engine.max_running, shared=True)
        return _run_sweep(sweep, args.json)
    finally:
        engine.close()


def cmd_bench(args: argparse.Namespace) -> int:
    from ..lab.bench import (
        SIZES,
        BenchConfig,
        QualityConfig,
        format_quality_benchmark,
        main_bench,
        run_quality_benchmark,
    )

    if args.guidance:
        import tempfile

        from ..engine.jobs import engine_from_env
        from ..lab.guidance import format_guidance, run_guidance_benchmark

        targets = _targets(args.targets if args.targets != "checkerboard,moons,spiral" else "8gaussians,moons")
        unlabelled = [t.name for t in targets if not t.classes]
        if unlabelled:
            raise UsageError(f"--guidance needs labelled targets; {', '.join(unlabelled)} carry no classes")
        os.environ.setdefault("MEANFLOW_PIN_CORES", "1")  # every run on one core, whatever runs beside it
        engine = engine_from_env()
        try:
            rows = run_guidance_benchmark(targets, args.seeds, args.seconds, engine, tempfile.mkdtemp())
        finally:
            engine.close()
        print(json.dumps(rows, indent=2, default=float) if args.json else format_guidance(rows))
        return 0
    names = []
    if args.methods:
        names = list(METHODS) if args.methods.strip() == "all" else [m.strip() for m in args.methods.split(",")]
        unknown = [m for m in names if m not in METHODS]
        if unknown:
            raise UsageError(f"unknown methods {unknown}; accepted: all, {', '.join(METHODS)}")
    if args.quality and args.methods:
        from ..lab.bench import run_zoo_benchmark

        rows, text = run_zoo_benchmark(names, _targets(args.targets), args.seeds, args.seconds)
        print(json.dumps(rows, indent=2, default=float) if args.json else text)
        return 0
    if args.quality:
        names = tuple(get_target(t.strip()).name for t in args.targets.split(",") if t.strip())
        qc = QualityConfig(seconds=args.seconds, targets=names, threads=args.threads)
        rows = run_quality_benchmark(qc)
        print(json.dumps(rows, indent=2) if args.json else format_quality_benchmark(rows, qc))
        return 0

    if args.hidden is None and args.depth is None and args.batch is None:
        sizes = list(SIZES.values())
    else:
        default = SIZES["default"]
        sizes = [(args.hidden or default[0], args.depth or default[1], args.batch or default[2])]
    configs = [
        BenchConfig(hidden=h, depth=d, batch=n, steps=args.steps, rounds=args.rounds, threads=args.threads)
        for h, d, n in sizes
    ]
    if names:  # each method's step against flow matching's, the same pairing for all
        from ..lab.bench import format_step_benchmark, method_variants, run_step_benchmark

        results = [run_step_benchmark(c, method_variants([n for n in names if n != "flow-matching"])) for c in configs]
        text = "\n\n".join(map(format_step_benchmark, results))
        print(json.dumps({"sizes": results}, indent=2) if args.json else text)
        return 0
    print(main_bench(configs, args.json))
    return 0


COMMANDS = {
    "train": cmd_train,
    "resume": cmd_resume,
    "sample": cmd_sample,
    "evaluate": cmd_evaluate,
    "methods": cmd_methods,
    "sweep": cmd_sweep,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    from ..core.runs import RunError
    from ..engine.jobs import LimitError

    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (
        UsageError,
        TargetError,
        RunError,
        LimitError,
        ValueError,
        TypeError,
        OSError,
        OverflowError,
        RuntimeError,
        MemoryError,
    ) as exc:
        # RuntimeError: torch's refusal of a device it cannot use ('banana', 'cuda' without a GPU)
        command = f" {args.command}" if "args" in locals() else ""
        print(f"meanflow{command}: error: {literal(str(exc)[:500], 'terminal')}", file=sys.stderr)
        return 2
