"""The command line: train, sample, evaluate, bench. The only module that parses arguments.

Exit codes: 0 success; 1 a run that diverged or failed; 2 bad input (one line on stderr saying
what is wrong and what is accepted, never a traceback); 130 interrupted (the run is saved).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .couplings import COUPLINGS
from .methods import METHODS, TIME_SAMPLERS, MeanFlowConfig
from .models import pick_device
from .targets import ALIASES, PRESETS, Target, TargetError, get_target, parse_csv_points, target_from_file

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
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return convert


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_positive_float = _number(float, lambda v: v > 0 and math.isfinite(v), "a positive number")
_float = _number(float, math.isfinite, "a finite number")
_seed = _number(int, lambda v: 0 <= v < 2**63, "a seed from 0 to 2**63 - 1")


def _add_target_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--target", metavar="NAME",
                       help=f"a preset: {', '.join(list(PRESETS) + list(ALIASES))}")
    group.add_argument("--target-file", metavar="PATH", help="a CSV of 2D points or a PNG/JPEG image")


def _resolve_target(args: argparse.Namespace) -> Target:
    return get_target(args.target) if args.target is not None else target_from_file(args.target_file)


def build_parser() -> argparse.ArgumentParser:
    defaults_mf = MeanFlowConfig()
    from .trainer import TrainConfig

    defaults = TrainConfig()
    parser = _Parser(prog="python -m meanflow", description="Train and sample MeanFlow and flow-matching models on 2D targets.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a run and save its folder")
    p.add_argument("--method", required=True, choices=list(METHODS))
    _add_target_arguments(p)
    p.add_argument("--steps", type=_positive_int, default=defaults.steps, help=f"optimiser steps (default {defaults.steps})")
    p.add_argument("--max-seconds", type=_positive_float, default=None, help="stop after this wall time and save")
    p.add_argument("--batch", type=_positive_int, default=defaults.batch)
    p.add_argument("--hidden", type=_positive_int, default=defaults.hidden)
    p.add_argument("--depth", type=_positive_int, default=defaults.depth, help="hidden layers")
    p.add_argument("--lr", type=_positive_float, default=defaults.lr)
    p.add_argument("--seed", type=_seed, default=defaults.seed)
    p.add_argument("--time-sampler", choices=TIME_SAMPLERS, default=defaults_mf.time_sampler)
    p.add_argument("--time-mean", type=_float, default=defaults_mf.time_mean)
    p.add_argument("--time-std", type=_positive_float, default=defaults_mf.time_std)
    p.add_argument("--r-neq-t", type=_float, default=defaults_mf.r_neq_t, metavar="FRACTION")
    p.add_argument("--weight-power", type=_float, default=defaults_mf.weight_power, metavar="P")
    p.add_argument("--weight-eps", type=_positive_float, default=defaults_mf.weight_eps, metavar="C")
    p.add_argument("--coupling", choices=list(COUPLINGS), default=None,
                   help="noise-data pairing; default: the method's (meanflow: minibatch-ot, flow-matching: independent)")
    p.add_argument("--threads", type=_positive_int, default=defaults.threads, help="torch CPU threads")
    p.add_argument("--device", default=defaults.device, help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--out", required=True, metavar="RUN_DIR")

    p = sub.add_parser("sample", help="draw samples from a saved run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--nfe", type=_positive_int, required=True, metavar="K", help="network evaluations (steps)")
    p.add_argument("--n", type=_positive_int, required=True, help="number of samples")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--out", required=True, metavar="FILE", help="a .npy or .csv file, shape (n, 2)")

    p = sub.add_parser("evaluate", help="metrics of a sample file against a target, with noise floors, as JSON")
    p.add_argument("file", metavar="FILE", help="a .npy or .csv file of shape (n, 2)")
    _add_target_arguments(p)
    p.add_argument("--seed", type=_seed, default=0)

    p = sub.add_parser("bench", help="step-time benchmark: flow matching vs MeanFlow vs the naive seed MeanFlow")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quality", action="store_true",
                   help="instead: sample quality of the naive seed recipe, MeanFlow and flow matching after "
                        "--seconds of training each, on --targets")
    p.add_argument("--seconds", type=_positive_float, default=30.0, help="with --quality: training time per run")
    p.add_argument("--targets", default="checkerboard,moons,spiral", help="with --quality: comma-separated presets")
    from .bench import BenchConfig

    b = BenchConfig()
    p.add_argument("--hidden", type=_positive_int, default=b.hidden)
    p.add_argument("--depth", type=_positive_int, default=b.depth)
    p.add_argument("--batch", type=_positive_int, default=b.batch)
    p.add_argument("--steps", type=_positive_int, default=b.steps, help="timed steps per round")
    p.add_argument("--rounds", type=_positive_int, default=b.rounds)
    p.add_argument("--threads", type=_positive_int, default=b.threads)
    return parser


# ---------------------------------------------------------------- commands


def _format_progress(snap) -> str:
    eta = f"ETA {snap.eta_seconds:.0f}s" if snap.eta_seconds is not None else "ETA --"
    loss = f"loss {snap.history[-1, 1]:.4f}" if len(snap.history) else "loss --"
    return f"step {snap.step}/{snap.total_steps}  {loss}  {snap.steps_per_sec:.0f} steps/s  {eta}"


def cmd_train(args: argparse.Namespace) -> int:
    from .runs import save_job
    from .trainer import TrainConfig, TrainingJob

    target = _resolve_target(args)
    pick_device(args.device)  # an unusable device is bad input, found before training starts
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} is a file; expected a folder for the run")
    out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails now, not after training
    mf = MeanFlowConfig(time_sampler=args.time_sampler, time_mean=args.time_mean, time_std=args.time_std,
                        r_neq_t=args.r_neq_t, weight_power=args.weight_power, weight_eps=args.weight_eps)
    config = TrainConfig(method=args.method, target=target.name, steps=args.steps, max_seconds=args.max_seconds,
                         batch=args.batch, hidden=args.hidden, depth=args.depth, lr=args.lr, seed=args.seed,
                         meanflow=mf, coupling=args.coupling, threads=args.threads, device=args.device)
    job = TrainingJob(config, target).start()
    interrupted = False
    last_print = 0.0
    try:
        while not job.join(timeout=0.2).finished:
            if not args.quiet and time.monotonic() - last_print >= 1.0:
                print(_format_progress(job.snapshot()), file=sys.stderr, flush=True)
                last_print = time.monotonic()
    except KeyboardInterrupt:
        interrupted = True
        job.stop()
        job.join()
    snap = job.snapshot()
    if job.flow is None:  # failed before the network existed
        print(f"meanflow train: failed: {snap.message}", file=sys.stderr)
        return 1
    save_job(out, job)
    if snap.state == "failed":
        print(f"meanflow train: {snap.message}; last good weights saved to {out}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"{snap.message}: {snap.step} steps in {snap.elapsed:.1f} s ({snap.steps_per_sec:.0f} steps/s); "
              f"saved {out}", file=sys.stderr)
    return 130 if interrupted else 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .runs import load_run
    from .sampling import sample

    out = Path(args.out)
    if out.suffix.lower() not in SAMPLE_SUFFIXES:
        raise UsageError(f"--out must end in {' or '.join(SAMPLE_SUFFIXES)}, got {args.out!r}")
    run = load_run(args.run_dir)
    samples = sample(run.flow, args.n, args.nfe, torch.Generator().manual_seed(args.seed)).samples
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, samples)
    else:
        np.savetxt(out, samples, delimiter=",", header="x,y", comments="", fmt="%.7g")
    return 0


def _read_samples(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"sample file {path!r} not found; expected a .npy or .csv file of shape (n, 2)")
    if p.suffix.lower() == ".npy":
        try:
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
    from .metrics import evaluate

    samples = _read_samples(args.file)
    target = _resolve_target(args)
    quality = evaluate(samples, target, torch.Generator().manual_seed(args.seed))
    print(json.dumps({"target": target.name, **quality.to_dict()}, indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import BenchConfig, QualityConfig, format_quality_benchmark, main_bench, run_quality_benchmark

    if args.quality:
        names = tuple(get_target(t.strip()).name for t in args.targets.split(",") if t.strip())
        qc = QualityConfig(seconds=args.seconds, targets=names, threads=args.threads)
        rows = run_quality_benchmark(qc)
        print(json.dumps(rows, indent=2) if args.json else format_quality_benchmark(rows, qc))
        return 0

    cfg = BenchConfig(hidden=args.hidden, depth=args.depth, batch=args.batch, steps=args.steps,
                      rounds=args.rounds, threads=args.threads)
    print(main_bench(cfg, args.json))
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    from .runs import RunError

    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, TargetError, RunError, ValueError, OSError, OverflowError, RuntimeError) as exc:
        # RuntimeError: torch's refusal of a device it cannot use ('banana', 'cuda' without a GPU)
        command = f" {args.command}" if "args" in locals() else ""
        print(f"meanflow{command}: error: {exc}", file=sys.stderr)
        return 2
