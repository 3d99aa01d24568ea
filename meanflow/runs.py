"""Run folders on disk: the only module that reads or writes them.

A run folder holds
    config.json          the TrainConfig, how the run ended, the target and its normaliser
    metrics.csv          one row per log_every steps (their mean): step, loss, mse, lr, seconds
    weights.safetensors  the network's state_dict
    target.safetensors   the points behind a data-driven target (CSV, image, text), if any
Arrays are stored as safetensors, which cannot execute code when read (unlike pickle); JSON
and CSV are parsed as data. Each file is written to a temporary name and renamed, so a crash
mid-save leaves the previous version; config.json is written last and marks a complete run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .methods import MeanFlowConfig, build_network, get_method
from .sampling import Flow
from .targets import PRESETS, Normaliser, Target, TargetError, get_target, point_cloud_target
from .trainer import HISTORY_COLUMNS, FINISHED, TrainConfig, TrainingJob

FORMAT = "meanflow-run"
VERSION = 1
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
WEIGHTS_FILE = "weights.safetensors"
TARGET_FILE = "target.safetensors"
MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; anything huge is not ours
MAX_ARRAY_BYTES = 256 << 20  # weights and target points of the sizes the app can make fit easily


class RunError(ValueError):
    """A run folder that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class SavedRun:
    """A run read back from disk."""

    path: Path
    config: TrainConfig
    target: Target
    flow: Flow
    history: np.ndarray  # (rows, 5) rows of HISTORY_COLUMNS, each the mean of log_every steps
    state: str  # done, stopped or failed
    message: str
    elapsed: float  # seconds of training


# ---------------------------------------------------------------- writing


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _history_csv(history: np.ndarray) -> bytes:
    out = io.StringIO()
    out.write(",".join(HISTORY_COLUMNS) + "\n")
    for row in history:
        out.write(f"{int(row[0])},{row[1]:.9g},{row[2]:.9g},{row[3]:.9g},{row[4]:.6f}\n")
    return out.getvalue().encode()


def save_run(run_dir: str | Path, config: TrainConfig, target: Target, flow: Flow, history: np.ndarray,
             state: str, message: str = "", elapsed: float = 0.0) -> Path:
    """Write a run folder (created if missing); returns its path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in flow.net.state_dict().items()}
    _write_atomic(run_dir / WEIGHTS_FILE, save_safetensors(weights))
    if target.points is not None:
        arrays = {"points": torch.as_tensor(target.points), "weights": torch.as_tensor(target.weights),
                  "jitter": torch.tensor([target.jitter], dtype=torch.float32)}
        _write_atomic(run_dir / TARGET_FILE, save_safetensors(arrays))
        target_spec = {"kind": "data", "name": target.name}
    else:
        target_spec = {"kind": "preset", "name": target.name}
    _write_atomic(run_dir / METRICS_FILE, _history_csv(np.asarray(history).reshape(-1, 5)))
    document = {
        "format": FORMAT,
        "version": VERSION,
        "config": asdict(config),
        "target": target_spec,
        "normaliser": asdict(flow.normaliser),
        "state": state,
        "message": message,
        "elapsed": elapsed,
    }
    _write_atomic(run_dir / CONFIG_FILE, json.dumps(document, indent=2).encode())
    return run_dir


def save_job(run_dir: str | Path, job: TrainingJob) -> Path:
    """Save a finished job's run folder."""
    snap = job.snapshot()
    if not snap.finished or job.flow is None:
        raise RunError(f"the job has not finished (state {snap.state}); stop it or wait first")
    return save_run(run_dir, job.config, job.target, job.flow, snap.history, snap.state, snap.message, snap.elapsed)


# ---------------------------------------------------------------- reading


def _read_bytes(path: Path, limit: int) -> bytes:
    if not path.is_file():
        raise RunError(f"{path} is missing")
    if path.stat().st_size > limit:
        raise RunError(f"{path} is larger than {limit} bytes; not a file this program wrote")
    return path.read_bytes()


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors(_read_bytes(path, MAX_ARRAY_BYTES))
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        if isinstance(exc, RunError):
            raise
        raise RunError(f"{path} is not a valid safetensors file ({exc}); it was not loaded") from None


def _config_from(raw: dict) -> TrainConfig:
    if not isinstance(raw, dict):
        raise TypeError("config must be an object")
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(raw) - known
    if unknown:
        raise TypeError(f"unknown config fields {sorted(unknown)}")
    raw = {"coupling": "independent", **raw}  # runs saved before couplings existed were all independent
    mf = raw.get("meanflow", {})
    if not isinstance(mf, dict):
        raise TypeError("meanflow must be an object")
    return TrainConfig(**{**raw, "meanflow": MeanFlowConfig(**mf)})


