"""Checkpoints: everything a run needs to continue exactly, taken from a live run, put back, and as bytes.

A Checkpoint holds the weights, the optimiser's state, the random state of the loss and of the data,
the step, the time spent and the history, so a run resumed from one continues exactly as if it had
never stopped. As bytes it is one safetensors file (the history and the optimiser's settings in its
tensors and metadata): what a worker sends and what a run folder keeps. Safetensors cannot execute
code when read, unlike pickle.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from .config import HISTORY_COLUMNS, LEGACY_HISTORY_COLUMNS, MAX_STEPS, history_from_rows


class CheckpointError(ValueError):
    """Bytes that are not a checkpoint this program wrote; the message says why."""


PENDING_WIDTH = 4  # a pending step: loss, mse and the mse split at r = t and r != t (NaN: no split)


@dataclass(frozen=True)
class Checkpoint:
    """Everything a run needs to continue exactly: tensors (weights 'net.*', optimiser 'adam.*', the
    method's own state 'ctx.*', the loss's random state 'rng', the data's 'rng_data' before the current
    chunk of batches and the batches of it used 'rng_data_used'), the optimiser's settings, the step,
    time spent and the history."""

    step: int
    elapsed: float  # seconds of training before this checkpoint
    tensors: dict[str, torch.Tensor]
    adam_groups: list[dict]  # the optimiser's param_groups without their parameter lists
    history: np.ndarray  # rows so far (config.HISTORY_DTYPE)
    pending: tuple[tuple[float, ...], ...] = ()  # (loss, mse, instant, average) of steps not yet in a row

    @property
    def weights(self) -> dict[str, torch.Tensor]:
        """The network's state_dict."""
        return under(self.tensors, "net")

    @property
    def average_weights(self) -> dict[str, torch.Tensor]:
        """The moving average of the weights (config.ema > 0), as a state_dict of the network; empty if none."""
        return under(self.tensors, "avg")

    @property
    def sampling_weights(self) -> dict[str, torch.Tensor]:
        """The weights that sample: the moving average where the run keeps one, else the network's."""
        return self.average_weights or self.weights

    @property
    def context_tensors(self) -> dict[str, torch.Tensor]:
        """The method's own state (an EMA's weights), as Method.context_tensors gave it."""
        return under(self.tensors, "ctx")

    @property
    def critic_tensors(self) -> dict[str, torch.Tensor]:
        """The adversarial critic's state (core.adversarial.critic_tensors); empty for a run without one."""
        return under(self.tensors, "critic")


def under(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names start with 'prefix.', by the rest of their names ('net.layers.0.weight' under
    'net' is 'layers.0.weight')."""
    start = len(prefix) + 1
    return {k[start:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def optimiser_tensors(state: dict) -> dict[str, torch.Tensor]:
    """An optimiser's per-parameter slots, from its state_dict(), as flat tensors '{i}.{slot}' (Adam's step,
    exp_avg, exp_avg_sq), on the CPU."""
    return {
        f"{i}.{name}": torch.as_tensor(value).detach().cpu().clone()
        for i, slots in state["state"].items()
        for name, value in slots.items()
    }


def optimiser_slots(tensors: dict[str, torch.Tensor], device: torch.device) -> dict[int, dict]:
    """optimiser_tensors' flat tensors back as an optimiser state_dict's 'state' (the slots on `device`, the
    step counts where Adam keeps them)."""
    slots: dict[int, dict] = {}
    for key, value in tensors.items():
        i, name = key.split(".", 1)
        slots.setdefault(int(i), {})[name] = value if name == "step" else value.to(device)
    return slots


def make_checkpoint(
    net: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
    step: int,
    elapsed: float,
    history: np.ndarray,
    pending: tuple[tuple[float, ...], ...] = (),
    context_tensors: dict | None = None,
    data_state: tuple[torch.Tensor, int] | None = None,
    average: AveragedModel | None = None,
    critic_tensors: dict | None = None,
) -> Checkpoint:
    """A copy, on the CPU, of everything the next step depends on (context_tensors: the method's own
    state; data_state: where the batches stand, from training.Batches.state(); average: the moving
    average of the weights, when the run keeps one; critic_tensors: the adversarial critic's state,
    core.adversarial.critic_tensors)."""
    tensors = {f"net.{k}": v.detach().cpu().clone() for k, v in net.state_dict().items()}
    if average is not None:
        tensors.update({f"avg.{k}": v.detach().cpu().clone() for k, v in average.module.state_dict().items()})
        tensors["avg_n"] = average.n_averaged.detach().cpu().clone()
    tensors.update({f"ctx.{k}": v.detach().cpu().clone() for k, v in (context_tensors or {}).items()})
    tensors.update({f"critic.{k}": v.detach().cpu().clone() for k, v in (critic_tensors or {}).items()})
    state = optimiser.state_dict()
    tensors.update({f"adam.{k}": v for k, v in optimiser_tensors(state).items()})
    tensors["rng"] = generator.get_state().clone()
    if data_state is not None:
        tensors["rng_data"], tensors["rng_data_used"] = data_state[0].clone(), torch.tensor(data_state[1])
    # as plain JSON values (tuples become lists), the form they take in a checkpoint file
    groups = json.loads(json.dumps([{k: v for k, v in g.items() if k != "params"} for g in state["param_groups"]]))
    return Checkpoint(step, elapsed, tensors, groups, history, tuple(pending))


def restore_checkpoint(
    checkpoint: Checkpoint,
    net: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
    average: AveragedModel | None = None,
) -> None:
    """Put a checkpoint's weights, optimiser state, random state and moving average back (inverse of
    make_checkpoint)."""
    device = next(net.parameters()).device
    net.load_state_dict({k: v.to(device) for k, v in checkpoint.weights.items()}, strict=True)
    if average is not None and checkpoint.average_weights:
        average.module.load_state_dict({k: v.to(device) for k, v in checkpoint.average_weights.items()}, strict=True)
        average.n_averaged.copy_(checkpoint.tensors["avg_n"])
    slots = optimiser_slots(under(checkpoint.tensors, "adam"), device)
    n_params = len(list(net.parameters()))
    groups = [{**g, "params": list(range(n_params))} for g in checkpoint.adam_groups]
    optimiser.load_state_dict({"state": slots, "param_groups": groups})
    generator.set_state(checkpoint.tensors["rng"])


# ---------------------------------------------------------------- as bytes


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> bytes:
    """Tensors as one safetensors file's bytes (contiguous CPU copies)."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)


