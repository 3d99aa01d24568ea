"""`python -m meanflow tune --method NAME`: search a method's settings by the equal-tuning protocol and
store the best as its tuned preset (lab.tuning)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..core.presets import TUNED, PresetError, read_presets, write_preset
from ..core.registry import METHODS
from ..core.text import error_text
from ..engine import env
from ..engine.jobs import engine_from_env
from ..lab.scoring import EVAL_N
from ..lab.studies import EVALUATION_TARGETS, PRESET_DIM
from ..lab.tuning import LEVER_SEARCH, TUNING_TARGETS, Protocol, Tuner, format_trial, searched_levers
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    bounded_int,
    json_text,
    seconds,
    targets_from_list,
)

DEFAULTS = Protocol()


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="search a method's settings by the equal-tuning protocol and store its tuned preset",
        description="Search the method's own options and the shared settings (learning rate and its decay, "
        "width, depth, batch, pairing) with Optuna, each trial trained on every tuning target at once on the "
        "job engine (one core each), hopeless trials stopped early. The best configuration is written to "
        f"DIR/{TUNED}.json as the method's tuned preset (`train --preset DIR/{TUNED}.json`; `make tune` "
        "refreshes the bundled ones that `--preset tuned` and the comparison use).",
    )
    p.add_argument("--method", required=True, choices=list(METHODS))
    p.add_argument(
        "--trials", type=bounded_int(1, 1000, "a trial count"), default=DEFAULTS.trials, help="default %(default)s"
    )
    p.add_argument(
        "--seconds", type=seconds, default=DEFAULTS.seconds, help="training per trial and target (default %(default)s)"
    )
    p.add_argument(
        "--seeds",
        type=bounded_int(1, 10, "a seed count"),
        default=DEFAULTS.seeds,
        help="runs per target in each trial, scored by their mean (default %(default)s)",
    )
    p.add_argument(
        "--targets",
        default=",".join(TUNING_TARGETS),
        help="comma-separated presets to tune on (default: %(default)s; not the comparison's targets)",
    )
    p.add_argument(
        "--also",
        type=levers,
        default=(),
        metavar="LEVER[,LEVER]",
        help=f"levers searched besides the shared settings, where the method accepts them: {', '.join(LEVER_SEARCH)} "
        "(default: none, the bundled protocol)",
    )
    p.add_argument("--address", default=None, help="a Ray cluster (HOST:PORT or auto); default: local workers")
    p.add_argument("--json", action="store_true", help="the trials and the preset as JSON on stdout")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"the trials' runs and {TUNED}.json (default: $MEANFLOW_RUNS_DIR/tuning, else ./runs/tuning)",
    )


def levers(text: str) -> tuple[str, ...]:
    """--also's comma-separated lever names (lab.tuning.LEVER_SEARCH), each once, in order."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in LEVER_SEARCH]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown lever {unknown[0] if unknown else text!r}; accepted: {', '.join(LEVER_SEARCH)}"
        )
    return names


def tuning_targets(text: str) -> tuple[str, ...]:
    """--targets as preset names, each once (an alias and its name are one target), all 2D: the presets
    are searched at 2D network sizes (lab.studies.PRESET_DIM). A comparison target is allowed, with a
    warning on stderr: the comparison is then no longer scored on targets its presets never saw."""
    targets = targets_from_list(text)
    wide = [t for t in targets if t.dim != PRESET_DIM]
    if wide:
        raise UsageError(
            f"tune searches {PRESET_DIM}D targets (the presets' network sizes are 2D ones); {wide[0].name} has "
            f"{wide[0].dim} dimensions: train it with --preset tuned instead"
        )
    seen = [t for t in targets if t.name in EVALUATION_TARGETS]
    if seen:
        print(
            f"meanflow tune: warning: {', '.join(t.name for t in seen)} is among the comparison's targets "
            f"({', '.join(EVALUATION_TARGETS)}); presets tuned on it are not the equal-tuning protocol's",
            file=sys.stderr,
        )
    return tuple(t.name for t in targets)


def check_destination(out: Path, presets: Path) -> None:
    """Refuse, before any trial trains, an --out whose presets file could not take the result: a file where
    the folder goes, a folder where the file goes, a file that is not a presets file (adding to it would
    drop its other methods' presets), or a place that cannot be written (probed with a temporary file in the
    folder, or in its nearest existing parent, removed at once: a refused command leaves nothing behind)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; expected a folder")
    if presets.exists() and not presets.is_file():
        raise UsageError(f"{presets} is not a file; the tuned preset is written to a file of that name")
    try:
        read_presets(presets)
    except PresetError as exc:
        raise UsageError(
            f"{exc}; tune adds its preset to that file and keeps the others', so move it away or choose another --out"
        ) from None
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"--out {out}: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise UsageError(f"--out {out}: {existing} cannot be written ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    targets = tuning_targets(args.targets)
    also = searched_levers(args.method, args.also)
    for lever in args.also:
        if lever not in also:  # searched for no one: the preset must not say it was
            print(f"meanflow tune: {lever} does not apply to {args.method}; not searched", file=sys.stderr)
    protocol = Protocol(trials=args.trials, seconds=args.seconds, targets=targets, seeds=args.seeds, also=also)
    out = Path(args.out) if args.out else env.runs_dir() / "tuning"
    presets = out / f"{TUNED}.json"
    check_destination(out, presets)  # after every input and setting is checked, before any trial
    # every trial's runs on a core of their own
    engine = engine_from_env(address=args.address, pin_cores=True, address_from="--address")
    print(
        f"tuning {args.method}: {protocol.describe()}, {min(engine.max_running, len(targets) * args.seeds)} at once",
        file=sys.stderr,
        flush=True,
    )
    try:
        out.mkdir(parents=True, exist_ok=True)  # after every input and setting is checked
        tuner = Tuner(args.method, protocol, engine, out, presets)
        result = tuner.tune(on_trial=lambda r: print(format_trial(r, protocol.trials), file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        print("meanflow tune: interrupted; no preset written", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        engine.close()
    preset = result.preset(command="python -m meanflow tune " + " ".join(sys.argv[2:]))
    trials = [vars(t) for t in result.trials]
    try:
        write_preset(presets, preset)
    except (OSError, PresetError) as exc:  # the folder changed during the trials: the result goes to stdout
        print(json_text({"method": args.method, "preset": preset.to_dict(), "trials": trials}, default=str))
        print(f"meanflow tune: the preset above was not written to {presets}: {error_text(exc)}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json_text({"method": args.method, "preset": preset.to_dict(), "trials": trials}, default=str))
    else:
        settings = ", ".join(f"{k}={v}" for k, v in {**preset.fields, **preset.options}.items())
        runs = result.best.scores  # run name ('8gaussians' or, with --seeds, one per seed) -> its headline
        floors = ", ".join(f"{name} {s['hist_tv_floor']:.3f}" for name, s in runs.items() if "hist_tv_floor" in s)
        print(
            f"{args.method}: best TV {result.best.value:.3f}, the mean over its {len(runs)} runs at n = {EVAL_N:,} "
            f"(floors: {floors or '-'}) (trial {result.best.number + 1}; "
            f"{result.pruned} of {protocol.trials} stopped early) in {result.wall_seconds:.0f} s\n"
            f"  {settings}\n  written to {presets}"
        )
    return EXIT_OK
