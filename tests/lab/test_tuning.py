"""Equal tuning: the search space each method gets, the defaults as the first trial, trials on the engine
with pruning, and the tuned presets that training and the comparison read."""

import json

import optuna
import pytest

from meanflow.core import runs
from meanflow.core.presets import (
    PRESET_FIELDS,
    Preset,
    PresetError,
    get_preset,
    read_presets,
    tuning_sentence,
    write_preset,
)
from meanflow.core.registry import METHODS, make_config
from meanflow.lab import tuning
from meanflow.lab.studies import EVALUATION_TARGETS, STUDIES, UNTUNED, method_cells
from meanflow.lab.tuning import (
    LEVER_SEARCH,
    SHARED_SEARCH,
    TUNING_TARGETS,
    Protocol,
    Tuner,
    default_params,
    search_space,
    split_params,
    trial_config,
)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_searches_the_shared_settings_and_the_defaults_are_in_its_space(method):
    """The same shared settings for all; the pairing for every method that pairs its batches; the method's
    own options where declared; the levers asked for where the method accepts them; and its defaults are a
    point of the space (the first trial)."""
    assert set(search_space(method)) == set(search_space(method, ())) and "adversarial" not in search_space(method)
    space = search_space(method, tuple(LEVER_SEARCH))
    assert set(SHARED_SEARCH) <= set(space) and "space_frequencies" in space
    assert ("adversarial" in space) == ("moment_matching" in space) == METHODS[method].learns_average
    assert ("adversarial_start" in space) == METHODS[method].learns_average
    assert ("coupling" in space) == METHODS[method].chooses_pairing
    defaults = default_params(method, space)
    for name, value in defaults.items():
        search = space[name]
        assert value in search.values if search.values else search.lo <= value <= search.hi, (name, value)
    fields, options = split_params(defaults)
    config = make_config(method, options, **fields)
    assert config == make_config(method)  # the first trial is exactly the method's defaults


def test_every_searched_setting_can_be_stored_in_a_preset():
    """A best trial's fields become its preset's: a searched field the presets file refuses would lose it."""
    for settings in [SHARED_SEARCH, *LEVER_SEARCH.values()]:
        assert set(settings) <= set(PRESET_FIELDS)


def test_a_protocol_with_levers_names_them_and_refuses_unknown_ones(tmp_path):
    """`tune --also critic`: the search gains the critic for the methods that accept it, the protocol says
    so wherever it is said (its preset, the methods table's rows, the page's sentence)."""
    protocol = Protocol(trials=2, seconds=5.0, also=("critic",))
    assert protocol.describe() == "2 trials of 5 s on 8gaussians, rings, critic searched too"
    with pytest.raises(ValueError, match="unknown lever 'magic'; accepted: state-features, critic"):
        Protocol(also=("magic",))
    best = tuning.TrialRecord(0, "complete", {"lr": 0.003, "adversarial": 0.1, "options.r_neq_t": 0.5}, 0.2)
    preset = tuning.TuningResult("meanflow", protocol, [best], best, 1.0).preset()
    assert preset.protocol["also"] == ["critic"] and preset.config().adversarial == 0.1
    path = tmp_path / "tuned.json"
    write_preset(path, preset)
    assert tuning_sentence(path).endswith("critic searched too")
    cell = next(c for c in method_cells(read_presets(path)) if c.method == "meanflow")
    assert cell.tuning.endswith("critic searched too")
    plain = tuning.TuningResult("meanflow", Protocol(), [best], best, 1.0).preset()
    assert "also" not in plain.protocol  # the bundled protocol's presets are written as before


def test_tuning_and_evaluation_targets_do_not_overlap():
    assert not set(TUNING_TARGETS) & set(EVALUATION_TARGETS)


def test_a_trial_config_previews_at_the_step_count_its_method_is_judged_at():
    params = default_params("flow-matching", search_space("flow-matching"))
    config = trial_config("flow-matching", params, 5.0, seed=0)
    assert config.preview_nfe == 32 and config.max_seconds == 5.0
    assert trial_config("meanflow", default_params("meanflow", search_space("meanflow")), 5.0, 0).preview_nfe == 1


