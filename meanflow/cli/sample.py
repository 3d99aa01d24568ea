"""`python -m meanflow sample RUN_DIR`: draw samples from a saved run into a .npy or .csv file."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

from ..core.config import MAX_CLASSES, MAX_NFE, MAX_SAMPLES
from ..core.runs import load_run
from ..core.sampling import sample, samples_csv
from ..core.text import literal, steps_label
from ..views.images import image_grid, png_bytes
from .common import MAX_ABS, UsageError, bounded_int, number, seed, unscorable

SAMPLE_SUFFIXES = (".npy", ".csv")
PNG_IMAGES = 100  # images in a --png grid: ten rows of ten


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
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="a .npy or .csv file, shape (n, D) in the data's own units (2D points; for digits the 0-16 pixel values)",
    )
    p.add_argument(
        "--png",
        metavar="GRID.png",
        default=None,
        help="image targets (digits): also draw the first 100 samples as a grid of images into this PNG",
    )
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
    png = Path(args.png) if args.png else None
    if png is not None and png.suffix.lower() != ".png":
        raise UsageError(f"--png must end in .png, got {args.png!r}")
    if png is not None and png.exists() and not args.force:
        raise UsageError(f"{args.png} exists; pass --force to replace it")
    saved = load_run(args.run_dir)
    if saved.history_problem:
        print(
            f"meanflow sample: warning: {literal(saved.history_problem, 'terminal')}; sampling goes on", file=sys.stderr
        )
    if saved.info.step == 0:  # stopped before its first step (Ctrl-C while its worker started): noise
        raise UsageError(f"{args.run_dir} stopped before its first training step; its network is untrained")
    shape = saved.target.image_shape
    if png is not None and shape is None:
        raise UsageError(f"--png draws image targets (digits); {saved.target.name} is not one")
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
        with open(out, "wb") as f:  # np.save(path) would add ".npy" to "s.NPY" and write beside what was asked
            np.save(f, samples)
    else:
        out.write_bytes(samples_csv(samples))
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        picture = image_grid(samples[:PNG_IMAGES], shape, saved.target.value_range, columns=10, scale=4)
        png.write_bytes(png_bytes(picture))
    bad = unscorable(samples)
    if bad:  # a multi-step chain that ran away (the bundled MeanFlow digits run, 3 in 10,000 at 32 steps)
        print(
            f"meanflow sample: warning: {bad:,} of {len(samples):,} samples are not finite or beyond {MAX_ABS:g} "
            f"(the {args.nfe}-step sampler ran away from the data there); written as they are, which evaluate "
            "refuses",
            file=sys.stderr,
        )
    images = f" and {min(len(samples), PNG_IMAGES):,} images to {png}" if png is not None else ""
    wrote = f"wrote {len(samples):,} samples ({steps_label(args.nfe)}, seed {args.seed}) to {out}{images}"
    print(literal(wrote, "terminal"), file=sys.stderr)
    return 0
