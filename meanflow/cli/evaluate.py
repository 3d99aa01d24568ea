"""`python -m meanflow evaluate FILE`: metrics of a sample file against a target, with noise floors, as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..core.config import MAX_SAMPLES
from ..core.metrics import evaluate
from ..core.targets import MAX_FILE_BYTES, TargetError, parse_csv_points
from ..core.text import error_text, missing
from .common import MAX_ABS, UsageError, add_target_arguments, json_text, resolve_target, seed
from .sample import SAMPLE_SUFFIXES


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of a sample file against a target, with noise floors, as JSON")
    p.add_argument("file", metavar="FILE", help="a .npy or .csv file of shape (n, D), D the target's (64 for digits)")
    add_target_arguments(p)
    p.add_argument("--seed", type=seed, default=0)


def read_samples(path: str, dim: int = 2) -> np.ndarray:
    """(n, dim) float64 samples from a .npy or .csv file, checked (size, shape, numbers) before use."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"sample file {path!r} {missing(p, 'file')}; expected a .npy or .csv file of shape (n, {dim})")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise UsageError(f"{path} is {p.stat().st_size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    if p.suffix.lower() == ".npy":
        samples = _read_npy(p, path, dim)
    elif p.suffix.lower() == ".csv":
        try:
            samples = parse_csv_points(p.read_bytes(), p.name)
        except TargetError as exc:
            raise UsageError(str(exc)) from None
    else:
        raise UsageError(f"sample file must end in {' or '.join(SAMPLE_SUFFIXES)}, got {path!r}")
    if samples.ndim != 2 or samples.shape[1] != dim or len(samples) < 2 or not np.issubdtype(samples.dtype, np.number):
        raise UsageError(f"{path} has shape {samples.shape}; expected (n, {dim}) numbers with n >= 2 for this target")
    samples = samples.astype(np.float64)
    if not np.isfinite(samples).all():  # the CSV reader refuses them too; scored, they read as numbers
        raise UsageError(f"{path} contains NaN or infinite values; only finite numbers are accepted")
    if np.abs(samples).max() > MAX_ABS:
        raise UsageError(f"{path} has values up to {np.abs(samples).max():.3g}; at most {MAX_ABS:g} in size are scored")
    return samples


def _read_npy(p: Path, path: str, dim: int) -> np.ndarray:
    """A .npy file's array, its header (shape, type) checked before any data is read."""
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
        if len(shape) != 2 or shape[1] != dim or not 2 <= shape[0] <= MAX_SAMPLES or dtype.kind not in "iuf":
            raise UsageError(
                f"{path} has shape {shape} of {dtype}; expected (n, {dim}) numbers with 2 <= n <= {MAX_SAMPLES:,} "
                "for this target"
            )
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"{path} is not a readable .npy array ({error_text(exc)})") from None


def run(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    samples = read_samples(args.file, target.dim)
    quality = evaluate(samples, target, torch.Generator().manual_seed(args.seed))
    print(json_text({"target": target.name, **quality.applicable()}))
    return 0
