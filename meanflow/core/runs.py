"""Run folders on disk: the only module that reads or writes them.

A run folder (its name is the run id) holds
    config.json             the TrainConfig, the target's kind and name, the normaliser, the state
                            (queued, running, done, stopped, failed), the step reached, sharing
    target.safetensors      the points behind a data-driven target (CSV, image, text, drawing), if any
    checkpoint.safetensors  the latest checkpoint: weights, optimiser, random state, history (resume)
    weights.safetensors     the network's final state_dict, once the run has ended
    metrics.csv             one row per log_every steps (their mean): step, loss, mse, lr, seconds
    writer.lock             while a process trains the run: who (process id, machine, command); one
                            writer at a time, and a lock whose process is dead is stale (taken over)
Arrays are safetensors, which cannot execute code when read (unlike pickle); JSON and CSV are
parsed as data, with a size limit checked before reading. Every file is written to a temporary
name and renamed, so a crash mid-write leaves the previous version.

A run whose config.json says queued or running but that no live job owns was interrupted (its
server or worker died): `read_info` reports it as such, and its checkpoint can be resumed.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
import re
import secrets
import socket
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .checkpoints import (
    Checkpoint,
    CheckpointError,
    check_state,
    checkpoint_bytes,
    checkpoint_from_bytes,
    safetensors_bytes,
    weights_bytes,
)
from .config import (
    ACTIVE,
    FINISHED,
    HISTORY_COLUMNS,
    LEGACY_HISTORY_COLUMNS,
    MAX_STEPS,
    RUN_STATES,
    TrainConfig,
    empty_history,
    history_from_rows,
    option_specs,
    spent_time_budget,
)
from .files import write_atomic
from .networks import RunBundle, rebuild_flow
from .registry import check_config, config_from_dict
from .sampling import Flow
from .targets import Normaliser, Target, TargetError, TargetSpec, get_target
from .text import error_text, missing
from .training import RunResult

FORMAT = "meanflow-run"
VERSION = 2  # 1: config.json held the target's name inside the config and MeanFlow's options as "meanflow"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
WEIGHTS_FILE = "weights.safetensors"
TARGET_FILE = "target.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
WRITER_FILE = "writer.lock"
MAX_CONFIG_BYTES = 64 << 10  # a config is about a kilobyte; anything huge is not ours
MAX_METRICS_BYTES = 64 << 20  # about a million history rows
MAX_ARRAY_BYTES = 256 << 20  # weights and target points of the sizes the app can make fit easily
OWNER = re.compile(r"^[0-9a-f]{1,64}$")  # an owner as config.json keeps it (a hex digest)
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # folder names this module accepts as ids


class RunError(ValueError):
    """A run folder that cannot be used; the message says which file and why."""


class RunBusy(RunError):
    """Another live process is writing the run folder (its writer.lock names it)."""


@dataclass(frozen=True)
class RunInfo:
    """What config.json says of a run: small, read without touching weights or data."""

    path: Path
    config: TrainConfig
    target_kind: str  # preset | data
    target_name: str
    normaliser: dict
    state: str  # one of config.RUN_STATES; 'interrupted' when the file says active but no job owns it
    message: str
    step: int
    elapsed: float  # seconds of training
    created: str  # ISO time the run was made
    shared: bool  # listed in the server's shared library
    writer: str = ""  # a live process of another engine training it now (its writer.lock), else ""
    owner: str = ""  # the app session key that launched it (a hash, never the key itself); "" from the CLI

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT_FILE).is_file()

    @property
    def spent_its_time_budget(self) -> bool:
        """Ended because its time budget ran out: the trainer writes 'stopped' for that as for a Stop."""
        return spent_time_budget(self.state, self.elapsed, self.config.max_seconds)

    @property
    def trained_to_budget(self) -> bool:
        """Trained all its steps, or all its wall-clock time (a run stopped by hand, or one that failed, did not)."""
        return self.state == "done" or self.spent_its_time_budget

    @property
    def resumable(self) -> bool:
        """An interrupted run, or one that failed or stopped with a checkpoint, can continue."""
        return self.state in ("interrupted", "failed", "stopped", "done") and self.has_checkpoint and not self.writer


@dataclass(frozen=True)
class SavedRun:
    """A run read back from disk with its network: what sampling and the pages need."""

    info: RunInfo
    target: Target
    flow: Flow
    history: np.ndarray  # config.HISTORY_DTYPE rows (none when metrics.csv is damaged: history_problem says so)
    history_problem: str = ""  # why metrics.csv was not read; the network does not need it

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def config(self) -> TrainConfig:
        return self.info.config


# ---------------------------------------------------------------- ids


def new_run_id(config: TrainConfig) -> str:
    """'20261129-003512-meanflow-<24 hex>': readable, sortable, and unguessable (96 random bits)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{config.method}-{secrets.token_hex(12)}"


