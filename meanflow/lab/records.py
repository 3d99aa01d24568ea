"""A study's results as a file: the table, seed 0's one-step samples per cell and its run ids.

`make ablations` and `make assets` write these records to assets/studies/<study>.json, so the
Ablations and Compare pages draw a study without training anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..core import runs
from ..core.sampling import sample
from .scoring import judged_nfe
from .studies import STUDIES
from .sweeps import Sweep
from .tables import anytime_curves, with_cell_facts, with_reference

STUDY_FORMAT = "meanflow-study"
MAX_STUDY_BYTES = 16 << 20
PICTURE_N = 600  # one-step samples kept per cell and target for the pictures (2D)
PICTURE_IMAGES = 36  # beyond 2D (the digits: a grid of images), fewer: each is 64 numbers
PICTURE_SEED = 7


def picture_samples(flow, method: str) -> torch.Tensor:
    """The samples a study draws of a cell's seed-0 run: PICTURE_N points (2D) or PICTURE_IMAGES images, at
    the step count the method is judged at (one; flow matching 32, where its one step is the blur)."""
    n = PICTURE_N if flow.dim == 2 else PICTURE_IMAGES
    return sample(flow, n, judged_nfe(method), torch.Generator().manual_seed(PICTURE_SEED)).samples


def study_record(sweep: Sweep, command: str = "") -> dict:
    """A sweep's table, with picture_samples of seed 0 for each cell and target (and the steps they were
    drawn at: 'sample_steps') and its run ids: what the Ablations page draws without training anything."""
    samples: dict = {}
    sample_steps: dict = {}
    run_ids: dict = {}
    for run in sweep.runs:
        if run.seed != 0 or not run.scores:
            continue
        x = picture_samples(runs.load_run(run.path).flow, run.cell.method)
        samples.setdefault(run.target, {})[run.cell.name] = [[round(float(v), 3) for v in row] for row in x]
        sample_steps.setdefault(run.target, {})[run.cell.name] = judged_nfe(run.cell.method)
        run_ids.setdefault(run.target, {})[run.cell.name] = run.path.name
    return {
        "format": STUDY_FORMAT,
        "version": 1,
        "study": sweep.study.name,
        "command": command,
        "budget": {"seconds": sweep.budget.seconds, "steps": sweep.budget.steps},  # a whole run's, before shares
        "seeds": max((r.seed for r in sweep.runs), default=-1) + 1,
        "targets": [t.name for t in sweep.targets],
        "rows": sweep.table(),
        "anytime": anytime_curves(sweep.scored()),  # quality while training, from previews (their n: preview_n)
        "preview_n": sweep.runs[0].config.preview_n if sweep.runs else None,
        "samples": samples,
        "sample_steps": sample_steps,
        "runs": run_ids,
    }


def merged_record(old: dict, new: dict) -> dict:
    """`old` with `new`'s targets added (or replaced): rows, samples, run ids, anytime curves and guidance
    rows by target; the commands joined (a study swept on the 2D targets, then again on the digits). A row of
    `new` without an anytime curve keeps `old`'s: its runs were trained by an earlier sweep with the same
    configs and seeds and skipped by this one, which reads curves only from the previews of runs it trains
    (rerunning some rows of a study by deleting their run folders kept only those rows' curves)."""
    targets = list(new["targets"])
    out = dict(old)
    # a target swept again keeps its place (the pages open on the first); new targets go last
    out["targets"] = list(old["targets"]) + [t for t in targets if t not in old["targets"]]
    place = {t: i for i, t in enumerate(out["targets"])}
    for key in ("rows", "guidance"):  # guidance: the guidance study's rows over seeds
        if key in old or key in new:
            kept = [r for r in old.get(key, []) if r.get("target") not in targets]
            out[key] = sorted(kept + new.get(key, []), key=lambda r: place.get(r.get("target"), len(place)))
    for key in ("samples", "sample_steps", "runs"):
        out[key] = {**{t: v for t, v in old.get(key, {}).items() if t not in targets}, **new.get(key, {})}
    out["anytime"] = {t: v for t, v in old.get("anytime", {}).items() if t not in targets}
    for target in targets:  # a row whose runs were trained earlier (skipped, no previews read) keeps its curve
        rows = {r["cell"] for r in new.get("rows", []) if r.get("target") == target}
        kept = {cell: v for cell, v in old.get("anytime", {}).get(target, {}).items() if cell in rows}
        if kept or target in new.get("anytime", {}):
            out["anytime"][target] = {**kept, **new.get("anytime", {}).get(target, {})}
    commands = [c for c in old.get("command", "").split("; ") if c]
    if new.get("command") and _without_add(new["command"]) not in map(_without_add, commands):
        out["command"] = "; ".join([*commands, new["command"]])  # a command run again (with --add) once
    return out


def _without_add(command: str) -> str:
    return command.replace(" --add", "")


def save_study(path: str | Path, record: dict) -> None:
    """Write a record as JSON (a single seed's spread, NaN, as JSON's NaN, which load_study reads back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def load_study(path: str | Path) -> dict | None:
    """A saved study record, or None if the file is missing; raises ValueError for one that is not ours."""
    path = Path(path)
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_STUDY_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_STUDY_BYTES} bytes; not a study this program wrote")
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError(f"{path.name} is not valid JSON") from None
    if not isinstance(record, dict) or record.get("format") != STUDY_FORMAT or not isinstance(record.get("rows"), list):
        raise ValueError(f"{path.name} is not a study record")
    rows = [r for r in record["rows"] if isinstance(r, dict)]
    record["rows"] = with_reference(with_cell_facts(rows, STUDIES.get(str(record.get("study")))))
    return record
