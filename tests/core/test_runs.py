"""Run folders: round trips, checkpoints, interrupted runs, old formats, and refusal of hostile files."""

import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.recfunctions import structured_to_unstructured as unstructured

from meanflow.core import runs
from meanflow.core.checkpoints import CheckpointError, checkpoint_bytes, checkpoint_from_bytes, weights_bytes
from meanflow.core.config import MAX_DEPTH, MAX_HIDDEN, option_specs
from meanflow.core.paths import pretrained_dir
from meanflow.core.registry import make_config, with_method
from meanflow.core.runs import (
    CONFIG_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    RunError,
    list_runs,
    load_run,
    read_info,
    read_teachers,
    save_result,
)
from meanflow.core.sampling import sample
from meanflow.core.targets import get_target, text_target
from meanflow.core.training import run_training

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def saved(tmp_path, tiny_config):
    result = run_training(tiny_config, get_target("checkerboard"))
    return save_result(tmp_path / "run", tiny_config, get_target("checkerboard"), result), result


@pytest.mark.parametrize("levers", [{}, {"ema": 0.9, "time_frequencies": 3, "space_frequencies": 2}])
def test_a_run_folder_round_trips(tmp_path, tiny_config, levers):
    """Config, history, state and weights read back equal; samples from both are identical (also with a
    moving average and Fourier features of the times and the state)."""
    config = replace(tiny_config, **levers)
    result = run_training(config, get_target("checkerboard"))
    path = save_result(tmp_path / "run", config, get_target("checkerboard"), result)
    run = load_run(path)
    assert run.config == config and run.info.state == "done" and run.target.name == "checkerboard"
    np.testing.assert_allclose(run.history["loss"], result.history["loss"], rtol=1e-6)
    for p, q in zip(run.flow.net.parameters(), result.flow.net.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    a = sample(run.flow, 200, 2, torch.Generator().manual_seed(0)).samples
    b = sample(result.flow, 200, 2, torch.Generator().manual_seed(0)).samples
    np.testing.assert_array_equal(a, b)


def test_a_data_target_run_keeps_its_points_and_units(tmp_path, tiny_config):
    target = text_target("M")
    run = load_run(save_result(tmp_path / "text", tiny_config, target, run_training(tiny_config, target)))
    assert run.target.name == target.name and run.flow.normaliser == target.normaliser
    assert run.info.target_kind == "data" and run.info.target_name == "text: M"
    np.testing.assert_array_equal(run.target.points, target.points)


def test_the_target_name_comes_from_the_target(tmp_path, tiny_config):
    """A config carries no target name: what the folder says is the target that was trained."""
    path = save_result(
        tmp_path / "moons", tiny_config, get_target("moons"), run_training(tiny_config, get_target("moons"))
    )
    assert (
        read_info(path).target_name == "moons"
        and "target" not in json.loads((path / CONFIG_FILE).read_text())["config"]
    )


def test_a_run_that_no_job_owns_reads_as_interrupted_and_samples_from_its_checkpoint(tmp_path, tiny_config):
    """A folder left 'running' (its server died) lists as interrupted at its step and still loads."""
    target = get_target("moons")
    path = runs.create_run(tmp_path / "run", tiny_config, target)
    assert read_info(path).state == "interrupted" and read_info(path, live=True).state == "queued"
    with pytest.raises(RunError, match="no weights yet"):
        load_run(path)
    checkpoints = []
    run_training(replace(tiny_config, checkpoint_seconds=1e-9, steps=30), target, on_checkpoint=checkpoints.append)
    ckpt = checkpoints[-1]
    runs.write_checkpoint(path, checkpoint_bytes(ckpt), ckpt.step, ckpt.elapsed, ckpt.history)
    info = read_info(path)
    assert info.state == "interrupted" and info.step == 30 and info.message == "interrupted at step 30"
    assert info.resumable and load_run(path).flow is not None


def test_checkpoint_bytes_round_trip_exactly(tiny_config):
    checkpoints = []
    run_training(
        replace(tiny_config, checkpoint_seconds=1e-9, steps=25), get_target("moons"), on_checkpoint=checkpoints.append
    )
    ckpt = checkpoints[-1]
    back = checkpoint_from_bytes(checkpoint_bytes(ckpt))
    assert (back.step, back.elapsed, back.adam_groups) == (ckpt.step, ckpt.elapsed, ckpt.adam_groups)
    np.testing.assert_array_equal(np.asarray(back.pending), np.asarray(ckpt.pending))  # NaN where no split
    assert set(back.tensors) == set(ckpt.tensors) and all(
        torch.equal(back.tensors[k], v) for k, v in ckpt.tensors.items()
    )
    np.testing.assert_array_equal(unstructured(back.history), unstructured(ckpt.history))
    with pytest.raises(CheckpointError, match="not a valid checkpoint"):
        checkpoint_from_bytes(b"\x00" * 64)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/meanflow_pwned_marker",))


def test_a_planted_pickle_is_refused_and_never_executed(saved):
    """A pickle in place of the weights must raise RunError without running its payload."""
    path, _ = saved
    marker = Path("/tmp/meanflow_pwned_marker")
    marker.unlink(missing_ok=True)
    (path / WEIGHTS_FILE).write_bytes(pickle.dumps({"layers.0.weight": _Payload()}))
    torch.save({"x": _Payload()}, path / "weights.pt")  # a decoy a careless loader might pick up
    with pytest.raises(RunError, match="not a valid safetensors file"):
        load_run(path)
    assert not marker.exists()


def _edit_config(path, **changes):
    doc = json.loads((path / CONFIG_FILE).read_text())
    doc["config"].update(changes)
    (path / CONFIG_FILE).write_text(json.dumps(doc))


def _edit_document(path, **changes):
    doc = json.loads((path / CONFIG_FILE).read_text())
    doc.update(changes)
    (path / CONFIG_FILE).write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda p: (p / CONFIG_FILE).write_text("{not json"), "not valid JSON"),
        (
            lambda p: (p / CONFIG_FILE).write_text('{"format": "meanflow-run", "step": ' + "9" * 5000 + "}"),
            "not valid JSON",
        ),
        (lambda p: (p / CONFIG_FILE).write_text("[" * 60_000), "not valid JSON"),
        (lambda p: (p / CONFIG_FILE).write_text(json.dumps({"format": "other"})), "not a meanflow run config"),
        (lambda p: (p / CONFIG_FILE).unlink(), "missing"),
        (lambda p: (p / CONFIG_FILE).write_bytes(b" " * (runs.MAX_CONFIG_BYTES + 1)), "larger than"),
        (lambda p: (p / WEIGHTS_FILE).write_bytes(b"\x00" * 3), "not a valid safetensors"),
        (lambda p: _edit_config(p, hidden=999), "does not fit the configured network"),
        (lambda p: _edit_config(p, steps=-5), "not a valid run config"),
        (lambda p: _edit_config(p, hidden=10**6, depth=3), "not a valid run config"),
        (lambda p: _edit_config(p, lr=float("inf")), "not a valid run config"),
        (lambda p: _edit_config(p, evil="__import__('os')"), "unknown config fields"),
        (lambda p: _edit_config(p, options={"r_neq_t": "all"}), "not a valid run config"),
        (lambda p: _edit_document(p, step=10**400), "not a valid run config"),
        (lambda p: _edit_document(p, state="exploded"), "not a valid run config"),
        (lambda p: _edit_document(p, normaliser={"centre": [0, 0], "scale": -1}), "not a valid run config"),
        (lambda p: _edit_document(p, target={"kind": "data", "name": "x"}), "target.safetensors is missing"),
    ],
)
def test_corrupt_run_folders_give_clear_errors(saved, corrupt, message):
    path, _ = saved
    corrupt(path)
    with pytest.raises(RunError, match=message):
        load_run(path)


