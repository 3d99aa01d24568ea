"""The command line: train, resume, sample, evaluate, methods, sweep, tune, bench. The only layer that parses arguments.

Each subcommand is a module here with `add_parser(subparsers)` and `run(args) -> exit code`, listed
once in COMMANDS. Exit codes (cli.common): 0 success; 1 a run that diverged or failed; 2 bad input
(one line on stderr saying what is wrong and what is accepted, never a traceback); 130 interrupted,
by Ctrl-C or a plain `kill` (SIGTERM) alike (the run is saved). Training runs on the job engine like
the app's: a local worker process, or the Ray cluster at $MEANFLOW_RAY_ADDRESS.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import threading
import time
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

from ..core.runs import RunError
from ..core.targets import TargetError
from ..core.text import error_text, literal
from ..engine.limits import LimitError
from . import bench, evaluate, methods, resume, sample, sweep, train, tune
from .common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, Parser, UsageError

COMMANDS = {
    "train": train,
    "resume": resume,
    "sample": sample,
    "evaluate": evaluate,
    "methods": methods,
    "sweep": sweep,
    "tune": tune,
    "bench": bench,
}


def _version() -> str:
    """The installed package's version ('0.3.0'), or a word for a source tree that was never installed."""
    try:
        return version("meanflow-playground")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m meanflow",
        description="Train and sample one-step generative models (MeanFlow and its rivals) on 2D targets and "
        "the 8x8 digits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


EXIT_PIPE_CLOSED = 1  # as Python's own advice for a closed pipe; a shell's `| head` ignores it


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has left (poll reports an error on its end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # a stdout without a file (a test's capture), or no poll
        return False


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit cannot raise into a second message."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


REPEAT_SECONDS = 1.0  # a second SIGTERM this soon after the first is the same request


@contextmanager
def terminate_as_interrupt():
    """A plain `kill` (SIGTERM: a scheduler's, `timeout`'s) stops a command as Ctrl-C does: the run is
    stopped and saved, exit 130. A repeat within REPEAT_SECONDS is the same request (`timeout` signals the
    command, then its group) and is ignored; a later one acts as a second Ctrl-C. Only in the main thread
    (where Python delivers signals); the previous handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: list[float] = []

    def interrupt(signum, frame):
        if first and time.monotonic() - first[0] < REPEAT_SECONDS:
            return
        first[:] = [time.monotonic()]
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:  # None: a handler installed outside Python, which cannot be put back; the default then
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # argparse's own message would send the reader to the top-level help
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see {parser.prog} {args.command} --help)")
        with terminate_as_interrupt():
            return COMMANDS[args.command].run(args)
    except BrokenPipeError as exc:  # `meanflow methods | head`: the reader left; nothing wrong with the input
        if not _stdout_closed():  # another pipe (an --out FIFO whose reader left): an error like any other
            print(f"meanflow: error: {literal(error_text(exc), 'terminal')}", file=sys.stderr)
            return EXIT_BAD_INPUT
        _quiet_stdout()
        return EXIT_PIPE_CLOSED
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
        words = sys.argv[1:] if argv is None else argv  # the command's name, where parsing stopped before it
        named = args.command if "args" in locals() else next((w for w in words if w in COMMANDS), None)
        command = f" {named}" if named else ""
        print(f"meanflow{command}: error: {literal(error_text(exc)[:500], 'terminal')}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # before a command's own handler (while its engine starts): one line, 130
        print(f"meanflow{' ' + args.command if 'args' in locals() else ''}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
