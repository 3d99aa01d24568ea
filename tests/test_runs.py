"""Run folders: round trips, atomic writes, and refusal of corrupt or hostile files."""

import json
import os
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch

from meanflow.runs import CONFIG_FILE, WEIGHTS_FILE, RunError, list_runs, load_run, save_job
from meanflow.sampling import sample
from meanflow.targets import get_target, text_target
from meanflow.trainer import train


@pytest.fixture
def saved(tmp_path, tiny_config):
    job = train(tiny_config, get_target("checkerboard"))
    return save_job(tmp_path / "run", job), job


def test_a_run_folder_round_trips(saved):
    """Config, history, state and weights read back equal; samples from both are identical."""
    path, job = saved
    run = load_run(path)
    assert run.config == job.config and run.state == "done" and run.target.name == "checkerboard"
    np.testing.assert_allclose(run.history, job.history, rtol=1e-6, atol=1e-6)
    for p, q in zip(run.flow.net.parameters(), job.flow.net.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    a = sample(run.flow, 200, 2, torch.Generator().manual_seed(0)).samples
    b = sample(job.flow, 200, 2, torch.Generator().manual_seed(0)).samples
    np.testing.assert_array_equal(a, b)


def test_a_data_target_run_keeps_its_points_and_units(tmp_path, tiny_config):
    target = text_target("M")
    job = train(replace(tiny_config, target=target.name), target)
    run = load_run(save_job(tmp_path / "text", job))
    assert run.target.name == target.name and run.flow.normaliser == target.normaliser
    np.testing.assert_array_equal(run.target.points, target.points)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/meanflow_pwned_marker",))


def test_a_planted_pickle_is_refused_and_never_executed(saved):
    """A pickle in place of the weights must raise RunError without running its payload."""
    path, _ = saved
    marker = "/tmp/meanflow_pwned_marker"
    if os.path.exists(marker):
        os.remove(marker)
    (path / WEIGHTS_FILE).write_bytes(pickle.dumps({"layers.0.weight": _Payload()}))
    torch.save({"x": _Payload()}, path / "weights.pt")  # a decoy a careless loader might pick up
    with pytest.raises(RunError, match="not a valid safetensors file"):
        load_run(path)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("corrupt, message", [
    (lambda p: (p / CONFIG_FILE).write_text("{not json"), "not valid JSON"),
    (lambda p: (p / CONFIG_FILE).write_text(json.dumps({"format": "other"})), "not a meanflow run config"),
    (lambda p: (p / CONFIG_FILE).unlink(), "missing"),
    (lambda p: (p / WEIGHTS_FILE).write_bytes(b"\x00" * 3), "not a valid safetensors"),
    (lambda p: _edit_config(p, hidden=999), "does not fit the configured network"),
    (lambda p: _edit_config(p, steps=-5), "not a valid run config"),
    (lambda p: _edit_config(p, hidden=10**6, depth=3), "not a valid run config"),
    (lambda p: _edit_config(p, hidden=4096, depth=32), "does not fit the configured network"),
    (lambda p: _edit_config(p, evil="__import__('os')"), "unknown config fields"),
])
def test_corrupt_run_folders_give_clear_errors(saved, corrupt, message):
    path, _ = saved
    corrupt(path)
    with pytest.raises(RunError, match=message):
        load_run(path)


def _edit_config(path, **changes):
    doc = json.loads((path / CONFIG_FILE).read_text())
    doc["config"].update(changes)
    (path / CONFIG_FILE).write_text(json.dumps(doc))


def test_saving_again_replaces_files_whole_and_leaves_no_temporaries(saved):
    path, job = saved
    save_job(path, job)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "metrics.csv", "weights.safetensors"]


def test_list_runs_skips_broken_folders_with_a_warning(saved, tmp_path):
    path, _ = saved
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / CONFIG_FILE).write_text("garbage")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    runs, problems = list_runs(tmp_path)
    assert [r.path for r in runs] == [path]
    assert len(problems) == 1 and problems[0].startswith("skipped broken")


def test_a_saved_config_names_its_coupling_and_old_ones_read_as_independent(saved):
    """The resolved coupling is saved; a config from before couplings existed loads as independent."""
    path, job = saved
    assert job.config.coupling == "minibatch-ot" and load_run(path).config.coupling == "minibatch-ot"
    doc = json.loads((path / CONFIG_FILE).read_text())
    del doc["config"]["coupling"]
    (path / CONFIG_FILE).write_text(json.dumps(doc))
    assert load_run(path).config.coupling == "independent"


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(RunError, match="not found"):
        load_run(tmp_path / "nope")
