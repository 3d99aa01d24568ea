"""Tuned presets: each method's best configuration found by one tuning protocol (lab.tuning), as data.

A presets file (assets/presets/tuned.json, made by `make tune`) holds, per method, the settings that
tuning chose (TrainConfig fields and the method's options; everything else stays at its default) and
the protocol that chose them (trials, seconds per trial, tuning targets, the score). `train --preset
tuned`, the methods study and the Compare page read it through `read_presets`.

    {"format": "meanflow-presets", "version": 1,
     "methods": {"meanflow": {"fields": {"lr": 0.004, ...}, "options": {"r_neq_t": 0.6, ...},
                              "protocol": {"trials": 16, "seconds": 20, "targets": [...], ...},
                              "score": {"hist_tv": 0.12, ...}}, ...}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .config import TrainConfig
from .files import write_atomic
from .paths import assets_dir
from .registry import METHODS, make_config
from .text import counted

PRESETS_FORMAT = "meanflow-presets"
PRESETS_VERSION = 1
TUNED = "tuned"  # the one preset name: `train --preset tuned`
# The TrainConfig fields a preset may set (what tuning searches); anything else would change what is compared.
PRESET_FIELDS = (
    "lr",
    "lr_final_ratio",
    "hidden",
    "depth",
    "batch",
    "coupling",
    "ema",
    "time_frequencies",
    "space_frequencies",
    "adversarial",
    "adversarial_start",
    "moment_matching",
)


class PresetError(ValueError):
    """A presets file that cannot be used, or a method without a preset; the message says what to do."""


@dataclass(frozen=True)
class Preset:
    """One method's tuned settings and how they were found."""

    method: str
    fields: dict  # TrainConfig fields (a subset of PRESET_FIELDS)
    options: dict  # the method's options that tuning set
    protocol: dict = field(default_factory=dict)  # trials, seconds, targets, command, wall seconds
    score: dict = field(default_factory=dict)  # the best trial's metrics on the tuning targets

    def config(self, **changes) -> TrainConfig:
        """The method's config with this preset applied, then `changes` (a budget, a seed, a teacher...)."""
        options = {**self.options, **changes.pop("options", {})}
        return make_config(self.method, options, **{**self.fields, **changes})

    def to_dict(self) -> dict:
        return {"fields": self.fields, "options": self.options, "protocol": self.protocol, "score": self.score}


def presets_file() -> Path:
    """The bundled presets (assets/presets/tuned.json)."""
    return assets_dir() / "presets" / f"{TUNED}.json"


def read_presets(path: str | Path | None = None) -> dict[str, Preset]:
    """method -> Preset from a presets file (default: the bundled one); {} when the file does not exist.
    Raises PresetError for a file that is not a presets file or names a setting that cannot be used."""
    path = Path(path) if path is not None else presets_file()
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PresetError(f"{path} is not a readable presets file: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != PRESETS_FORMAT or not isinstance(raw.get("methods"), dict):
        raise PresetError(f"{path} is not a presets file (format {PRESETS_FORMAT!r}); `make tune` writes one")
    if raw.get("version", PRESETS_VERSION) != PRESETS_VERSION:  # a later program's file may mean other things
        raise PresetError(
            f"{path} is a presets file of version {raw.get('version')!r}; this program reads version {PRESETS_VERSION}"
        )
    presets = {}
    for method, entry in raw["methods"].items():
        preset = _preset_from(method, entry, path)
        try:
            preset.config()  # every setting checked as training would check it
        except (TypeError, ValueError) as exc:
            raise PresetError(f"{path}: the preset of {method} cannot be used: {exc}") from None
        presets[method] = preset
    return presets


def _preset_from(method: str, entry, path: Path) -> Preset:
    if method not in METHODS:
        raise PresetError(f"{path} names an unknown method {method!r}; accepted: {', '.join(METHODS)}")
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("fields"), dict)
        or not isinstance(entry.get("options"), dict)
    ):
        raise PresetError(f"{path}: the preset of {method} needs 'fields' and 'options' objects")
    unknown = sorted(set(entry["fields"]) - set(PRESET_FIELDS))
    if unknown:
        raise PresetError(f"{path}: a preset may set {', '.join(PRESET_FIELDS)}; {method}'s sets {', '.join(unknown)}")
    return Preset(method, entry["fields"], entry["options"], entry.get("protocol", {}), entry.get("score", {}))


def get_preset(method: str, path: str | Path | None = None) -> Preset:
    """The tuned preset of `method`; PresetError saying how to make one when there is none."""
    presets = read_presets(path)
    if method not in presets:
        where = path or presets_file()
        raise PresetError(
            f"no tuned preset of {method} in {where}; `python -m meanflow tune --method {method}` makes one"
        )
    return presets[method]


def write_preset(path: str | Path, preset: Preset) -> None:
    """Put `preset` into the presets file at `path` (made if missing), keeping the other methods';
    written whole (a temporary file renamed), so a reader never sees half a file. Raises PresetError,
    writing nothing, where `path` holds something else than a usable presets file (replacing it would drop
    the other methods' presets)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise PresetError(f"{path} is not a file; the presets are written to a file of that name")
    methods = {m: p.to_dict() for m, p in read_presets(path).items()}
    methods[preset.method] = preset.to_dict()
    text = json.dumps(
        {"format": PRESETS_FORMAT, "version": PRESETS_VERSION, "methods": dict(sorted(methods.items()))},
        indent=2,
        default=_plain,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (text + "\n").encode())


def _plain(value):
    """JSON for numpy scalars (Optuna may hand them back)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def protocol_phrase(trials, seconds, targets, seeds: int = 1, also=()) -> str:
    """'12 trials of 60 s on 8gaussians, rings' (and ' x 2 seeds' when a trial trains several, ', critic
    searched too' for the levers searched besides): how a tuning protocol is said everywhere
    (lab.tuning.Protocol, the methods table's rows, tuning_sentence)."""
    per_target = f" x {seeds} seeds" if seeds > 1 else ""
    levers = f", {' and '.join(also)} searched too" if also else ""
    return f"{counted(trials, 'trial')} of {seconds:g} s on {', '.join(targets)}{per_target}{levers}"


def tuning_sentence(path: Path | None = None) -> str:
    """'each method tuned with 12 trials of 60 s on 8gaussians, rings', from the presets (default: the
    bundled ones), or what stands instead."""
    try:
        presets = read_presets(path)
    except PresetError as exc:
        return f"the methods' defaults: the tuned presets cannot be read ({exc})"
    if not presets:
        return "the methods' defaults: no tuned presets (`make tune` makes them)"
    protocols = {
        (
            p.protocol.get("trials"),
            p.protocol.get("seconds"),
            tuple(p.protocol.get("targets", ())),
            p.protocol.get("seeds", 1),
            tuple(p.protocol.get("also", ())),
        )
        for p in presets.values()
    }
    if len(protocols) > 1:
        return "methods tuned by different protocols (each row says how)"
    return "each method tuned with " + protocol_phrase(*protocols.pop())
