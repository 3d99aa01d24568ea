"""A session's runs: private by default, shared on request, reachable by id, paged; the bounded cache."""

import gc
from dataclasses import replace

import pytest

from meanflow.core import runs
from meanflow.core.library import RunCache, RunIndex
from meanflow.core.runs import load_run, read_info, save_result, set_shared
from meanflow.core.targets import get_target
from meanflow.core.training import run_training
from tests.app.test_app import ROOT
from tests.conftest import wait_until
from ui.session import Session

pytestmark = pytest.mark.slow  # worker processes, subprocesses or whole app runs: `make test-fast` skips them


def _session(engine, tmp_path, mode="private", owner=None):
    return Session(engine, RunIndex(tmp_path / "runs"), None, RunCache(4), mode=mode, owner=owner)


def _saved_run(tmp_path, config, name, target="moons", shared=False):
    path = save_result(tmp_path / "runs" / name, config, get_target(target), run_training(config, get_target(target)))
    set_shared(path, shared)
    return path


def test_a_launched_run_is_this_sessions_own_and_private(engine, tmp_path, tiny_config):
    a, b = _session(engine, tmp_path), _session(engine, tmp_path)
    entry = a.launch(tiny_config, get_target("moons"))
    assert entry.source == "own" and entry.label == "MeanFlow · moons" and entry.state in ("queued", "running")
    engine.wait(entry.id, 60)
    (own,) = a.own()
    assert own.state == "done" and own.usable and a.ready()[0].key == own.key
    assert b.entries() == [] and b.library()[1] == 0  # private: not listed for another session
    a.share(own.key)
    (listed,), total, _ = b.library()
    assert total == 1 and listed.id == own.id
    b.open(own.id)
    assert [e.key for e in b.opened()] == [own.key] and b.load(b.opened()[0]).flow is not None


def test_a_run_is_reachable_by_its_id_and_nothing_else(engine, tmp_path, tiny_config):
    path = _saved_run(tmp_path, tiny_config, "20260101-000000-meanflow-aaaaaaaaaaaaaaaaaaaaaaaa")
    sess = _session(engine, tmp_path)
    assert sess.open(path.name).source == "opened"
    for bad in ("../runs", "nope", "", "a/b"):
        assert sess.open(bad) is None


def test_two_runs_of_one_name_are_told_apart_wherever_the_session_lists_them(engine, tmp_path, tiny_config):
    """A student's walk: after Compare's 'Run live', Animate offered several 'MeanFlow · moons' runs by the same
    name. The session's lists, and `get`, name each by its start time."""
    sess = _session(engine, tmp_path)
    for stamp in ("20260101-093000", "20260101-094512"):
        sess.open(_saved_run(tmp_path, replace(tiny_config, steps=5), f"{stamp}-meanflow-{'a' * 24}").name)
    labels = sorted(e.label for e in sess.entries())
    assert labels == ["MeanFlow · moons · started 09:30:00", "MeanFlow · moons · started 09:45:12"]
    assert sorted(e.label for e in sess.opened()) == labels
    assert sess.get(sess.opened()[0].key).label == sess.opened()[0].label


def test_shared_mode_lists_every_run_and_search_and_pages_work(engine, tmp_path, tiny_config):
    for i, target in enumerate(["moons", "moons", "rings", "moons", "spiral"]):
        _saved_run(tmp_path, replace(tiny_config, steps=5), f"run{i}", target)
    private = _session(engine, tmp_path)
    assert private.library()[1] == 0
    classroom = _session(engine, tmp_path, mode="shared")
    page, total, _ = classroom.library(limit=2)
    assert total == 5 and len(page) == 2
    assert len(classroom.library(offset=4, limit=2)[0]) == 1
    assert classroom.library("rings")[1] == 1 and classroom.library("run3")[1] == 1


def test_a_link_lets_a_person_watch_a_run_and_only_its_owner_controls_it(engine, tmp_path, tiny_config):
    """Failure 1: opening another session's live run by its link listed it as the opener's own, with Stop,
    and its share switch published the owner's private run. Now the link holder watches (progress
    included) and cannot stop, resume or share; the owner's reloaded tab (same owner key) controls it."""
    owner_key = "ab" * 16
    old = _session(engine, tmp_path, owner=owner_key)
    entry = old.launch(replace(tiny_config, steps=10**6), get_target("moons"))
    assert read_info(tmp_path / "runs" / entry.id).owner == owner_key
    watcher = _session(engine, tmp_path)
    watched = watcher.open(entry.id)
    assert watched.source == "opened" and not watched.controllable
    wait_until(lambda: watcher.entry(entry.id).running, what="the run to train, seen by the watcher")
    key = f"run:{entry.id}"
    watcher.stop(key)
    watcher.share(key)
    with pytest.raises(ValueError, match="only the session that launched"):
        watcher.resume(key)
    assert not engine.snapshot(entry.id).finished and not read_info(tmp_path / "runs" / entry.id).shared
    reloaded = _session(engine, tmp_path, owner=owner_key)
    reloaded.reclaim()  # its runs come back by its owner key, before any link is opened
    assert [e.id for e in reloaded.own()] == [entry.id]
    watcher.reclaim()
    assert [e.id for e in watcher.own()] == []
    del old  # the reloaded tab's old session is dropped: the owner's runs live on in the new one
    gc.collect()
    assert reloaded.open(entry.id).source == "own"
    assert not engine.snapshot(entry.id).finished
    reloaded.stop(key)
    assert engine.wait(entry.id, 30).state == "stopped"


