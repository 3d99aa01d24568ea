"""MeanFlow playground core: targets, methods, samplers, metrics, the trainer and run folders.

Convention (stated once, in methods.py): t = 0 is data, t = 1 is noise, z_t = (1 - t) x + t e.
This package never imports streamlit; the app's pages compose these calls.
"""

from .methods import METHODS, FlowMatching, LossTerms, MeanFlow, MeanFlowConfig, get_method
from .metrics import Quality, evaluate
from .models import MLP, pick_device
from .runs import RunError, SavedRun, list_runs, load_run, save_job, save_run
from .sampling import Flow, Trajectory, sample, time_grid
from .targets import (
    Normaliser,
    Target,
    TargetError,
    get_target,
    target_from_bytes,
    target_from_file,
    target_names,
    text_target,
)
from .trainer import Snapshot, TrainConfig, TrainingJob

__all__ = [
    "METHODS", "FlowMatching", "LossTerms", "MeanFlow", "MeanFlowConfig", "get_method",
    "Quality", "evaluate",
    "MLP", "pick_device",
    "RunError", "SavedRun", "list_runs", "load_run", "save_job", "save_run",
    "Flow", "Trajectory", "sample", "time_grid",
    "Normaliser", "Target", "TargetError", "get_target", "target_from_bytes", "target_from_file",
    "target_names", "text_target",
    "Snapshot", "TrainConfig", "TrainingJob",
]
