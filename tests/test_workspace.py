"""The session workspace: live jobs are saved when they end; disk runs are listed once each."""

import time
from dataclasses import replace

from meanflow.runs import load_run, save_job
from meanflow.targets import get_target
from meanflow.trainer import train
from meanflow.workspace import Workspace


def test_a_launched_job_saves_its_run_when_it_ends(tmp_path, tiny_config):
    ws = Workspace(tmp_path)
    entry = ws.launch(tiny_config, get_target("moons"))
    assert entry.source == "live" and entry.label == "MeanFlow · moons #1" and entry.config.target == "moons"
    entry.job.join()  # the save runs in the job's thread, before the thread ends
    (folder,) = list(tmp_path.iterdir())
    assert load_run(folder).state == "done"
    assert ws.saved() == []  # its own run is listed once, as live
    assert [e.key for e in ws.ready()] == [entry.key] and not ws.any_running


def test_a_stopped_job_is_saved_and_usable(tmp_path, tiny_config):
    ws = Workspace(tmp_path)
    entry = ws.launch(replace(tiny_config, steps=10**7), get_target("rings"))
    time.sleep(0.3)
    assert ws.any_running and entry.flow is None
    ws.stop_all()
    entry.job.join()
    assert entry.state == "stopped" and entry.flow is not None


def test_saved_and_bundled_runs_are_listed_with_skips_reported(tmp_path, tiny_config):
    other = save_job(tmp_path / "other", train(tiny_config, get_target("checkerboard")))
    (tmp_path / "half-written").mkdir()
    bundled = load_run(other)
    ws = Workspace(tmp_path, bundled=[bundled])
    saved = ws.saved()
    assert [e.key for e in saved] == ["saved:other"] and ws.problems[0].startswith("skipped half-written")
    assert ws.bundled()[0].label.endswith("(pretrained)")
    assert ws.get("saved:other") is None  # in the library, not in this session's lists...
    assert ws.open("saved:other").key == "saved:other" and ws.open("nope") is None
    assert ws.get("saved:other").flow is not None  # ...until opened
    assert ws.saved()[0].saved is saved[0].saved  # read once, then served from the cache


def test_two_sessions_never_see_each_others_runs(tmp_path, tiny_config):
    """Live runs of one workspace are absent from another's lists, even after they are saved."""
    a, b = Workspace(tmp_path), Workspace(tmp_path)
    entry = a.launch(tiny_config, get_target("moons"))
    entry.job.join()
    assert [e.key for e in a.entries()] == [entry.key]
    assert b.entries() == [] and b.ready() == []
    assert [e.saved.path.name for e in b.saved()] == [a.folder(entry).name]  # b may open it from the library