def test_presets_round_trip_and_bad_files_are_refused(tmp_path):
    path = tmp_path / "tuned.json"
    preset = Preset("meanflow", {"lr": 0.004, "hidden": 64}, {"r_neq_t": 0.5}, {"trials": 3}, {"hist_tv": 0.2})
    write_preset(path, preset)
    write_preset(path, Preset("shortcut", {"batch": 512}, {}))
    presets = read_presets(path)
    assert set(presets) == {"meanflow", "shortcut"} and presets["meanflow"] == preset
    config = presets["meanflow"].config(seed=4)
    assert (config.lr, config.hidden, config.options.r_neq_t, config.seed) == (0.004, 64, 0.5, 4)
    with pytest.raises(PresetError, match="tune --method imf"):
        get_preset("imf", path)
    for bad, message in (
        ("[]", "not a presets file"),
        ('{"format": "meanflow-presets", "methods": {"nope": {}}}', "unknown method"),
        ('{"format": "meanflow-presets", "version": 99, "methods": {}}', "this program reads version 1"),
        ('{"format": "meanflow-presets", "methods": {"meanflow": {"fields": {"seed": 1}, "options": {}}}}', "may set"),
        ('{"format": "meanflow-presets", "methods": {"meanflow": {"fields": {"lr": -1}, "options": {}}}}', "lr"),
    ):
        path.write_text(bad)
        with pytest.raises(PresetError, match=message):
            read_presets(path)
        with pytest.raises(PresetError, match=message):  # adding to it would drop what else it holds
            write_preset(path, preset)
        assert path.read_text() == bad


def test_a_tuning_with_the_state_features_is_read_and_compared_at_its_presets(tmp_path):
    """`tune --also state-features`'s presets may choose space_frequencies; lever_bench scores the
    methods study's cells at such a file (method_cells(presets))."""
    path = tmp_path / "tuned.json"
    write_preset(path, Preset("shortcut", {"space_frequencies": 3, "hidden": 64}, {}, {"trials": 12, "seconds": 60}))
    presets = read_presets(path)
    assert presets["shortcut"].config().space_frequencies == 3
    cells = {c.name: c for c in method_cells(presets)}
    shortcut = cells[METHODS["shortcut"].about.label]
    assert shortcut.tuned is presets["shortcut"] and shortcut.tuning.startswith("tuned")
    assert cells[METHODS["meanflow"].about.label].tuning == UNTUNED  # not in the file: its defaults, said so


def test_the_bundled_presets_cover_every_method_by_one_protocol():
    """`make tune` tuned every method with the same trials, seconds and targets."""
    presets = read_presets()
    assert set(presets) == set(METHODS), "assets/presets/tuned.json: run `make tune`"
    protocols = {json.dumps({k: p.protocol[k] for k in ("trials", "seconds", "targets")}) for p in presets.values()}
    assert len(protocols) == 1


def test_the_methods_study_compares_tuned_rows_at_their_pairing_with_both_flow_matchings():
    cells = {c.name: c for c in STUDIES["methods"].cells}
    assert {c.overrides["coupling"] for c in cells.values() if c.method == "flow-matching"} >= {
        "independent",
        "minibatch-ot",
    }
    reflows = [c for c in cells.values() if c.method == "reflow"]
    equal = next(c for c in reflows if c.budget_share == 0.5)
    assert cells[equal.teacher].budget_share == 0.5  # teacher + student = one budget
    assert any(c.budget_share == 1.0 and "not counted" in c.note for c in reflows)
    assert all(c.tuning.startswith("tuned") for c in cells.values())


