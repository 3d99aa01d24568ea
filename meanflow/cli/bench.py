"""`python -m meanflow bench`: the benchmarks, one mode each (MODES, which `bench --help` prints)."""

from __future__ import annotations

import argparse
import tempfile

from ..core.config import MAX_BATCH, MAX_DEPTH, MAX_HIDDEN
from ..core.registry import METHODS
from ..engine.jobs import engine_from_env
from ..lab.guidance import format_guidance, run_guidance_benchmark
from ..lab.quality_bench import QualityConfig, format_quality_benchmark, run_quality_benchmark, run_zoo_benchmark
from ..lab.step_bench import SIZES, BenchConfig, format_step_benchmark, main_bench, method_variants, run_step_benchmark
from .common import UsageError, bounded_int, json_text, seconds, targets_from_list

MODES = """\
bench                          step time: flow matching, MeanFlow, the naive seed MeanFlow (default and large size)
bench --methods M              each method's step against flow matching's, the same pairing
bench --quality                quality after --seconds: the naive seed recipe, MeanFlow, flow matching
bench --quality --methods M    the method zoo over --seeds, with flow matching at 32 NFE as the reference
bench --guidance               class accuracy and class TV against the guidance scale"""
DEFAULT_TARGETS = "checkerboard,moons,spiral"
GUIDANCE_TARGETS = "8gaussians,moons"  # labelled targets: --guidance's default


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="the benchmarks: step time (default), --quality after a time budget, the method zoo, --guidance",
        description=MODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--quality",
        action="store_true",
        help="instead: sample quality of the naive seed recipe, MeanFlow and flow matching after "
        "--seconds of training each, on --targets",
    )
    p.add_argument("--seconds", type=seconds, default=30.0, help="with --quality: training time per run")
    p.add_argument(
        "--targets",
        default=None,
        help=f"with --quality or --guidance: comma-separated presets (default {DEFAULT_TARGETS}; with "
        f"--guidance {GUIDANCE_TARGETS})",
    )
    p.add_argument(
        "--methods",
        default=None,
        help="'all' or comma-separated registry names: each method's training step against flow "
        "matching's (the same pairing); with --quality, the method zoo instead, trained on the job engine "
        "for --seconds each (one core per run), with flow matching at 32 NFE as the reference",
    )
    p.add_argument(
        "--seeds",
        type=bounded_int(1, 100, "a seed count"),
        default=1,
        help="with --quality --methods or --guidance: seeds",
    )
    p.add_argument(
        "--guidance",
        action="store_true",
        help="instead: class accuracy and class TV against the guidance scale, MeanFlow (trained-in "
        "omega, 1 NFE) and flow matching (CFG, 2/8/32 NFE), on --targets (default 8gaussians,moons)",
    )
    b = BenchConfig()
    sizes = ", ".join(f"{k} {h}x{d} batch {n}" for k, (h, d, n) in SIZES.items())
    p.add_argument(
        "--hidden",
        type=bounded_int(1, MAX_HIDDEN, "a width"),
        default=None,
        help=f"time this size only (default: both sizes, {sizes})",
    )
    p.add_argument("--depth", type=bounded_int(1, MAX_DEPTH, "a depth"), default=None)
    p.add_argument("--batch", type=bounded_int(1, MAX_BATCH, "a batch size"), default=None)
    p.add_argument(
        "--steps", type=bounded_int(1, 100_000, "a step count"), default=b.steps, help="timed steps per round"
    )
    p.add_argument("--rounds", type=bounded_int(1, 1000, "a round count"), default=b.rounds)
    p.add_argument("--threads", type=bounded_int(1, 256, "a thread count"), default=b.threads)
    p.set_defaults(bench_defaults=vars(p.parse_args([])))  # what check_flags tells a given flag by


def _dumped(rows, as_json: bool, text: str) -> int:
    print(json_text(rows) if as_json else text)
    return 0


def bench_guidance(args: argparse.Namespace) -> int:
    targets = targets_from_list(GUIDANCE_TARGETS if args.targets is None else args.targets)  # as given
    unlabelled = [t.name for t in targets if not t.classes]
    if unlabelled:
        raise UsageError(f"--guidance needs labelled targets; {', '.join(unlabelled)} carry no classes")
    engine = engine_from_env(pin_cores=True)  # every run on one core, whatever runs beside it
    try:
        rows = run_guidance_benchmark(targets, args.seeds, args.seconds, engine, tempfile.mkdtemp())
    finally:
        engine.close()
    return _dumped(rows, args.json, format_guidance(rows))