def test_a_dropped_session_stops_its_runs(engine, tmp_path, tiny_config):
    sess = _session(engine, tmp_path)
    entry = sess.launch(replace(tiny_config, steps=10**6), get_target("moons"))
    wait_until(lambda: engine.snapshot(entry.id).state == "running", what="the run to start")
    del sess
    gc.collect()
    assert engine.wait(entry.id, 30).state == "stopped"
    assert read_info(tmp_path / "runs" / entry.id).state == "stopped"


def test_resume_continues_an_interrupted_run_to_its_end(engine, tmp_path, tiny_config):
    """A run whose job vanished (a server restart) lists as interrupted and resumes from its checkpoint."""
    cfg = replace(tiny_config, steps=200, checkpoint_seconds=1e-9)
    sess = _session(engine, tmp_path, owner="cd" * 16)
    path = runs.create_run(
        tmp_path / "runs" / "20260101-000000-meanflow-bbbbbbbbbbbbbbbbbbbbbbbb",
        cfg,
        get_target("moons"),
        owner=sess.owner,
    )
    saved = []
    run_training(replace(cfg, steps=50), get_target("moons"), on_checkpoint=saved.append)
    runs.write_checkpoint(path, runs.checkpoint_bytes(saved[-1]), 50, saved[-1].elapsed, saved[-1].history)
    entry = sess.open(path.name)
    assert entry.state == "interrupted" and entry.info.message == "interrupted at step 50" and entry.usable
    sess.resume(entry.key)
    assert engine.wait(path.name, 60).state == "done"
    assert sess.entry(path.name).source == "own" and read_info(path).step == 200


def test_the_run_cache_holds_at_most_its_size(tmp_path, tiny_config):
    paths = [_saved_run(tmp_path, replace(tiny_config, steps=2), f"r{i}") for i in range(6)]
    cache = RunCache(3)
    loaded = [cache.get(read_info(p)) for p in paths]
    assert len(cache) == 3 and loaded[-1].flow is not None
    assert cache.get(read_info(paths[-1])) is loaded[-1]  # a hit is the same object
    assert cache.get(read_info(paths[0])) is not loaded[0]  # evicted, read again


@pytest.mark.parametrize("mode", ["private", "shared"])
def test_bundled_runs_are_in_every_session(engine, tmp_path, mode):
    sess = Session(engine, RunIndex(tmp_path), RunIndex(ROOT / "assets" / "pretrained"), RunCache(2), mode=mode)
    bundled = sess.bundled()
    assert bundled and all(e.source == "bundled" and e.label.endswith("(pretrained)") for e in bundled)
    assert load_run(bundled[0].info.path).flow is not None


def test_bundled_runs_open_on_the_plain_checkerboard_pair_and_name_their_guidance(engine, tmp_path):
    """A page's first pick (and Compare's first pair) is unconditional MeanFlow then flow matching on the
    first preset target, not a guidance run; a run trained with guidance says its omega in its label."""
    sess = Session(engine, RunIndex(tmp_path), RunIndex(ROOT / "assets" / "pretrained"), RunCache(2))
    bundled = sess.bundled()
    assert [e.key for e in bundled[:2]] == ["bundled:meanflow-checkerboard", "bundled:flow-matching-checkerboard"]
    classes = [bool(e.info.config.classes) for e in bundled]
    assert classes == sorted(classes)  # every class-conditional run after every unconditional one
    by_key = {e.key: e.label for e in bundled}
    assert by_key["bundled:guidance-meanflow-omega-3-8gaussians"] == "MeanFlow · 8gaussians · ω = 3 (pretrained)"
    assert by_key["bundled:guidance-flow-matching-8gaussians"] == "Flow matching · 8gaussians (pretrained)"


def test_a_bundled_ablation_run_is_listed_once_opened_and_only_by_its_id(engine, tmp_path):
    studies = ROOT / "assets" / "studies" / "runs"
    sess = Session(engine, RunIndex(tmp_path), None, RunCache(2), study_index=RunIndex(studies))
    assert sess.studies() == []
    run_id = sorted(p.name for p in studies.iterdir())[0]
    for bad in ("../pretrained/meanflow-moons", "no-such-run", ""):
        assert sess.open_study(bad, "x") is None
    entry = sess.open_study(run_id, "The JVP tangent: (v, 0, 1)")
    assert entry.key == f"study:{run_id}" and entry.source == "bundled" and entry.label.endswith("(v, 0, 1))")
    assert [e.key for e in sess.entries()] == [entry.key] and sess.get(entry.key) == entry
    assert sess.load(entry).flow is not None