def run_path(root: str | Path, run_id: str) -> Path:
    """The folder of run `run_id` under root; raises RunError for anything that is not a plain id."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or run_id in (".", ".."):
        raise RunError(f"{str(run_id)[:60]!r} is not a run id")
    return Path(root) / run_id


# ---------------------------------------------------------------- writing


def _history_csv(history: np.ndarray) -> bytes:
    out = io.StringIO()
    out.write(",".join(HISTORY_COLUMNS) + "\n")
    for row in history:
        rest = ",".join(f"{row[name]:.9g}" for name in HISTORY_COLUMNS[5:])
        out.write(
            f"{int(row['step'])},{row['loss']:.9g},{row['mse']:.9g},{row['lr']:.9g},{row['seconds']:.6f},{rest}\n"
        )
    return out.getvalue().encode()


def _write_document(run_dir: Path, document: dict) -> None:
    write_atomic(run_dir / CONFIG_FILE, json.dumps(document, indent=2).encode())


def create_run(run_dir: str | Path, config: TrainConfig, target: Target, shared: bool = False, owner: str = "") -> Path:
    """Make a run folder for a job about to be queued: config.json (state queued) and the target's data.
    An earlier run in the folder is replaced whole (its weights, checkpoint and metrics go)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (WEIGHTS_FILE, CHECKPOINT_FILE, TARGET_FILE, METRICS_FILE):
        (run_dir / stale).unlink(missing_ok=True)
    spec = target.to_spec()
    if spec.kind == "data":
        arrays = {
            "points": torch.as_tensor(spec.points),
            "weights": torch.as_tensor(spec.weights),
            "jitter": torch.tensor([spec.jitter], dtype=torch.float32),
        }
        if spec.labels is not None:
            arrays["labels"] = torch.as_tensor(spec.labels, dtype=torch.int64)
        write_atomic(run_dir / TARGET_FILE, safetensors_bytes(arrays))
    document = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "target": {"kind": spec.kind, "name": spec.name},
        "normaliser": asdict(target.normaliser),
        "state": "queued",
        "message": "",
        "step": 0,
        "elapsed": 0.0,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "shared": bool(shared),
        "owner": str(owner),
    }
    _write_document(run_dir, document)
    return run_dir


def _update_document(run_dir: Path, **changes) -> None:
    document = _read_document(run_dir / CONFIG_FILE)
    document.update(changes)
    _write_document(run_dir, document)


def write_checkpoint(run_dir: str | Path, data: bytes, step: int, elapsed: float, history: np.ndarray) -> None:
    """Keep a running job's latest checkpoint (bytes from checkpoint_bytes) and mark the run running."""
    run_dir = Path(run_dir)
    write_atomic(run_dir / CHECKPOINT_FILE, data)
    write_atomic(run_dir / METRICS_FILE, _history_csv(history))
    _update_document(run_dir, state="running", step=int(step), elapsed=float(elapsed))


def mark_running(run_dir: str | Path, config: TrainConfig) -> None:
    """The run is training now, with `config`: a resume's new step count and budget are its own from here
    (config.json kept the old budget: the next resume said it had used a budget it had been given more of)."""
    _update_document(Path(run_dir), state="running", message="", config=config.to_dict())


def put_back_document(run_dir: str | Path, document: bytes) -> None:
    """Write config.json back as it was (a resume that could not start changes nothing)."""
    write_atomic(Path(run_dir) / CONFIG_FILE, document)


def checkpoint_weights_bytes(run_dir: str | Path) -> bytes:
    """The weights that sample of a run's latest checkpoint, as safetensors bytes (for a run whose worker was lost)."""
    return weights_bytes(read_checkpoint(run_dir).sampling_weights)


