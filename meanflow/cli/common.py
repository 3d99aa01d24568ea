"""What the subcommands share: bad-input errors, the parser, checked argument types, targets, and
running one job on the engine with progress on stderr.

Exit codes (every subcommand): 0 success; 1 a run that diverged or failed; 2 bad input (one line on
stderr saying what is wrong and what is accepted, never a traceback); 130 interrupted (the run is saved).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.config import MAX_SECONDS, MAX_STEPS, OptionSpec
from ..core.runs import WEIGHTS_FILE, RunError, read_info
from ..core.targets import ALIASES, PRESETS, Target, get_target, target_from_file
from ..core.text import literal
from ..engine.jobs import Engine, Snapshot, engine_from_env

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input: reported in one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage block
        raise UsageError(f"{message} (see {self.prog} --help)")


# ---------------------------------------------------------------- argument types


def number(parse: Callable, accept: Callable, expected: str) -> Callable[[str], object]:
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


def bounded_int(lo: int, hi: int, what: str) -> Callable[[str], int]:
    return number(int, lambda v: lo <= v <= hi, f"{what} from {lo:,} to {hi:,}")


positive_float = number(float, lambda v: v > 0 and math.isfinite(v), "a positive number")
seconds = number(float, lambda v: 0 < v <= MAX_SECONDS and math.isfinite(v), f"seconds in (0, {MAX_SECONDS:g}]")
seed = number(int, lambda v: 0 <= v < 2**63, "a seed from 0 to 2**63 - 1")
steps = bounded_int(1, MAX_STEPS, "a step count")


def option_type(spec: OptionSpec) -> Callable[[str], object]:
    """The argparse type of a method option's flag, from its declaration (core.config.option_specs)."""
    if spec.choices is not None or isinstance(spec.default, str):
        return str
    lo = spec.lo if spec.lo is not None else -math.inf
    hi = spec.hi if spec.hi is not None else math.inf
    if spec.integer:
        return number(int, lambda v: lo <= v <= hi, f"a whole number in [{lo:g}, {hi:g}]")
    return number(float, lambda v: math.isfinite(v) and lo <= v <= hi, f"a number in [{lo:g}, {hi:g}]")


# ---------------------------------------------------------------- targets


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--target", metavar="NAME", help=f"a preset: {', '.join(list(PRESETS) + list(ALIASES))}")
    group.add_argument("--target-file", metavar="PATH", help="a CSV of points (2 to 64 columns) or a PNG/JPEG image")


def resolve_target(args: argparse.Namespace) -> Target:
    if args.target is not None:
        return get_target(args.target)
    target = target_from_file(args.target_file)
    if target.note:  # what became of a third column: classes, or why it was not read as classes
        print(f"meanflow: {literal(target.name, 'terminal')}: {target.note}", file=sys.stderr)
    return target


def targets_from_list(text: str) -> list[Target]:
    """Comma-separated presets, each once (an alias and the name it stands for are one), in order."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError("--targets names no target; expected comma-separated presets")
    return list({t.name: t for t in map(get_target, names)}.values())


MAX_ABS = 1e12  # larger coordinates overflow the metrics' float32 sums (a 1e300 file read sliced W1 NaN)


def unscorable(samples) -> int:
    """How many rows of `samples` evaluate refuses: not finite, or a coordinate above MAX_ABS in size."""
    finite = np.isfinite(samples).all(axis=1)
    return int((~finite).sum() + (np.abs(samples[finite]) > MAX_ABS).any(axis=1).sum())


def json_text(value, default=float) -> str:
    """What a --json flag prints: strict JSON, a number that is not finite (one seed's spread) as null,
    not the bare NaN that strict parsers refuse (json.dumps writes it)."""
    return json.dumps(_finite(value), indent=2, default=default, allow_nan=False)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a numpy or torch scalar
        return _finite(value.item())
    return value


# ---------------------------------------------------------------- one job on the engine


def progress_line(snap: Snapshot) -> str:
    eta = f"ETA {snap.eta_seconds:.0f}s" if snap.eta_seconds is not None else "ETA --"
    loss = f"loss {snap.history['loss'][-1]:.4f}" if len(snap.history) else "loss --"
    return f"step {snap.step}/{snap.total_steps}  {loss}  {snap.steps_per_sec:.0f} steps/s  {eta}"


def waiting_line(snap: Snapshot, start: int = 0) -> str:
    """What `train` prints, once, before its worker's first step; `resume` names the step it goes on from."""
    where = f"step {start}/{snap.total_steps}  " + ("resuming: " if start else "")
    return where + ("waiting for a worker" if snap.state == "queued" else "starting the worker")


def _follow(engine: Engine, job_id: str, quiet: bool, start: int = 0) -> bool:
    """Print the job's progress every second until it ends, the wait for its first step once (start: the
    step a resumed run goes on from); True if Ctrl-C stopped it (it is saved)."""
    last_print, last_line = 0.0, ""
    try:
        while not engine.wait(job_id, timeout=0.2).finished:
            if not quiet and time.monotonic() - last_print >= 1.0:
                snap = engine.snapshot(job_id)
                line = progress_line(snap) if snap.step > start else waiting_line(snap, start)
                if line != last_line:
                    print(line, file=sys.stderr, flush=True)
                last_print, last_line = time.monotonic(), line
    except KeyboardInterrupt:
        engine.stop(job_id)
        engine.wait(job_id)
        return True
    return False


def what_is_saved(out: Path) -> str:
    """What a failed run's folder holds, read from the disk (never assumed)."""
    where = literal(str(out), "terminal")
    try:
        info = read_info(out)
    except RunError:
        return f"nothing usable is saved in {where}"
    if (out / WEIGHTS_FILE).is_file():
        return f"{where} holds the weights of step {info.step} (state {info.state})"
    return f"no weights are saved in {where} (state {info.state})"


def run_on_engine(submit: Callable[[Engine], str], out: Path, quiet: bool, start: int = 0) -> int:
    """Submit one job on a one-worker engine, print progress (start: the step a resumed run goes on from),
    and turn how it ended into an exit code."""
    engine = engine_from_env(workers=1)
    try:
        job_id = submit(engine)
        interrupted = _follow(engine, job_id, quiet, start)
        snap = engine.snapshot(job_id)
    finally:
        engine.close()
    for error in engine.errors:
        print(f"meanflow: {literal(error, 'terminal')}", file=sys.stderr)
    if snap.state == "failed":
        print(f"meanflow: {literal(snap.message, 'terminal')}; {what_is_saved(out)}", file=sys.stderr)
        return EXIT_FAILED
    if not quiet:
        print(
            f"{snap.message}: {snap.step} steps in {snap.elapsed:.1f} s ({snap.steps_per_sec:.0f} steps/s); "
            f"saved {literal(str(out), 'terminal')}",
            file=sys.stderr,
        )
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
