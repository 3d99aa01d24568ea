"""`python -m meanflow tune --method NAME`: search a method's settings by the equal-tuning protocol and
store the best as its tuned preset (lab.tuning)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.presets import TUNED, write_preset
from ..core.registry import METHODS
from ..engine import env
from ..engine.jobs import engine_from_env
from ..lab.tuning import LEVER_SEARCH, TUNING_TARGETS, Protocol, Tuner, format_trial
from .common import EXIT_INTERRUPTED, EXIT_OK, bounded_int, seconds, targets_from_list

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


def run(args: argparse.Namespace) -> int:
    targets = tuple(t.name for t in targets_from_list(args.targets))
    protocol = Protocol(trials=args.trials, seconds=args.seconds, targets=targets, seeds=args.seeds, also=args.also)
    out = Path(args.out) if args.out else env.runs_dir() / "tuning"
    presets = out / f"{TUNED}.json"
    engine = engine_from_env(address=args.address, pin_cores=True)  # every trial's runs on a core of their own
    print(
        f"tuning {args.method}: {protocol.describe()}, {engine.max_running} at once",
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
    write_preset(presets, preset)
    if args.json:
        trials = [vars(t) for t in result.trials]
        print(json.dumps({"method": args.method, "preset": preset.to_dict(), "trials": trials}, indent=2, default=str))
    else:
        settings = ", ".join(f"{k}={v}" for k, v in {**preset.fields, **preset.options}.items())
        print(
            f"{args.method}: best TV {result.best.value:.3f} (trial {result.best.number + 1}; "
            f"{result.pruned} of {protocol.trials} stopped early) in {result.wall_seconds:.0f} s\n"
            f"  {settings}\n  written to {presets}"
        )
    return EXIT_OK