def test_a_damaged_metrics_table_loses_the_curves_not_the_network(saved):
    path, _ = saved
    intact = load_run(path)
    with open(path / METRICS_FILE, "a") as f:
        f.write("garbage,,\x00\n1,2\n")
    run = load_run(path)
    assert len(run.history) == 0 and "metrics.csv is not a metrics table" in run.history_problem
    assert not intact.history_problem and len(intact.history) > 0
    a, b = (sample(r.flow, 64, 1, torch.Generator().manual_seed(0)).samples for r in (run, intact))
    np.testing.assert_array_equal(a, b)


def test_saving_again_replaces_files_whole_and_leaves_no_temporaries(saved, tiny_config):
    path, result = saved
    save_result(path, tiny_config, get_target("checkerboard"), result)
    assert sorted(p.name for p in path.iterdir()) == [
        "checkpoint.safetensors",
        "config.json",
        "metrics.csv",
        "weights.safetensors",
    ]


def test_list_runs_reads_only_config_and_skips_broken_folders_with_a_warning(saved, tmp_path):
    path, _ = saved
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / CONFIG_FILE).write_text("garbage")
    (tmp_path / "empty").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (path / WEIGHTS_FILE).write_bytes(b"garbage")  # listing never opens weights
    infos, problems = list_runs(tmp_path)
    assert [i.path for i in infos] == [path] and infos[0].state == "done"
    assert sorted(p.split(":")[0] for p in problems) == [
        "skipped broken",
        "skipped empty",
    ]  # a dangling link is no folder


