"""`python -m meanflow sample RUN_DIR`: draw samples from a saved run into a .npy or .csv file."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from ..core.config import MAX_CLASSES, MAX_NFE, MAX_SAMPLES
from ..core.runs import load_run
from ..core.sampling import sample, samples_csv
from .common import UsageError, bounded_int, number, seed

SAMPLE_SUFFIXES = (".npy", ".csv")


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a saved run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--nfe",
        type=bounded_int(1, MAX_NFE, "a step count"),
        required=True,
        metavar="K",
        help="network evaluations (steps)",
    )
    p.add_argument("--n", type=bounded_int(1, MAX_SAMPLES, "a sample count"), required=True, help="number of samples")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--out", required=True, metavar="FILE", help="a .npy or .csv file, shape (n, 2)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.add_argument(
        "--class",
        dest="label",
        type=bounded_int(0, MAX_CLASSES - 1, "a class index"),
        default=None,
        metavar="K",
        help="sample class K of a class-conditional run (default: every class, as often as in the target)",
    )
    p.add_argument(
        "--guidance",
        type=number(float, lambda v: math.isfinite(v) and 0 <= v <= 20, "a guidance scale from 0 to 20"),
        default=1.0,
        metavar="W",
        help="classifier-free guidance at sampling time: two network evaluations per step (1: none; "
        "MeanFlow's own guidance is trained in, --guidance-scale of train)",
    )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in SAMPLE_SUFFIXES:
        raise UsageError(f"--out must end in {' or '.join(SAMPLE_SUFFIXES)}, got {args.out!r}")
    if out.exists() and not args.force:
        raise UsageError(f"{args.out} exists; pass --force to replace it")
    saved = load_run(args.run_dir)
    if (args.label is not None or args.guidance != 1.0) and not saved.flow.classes:
        raise UsageError(
            f"{args.run_dir} is not class-conditional; --class and --guidance need a run trained on a "
            "labelled target without --unconditional"
        )
    if args.label is not None and args.label >= saved.flow.classes:
        raise UsageError(f"--class {args.label} is out of range; this run has classes 0 to {saved.flow.classes - 1}")
    samples = sample(
        saved.flow, args.n, args.nfe, torch.Generator().manual_seed(args.seed), label=args.label, guidance=args.guidance
    ).samples
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, samples)
    else:
        out.write_bytes(samples_csv(samples))
    return 0