def finish_run(
    run_dir: str | Path,
    state: str,
    message: str,
    step: int,
    elapsed: float,
    history: np.ndarray,
    weights: bytes | None,
    checkpoint: bytes | None,
) -> None:
    """Write how a run ended: its final weights and checkpoint (safetensors bytes, when it has them),
    its metrics and its state. weights None (a job that never built a network, or one lost before
    its first checkpoint) leaves any weights already there and writes only the rest.
    """
    if state not in FINISHED:
        raise ValueError(f"a run finishes as one of {FINISHED}, not {state!r}")
    run_dir = Path(run_dir)
    if weights is not None:
        write_atomic(run_dir / WEIGHTS_FILE, weights)
    if checkpoint is not None:
        write_atomic(run_dir / CHECKPOINT_FILE, checkpoint)
    write_atomic(run_dir / METRICS_FILE, _history_csv(history))
    _update_document(run_dir, state=state, message=str(message), step=int(step), elapsed=float(elapsed))


def save_result(run_dir: str | Path, config: TrainConfig, target: Target, result: RunResult) -> Path:
    """A whole run folder from a RunResult trained in this process (tests, scripts)."""
    run_dir = create_run(run_dir, config, target)
    checkpoint = checkpoint_bytes(result.checkpoint) if result.checkpoint is not None else None
    weights = weights_bytes(result.checkpoint.sampling_weights) if result.checkpoint is not None else None
    finish_run(run_dir, result.state, result.message, result.step, result.elapsed, result.history, weights, checkpoint)
    return run_dir


def set_shared(run_dir: str | Path, shared: bool) -> None:
    """List the run in the server's shared library (or take it out)."""
    _update_document(Path(run_dir), shared=bool(shared))


def set_named_run(run_dir: str | Path, option: str, run_id: str) -> None:
    """Point an option that names another run (reflow's teacher) at `run_id`, a run folder beside this one:
    how a bundle names a teacher shipped with it, rather than the path of the machine that made it."""
    run_dir = Path(run_dir)
    config = read_info(run_dir).config
    if option not in {spec.name for spec in option_specs(type(config.options)) if spec.names_run}:
        raise ValueError(f"{config.method} has no option {option!r} naming a run")
    document = _read_document(run_dir / CONFIG_FILE)
    document["config"]["options"][option] = run_path(run_dir.parent, run_id).name
    _write_document(run_dir, document)


# ---------------------------------------------------------------- reading


def _read_bytes(path: Path, limit: int) -> bytes:
    if not path.is_file():
        raise RunError(f"{path} is missing")
    if path.stat().st_size > limit:
        raise RunError(f"{path} is larger than {limit} bytes; not a file this program wrote")
    return path.read_bytes()