def test_a_version_1_run_folder_still_loads(tmp_path):
    """Folders written before the method zoo (target inside the config, options as 'meanflow') load
    with their options; one from before couplings existed reads as independent."""
    path = tmp_path / "v1"
    path.mkdir()
    bundled = ROOT / "assets" / "pretrained" / "meanflow-moons"
    doc = {
        "format": "meanflow-run",
        "version": 1,
        "config": {
            "method": "meanflow",
            "target": "moons",
            "steps": 5,
            "hidden": 16,
            "depth": 2,
            "meanflow": {"time_sampler": "uniform", "r_neq_t": 0.5, "weight_power": 0.5},
        },
        "target": {"kind": "preset", "name": "moons"},
        "normaliser": {"centre": [0, 0], "scale": 1.0},
        "state": "done",
        "message": "finished 5 steps",
        "elapsed": 1.0,
    }
    (path / CONFIG_FILE).write_text(json.dumps(doc))
    old_network = make_config(steps=1, hidden=16, depth=2, time_frequencies=0)  # raw time inputs, as in v1
    net = run_training(old_network, get_target("moons")).checkpoint.weights
    (path / WEIGHTS_FILE).write_bytes(weights_bytes(net))
    run = load_run(path)
    assert run.config.options.r_neq_t == 0.5 and run.config.coupling == "independent" and run.info.shared
    assert bundled.is_dir()  # the bundled runs are the other reader of old folders


def test_run_ids_are_unguessable_and_paths_cannot_escape(tmp_path, tiny_config):
    a, b = runs.new_run_id(tiny_config), runs.new_run_id(tiny_config)
    assert a != b and len(a.rsplit("-", 1)[1]) == 24 and runs.RUN_ID.match(a)
    for bad in ("../etc", "..", "a/b", "", "x" * 200, ".hidden"):
        with pytest.raises(RunError, match="is not a run id"):
            runs.run_path(tmp_path, bad)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(RunError, match="not found"):
        load_run(tmp_path / "nope")


