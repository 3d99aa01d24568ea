"""`python -m meanflow train`: train a run on the job engine and save its folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.config import (
    MAX_ADVERSARIAL,
    MAX_BATCH,
    MAX_DEPTH,
    MAX_FREQUENCIES,
    MAX_HIDDEN,
    MAX_THREADS,
    OptionSpec,
    TrainConfig,
    option_specs,
)
from ..core.couplings import COUPLINGS
from ..core.digits import TRAIN_DEFAULTS as DIGITS_DEFAULTS
from ..core.models import pick_device
from ..core.presets import TUNED, Preset, get_preset
from ..core.registry import METHODS, get_method, make_config
from ..core.runs import CONFIG_FILE, RunError, read_info
from .common import (
    UsageError,
    add_target_arguments,
    bounded_int,
    number,
    option_type,
    positive_float,
    resolve_target,
    run_on_engine,
    seconds,
    seed,
    steps,
)

DEFAULTS = make_config()


def offered_options() -> dict[str, tuple[OptionSpec, list[str]]]:
    """Every option training offers, by field name: (its declaration, the methods that have it)."""
    out: dict[str, tuple[OptionSpec, list[str]]] = {}
    for name, method in METHODS.items():
        for spec in option_specs(method.options, offered=True):
            out.setdefault(spec.name, (spec, []))[1].append(name)
    return out


def choices_metavar(choices) -> str | None:
    """Choices holding commas ('t,t-r') read as one list in argparse's {a,b,c}: set apart by |; else
    argparse's own."""
    return "{" + " | ".join(choices) + "}" if choices and any("," in c for c in choices) else None


def add_option_flags(p: argparse.ArgumentParser) -> None:
    """One flag per method option (--time-sampler, --r-neq-t, ...), grouped under the first method that has it."""
    groups = {}
    for name, (spec, owners) in offered_options().items():
        owner = owners[0]
        if owner not in groups:
            groups[owner] = p.add_argument_group(f"{owner} options")
        shared = f" (also {', '.join(owners[1:])})" if len(owners) > 1 else ""
        groups[owner].add_argument(
            spec.flag,
            dest=f"opt_{name}",
            type=option_type(spec),
            choices=spec.choices,
            default=None,
            metavar=choices_metavar(spec.choices),
            help=f"{spec.help} Default: {spec.default if spec.default not in ('', None) else 'none'}.{shared}",
        )


def options_from_args(method_name: str, args: argparse.Namespace) -> dict:
    """The options the user gave for `method_name`; a flag of another method's is bad input."""
    mine = {spec.name for spec in option_specs(get_method(method_name).options)}
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}
    foreign = sorted(set(given) - mine)
    if foreign:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in foreign)
        raise UsageError(
            f"{flags} {'is not an option' if len(foreign) == 1 else 'are not options'} of {method_name}; "
            f"see `python -m meanflow methods`"
        )
    return given