@pytest.mark.slow
def test_a_tiny_tuning_runs_trials_on_the_engine_prunes_and_keeps_the_best(engine, tmp_path, monkeypatch):
    """Four trials of 100 steps on one target with two seeds: the first is the defaults, every complete
    trial has a score from both seeds' runs, and the best is the lowest; with pruning after two trials a
    hopeless one is stopped early.

    The trials end by steps, not seconds: on a slow machine a 1.5 s budget ran out before the first
    preview (which builds its evaluator), so no mark was ever passed and nothing could be pruned."""
    monkeypatch.setattr(tuning, "PRUNE_AFTER", 2)
    monkeypatch.setattr(tuning, "PREVIEW_EVERY", 10)
    monkeypatch.setattr(tuning, "MAX_STEPS", 100)
    monkeypatch.setattr(tuning, "POLL_SECONDS", 0.02)  # a fast machine runs the 75 steps after a mark in ~0.3 s
    calls = {"n": 0}
    real_should_prune = optuna.Trial.should_prune

    def prune_the_fourth(trial):  # the median pruner decides by scores; force one stop to test the path
        calls["n"] += 1
        return trial.number == 3 or real_should_prune(trial)

    monkeypatch.setattr(optuna.Trial, "should_prune", prune_the_fourth)
    protocol = Protocol(trials=4, seconds=120.0, targets=("moons",), seeds=2)
    result = Tuner("shortcut", protocol, engine, tmp_path).tune()
    assert [t.number for t in result.trials] == [0, 1, 2, 3]
    assert result.trials[0].params == default_params("shortcut", search_space("shortcut"))
    assert result.trials[3].state == "pruned" and result.trials[3].pruned_at is not None
    complete = [t for t in result.trials if t.state == "complete"]
    assert complete and all(0 <= t.value <= 1 for t in complete)
    assert all(set(t.scores) == {"moons-s0", "moons-s1"} for t in complete)
    for t in complete:  # the trial's value is the mean over its runs, each trained with its own seed
        assert t.value == pytest.approx((t.scores["moons-s0"]["hist_tv"] + t.scores["moons-s1"]["hist_tv"]) / 2)
        seeds = {runs.read_info(tmp_path / "shortcut" / f"trial-{t.number:03d}-moons-s{k}").config.seed for k in (0, 1)}
        assert seeds == {0, 1}
    assert result.best.value == min(t.value for t in complete)
    preset = result.preset()
    assert preset.config().hidden == result.best.params["hidden"] and preset.protocol["trials"] == 4


def test_a_protocol_of_several_seeds_trains_each_target_once_per_seed_and_says_so():
    two = Protocol(trials=2, seconds=5.0, targets=("moons", "rings"), seed=3, seeds=2)
    assert two.runs() == {
        "moons-s0": ("moons", 3),
        "moons-s1": ("moons", 4),
        "rings-s0": ("rings", 3),
        "rings-s1": ("rings", 4),
    }
    assert two.describe() == "2 trials of 5 s on moons, rings x 2 seeds"
    assert Protocol().runs() == {t: (t, 0) for t in TUNING_TARGETS}  # one seed: the runs are the targets


def test_the_learning_rate_is_searched_below_the_rates_that_blew_up_in_60_s_runs():
    """The first protocol's presets at 1.1-1.6e-2 diverged over 60 s (RESULTS.md, "The fair comparison")."""
    assert all(search_space(m)["lr"].hi <= 1e-2 for m in METHODS)


def test_the_tuning_sentence_names_the_seeds_and_tells_protocols_apart_by_them(tmp_path):
    path = tmp_path / "tuned.json"
    protocol = {"trials": 12, "seconds": 60.0, "targets": ["8gaussians", "rings"], "seeds": 2}
    write_preset(path, Preset("meanflow", {}, {}, protocol, {"hist_tv": 0.2}))
    write_preset(path, Preset("flow-matching", {}, {}, protocol, {"hist_tv": 0.2}))
    assert tuning_sentence(path) == "each method tuned with 12 trials of 60 s on 8gaussians, rings x 2 seeds"
    write_preset(path, Preset("shortcut", {}, {}, {**protocol, "seeds": 1}, {"hist_tv": 0.2}))
    assert tuning_sentence(path) == "methods tuned by different protocols (each row says how)"
