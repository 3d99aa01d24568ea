"""MeanFlow playground core: targets, methods, samplers, metrics, training, the job engine and run folders.

Convention (stated once, in methods/base.py): t = 0 is data, t = 1 is noise, z_t = (1 - t) x + t e.
This package never imports streamlit; the app's pages compose these calls. Names load on first
use (PEP 562), so `import meanflow.figures` or `meanflow.config` does not pull in torch.
"""

from importlib import import_module

_HOMES = {
    "core.config": ["HISTORY_COLUMNS", "TrainConfig"],
    "engine.jobs": ["Engine", "LimitError", "Snapshot", "engine_from_env"],
    "core.library": ["RunCache", "RunEntry", "RunIndex", "Session"],
    "core.methods": ["METHODS", "Method", "get_method"],
    "core.metrics": ["Evaluator", "Quality", "evaluate"],
    "core.models": ["MLP", "pick_device"],
    "core.runs": ["RunError", "RunInfo", "SavedRun", "list_runs", "load_run", "read_info", "save_result"],
    "core.sampling": ["Flow", "Trajectory", "sample", "time_grid"],
    "core.targets": [
        "Normaliser",
        "Target",
        "TargetError",
        "TargetSpec",
        "get_target",
        "target_from_bytes",
        "target_from_file",
        "target_names",
        "text_target",
    ],
    "core.training": ["Checkpoint", "RunResult", "run_training", "train"],
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'meanflow' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