def add_setting_flags(p: argparse.ArgumentParser) -> None:
    """The network's and the optimiser's settings, and the levers. Each defaults to None: the preset's value,
    else the method's default, so a preset never hides a flag the user gave."""
    p.add_argument(
        "--preset",
        default=None,
        metavar="tuned|FILE",
        help=f"start from a tuned preset: '{TUNED}' (the bundled ones, made by `make tune`) or a presets file "
        "that `tune` wrote; flags given beside it win",
    )
    p.add_argument("--batch", type=bounded_int(1, MAX_BATCH, "a batch size"), help=f"default {DEFAULTS.batch}")
    digits = dict(DIGITS_DEFAULTS)
    width = f"default {DEFAULTS.hidden}; on the digits {digits['hidden']}"
    p.add_argument("--hidden", type=bounded_int(1, MAX_HIDDEN, "a width"), help=width)
    depth = f"hidden layers (default {DEFAULTS.depth}; on the digits {digits['depth']})"
    p.add_argument("--depth", type=bounded_int(1, MAX_DEPTH, "a depth"), help=depth)
    p.add_argument("--lr", type=positive_float, help=f"Adam's peak learning rate (default {DEFAULTS.lr:g})")
    p.add_argument(
        "--lr-final-ratio",
        type=number(float, lambda v: 0 < v <= 1, "a ratio in (0, 1]"),
        help=f"the learning rate's cosine decay ends at lr x this (1: constant; default {DEFAULTS.lr_final_ratio:g})",
    )
    p.add_argument(
        "--ema",
        type=number(float, lambda v: 0 <= v < 1, "a decay from 0 to below 1"),
        help="sample with a moving average of the weights of this decay (default 0: the weights as trained)",
    )
    p.add_argument(
        "--time-frequencies",
        type=bounded_int(0, MAX_FREQUENCIES, "a frequency count"),
        help="Fourier features of the network's time inputs, this many frequencies (0: the raw times alone; "
        f"default {DEFAULTS.time_frequencies})",
    )
    p.add_argument(
        "--space-frequencies",
        type=bounded_int(0, MAX_FREQUENCIES, "a frequency count"),
        help="Fourier features of the state z, this many frequencies (default "
        f"{DEFAULTS.space_frequencies}: z alone; tried, not adopted: benchmarks/RESULTS.md)",
    )
    p.add_argument(
        "--adversarial",
        type=number(float, lambda v: 0 <= v <= MAX_ADVERSARIAL, f"a weight from 0 to {MAX_ADVERSARIAL:g}"),
        help="weight of an adversarial term on the one-step samples, a critic telling them from the data "
        f"(one-step methods only; default {DEFAULTS.adversarial:g}: none)",
    )
    p.add_argument(
        "--moment-matching",
        type=number(float, lambda v: 0 <= v <= MAX_ADVERSARIAL, f"a weight from 0 to {MAX_ADVERSARIAL:g}"),
        help="weight of a moment-matching term on the one-step samples, a kernel MMD between them and the data "
        f"(one-step methods only; default {DEFAULTS.moment_matching:g}: none)",
    )
    p.add_argument(
        "--adversarial-start",
        type=number(float, lambda v: 0 <= v < 1, "a fraction from 0 to below 1"),
        help="the share of the budget after which the adversarial and moment-matching terms apply "
        f"(default {DEFAULTS.adversarial_start:g})",
    )


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a run and save its folder",
        description="Train a run on the job engine and save its folder. Method options are "
        "listed under each method below (python -m meanflow methods shows them all).",
    )
    p.add_argument("--method", required=True, choices=list(METHODS))
    add_target_arguments(p)
    p.add_argument("--steps", type=steps, default=DEFAULTS.steps, help=f"optimiser steps (default {DEFAULTS.steps})")
    p.add_argument("--max-seconds", type=seconds, default=None, help="stop after this wall time and save")
    add_setting_flags(p)
    p.add_argument("--seed", type=seed, default=DEFAULTS.seed)
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
        type=bounded_int(1, MAX_THREADS, "a thread count"),
        default=DEFAULTS.threads,
        help="torch CPU threads of the worker",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=seconds,
        default=DEFAULTS.checkpoint_seconds,
        help=f"write a resumable checkpoint at least this often (default {DEFAULTS.checkpoint_seconds:g})",
    )
    p.add_argument("--device", default=DEFAULTS.device, help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument(
        "--unconditional",
        action="store_true",
        help="ignore a labelled target's classes (by default meanflow and flow-matching train "
        "class-conditional models on 8gaussians, moons, checkerboard and labelled CSVs)",
    )
    p.add_argument(
        "--class-dropout",
        type=number(float, lambda v: 0 <= v < 1, "a share from 0 to below 1"),
        default=DEFAULTS.class_dropout,
        help="class-conditional runs: the share of rows trained with 'no class', the unconditional branch "
        f"that guidance needs (the paper: 10%%). Default: {DEFAULTS.class_dropout}.",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="RUN_DIR",
        help="the run folder: new, empty, or an earlier run of this program (which is replaced)",
    )
    add_option_flags(p)


def check_out_folder(out: Path) -> None:
    """--out must be new, empty, or a run folder this program wrote: never someone else's files."""
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


def preset_for(args: argparse.Namespace) -> Preset:
    """The --preset's settings for --method ('tuned': the bundled presets; else a presets file), or none."""
    if args.preset is None:
        return Preset(args.method, {}, {})
    path = None if args.preset == TUNED else Path(args.preset)
    if path is not None and not path.is_file():
        raise UsageError(f"--preset {args.preset!r} is neither {TUNED!r} nor a presets file that `tune` wrote")
    return get_preset(args.method, path)


def config_from_args(args: argparse.Namespace, target) -> TrainConfig:
    """The run's config: the method's defaults, then the preset's settings, then the target's own defaults
    (the digits' network), then every flag given."""
    given = {
        name: value
        for name, value in (
            ("batch", args.batch),
            ("hidden", args.hidden),
            ("depth", args.depth),
            ("lr", args.lr),
            ("lr_final_ratio", args.lr_final_ratio),
            ("ema", args.ema),
            ("time_frequencies", args.time_frequencies),
            ("space_frequencies", args.space_frequencies),
            ("adversarial", args.adversarial),
            ("adversarial_start", args.adversarial_start),
            ("moment_matching", args.moment_matching),
            ("coupling", args.coupling),
        )
        if value is not None
    }
    return preset_for(args).config(
        options=options_from_args(args.method, args),
        steps=args.steps,
        max_seconds=args.max_seconds,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        classes=0 if args.unconditional or not get_method(args.method).conditional else target.classes,
        dim=target.dim,
        class_dropout=args.class_dropout,
        checkpoint_seconds=args.checkpoint_seconds,
        **{**dict(target.train_defaults), **given},
    )


def run(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    pick_device(args.device)  # an unusable device is bad input, found before training starts
    out = Path(args.out)
    check_out_folder(out)
    config = config_from_args(args, target)
    # the engine checks every input (teachers, memory, a writer already there) before it touches --out,
    # and only then replaces an earlier run in it whole; an unwritable --out fails there, before training
    return run_on_engine(lambda engine: engine.submit(config, target, out, check_budget=False), out, args.quiet)