@pytest.mark.slow
def test_the_largest_accepted_network_saves_loads_and_samples(tmp_path):
    """Every limit the program accepts is one it can save, load and sample (the largest network: 67M
    parameters, a quarter of a gigabyte of weights)."""
    config = make_config(hidden=MAX_HIDDEN, depth=MAX_DEPTH, batch=4, steps=1, max_seconds=None)
    target = get_target("moons")
    result = run_training(config, target)
    assert result.state == "done", result.message
    path = save_result(tmp_path / "big", config, target, result)
    run = load_run(path)
    assert run.config == config
    x = sample(run.flow, 16, 2, torch.Generator().manual_seed(0)).samples
    assert x.shape == (16, 2) and np.isfinite(x).all()


def test_a_bundled_run_names_its_teacher_by_a_bundled_id_not_a_path():
    """A shipped reflow run names its teacher as the folder shipped beside it (the same target), never the
    path of the machine that made it."""
    infos, problems = list_runs(pretrained_dir())
    assert not problems
    named = 0
    for info in infos:
        for spec in option_specs(type(info.config.options)):
            if spec.names_run:
                teacher = getattr(info.config.options, spec.name)
                assert "/" not in teacher, (info.id, teacher)
                assert read_info(pretrained_dir() / teacher).target_name == info.target_name
                named += 1
    assert named >= 3  # the bundled reflow runs


def test_set_named_run_points_a_teacher_at_a_folder_beside_the_run(tmp_path, tiny_config):
    teacher_config = make_config("flow-matching", steps=5, hidden=16, depth=2)
    target = get_target("moons")
    save_result(tmp_path / "fm-moons", teacher_config, target, run_training(teacher_config, target))
    student = with_method(teacher_config, "reflow", {"teacher": str(tmp_path / "fm-moons"), "pairs": 256})
    trained = run_training(student, target, teachers=read_teachers(student, target))
    save_result(tmp_path / "reflow-moons", student, target, trained)
    runs.set_named_run(tmp_path / "reflow-moons", "teacher", "fm-moons")
    assert read_info(tmp_path / "reflow-moons").config.options.teacher == "fm-moons"
    with pytest.raises(ValueError, match="no option"):
        runs.set_named_run(tmp_path / "fm-moons", "teacher", "x")
    with pytest.raises(RunError, match="not a run id"):
        runs.set_named_run(tmp_path / "reflow-moons", "teacher", "../elsewhere")


def test_metrics_from_before_the_split_loss_read_with_nan_in_the_new_columns(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,loss,mse,lr,seconds\n10,1.5,1.2,0.001,0.5\n20,1.0,0.9,0.001,1.0\n")
    history = runs.read_history(tmp_path)
    assert list(history["step"]) == [10, 20] and list(history["loss"]) == [1.5, 1.0]
    assert np.isnan(history["loss_instant"]).all() and np.isnan(history["preview_tv"]).all()
    (tmp_path / "metrics.csv").write_text("step,loss,mse,lr,seconds\n10,1.5,1.2,0.001\n")
    with pytest.raises(RunError, match="every row must have 5 values"):
        runs.read_history(tmp_path)


def test_repeated_run_labels_are_told_apart_and_single_ones_kept():
    """library.distinct_labels: a label two runs share gets each run's start time from its id, or the id's
    start where the id has no time; the same label and time twice are numbered; a unique label stays."""
    from meanflow.core.library import distinct_labels

    given = [
        ("MeanFlow · moons", "20260101-093000-meanflow-aa"),
        ("MeanFlow · moons", "20260101-094512-meanflow-bb"),
        ("Flow matching · moons", "20260101-093000-flow-matching-cc"),
        ("iMF · spiral", "imf-spiral"),
        ("iMF · spiral", "imf-spiral"),
    ]
    assert distinct_labels(given) == [
        "MeanFlow · moons · started 09:30:00",
        "MeanFlow · moons · started 09:45:12",
        "Flow matching · moons",
        "iMF · spiral · imf-spiral (1)",
        "iMF · spiral · imf-spiral (2)",
    ]