def bench_zoo(args: argparse.Namespace, methods: list[str]) -> int:
    engine = engine_from_env(pin_cores=True)  # every run on one core, whatever runs beside it
    try:
        targets = targets_from_list(DEFAULT_TARGETS if args.targets is None else args.targets)
        rows, text = run_zoo_benchmark(methods, targets, args.seeds, args.seconds, engine)
    finally:
        engine.close()
    return _dumped(rows, args.json, text)


def bench_quality(args: argparse.Namespace) -> int:
    names = tuple(t.name for t in targets_from_list(DEFAULT_TARGETS if args.targets is None else args.targets))
    qc = QualityConfig(seconds=args.seconds, targets=names, threads=args.threads)
    rows = run_quality_benchmark(qc)
    print(json_text(rows) if args.json else format_quality_benchmark(rows, qc))
    return 0


def _sizes(args: argparse.Namespace) -> list[BenchConfig]:
    """Both SIZES, or the one size the flags ask for (missing ones from the default size)."""
    if args.hidden is None and args.depth is None and args.batch is None:
        sizes = list(SIZES.values())
    else:
        default = SIZES["default"]
        sizes = [(args.hidden or default[0], args.depth or default[1], args.batch or default[2])]
    return [
        BenchConfig(hidden=h, depth=d, batch=n, steps=args.steps, rounds=args.rounds, threads=args.threads)
        for h, d, n in sizes
    ]


def bench_method_steps(args: argparse.Namespace, methods: list[str]) -> int:
    """Each method's step against flow matching's, the same pairing for all."""
    variants = method_variants([n for n in methods if n != "flow-matching"])
    results = [run_step_benchmark(c, variants) for c in _sizes(args)]
    text = "\n\n".join(map(format_step_benchmark, results))
    print(json_text({"sizes": results}) if args.json else text)
    return 0


def bench_steps(args: argparse.Namespace) -> int:
    print(main_bench(_sizes(args), args.json))
    return 0


def _methods(text: str | None) -> list[str]:
    if not text:
        return []
    names = list(METHODS) if text.strip() == "all" else [m.strip() for m in text.split(",")]
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise UsageError(f"unknown methods {unknown}; accepted: all, {', '.join(METHODS)}")
    return names


SIZE_FLAGS = ("hidden", "depth", "batch", "steps", "rounds", "threads")
FLAGS_READ = {  # each mode's flags besides --json; any other flag given is refused, never ignored
    "guidance": ("guidance", "targets", "seeds", "seconds"),
    "quality --methods": ("quality", "methods", "targets", "seeds", "seconds"),
    "quality": ("quality", "targets", "seconds", "threads"),
    "methods": ("methods", *SIZE_FLAGS),
    "steps": SIZE_FLAGS,
}


def mode_of(args: argparse.Namespace) -> str:
    if args.guidance:
        return "guidance"
    if args.quality:
        return "quality --methods" if args.methods else "quality"
    return "methods" if args.methods else "steps"


def check_flags(args: argparse.Namespace, defaults: dict) -> None:
    """Refuse a flag the chosen mode would ignore (a --hidden with --quality, a --seeds with the step
    timing): a benchmark that silently measures something else than asked is worse than none."""
    mode = mode_of(args)
    ignored = [k for k, v in defaults.items() if k != "json" and getattr(args, k) != v and k not in FLAGS_READ[mode]]
    if ignored:
        given = ", ".join(f"--{k}" for k in ignored)
        name = f"--{mode}" if mode != "steps" else "the step timing (no mode flag)"
        reads = ", ".join(f"--{k}" for k in FLAGS_READ[mode] if f"--{k}" not in name.split())
        raise UsageError(f"{given} does nothing with {name}, which reads {reads}")


def run(args: argparse.Namespace) -> int:
    if args.methods is not None and not args.methods.strip(" ,"):
        raise UsageError(f"--methods needs 'all' or registry names; accepted: all, {', '.join(METHODS)}")
    check_flags(args, args.bench_defaults)
    if args.guidance:
        return bench_guidance(args)
    methods = _methods(args.methods)
    if args.quality:
        return bench_zoo(args, methods) if methods else bench_quality(args)
    return bench_method_steps(args, methods) if methods else bench_steps(args)
