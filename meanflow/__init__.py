"""MeanFlow playground: one-step generative modeling on 2D data, in layers.

    core/    configs, the registries, the network, the methods, targets, pairings, samplers, metrics,
             run folders and the training loop (imports nothing above it)
    engine/  jobs on local worker processes or a Ray cluster, and every MEANFLOW_* variable
    lab/     studies, sweeps, their scores and tables, and the benchmarks
    views/   numpy geometry, Plotly figures, Home's canvas page, movie export (on the core alone)
    cli/     the command line, one module per subcommand
The app (app.py, app_pages/, ui/) sits on top. The rule (nothing imports upwards; no circles) is
checked by import-linter: pyproject.toml's [tool.importlinter].

Convention (stated once, in core/methods/base.py): t = 0 is data, t = 1 is noise, z_t = (1 - t) x + t e.
This package never imports streamlit. The names below load on first use (PEP 562), so
`import meanflow` stays light.
"""

from importlib import import_module

_HOMES = {
    "core.checkpoints": ["Checkpoint"],
    "core.config": ["HISTORY_COLUMNS", "TrainConfig"],
    "core.library": ["RunCache", "RunIndex"],
    "core.metrics": ["Evaluator", "Quality", "evaluate"],
    "core.models": ["MLP", "pick_device"],
    "core.registry": ["METHODS", "Method", "config_from_dict", "get_method", "make_config"],
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
    "core.training": ["RunResult", "run_training"],
    "engine.jobs": ["Engine", "Snapshot", "engine_from_env"],
    "engine.limits": ["LimitError"],
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'meanflow' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