def _read_document(path: Path) -> dict:
    data = _read_bytes(path, MAX_CONFIG_BYTES)
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # ValueError: JSON, or an integer of 5,000 digits
        raise RunError(f"{path} is not valid JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RunError(f"{path} is not a meanflow run config (format must be {FORMAT!r})")
    return document


def _read_tensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(_read_bytes(path, MAX_ARRAY_BYTES))
    except RunError:
        raise
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise RunError(f"{path} is not a valid safetensors file ({exc}); it was not loaded") from None


def _config_from_v1(raw: dict) -> dict:
    """A version-1 config as a version-2 one: the target moved out, MeanFlow's options renamed."""
    raw = {"coupling": "independent", **raw}  # runs saved before couplings existed were all independent
    raw.pop("target", None)
    mf = raw.pop("meanflow", None)
    if raw.get("method") == "meanflow" and isinstance(mf, dict):
        raw["options"] = mf
    return raw


def read_info(run_dir: str | Path, live: bool = False) -> RunInfo:
    """What config.json says of a run (no weights read); raises RunError for a folder that is not a run.

    live: a job of this server owns the run (else an active state on disk reads as 'interrupted').
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run folder {str(run_dir)!r} {missing(run_dir, 'folder')}")
    path = run_dir / CONFIG_FILE
    document = _read_document(path)
    version = document.get("version")
    if version not in (1, VERSION):
        raise RunError(f"{path} has version {version!r}; this program reads 1 and {VERSION}")
    try:
        raw = document["config"]
        if not isinstance(raw, dict):
            raise TypeError("config must be an object")
        config = config_from_dict(_config_from_v1(raw) if version == 1 else raw)
        normaliser = document["normaliser"]
        centre, scale = [float(c) for c in normaliser["centre"]], float(normaliser["scale"])
        if len(centre) != config.dim or not all(map(math.isfinite, centre + [scale])) or scale <= 0:
            raise ValueError(f"normaliser must have a finite centre of {config.dim} values and a positive scale")
        state = str(document["state"])
        if state not in RUN_STATES or state == "interrupted":
            raise ValueError(f"state must be one of {', '.join(s for s in RUN_STATES if s != 'interrupted')}")
        writer = "" if live else run_writer(run_dir)
        if state in ACTIVE and not live and not writer:
            state = "interrupted"
        spec = document["target"]
        kind, name = str(spec["kind"]), str(spec["name"])[:200]
        if kind not in ("preset", "data"):
            raise ValueError(f"unknown target kind {kind!r}")
        step = int(document.get("step", 0))
        elapsed = float(document.get("elapsed", 0.0))
        if not (0 <= step <= MAX_STEPS and math.isfinite(elapsed) and 0 <= elapsed < 1e9):
            raise ValueError("step and elapsed must be finite, non-negative and in range")
        message = str(document.get("message", ""))[:500]
        created = str(document.get("created", ""))[:40]
        shared = document.get("shared", True) is True  # version 1 runs were all listed
        owner = document.get("owner", "")
        owner = owner if isinstance(owner, str) and OWNER.match(owner) else ""
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise RunError(f"{path} is not a valid run config ({str(exc)[:200]})") from None
    if state == "interrupted":
        message = f"interrupted at step {step}" + ("" if (run_dir / CHECKPOINT_FILE).is_file() else " (no checkpoint)")
    return RunInfo(
        run_dir,
        config,
        kind,
        name,
        {"centre": tuple(centre), "scale": scale},
        state,
        message,
        step,
        elapsed,
        created,
        shared,
        writer,
        owner,
    )


def read_history(run_dir: str | Path) -> np.ndarray:
    """The run's metrics.csv as a structured history (no rows if it has none yet)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return empty_history()
    try:
        rows = list(csv.reader(io.StringIO(_read_bytes(path, MAX_METRICS_BYTES).decode())))
        if not rows or tuple(rows[0]) not in (HISTORY_COLUMNS, *LEGACY_HISTORY_COLUMNS):
            raise ValueError(f"header must be {','.join(HISTORY_COLUMNS)}")
        if any(len(row) not in (0, len(rows[0])) for row in rows[1:]):
            raise ValueError(f"every row must have {len(rows[0])} values")
        return history_from_rows([[float(v) for v in row] for row in rows[1:] if row])
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not a metrics table ({exc})") from None


def read_checkpoint(run_dir: str | Path) -> Checkpoint:
    """The run's latest checkpoint; raises RunError if it has none or it is damaged."""
    path = Path(run_dir) / CHECKPOINT_FILE
    try:
        return checkpoint_from_bytes(_read_bytes(path, MAX_ARRAY_BYTES), str(path))
    except CheckpointError as exc:
        raise RunError(str(exc)) from None


def read_target(info: RunInfo) -> Target:
    """The target a run was trained on (a preset, or its stored points)."""
    if info.target_kind == "preset":
        try:
            return get_target(info.target_name)
        except TargetError as exc:
            raise RunError(f"{info.path / CONFIG_FILE} names an unknown target ({exc})") from None
    arrays = _read_tensors(info.path / TARGET_FILE)
    try:
        labels = arrays["labels"].numpy() if "labels" in arrays else None
        spec = TargetSpec(
            "data",
            info.target_name,
            arrays["points"].double().numpy(),
            arrays["weights"].double().numpy(),
            float(arrays["jitter"].reshape(-1)[0]),
            labels,
        )
        return spec.build()
    except (KeyError, IndexError, ValueError) as exc:
        raise RunError(f"{info.path / TARGET_FILE} does not hold a valid target ({exc})") from None


def _weights_of(info: RunInfo) -> dict[str, torch.Tensor]:
    """The final weights if the run ended, else its latest checkpoint's (an interrupted run still samples)."""
    if (info.path / WEIGHTS_FILE).is_file() and info.finished:
        return _read_tensors(info.path / WEIGHTS_FILE)
    if info.has_checkpoint:
        return read_checkpoint(info.path).sampling_weights
    raise RunError(f"{info.path.name} has no weights yet (state {info.state})")


def load_run(run_dir: str | Path, live: bool = False) -> SavedRun:
    """Read and validate a run folder with its network; raises RunError, never executes anything from it."""
    info = read_info(run_dir, live)
    target = read_target(info)
    normaliser = Normaliser(centre=info.normaliser["centre"], scale=info.normaliser["scale"])
    if target.is_preset:
        target = replace(target, normaliser=normaliser)
    config = info.config
    if target.dim != config.dim:
        raise RunError(f"{info.path / CONFIG_FILE} trains {config.dim} dimensions, but its target has {target.dim}")
    try:
        flow = rebuild_flow(config, _weights_of(info), normaliser, target.class_weights() if config.classes else ())
    except RunError:  # already names its file (a RunError is a ValueError: it was named twice)
        raise
    except ValueError as exc:
        raise RunError(f"{info.path / WEIGHTS_FILE} {exc}") from None
    try:
        return SavedRun(info, target, flow, read_history(info.path))
    except (RunError, OSError) as exc:  # the curves are lost, the network is not: sampling goes on without them
        return SavedRun(info, target, flow, empty_history(), history_problem=error_text(exc))  # names the file


def list_runs(
    root: str | Path, cache: dict | None = None, live_ids: set[str] = frozenset()
) -> tuple[list[RunInfo], list[str]]:
    """Every run folder directly under `root` as RunInfo (config.json only), newest first, and one
    warning per folder skipped. cache: a dict kept between calls; unchanged config.json files are
    not read again. live_ids: runs a job of this server owns (their active state is real)."""
    root = Path(root)
    infos, problems = [], []
    if not root.is_dir():
        return infos, problems
    cache = {} if cache is None else cache
    folders = []
    try:
        entries = list(os.scandir(root))
    except OSError as exc:
        return infos, [f"cannot list {root}: {exc}"]
    for entry in entries:
        try:  # a dangling link or a folder deleted meanwhile is skipped, not fatal
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            stat = os.stat(os.path.join(entry.path, CONFIG_FILE))
            folders.append((stat.st_mtime_ns, Path(entry.path), (stat.st_mtime_ns, stat.st_size)))
        except OSError:
            problems.append(f"skipped {entry.name}: no {CONFIG_FILE}")
    for _, path, stamp in sorted(folders, key=lambda f: f[0], reverse=True):
        live = path.name in live_ids
        key = (path, live)
        # a run with a writer is read again: its writer may have died without touching config.json
        if key in cache and cache[key][0] == stamp and not cache[key][1].writer:
            infos.append(cache[key][1])
            continue
        try:
            info = read_info(path, live)
        except Exception as exc:  # one bad folder never hides the rest
            problems.append(f"skipped {path.name}: {str(exc)[:300]}")
            continue
        cache[key] = (stamp, info)
        infos.append(info)
    return infos, problems


# ---------------------------------------------------------------- runs a config names (a reflow teacher)


def run_bundle(run_dir: str | Path) -> RunBundle:
    """A trained run as plain data a worker can rebuild without the folder: its config, target name,
    normaliser and weights (safetensors bytes). Raises RunError for a run without weights."""
    info = read_info(run_dir)
    return RunBundle(info.config.to_dict(), info.target_name, info.normaliser, weights_bytes(_weights_of(info)))


def read_teachers(config: TrainConfig, target: Target, run_dir: str | Path | None = None) -> dict[str, RunBundle]:
    """The runs `config`'s options name (each option declared with run=True: reflow's teacher), read as
    bundles where the job is submitted, so workers need no shared disk. Raises ValueError when one is
    missing, cannot be read, was trained on another target, or is `run_dir` itself (the run being made)."""
    teachers, method = {}, check_config(config)
    for spec in option_specs(type(config.options)):
        if not spec.names_run:
            continue
        folder = getattr(config.options, spec.name)
        if not folder:
            raise ValueError(
                f"{config.method} needs a {spec.name} run: {spec.flag} RUN_DIR (a trained run on the same target)"
            )
        if run_dir is not None and _same_folder(folder, run_dir):
            raise ValueError(f"the {spec.name} {folder!r} is the folder this run would be written to; pick another")
        try:
            bundle = run_bundle(folder)
        except RunError as exc:
            raise ValueError(f"the {spec.name} {folder!r} cannot be used: {exc}") from None
        bundle.check_target(spec.name, target.name, target.dim)
        method.check_teacher(spec.name, config_from_dict(bundle.config))
        teachers[spec.name] = bundle
    return teachers


def _same_folder(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):
        return False


def check_resume(config: TrainConfig, target: Target, data: bytes, where: str = CHECKPOINT_FILE) -> Checkpoint:
    """The checkpoint in `data` if a run of `config` can continue from it; raises RunError for an empty,
    truncated or foreign file (one that does not fit the config's network), before anything is written."""
    try:
        checkpoint = checkpoint_from_bytes(data, where)
        flow = rebuild_flow(
            config, checkpoint.weights, target.normaliser, target.class_weights() if config.classes else ()
        )
    except CheckpointError as exc:
        raise RunError(str(exc)) from None
    except ValueError as exc:
        raise RunError(f"{where} {exc}; it is not this run's checkpoint") from None
    try:
        check_state(checkpoint, flow.net)
    except CheckpointError as exc:
        raise RunError(f"{where} cannot be resumed: {exc}") from None
    return checkpoint


# ---------------------------------------------------------------- one writer per run folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # someone else's live process (or a pid this system cannot hold)
    return True


def _lock_document(run_dir: Path) -> dict | None:
    try:
        document = json.loads(_read_bytes(run_dir / WRITER_FILE, MAX_CONFIG_BYTES))
        return document if isinstance(document, dict) else {}
    except (RunError, OSError, ValueError, UnicodeDecodeError):
        return {} if (run_dir / WRITER_FILE).exists() else None


def _describe_writer(document: dict) -> str:
    return f"{document.get('command', '?')} (process {document.get('pid')} on {document.get('host', '?')})"


def run_writer(run_dir: str | Path) -> str:
    """Who is writing the run now, in words, or "" when nobody is (no lock, or its process is dead on
    this machine: a stale lock). A lock from another machine counts as live: its process cannot be seen."""
    document = _lock_document(Path(run_dir))
    if document is None:
        return ""
    pid = document.get("pid")
    if not isinstance(pid, int) or document.get("host") == socket.gethostname() and not _pid_alive(pid):
        return ""  # damaged, or its process is gone
    return _describe_writer(document)


def _command_line() -> str:
    """This process's command, as a person would type it: `python -m meanflow resume RUN`."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    head = f"python -m {program.parent.name}" if program.name == "__main__.py" else program.name
    return " ".join([head, *sys.argv[1:]])[:160]


def lock_run(run_dir: str | Path, command: str = "") -> str:
    """Take the run folder's writer lock for this process, held until unlock_run; returns its token.
    Raises RunBusy naming the live holder (a stale lock, whose process died, is taken over)."""
    path = Path(run_dir) / WRITER_FILE
    token = secrets.token_hex(8)
    document = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command or _command_line(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "token": token,
    }
    for _ in range(3):
        if _create_whole(path, json.dumps(document).encode()):
            return token
        holder = run_writer(path.parent)
        if holder:
            raise RunBusy(
                f"run {path.parent.name} is being trained by {holder}; wait for it to end, or stop it there "
                f"(if that process is gone, delete {path})"
            )
        _remove_if_stale(path)
    raise RunBusy(f"run {path.parent.name}: another process took its writer lock at the same moment; try again")


def _create_whole(path: Path, data: bytes) -> bool:
    """Make `path` hold `data` unless it exists (False then). The lock appears whole or not at all: written
    beside it, then linked into place. (Made empty, then written, a racer could read it empty in between,
    take it for a damaged lock, delete it and take its own: two writers, seen 3 times in 15 six-way races.)"""
    spare = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    try:
        spare.write_bytes(data)
        os.link(spare, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: created exclusively, written under its flock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # _remove_if_stale reads it only under the same flock
            f.write(data)
        return True
    finally:
        spare.unlink(missing_ok=True)


def _remove_if_stale(path: Path) -> None:
    """Delete the lock at `path` if it is stale (its process dead, or damaged), deciding and deleting while
    holding an flock on that very file: two processes that both saw a stale lock cannot have the slower
    delete the lock the faster one has just taken (a check, then a delete, let both win)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            return
        if same and not run_writer(path.parent):
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def unlock_run(run_dir: str | Path, token: str) -> None:
    """Give the writer lock back (only the lock `token` came with: never another writer's)."""
    document = _lock_document(Path(run_dir))
    if document is not None and document.get("token") == token:
        (Path(run_dir) / WRITER_FILE).unlink(missing_ok=True)