def _read_history(path: Path) -> np.ndarray:
    if not path.is_file():
        return np.zeros((0, 5))
    try:
        rows = list(csv.reader(io.StringIO(_read_bytes(path, MAX_ARRAY_BYTES).decode())))
        if not rows or tuple(rows[0]) != HISTORY_COLUMNS:
            raise ValueError(f"header must be {','.join(HISTORY_COLUMNS)}")
        return np.asarray([[float(v) for v in row] for row in rows[1:] if row], dtype=np.float64).reshape(-1, 5)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not a metrics table ({exc})") from None


def _expected_shapes(config: TrainConfig) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of the network `config` describes, computed without building it."""
    widths = [2 + get_method(config.method).n_time_inputs] + [config.hidden] * config.depth + [2]
    shapes = {}
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"layers.{i}.weight"], shapes[f"layers.{i}.bias"] = (b, a), (b,)
    return shapes


def load_run(run_dir: str | Path) -> SavedRun:
    """Read and validate a run folder; raises RunError, never executes anything from it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run folder {str(run_dir)!r} not found")
    config_path = run_dir / CONFIG_FILE
    try:
        document = json.loads(_read_bytes(config_path, MAX_CONFIG_BYTES))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunError(f"{config_path} is not valid JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RunError(f"{config_path} is not a meanflow run config (format must be {FORMAT!r})")
    if document.get("version") != VERSION:
        raise RunError(f"{config_path} has version {document.get('version')!r}; this program reads {VERSION}")
    try:
        config = _config_from(document["config"])
        normaliser = Normaliser(**document["normaliser"])
        centre = tuple(float(c) for c in normaliser.centre)
        if len(centre) != 2 or not all(map(math.isfinite, centre + (float(normaliser.scale),))) or normaliser.scale <= 0:
            raise ValueError("normaliser must have a finite 2D centre and a positive scale")
        normaliser = Normaliser(centre=centre, scale=float(normaliser.scale))
        state = str(document["state"])
        if state not in FINISHED:
            raise ValueError(f"state must be one of {FINISHED}")
        spec = document["target"]
        kind, name = spec["kind"], str(spec["name"])
        elapsed = float(document.get("elapsed", 0.0))
        message = str(document.get("message", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{config_path} is not a valid run config ({exc})") from None

    if kind == "preset":
        if name not in PRESETS:
            raise RunError(f"{config_path} names an unknown target {name!r}")
        target = get_target(name)
    elif kind == "data":
        arrays = _read_tensors(run_dir / TARGET_FILE)
        try:
            target = point_cloud_target(name, arrays["points"].double().numpy(), arrays["weights"].double().numpy(),
                                        jitter=float(arrays["jitter"].reshape(-1)[0]))
        except (KeyError, IndexError, TargetError) as exc:
            raise RunError(f"{run_dir / TARGET_FILE} does not hold a valid target ({exc})") from None
    else:
        raise RunError(f"{config_path} has an unknown target kind {kind!r}")

    weights = _read_tensors(run_dir / WEIGHTS_FILE)
    expected = _expected_shapes(config)
    shapes = {k: tuple(v.shape) for k, v in weights.items()}
    if shapes != expected:  # checked before building, so a hostile config cannot size a huge network
        raise RunError(f"{run_dir / WEIGHTS_FILE} does not fit the configured network "
                       f"(hidden {config.hidden}, depth {config.depth})")
    net = build_network(config.method, config.hidden, config.depth, config.activation)
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "mismatch"
        raise RunError(f"{run_dir / WEIGHTS_FILE} does not fit the configured network ({first})") from None
    if not all(torch.isfinite(p).all() for p in net.parameters()):
        raise RunError(f"{run_dir / WEIGHTS_FILE} holds NaN or infinite weights")
    net.eval()
    return SavedRun(run_dir, config, target, Flow(config.method, net, normaliser),
                    _read_history(run_dir / METRICS_FILE), state, message, elapsed)


def list_runs(root: str | Path, cache: dict | None = None) -> tuple[list[SavedRun], list[str]]:
    """Every loadable run folder directly under `root`, newest first, and one warning per folder skipped.

    cache: a dict the caller keeps between calls; folders whose config.json has not changed
    since the last call are not read again.
    """
    root = Path(root)
    runs, problems = [], []
    if not root.is_dir():
        return runs, problems
    cache = {} if cache is None else cache
    folders = []
    for path in root.iterdir():
        try:  # a dangling link or a folder deleted meanwhile is skipped, not fatal
            if path.is_dir() and not path.name.startswith("."):
                config = path / CONFIG_FILE
                folders.append((path.stat().st_mtime, path, config.stat().st_mtime_ns if config.is_file() else None))
        except OSError:
            continue
    for _, path, stamp in sorted(folders, key=lambda f: f[0], reverse=True):
        if path in cache and cache[path][0] == stamp:
            runs.append(cache[path][1])
            continue
        try:
            run = load_run(path)
        except (RunError, OSError, MemoryError, RuntimeError) as exc:  # one bad folder never hides the rest
            problems.append(f"skipped {path.name}: {exc}")
            continue
        cache[path] = (stamp, run)
        runs.append(run)
    return runs, problems