def weights_bytes(weights: dict[str, torch.Tensor]) -> bytes:
    """A state_dict as safetensors bytes (a run folder's weights.safetensors)."""
    return safetensors_bytes(weights)


def checkpoint_bytes(checkpoint: Checkpoint) -> bytes:
    """A Checkpoint as one safetensors file: what a worker sends and what the run folder keeps."""
    tensors = dict(checkpoint.tensors)
    history = np.asarray(checkpoint.history.tolist(), dtype=np.float64).reshape(-1, len(HISTORY_COLUMNS))
    tensors["history"] = torch.as_tensor(history)
    tensors["pending"] = torch.as_tensor(np.asarray(checkpoint.pending, dtype=np.float64).reshape(-1, PENDING_WIDTH))
    metadata = {
        "step": str(checkpoint.step),
        "elapsed": repr(float(checkpoint.elapsed)),
        "adam_groups": json.dumps(checkpoint.adam_groups),
    }
    return safetensors_bytes(tensors, metadata)


HISTORY_WIDTHS = tuple(len(c) for c in (HISTORY_COLUMNS, *LEGACY_HISTORY_COLUMNS))  # a file of any version
PENDING_WIDTHS = (2, PENDING_WIDTH)  # (loss, mse) before the split loss


def _check_rows(rows: torch.Tensor, widths: tuple[int, ...], what: str) -> None:
    """A table of rows of one of `widths` (older files have fewer columns), or none."""
    if rows.numel() and (rows.dim() != 2 or rows.shape[1] not in widths):
        raise ValueError(f"its {what} have shape {tuple(rows.shape)}")


def check_state(checkpoint: Checkpoint, net: torch.nn.Module) -> None:
    """Raise CheckpointError where the checkpoint's state would not continue a run of `net`: optimiser slots
    for parameters it does not have or of another shape, none at all after the first step, values that are
    not finite (or a negative second moment or step count), random states torch refuses, or a negative
    position in the batches. (A hostile probe's edited checkpoints trained on, diverged and rewrote a finished
    run as failed, or failed at step 0 with torch's words.)"""
    shapes = [p.shape for p in net.parameters()]
    slots = under(checkpoint.tensors, "adam")
    if checkpoint.step > 0 and not slots:
        raise CheckpointError("its optimiser state is missing")
    for key, value in slots.items():
        index, name = key.split(".", 1)
        if not index.isdigit() or int(index) >= len(shapes) or name not in ADAM_SLOTS:
            raise CheckpointError(f"its optimiser state has a slot {key!r} this network does not have")
        if name != "step" and value.shape != shapes[int(index)]:
            raise CheckpointError(f"its optimiser slot {key!r} has shape {tuple(value.shape)}, not the network's")
        if not torch.isfinite(value).all() or (name != "exp_avg" and (value < 0).any()):
            raise CheckpointError(f"its optimiser slot {key!r} holds values no optimiser makes")
    for key in ("rng", "rng_data"):
        if key in checkpoint.tensors:
            try:
                torch.Generator().set_state(checkpoint.tensors[key])
            except (RuntimeError, TypeError):
                raise CheckpointError(f"its random state {key!r} is not one torch can resume") from None
    used = checkpoint.tensors.get("rng_data_used", torch.tensor(0))
    if used.numel() != 1 or int(used.reshape(())) < 0:
        raise CheckpointError("its position in the batches is not a count")


ADAM_SLOTS = ("step", "exp_avg", "exp_avg_sq")  # what Adam keeps per parameter


def checkpoint_from_bytes(data: bytes, what: str = "checkpoint") -> Checkpoint:
    """The Checkpoint in `data`; raises CheckpointError (naming `what`) for anything else."""
    from safetensors import SafetensorError, safe_open

    fd, tmp = tempfile.mkstemp(suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        with safe_open(tmp, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        step, elapsed = int(meta["step"]), float(meta["elapsed"])
        groups = json.loads(meta["adam_groups"])
        history, pending = tensors.pop("history"), tensors.pop("pending")
        _check_rows(history, HISTORY_WIDTHS, "history")
        _check_rows(pending, PENDING_WIDTHS, "pending steps")
        history = history_from_rows(history.double().numpy().tolist())
        pending = tuple(tuple(p) for p in pending.double().numpy().tolist())
        if not (0 <= step <= MAX_STEPS and math.isfinite(elapsed) and 0 <= elapsed < 1e9):
            raise ValueError(f"step {step} or time {elapsed} out of range")
        if not isinstance(groups, list) or "rng" not in tensors:
            raise ValueError("inconsistent header")
    except (SafetensorError, KeyError, ValueError, TypeError, RuntimeError, OSError) as exc:
        raise CheckpointError(f"{what} is not a valid checkpoint ({type(exc).__name__}: {exc})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return Checkpoint(step, elapsed, tensors, groups, history, pending)
